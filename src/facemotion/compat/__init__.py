"""Other packages' APIs over facemotion, for code written against them: change the import and
keep the rest. Each is a thin layer over the public API (:class:`facemotion.EmotionRecognizer`,
its stages and the video module); none has a model or a detector of its own.

- :mod:`facemotion.compat.fer`: the ``fer`` package's ``FER`` and ``Video`` (docs/from-fer.md).
- :mod:`facemotion.compat.deepface`: deepface's ``DeepFace.analyze`` for emotions (docs/from-deepface.md).
"""
