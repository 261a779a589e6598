"""The image formats facemotion reads: one allow-list for every decode, decided by content.

Pillow opens some forty formats, and a few of its plugins hand the file to another program: EPS
(and any PostScript, whatever the file is called) runs in Ghostscript, an interpreter with a
long record of sandbox escapes. A photo tool needs none of that. Every decode -- the API, the
CLI, the service, the batch engines, the dataset readers -- opens files through
:data:`PIL_FORMATS` (Pillow tries no other plugin), and :func:`refusal` names what a refused
file is, from its first bytes, never from its name.
"""

from __future__ import annotations

import functools
import re
import struct

# The raster formats cameras, phones, browsers and scanners write. Pillow's "JPEG" includes
# MPO (a phone's JPEG with a second picture); "PPM" is the PNM family (PBM, PGM, PPM).
# AVIF and HEIF only where a plugin provides them (Pillow's AVIF build, pillow-heif).
RASTER = ("JPEG", "PNG", "WEBP", "BMP", "DIB", "TIFF", "GIF", "PPM")
OPTIONAL = ("AVIF", "HEIF")

# formats whose file holds an animation or a second picture of the same scene: the first
# frame is the picture (a GIF's poster frame, an MPO's main photo); a TIFF's pages are
# separate pictures and are refused (images.py)
FIRST_FRAME = {"GIF", "WEBP", "MPO", "AVIF", "HEIF", "PNG"}  # PNG: an animated PNG


# what a photo in an optional format needs where this install cannot read it
OPTIONAL_NEEDS = {
    "HEIF": "a HEIF/HEIC photo (what iPhones save); `pip install pillow-heif` (or facemotion[heif]) lets "
            "facemotion read it, or save it as JPEG",
    "AVIF": "an AVIF image; a Pillow built with AVIF (the wheels of 11.3 and newer) reads it, or save it as JPEG or PNG",
}


@functools.cache
def _heif_plugin() -> bool:
    """pillow-heif's opener registered with Pillow where it is installed (the [heif] extra)."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def pil_formats() -> tuple[str, ...]:
    """The Pillow format IDs every decode passes as ``Image.open(fp, formats=...)``."""
    from PIL import Image

    Image.init()  # registers the plugins (importing one runs nothing of the file's)
    _heif_plugin()
    return RASTER + tuple(f for f in OPTIONAL if f in Image.OPEN)


# what a refused file's first bytes say it is; checked in order. The documents first: a
# program that interprets them (Ghostscript) must never see a file handed to facemotion.
_DOCUMENTS = (
    (b"%!", "a PostScript document"),
    (b"\xc5\xd0\xd3\xc6", "an EPS document"),
    (b"%PDF", "a PDF document"),
    (b"\x04%!", "a PostScript document"),  # a DOS-era ^D before the header
)
_SIGNATURES = _DOCUMENTS + (
    (b"<?xml", "an XML file (SVG?)"),
    (b"<svg", "an SVG drawing"),
    (b"PK\x03\x04", "a zip archive"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 codestream"),
    (b"8BPS", "a Photoshop document (PSD)"),
    (b"SIMPLE  =", "a FITS file"),
    (b"\x00\x00\x01\x00", "an icon (ICO)"),
    (b"\x76\x2f\x31\x01", "an OpenEXR image"),
    (b"#?RADIANCE", "a Radiance HDR image"),
    (b"qoif", "a QOI image"),
)


def document_kind(head: bytes) -> str | None:
    """"a PostScript document" (EPS, PDF) when a file's first bytes say it is one, else None;
    also after a byte-order mark or blank lines, which interpreters skip."""
    for text in (head, head.lstrip(b"\xef\xbb\xbf \t\r\n")):
        for magic, kind in _DOCUMENTS:
            if text.startswith(magic):
                return kind
    return None


# what users hand in for a photo by mistake: a clip (facemotion video reads it), the web page an
# image was shown on (what `curl` of a page's address saves), an API's JSON answer
_VIDEO_BRANDS = (b"isom", b"iso2", b"mp41", b"mp42", b"avc1", b"M4V ", b"qt  ", b"3gp4", b"3gp5", b"3g2a", b"dash")


def _mistaken_kind(head: bytes, wanted: str = "image") -> str | None:
    if head[4:8] == b"ftyp" and head[8:12] in _VIDEO_BRANDS:
        return "a video (MP4/MOV: facemotion video or analyze_video reads it)"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "a video (Matroska/WebM: facemotion video or analyze_video reads it)"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "a video (AVI: facemotion video or analyze_video reads it)"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<!--")):
        return f"a web page (HTML: save the {wanted} itself, not the page that shows it)"
    if text[:1] in (b"{", b"[") and text[1:].lstrip()[:1] in (b'"', b"{", b"[", b"]", b"}"):
        return "JSON text"
    return None


def refused_kind(head: bytes, wanted: str = "image") -> str | None:
    """What a file that no allowed format opens is, by its first bytes ("a PostScript
    document"), or None when they say nothing known; ``wanted``: what the user meant to hand in
    (an image, a video), which a web page's line tells them to save."""
    return (document_kind(head) or next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)
            or _mistaken_kind(head, wanted))


