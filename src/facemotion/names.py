"""Names that users' data carries (file names, upload file names, labels), written and shown
by one rule (docs/usage.md, "Odd file names").

A name is a ``str`` as Python's ``os`` functions give it: bytes that are not UTF-8 (Latin-1
names from old cameras and zip archives) are the lone surrogates U+DC80..U+DCFF (PEP 383),
which no UTF-8 file can hold, so:

- :func:`text`: the name as valid Unicode, for every file whose text must be UTF-8 (CSV,
  JSON, Parquet): each byte that is not UTF-8 becomes ``\\xNN``. A UTF-8 name is unchanged.
- :func:`name_bytes` / :func:`from_columns`: the bytes-safe column beside it (``path_bytes``,
  ``file_bytes``): empty for a UTF-8 name, else the name's exact bytes in hex; the pair
  gives the name back exactly (a literal ``\\xe9`` in a name cannot be mistaken for a byte).
- :func:`shown`: the name on one line of a log, an error or the page: a name with bytes that
  are not UTF-8, control characters, line separators or bidi controls (a right-to-left mark
  would reverse the text after it) is quoted with those escaped; other names are unchanged.
- :func:`cell` / :func:`uncell`: a CSV text cell neutralised against formula injection.
- :func:`fit_stems`: output names that never collide (also on a case-insensitive disk) and
  never pass the 255-byte limit of a file name.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata

# bidi controls (LRM, RLM, ALM, embeddings, overrides, isolates): shown escaped, never applied
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# a spreadsheet reads a cell starting with one of these as a formula
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
NAME_MAX = 255  # bytes in one file name (ext4, APFS, NTFS)


def _raw(name) -> bytes:
    if not isinstance(name, str):
        return os.fsencode(name)
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system gives (a decoded JSON string): kept as text
        return name.encode("utf-8", "backslashreplace")


def text(name) -> str:
    """``name`` (str, bytes or path) as valid Unicode: bytes that are not UTF-8 as ``\\xNN``."""
    return _raw(name).decode("utf-8", "backslashreplace")


def name_bytes(name) -> str:
    """The bytes-safe column: ``""`` when ``name`` is valid UTF-8, else its bytes in hex."""
    raw = _raw(name)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    return ""


def json_fields(field: str, name) -> dict:
    """``{field: text(name)}``, with ``{field}_bytes`` when ``name`` is not UTF-8 (JSON files);
    ``{field: None}`` for no name (a picture given as pixels, bytes or a stream)."""
    if name is None:
        return {field: None}
    raw = name_bytes(name)
    return {field: text(name), **({f"{field}_bytes": raw} if raw else {})}


def from_columns(text_value: str, hex_value: str | None) -> str:
    """(:func:`text`, :func:`name_bytes`) -> the name as ``os`` gives it (surrogate-escaped)."""
    if hex_value:
        return os.fsdecode(bytes.fromhex(hex_value))
    return text_value


def _plain(name: str) -> bool:
    return not any(_escaped(c) for c in name)


def _escaped(c: str) -> bool:
    return "\udc80" <= c <= "\udcff" or c in _BIDI or unicodedata.category(c) in ("Cc", "Zl", "Zp", "Cs")


def _escape(c: str) -> str:
    if "\udc80" <= c <= "\udcff":
        return f"\\x{ord(c) - 0xdc00:02x}"
    if c in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def one_line(message) -> str:
    """A message (an error naming a file) safe for one log or terminal line: control and bidi
    characters and bytes that are not UTF-8 escaped, the rest unchanged."""
    message = str(message)
    return message if _plain(message) else "".join(_escape(c) if _escaped(c) else c for c in message)


def shown(name) -> str:
    """``name`` for a log, an error or the page: unchanged when plain, else quoted with its odd
    characters escaped (a quote or backslash in it too), so two names never look alike."""
    name = name if isinstance(name, str) else os.fsdecode(name)
    if _plain(name) and not name.startswith('"'):
        return name
    body = "".join(_escape(c) if _escaped(c) else "\\" + c if c in '"\\' else c for c in name)
    return f'"{body}"'


def cell(value: str) -> str:
    """A CSV text cell a spreadsheet will not run: one starting with ``= + - @``, a tab or a
    carriage return gets a leading ``'`` (as does one starting with ``'``, so :func:`uncell`
    is exact)."""
    return "'" + value if value.startswith(_FORMULA + ("'",)) else value


def uncell(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA + ("'",)) else value


def fit_stems(stems: list[str], longest_suffix: int = 32) -> list[str]:
    """Output stems (``a/x``) made safe to write side by side: a file name that would pass
    :data:`NAME_MAX` bytes with ``longest_suffix`` appended is cut and given a hash of the
    whole, and stems equal but for case (one file on macOS and Windows) or equal after
    ``output_stems``' suffix rule get ``~2``, ``~3``... in input order."""
    out, seen = [], set()
    for stem in stems:
        stem = _short(stem, NAME_MAX - longest_suffix)
        candidate, n = stem, 1
        while candidate.casefold() in seen:
            n += 1
            candidate = f"{stem}~{n}"
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def _short(stem: str, limit: int) -> str:
    folder, _, base = stem.rpartition("/")
    raw = _raw(base)
    if len(raw) <= limit:
        return stem
    tag = "~" + hashlib.sha1(raw).hexdigest()[:10]
    cut, size = [], len(tag)
    for c in base:  # whole characters: a cut never leaves half of one
        size += len(_raw(c))
        if size > limit:
            break
        cut.append(c)
    return (folder + "/" if folder else "") + "".join(cut) + tag


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun``, plural where ``n`` is not 1: "1 row", "2,000 rows", "3 faces"."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
