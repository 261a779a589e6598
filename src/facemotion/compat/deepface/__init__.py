"""deepface's ``DeepFace.analyze`` for emotions and ``DeepFace.extract_faces`` (deepface 0.0.99,
https://github.com/serengil/deepface, MIT License, Copyright (c) 2019 Sefik Ilkin Serengil)
answered by facemotion: a program that reads emotions with deepface switches by its import.

    from facemotion.compat.deepface import DeepFace        # deepface: from deepface import DeepFace
    DeepFace.analyze("photo.jpg", actions=["emotion"])

What changes, and what deepface has that facemotion does not (identities, age, gender, race):
docs/from-deepface.md.
"""

from . import DeepFace
from .exceptions import FaceNotDetected, ImgNotFound, InvalidImage

__all__ = ["DeepFace", "FaceNotDetected", "ImgNotFound", "InvalidImage"]
