"""A photo piped in: ``facemotion image -`` (``curl -s URL | facemotion image - --json``)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..decoding import read_stream
from ..errors import ImageError, UsageError
from ..images import max_bytes


def piped_photo(paths, folder: Path) -> tuple[list, dict, str | None]:
    """``-`` among ``paths``: the photo piped in, kept in ``folder`` as ``stdin`` (the pipeline
    reads files, by their content; its outputs are ``stdin_*``). Returns the paths with that file
    for ``-``, {that file: "-"} (the name its record gives), and None; or, where what was piped in
    is no photo, the other paths, {} and the error, which the command reports as that input's."""
    if "-" not in paths:
        return list(paths), {}, None
    if sys.stdin is None:  # closed (<&-): nothing can come
        raise ImageError("-: stdin is closed, so nothing was piped in (cat photo.jpg | facemotion image -)")
    if sys.stdin.isatty():
        raise UsageError("-: reads a photo piped in (cat photo.jpg | facemotion image -); stdin is a terminal")
    try:
        if not sys.stdin.buffer.peek(1):  # waits for the first bytes, or the end of an empty pipe
            raise ImageError("-: nothing was piped in (stdin is empty)")
        # bounded as any stream is: what no picture within the pixel limit needs is not read, and
        # what is no image is refused from its first bytes
        data = read_stream(sys.stdin.buffer, "-", max_bytes())
    except ImageError as e:
        return [p for p in paths if p != "-"], {}, str(e)
    path = Path(folder) / "stdin"
    path.write_bytes(data)
    return [str(path) if p == "-" else p for p in paths], {path: "-"}, None
