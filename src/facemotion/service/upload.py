"""From request bytes to a decoded image, within the limits (runs on an inference thread).

A body is the image's bytes, a ``data:image/...;base64,`` URI (a canvas's ``toDataURL()``), a
JSON object whose ``image`` (or ``img``) is such a URI or plain base64, or a
``multipart/form-data`` form whose ``image`` field (or only file) is the image: one image a
request, and a form holding two is refused rather than half answered. The multipart parser stops at the ``max_parts``-th part, so a body
of thousands of tiny parts costs no more than a few; the pixel limit is checked from the
image's header before a pixel is decoded, the decoding work that pixels do not bound (a JPEG's
scans, a TIFF's pages) from the file's structure, and each decode runs under the
``decode_timeout`` of :class:`~.limits.Limits` (:func:`facemotion.decoding.decode_time_limit`).
"""

from __future__ import annotations

import contextlib
import logging

from ..decoding import decode_time_limit
from ..errors import DecodeTimeoutError, ImageError, ImageTooLargeError, UnsupportedFormatError
from ..images import Picture, read_picture
from .limits import RequestError

# the multipart parser logs what it cannot parse ("Expected boundary character ...", the body's
# bytes quoted) before raising: the client hears of it in a 400, the server's log stays ours
for _name in ("python_multipart", "multipart"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


class _TooManyParts(Exception):
    pass


def image_bytes(body: bytes, content_type: str, max_parts: int = 8) -> bytes:
    """The image inside a request body (see the module's docstring)."""
    kind = content_type.lower().split(";")[0].strip()
    if kind != "multipart/form-data":
        # what the body holds decides, not its label: a JPEG sent as application/json is a JPEG
        head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] == b"{":
            return _json_image(body)
        if head[:11].lower() == b"data:image/":  # sent as text/plain, or with no type at all
            return _base64_image(body.decode("ascii", "replace").strip())
        return body
    from python_multipart.multipart import MultipartParser, parse_options_header

    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        raise RequestError(400, "multipart body without a boundary in its Content-Type")
    parts: list[dict] = []
    header: list[bytes] = [b"", b""]

    def begin():
        if len(parts) >= max_parts:
            raise _TooManyParts
        parts.append({"headers": {}, "data": bytearray()})

    def header_field(data, start, end):
        header[0] += data[start:end]

    def header_value(data, start, end):
        header[1] += data[start:end]

    def header_end():
        parts[-1]["headers"][header[0].lower()] = header[1]
        header[:] = [b"", b""]

    def part_data(data, start, end):
        parts[-1]["data"] += data[start:end]

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_header_field": header_field,
                                        "on_header_value": header_value, "on_header_end": header_end,
                                        "on_part_data": part_data})
    try:
        parser.write(body)
        parser.finalize()
    except _TooManyParts:
        raise RequestError(400, f"multipart body has more than {max_parts} parts") from None
    except Exception as e:  # the parser's own errors: a malformed body
        raise RequestError(400, f"malformed multipart body ({e})") from None
    return _form_image(parts, parse_options_header)


def _form_image(parts: list[dict], parse_options_header) -> bytes:
    """The one image of a form's ``parts``: its ``image`` field, or its only file."""
    fields = []
    for p in parts:
        _, params = parse_options_header(p["headers"].get(b"content-disposition", b""))
        fields.append((params.get(b"name"), b"filename" in params, p["data"], params.get(b"filename")))
    # an empty part (a form's file input left empty: browsers send it) is no image
    named = [data for name, _, data, _ in fields if name == b"image" and data and not data.isspace()]
    files = named or [data for _, is_file, data, _ in fields if is_file and data and not data.isspace()]
    if len(files) > 1:  # answering for the first alone would pass the others over in silence
        what = "'image' fields" if named else "files"
        raise RequestError(400, f"multipart body holds {len(files)} {what}: send one image a request")
    if not files:
        # a file chosen and sent that holds nothing (a browser names no file where none was chosen)
        empty = [f for name, is_file, data, f in fields if (name == b"image" or is_file) and f and not data.strip()]
        if empty:
            name = empty[0].decode("utf-8", "replace")[-80:]
            raise RequestError(400, f"multipart body: the file {name!r} is empty" if len(empty) == 1 else
                               f"multipart body: its {len(empty)} files are empty")
        raise RequestError(400, "multipart body has no 'image' field and no file")
    data = bytes(files[0])
    return _base64_image(data.decode("ascii", "replace").strip()) if data[:11].lower() == b"data:image/" else data


def _base64_image(text: str) -> bytes:
    """A data URI's image bytes (plain base64 too, as deepface's API takes it), or a 400."""
    from ..decoding import data_uri_bytes

    uri = text if text.lower().startswith("data:") else f"data:image/*;base64,{text}"
    try:
        return data_uri_bytes(uri, ValueError)
    except ValueError as e:
        raise RequestError(400, f"request body: {str(e).replace('data:image/*;base64,', '')}") from None


def _json_image(body: bytes) -> bytes:
    """The image of a JSON body ``{"image": "data:image/jpeg;base64,..."}`` (``img``, as
    deepface's API names it, too), or a 400 that says what such a body holds."""
    import json

    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past Python's limit
        obj = None
    text = next((obj[k] for k in ("image", "img") if k in obj), None) if isinstance(obj, dict) else None
    if not isinstance(text, str):
        raise RequestError(400, 'request body: JSON without an image; send {"image": "data:image/jpeg;base64,..."}, '
                                "or the image's bytes")
    return _base64_image(text.strip())


def decode(body: bytes, content_type: str, max_pixels: int, max_parts: int = 8, recognizer=None,
           timeout: float | None = None, called: str = "request body") -> Picture:
    """Request bytes -> the :class:`~facemotion.images.Picture` in them, or a :class:`RequestError`
    (400 unreadable, 413 over a limit, 415 a refused format, 422 not decoded within ``timeout``
    seconds) naming them as ``called`` (a stream's: "frame"). With ``recognizer``, read as its
    ``read`` does (a large JPEG reduced; :func:`whole` then decodes it whole); without, whole."""
    data = image_bytes(body, content_type, max_parts)
    with as_request_error(data, called), decode_time_limit(timeout):
        if recognizer is not None:
            return recognizer.read(data, max_pixels=max_pixels)
        return read_picture(data, max_pixels=max_pixels)


def whole(pic: Picture, timeout: float | None = None):
    """The whole picture of a request's :class:`~facemotion.images.Picture` (to draw on)."""
    with as_request_error(pic.source), decode_time_limit(timeout):
        return pic.whole()


def status_of(e: ImageError) -> int:
    """The HTTP status that answers an image's error: 413 over a limit (pixels, bytes, a JPEG's
    scans), 415 a format refused, 422 a decode stopped at the time limit, 400 anything else."""
    if isinstance(e, ImageTooLargeError):
        return 413
    if isinstance(e, UnsupportedFormatError):
        return 415
    return 422 if isinstance(e, DecodeTimeoutError) else 400


@contextlib.contextmanager
def as_request_error(data: bytes, called: str = "request body"):
    """An :class:`~facemotion.errors.ImageError` in this block (reading the request's image, or
    analysing it) -> a :class:`RequestError` with its status, the bytes called ``called``."""
    try:
        yield
    except ImageError as e:
        raise RequestError(status_of(e), str(e).replace(f"<{len(data)} bytes>", called)) from None
