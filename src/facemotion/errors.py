"""Exceptions with messages meant for people: they name the file (and row) and the problem."""


class FacemotionError(Exception):
    """Base class: the CLI prints these as one line, never as a traceback."""


class DataError(FacemotionError):
    """A dataset file or row that cannot be used."""


class ImageError(FacemotionError):
    """An input image that cannot be read."""


class ImageTooLargeError(ImageError):
    """An image over a limit found before decoding: more pixels than allowed (from its header), more
    bytes than such a picture takes, or more decoding work than any real picture of its size needs
    (a JPEG of more scans than encoders write: :mod:`facemotion.formats`)."""


class DecodeTimeoutError(ImageError):
    """A decode stopped at the time it was allowed (``facemotion serve --decode-timeout``)."""


class UnsupportedFormatError(ImageError):
    """A file of a known format that facemotion does not decode (a PostScript or PDF document,
    say: :mod:`facemotion.formats`)."""


class VideoError(FacemotionError):
    """A video file or camera that cannot be read."""


class ModelError(FacemotionError):
    """A checkpoint or ONNX model that cannot be loaded."""


class UsageError(FacemotionError, ValueError):
    """An argument or option outside what it accepts (the CLI exits 2 for these)."""


class ModelOptionError(UsageError, ModelError):
    """An option that does not fit the model named (int8 of a file of one's own, Grad-CAM of an
    ONNX file): a usage error (exit 2), and a ModelError for code that catches those."""