def format_refused(head: bytes) -> bool:
    """Whether a file no allowed format opens is one of a known kind, or of a format this install
    has no plugin for (HEIC without pillow-heif): a format refused (the service's 415), not a
    damaged picture."""
    return bool(refused_kind(head)) or (sniff(head) in OPTIONAL_NEEDS and sniff(head) not in pil_formats())


def decode_failure(name: str, e: Exception) -> str:
    """The one line for a decoder's failure ``e`` on the picture ``name``: cut short where its
    words say so (Pillow's "truncated", libheif's "end of file", libwebp's "could not create
    decoder object" on a WebP cut short or damaged), damaged where Pillow says "decoder error" (a
    decoder's failure on bad data: libtiff's, say), else its own words."""
    msg = " ".join(str(e).split())  # one line: libheif's end in a newline
    if "truncated" in msg.lower() or "end of file" in msg.lower():
        return f"{name}: image file is truncated (incomplete download?)"
    if msg == "could not create decoder object":
        return f"{name}: image file is truncated or damaged (WebP's decoder cannot start on it; incomplete download?)"
    if not isinstance(e, OSError):
        return f"{name}: cannot decode image ({type(e).__name__}: {msg[:200]})"
    return f"{name}: cannot decode image{': its data is damaged' if msg.startswith('decoder error') else ''} ({msg})"


def shown() -> str:
    """The formats read, as messages name them: "JPEG, PNG, WebP, ..."."""
    names = {"WEBP": "WebP", "PPM": "PPM/PGM", "DIB": None}
    return ", ".join(names.get(f, f) for f in pil_formats() if names.get(f, f))


def refusal(name: str, head: bytes) -> str:
    """The one line that refuses a file no allowed format opens."""
    fmt = sniff(head)
    if fmt in OPTIONAL_NEEDS and fmt not in pil_formats():
        return f"{name}: {OPTIONAL_NEEDS[fmt]}"
    if fmt is not None:  # its first bytes say what it is, yet no reader opens it: its header is cut or broken
        label = {"WEBP": "WebP", "PPM": "PPM/PGM"}.get(fmt, fmt)
        article = "an" if fmt == "AVIF" else "a"
        return (f"{name}: image file is truncated or damaged ({article} {label} whose header cannot be read; "
                "incomplete download?)")
    kind = refused_kind(head)
    if kind is None:
        return f"{name}: not an image file (format not recognised; facemotion reads {shown()})"
    return f"{name}: {kind}, not an image format facemotion reads ({shown()})"


