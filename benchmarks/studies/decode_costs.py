"""What a picture may cost to read when its pixel count does not bound it, and what the limits of
``facemotion/formats.py`` leave: the numbers behind docs/usage.md's "What a picture may cost".

- JPEG scans: a progressive picture's decode is a pass over the whole picture per scan. The
  hostile-input run's file (a black 6000 x 6000 progressive JPEG whose last scan is repeated) is
  decoded by simplejpeg and by Pillow with ``--repeats`` copies (2,000 in the issue: about 26 s
  and 24 s; the default 200 gives the cost of a scan in a tenth of that), and at 40 MP with the
  limit's 100 scans (the worst the service's pixel limit lets through); then the refusal of the
  issue's file through ``load_image`` (the marker walk alone) and the walk's time on the photos
  of ``--folders``, with the most scans any of them holds.
- TIFF pages: Pillow's count of a TIFF's pages against the walk of their chain.
- GIF frames: Pillow's count of an animation's frames against reading its first.
- TIFF tiles: a 36 MP TIFF of 16 x 16 tiles, all pointing at one tile's bytes.

    python benchmarks/studies/decode_costs.py --folders ../shared/media /data/muxspace /data/sof /data/utk
"""

from __future__ import annotations

import argparse
import io
import struct
import sys
import time
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common
sys.path.insert(1, str(Path(__file__).resolve().parents[2] / "tests"))  # tests/conftest.py: the scan bomb

from PIL import Image

from facemotion.errors import ImageError
from facemotion.formats import MAX_JPEG_SCANS, jpeg_scans, tiff_pages
from facemotion.images import load_image

from _common import machine
from conftest import scan_bomb, tiff_of_pages


def timed(fn) -> tuple[float, str]:
    t = time.perf_counter()
    try:
        fn()
        said = "read"
    except (ImageError, ValueError, OSError) as e:
        said = f"{type(e).__name__}: {str(e)[:90]}"
    return time.perf_counter() - t, said


def jpeg_section(repeats: int, folders: list[Path]) -> None:
    import simplejpeg

    bomb = scan_bomb(6000, 6000, repeats)
    scans = jpeg_scans(bomb, stop_after=10**9)
    print(f"\nJPEG: 6000 x 6000 progressive, {scans} scans, {len(bomb) / 1e3:.0f} KB")
    for name, fn in (("simplejpeg", lambda: simplejpeg.decode_jpeg(bomb, "BGR", strict=True)),
                     ("Pillow", lambda: Image.open(io.BytesIO(bomb)).load())):
        s, said = timed(fn)
        print(f"  {name:<11} {s:7.2f} s  ({s / scans * 1e3:.1f} ms a scan; {said})")
    worst = scan_bomb(6000, 6667, MAX_JPEG_SCANS - 9)  # 40 MP, at the limit
    s, said = timed(lambda: simplejpeg.decode_jpeg(worst, "BGR", strict=True))
    read, read_said = timed(lambda: load_image(worst))  # the product's path: Pillow's decode alone (jpeg.py)
    print(f"  40 MP at the limit ({jpeg_scans(worst)} scans): simplejpeg {s:.2f} s ({said}); "
          f"load_image {read:.2f} s ({read_said})")
    issue = scan_bomb()
    s, said = timed(lambda: load_image(issue))
    print(f"  the issue's file ({len(issue) / 1e3:.0f} KB, 2,009 scans) through load_image: {s * 1e3:.1f} ms ({said})")
    paths = [p for d in folders for p in d.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")]
    if paths:
        counts, walk, size = {}, 0.0, 0
        for p in paths:
            data = p.read_bytes()
            t = time.perf_counter()
            n = jpeg_scans(data, stop_after=10**9)
            walk += time.perf_counter() - t
            size += len(data)
            counts[n] = counts.get(n, 0) + 1
        print(f"  {len(paths)} JPEGs of {', '.join(map(str, folders))}: scans {dict(sorted(counts.items()))}; "
              f"the walk {walk / len(paths) * 1e3:.2f} ms a file ({size / len(paths) / 1e3:.0f} KB on average)")


def tiff_of_tiles(side: int = 6000, tile: int = 16) -> bytes:
    n = (side // tile) ** 2
    block = bytes(tile * tile)
    offsets, counts = 8 + len(block), 8 + len(block) + 4 * n
    entries = sorted([(256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (277, 3, 1),
                      (322, 3, tile), (323, 3, tile), (324, 4, offsets), (325, 4, counts)])
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        count = n if tag in (324, 325) else 1
        ifd += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                        struct.pack("<I", value))
    arrays = struct.pack(f"<{n}I", *[8] * n) + struct.pack(f"<{n}I", *[len(block)] * n)
    return b"II*\x00" + struct.pack("<I", counts + 4 * n) + block + arrays + ifd + struct.pack("<I", 0)


def other_sections() -> None:
    print("\nTIFF pages (1 x 1 each): Pillow's count / the chain's walk")
    for n in (10_000, 20_000, 40_000):
        data = tiff_of_pages(n)
        s, _ = timed(lambda: Image.open(io.BytesIO(data)).n_frames)
        t = time.perf_counter()
        tiff_pages(data)
        print(f"  {n:>6} pages ({len(data) / 1e6:.1f} MB): {s:6.2f} s / {(time.perf_counter() - t) * 1e3:.2f} ms")
    frames = [Image.new("P", (64, 64), i) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=10, disposal=1)
    data = buf.getvalue()
    second = data.rfind(b"\x21\xf9\x04")
    gif = data[:second] + data[second:-1] * 200_000 + b"\x3b"
    counting, _ = timed(lambda: Image.open(io.BytesIO(gif)).n_frames)
    reading, _ = timed(lambda: load_image(gif))
    print(f"\nGIF of 200,000 frames ({len(gif) / 1e6:.0f} MB): Pillow's count {counting:.2f} s; "
          f"load_image (the first frame) {reading * 1e3:.1f} ms")
    tiles = tiff_of_tiles()
    s, said = timed(lambda: load_image(tiles))
    print(f"TIFF of 6000 x 6000 in 140,625 tiles of 16 x 16 ({len(tiles) / 1e6:.1f} MB): {s:.2f} s ({said})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=200, help="copies of the last scan decoded (the issue's: 2000)")
    p.add_argument("--folders", nargs="*", type=Path, default=[], help="photos whose scans are counted")
    a = p.parse_args()
    print(machine())
    jpeg_section(a.repeats, a.folders)
    other_sections()


if __name__ == "__main__":
    main()
