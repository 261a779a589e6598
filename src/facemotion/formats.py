"""The image formats facemotion reads: one allow-list for every decode, decided by content.

Pillow opens some forty formats, and a few of its plugins hand the file to another program: EPS
(and any PostScript, whatever the file is called) runs in Ghostscript, an interpreter with a
long record of sandbox escapes. A photo tool needs none of that. Every decode -- the API, the
CLI, the service, the batch engines, the dataset readers -- opens files through
:data:`PIL_FORMATS` (Pillow tries no other plugin), and :func:`refusal` names what a refused
file is, from its first bytes, never from its name.
"""

from __future__ import annotations

# The raster formats cameras, phones, browsers and scanners write. Pillow's "JPEG" includes
# MPO (a phone's JPEG with a second picture); "PPM" is the PNM family (PBM, PGM, PPM).
# AVIF and HEIF only where a plugin provides them (Pillow's AVIF build, pillow-heif).
RASTER = ("JPEG", "PNG", "WEBP", "BMP", "DIB", "TIFF", "GIF", "PPM")
OPTIONAL = ("AVIF", "HEIF")

# formats whose file holds an animation or a second picture of the same scene: the first
# frame is the picture (a GIF's poster frame, an MPO's main photo); a TIFF's pages are
# separate pictures and are refused (images.py)
FIRST_FRAME = {"GIF", "WEBP", "MPO", "AVIF", "HEIF"}


def pil_formats() -> tuple[str, ...]:
    """The Pillow format IDs every decode passes as ``Image.open(fp, formats=...)``."""
    from PIL import Image

    Image.init()  # registers the plugins (importing one runs nothing of the file's)
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


def refused_kind(head: bytes) -> str | None:
    """What a file that no allowed format opens is, by its first bytes ("a PostScript
    document"), or None when they say nothing known."""
    return document_kind(head) or next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def shown() -> str:
    """The formats read, as messages name them: "JPEG, PNG, WebP, ..."."""
    names = {"WEBP": "WebP", "PPM": "PPM/PGM", "DIB": None}
    return ", ".join(names.get(f, f) for f in pil_formats() if names.get(f, f))


def refusal(name: str, head: bytes) -> str:
    """The one line that refuses a file no allowed format opens."""
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