def sniff(head: bytes) -> str | None:
    """The allowed raster format a file's first bytes announce ("JPEG", "PNG", ...), or None.
    For readers that decode without Pillow (OpenCV on dataset members): the same allow-list."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"123456" and head[2:3] in b" \t\r\n#":
        return "PPM"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "AVIF"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "HEIF"
    return None


def could_open(head: bytes) -> bool:
    """Whether a file beginning with ``head`` (at least its first 16 bytes) is one an allowed
    format's Pillow plugin would try to open: Pillow's own test of a file's first bytes. For a
    stream, before more of it is read (``/dev/zero`` is not a picture after 16 bytes either)."""
    from PIL import Image

    names = pil_formats()  # registers the plugins
    return any(accept is None or accept(head[:16]) for f, (_, accept) in Image.OPEN.items() if f in names)


# -- decoding work that the pixel count does not bound ----------------------------------------------
#
# A picture's pixels are checked from its header; a few formats can make one picture cost far more
# than its pixels. What each costs was measured (docs/usage.md, "What a picture may cost"); these
# limits bound what needs it, read from the file's structure before a pixel is decoded
# (benchmarks/studies/decode_costs.py measures each).

# A progressive JPEG is decoded in one pass over the whole picture per scan (SOS segment), and
# nothing stops a file from holding thousands: 2,000 repeats of a 6000x6000 picture's last scan
# are 330 KB, and libjpeg-turbo spends 26 s on them (13 ms a scan). Encoders write a handful:
# libjpeg's progressive script 10 (6 for gray), mozjpeg's and jpegtran's scripts about as many,
# and of 40,360 JPEGs of the shared media and the public sets none holds more than 14; a baseline
# picture has one scan per component at most. 100 is libtiff's own limit for the JPEG data in
# TIFF files (LIBTIFF_JPEG_MAX_ALLOWED_SCAN_NUMBER: Pillow's TIFFs are held to it already), seven
# times the most any of those photos holds; libjpeg-turbo's tools stop at 500, which would let a
# 40 MP file cost 8 s. At 100 the worst a 40 MP JPEG can cost is 1.6 s.
MAX_JPEG_SCANS = 100

# in entropy-coded data: a marker, not a stuffed 0xFF00, a restart marker (0xFFD0-D7) or fill
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_scans(data: bytes, stop_after: int = MAX_JPEG_SCANS) -> int:
    """How many scans (SOS segments) the first picture of JPEG ``data`` holds, counted as libjpeg
    finds them (segment by segment; after each scan's header, its entropy-coded data up to the
    next marker) up to its end-of-image marker, and no further than ``stop_after`` + 1. No pixel
    is decoded: the walk took 2.4 ms on a photo of 8.8 MB (noise, quality 95)."""
    if not data.startswith(b"\xff\xd8"):
        return 0
    i, n, end = 2, 0, len(data)
    components = None  # a sequential (not progressive) frame's components
    while i + 2 <= end:
        if data[i] != 0xFF or data[i + 1] in (0x00, 0xFF):  # junk or fill between segments: skip to a marker
            m = _MARKER.search(data, i + 1 if data[i] == 0xFF else i)
            if m is None:
                break
            i = m.start()
            continue
        marker = data[i + 1]
        if marker == 0xD9:  # end of image (an MPO's second picture follows: not this one's)
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            i += 2
            continue
        if i + 4 > end:
            break
        if marker in (0xC0, 0xC1, 0xC9) and i + 9 < end:  # baseline, extended or arithmetic sequential
            components = data[i + 9]
        if marker == 0xDA and n == 0 and components is not None and i + 4 < end and data[i + 4] == components:
            # a sequential picture whose first scan holds every component is that one scan: libjpeg
            # takes another SOS as an error (JERR_EOI_EXPECTED), so the walk ends here rather than
            # search the scan's data (most of the file, under the GIL) for the next marker
            return 1
        i += 2 + ((data[i + 2] << 8) | data[i + 3])
        if marker == 0xDA:
            n += 1
            if n > stop_after:
                break
            m = _MARKER.search(data, i)
            if m is None:
                break
            i = m.start()
    return n


# A multi-page TIFF is refused (one picture per file), but Pillow counts the pages by parsing each
# one's tags in Python, in time that grows faster than their number: 10,000 tiny pages (1 MB) took
# 0.7 s, 40,000 (4 MB) 7 s. The chain is walked here first, without the tags, only this far.
MAX_TIFF_PAGES = 100


def tiff_pages(data: bytes, stop_after: int = MAX_TIFF_PAGES) -> int:
    """How many pages (image file directories) a TIFF's chain links, counted without reading
    their tags, up to ``stop_after`` + 1 (a chain that loops counts each page once); 0 for data
    that is no TIFF (classic or BigTIFF)."""
    head = data[:4]
    if head in (b"II*\x00", b"MM\x00*"):
        big = False
    elif head in (b"II+\x00", b"MM\x00+"):
        big = True
    else:
        return 0
    order = "<" if head[:2] == b"II" else ">"
    count, offset, entry = ("Q", "Q", 20) if big else ("H", "I", 12)
    seen, n = set(), 0
    try:
        at = struct.unpack_from(order + offset, data, 8 if big else 4)[0]
        while at and at not in seen and n <= stop_after:
            seen.add(at)
            entries = struct.unpack_from(order + count, data, at)[0]
            n += 1
            at = struct.unpack_from(order + offset, data, at + struct.calcsize(count) + entries * entry)[0]
    except struct.error:  # a directory cut short: the decoder has the last word on it
        pass
    return n
