"""The ``fer`` package's API (fer 25.10.3, https://github.com/justinshenk/fer, MIT License,
Copyright (c) 2018 Justin Shenk) answered by facemotion: a fer program switches by its imports.

    from facemotion.compat.fer import FER, Video           # fer: from fer import FER, Video
    from facemotion.compat.fer.fer import FER              # fer 25.10.3: from fer.fer import FER
    from facemotion.compat.fer.classes import Video        # fer.classes
    from facemotion.compat.fer.exceptions import InvalidImage

Each fer module has its namesake here. What changes and what fer has that facemotion does not:
docs/from-fer.md.
"""

from .classes import Video
from .exceptions import InvalidImage
from .fer import FER

__all__ = ["FER", "InvalidImage", "Video"]
