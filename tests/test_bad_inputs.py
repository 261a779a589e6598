"""Bad input, table-driven: each case is one call that must end in one exact error class with
one line naming what was wrong (never a traceback of another type), and, where the call
handles several inputs, the good ones still come out."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest
from PIL import Image

import facemotion
from facemotion.errors import DataError, ImageError, ModelError, UsageError, VideoError

from conftest import faces_like, jpg_bytes

FRAME = np.zeros((60, 80, 3), np.uint8)


@pytest.fixture(scope="module")
def rec():
    return facemotion.EmotionRecognizer()


def _truncated_pil():
    buf = io.BytesIO()
    Image.open(facemotion.SAMPLE_IMAGE).save(buf, "JPEG")
    return Image.open(io.BytesIO(buf.getvalue()[:5000]))  # opened lazily: the pixels are missing


def _multipage_tiff():
    buf = io.BytesIO()
    Image.new("L", (40, 40)).save(buf, "TIFF", save_all=True, append_images=[Image.new("L", (40, 40))] * 2)
    return buf.getvalue()


API_CASES = {
    # images handed to the API
    "str array": (lambda r: r.detect_emotions(np.array([["a", "b"], ["c", "d"]])), ImageError, "unsupported pixel type"),
    "object array": (lambda r: r.detect_emotions(np.array([[None, 1]], dtype=object)), ImageError, "unsupported pixel"),
    "complex array": (lambda r: r.detect_emotions(np.zeros((20, 20), complex)), ImageError, "unsupported pixel type"),
    "NaN array": (lambda r: r.detect_emotions(np.full((20, 20), np.nan)), ImageError, "NaN or infinite"),
    "empty array": (lambda r: r.detect_emotions(np.zeros((0, 5))), ImageError, "unsupported array shape"),
    "4-D array": (lambda r: r.detect_emotions(np.zeros((2, 5, 5, 3))), ImageError, "unsupported array shape"),
    "0x0 PIL image": (lambda r: r.detect_emotions(Image.new("RGB", (0, 0))), ImageError, r"image is empty \(0x0"),
    "lazily opened truncated PIL image": (lambda r: r.detect_emotions(_truncated_pil()), ImageError, "truncated"),
    "multi-page TIFF": (lambda r: r.detect_emotions(_multipage_tiff()), ImageError, "holds 3 pages or frames"),
    "a list": (lambda r: r.detect_emotions([[1, 2], [3, 4]]), ImageError, "unsupported image type"),
    "empty bytes": (lambda r: r.detect_emotions(b""), ImageError, "empty image data"),
    "text bytes": (lambda r: r.detect_emotions(b"hello world"), ImageError, "not an image file"),
    "missing path": (lambda r: r.detect_emotions("no/such/photo.jpg"), ImageError, "no/such/photo.jpg: no such file"),
    "folder path": (lambda r: r.detect_emotions(os.path.dirname(facemotion.SAMPLE_IMAGE)), ImageError, "is a folder"),
    "classify_faces of a path": (lambda r: r.classify_faces("x.jpg"), UsageError, "faces: expected face images"),
    "classify_faces of text arrays": (lambda r: r.classify_faces([np.array([["a"]])]), ImageError,
                                      "face 0: unsupported pixel type"),
    "classify_faces of empty crops": (lambda r: r.classify_faces([np.zeros((0, 4), np.uint8)]), ImageError, "face 0"),
    # arguments
    "unknown detector": (lambda r: facemotion.EmotionRecognizer(detector="foo"), UsageError, "detector: unknown detector 'foo'"),
    "detector object without detect": (lambda r: facemotion.EmotionRecognizer(detector=3), UsageError, "detector: expected"),
    "model of the wrong type": (lambda r: facemotion.EmotionRecognizer(model=3), UsageError, "model: expected"),
    "unknown model name": (lambda r: facemotion.EmotionRecognizer(model="vgg_fer_xl"), ModelError, "no such model file"),
    "model is a folder": (lambda r: facemotion.EmotionRecognizer(model=os.path.dirname(facemotion.SAMPLE_IMAGE)),
                          ModelError, "is a folder"),
    "model of an unknown type": (lambda r: facemotion.EmotionRecognizer(model=facemotion.SAMPLE_IMAGE), ModelError,
                                 "no backend reads .jpg files"),
    "min_confidence 2": (lambda r: facemotion.EmotionRecognizer(min_confidence=2), UsageError,
                         r"min_confidence: must be in \[0, 1\], got 2"),
    "min_confidence nan": (lambda r: facemotion.EmotionRecognizer(min_confidence=float("nan")), UsageError, "finite"),
    "detect_size 1": (lambda r: facemotion.EmotionRecognizer(detect_size=1), UsageError, "detect_size: must be >= 64"),
    "detect_size 2.5": (lambda r: facemotion.EmotionRecognizer(detect_size=2.5), UsageError, "expected an integer"),
    "threads -1": (lambda r: facemotion.EmotionRecognizer(threads=-1), UsageError, "threads: must be >= 0, got -1"),
    "stream every 0": (lambda r: list(r.stream([FRAME], every=0)), UsageError, "every: must be >= 1, got 0"),
    "stream every -3": (lambda r: list(r.stream([FRAME], every=-3)), UsageError, "every: must be >= 1"),
    "stream smooth 5": (lambda r: list(r.stream([FRAME], smooth=5)), UsageError, r"smooth: must be in \[0, 1\)"),
    "stream smooth -1": (lambda r: list(r.stream([FRAME], smooth=-1)), UsageError, "smooth"),
    "stream smooth nan": (lambda r: list(r.stream([FRAME], smooth=float("nan"))), UsageError, "finite"),
    "stream of a missing video": (lambda r: list(r.stream("no/such/clip.mp4")), VideoError, "no such file"),
    "stream of a text file as video": (lambda r: list(r.stream(facemotion.__file__)), VideoError, "not a readable video"),
    "stream of bad frames": (lambda r: list(r.stream([np.zeros((0, 3))])), ImageError, "frame 0: unsupported array"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_input_is_one_clear_error(rec, case):
    call, error, message = API_CASES[case]
    with pytest.raises(error, match=message) as e:
        call(rec)
    assert "\n" not in str(e.value)


def test_classify_faces_of_nothing_is_an_empty_answer(rec):
    assert rec.classify_faces([]).shape == (0, 7)


def test_sixteen_bit_photos_keep_their_brightness(rec):
    """12-bit data in a 16-bit container (max 4095) was crushed to black by a fixed 16-bit scale."""
    face = cv2.imread(facemotion.SAMPLE_IMAGE, cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16  # 12-bit range
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, "PNG")
    img = facemotion.images.load_image(buf.getvalue())
    ref = cv2.imread(facemotion.SAMPLE_IMAGE, cv2.IMREAD_GRAYSCALE)
    assert abs(float(img.mean()) - float(ref.mean())) < 2
    assert [f["dominant_emotion"] for f in rec.detect_emotions(face)] == ["happy"]


def test_max_pixels_can_be_raised_past_pils_own_limit(tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (10_000, 9_500)).save(big)  # 95 MP: over PIL's 89.5 MP warning, within ours
    code = "import facemotion.images as i; print(i.load_image(%r).shape)" % str(big)
    env = {**os.environ, "FACEMOTION_MAX_PIXELS": "100000000"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "(9500, 10000, 3)" in r.stdout, r.stderr[-500:]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "FACEMOTION_MAX_PIXELS": "50000000"})
    assert "over the 50 MP limit" in r.stderr and "Traceback" in r.stderr  # the API raises ImageError


# ----------------------------------------------------------------------------- datasets

HEADER = "emotion,pixels,Usage\n"
ROW = "3," + " ".join(["128"] * 48 * 48) + ",{usage}\n"


def _csv(tmp_path, text: str | bytes, name="fer.csv"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


DATA_CASES = {
    "latin-1 byte": (lambda t: _csv(t, HEADER.encode() + b"3,caf\xe9,Training\n"), DataError, "not UTF-8 text"),
    "binary file named .csv": (lambda t: _csv(t, b"\x00\x01\x02PK\x03\x04" * 100), DataError,
                               "not readable as CSV|missing column|not UTF-8"),
    "oversized field": (lambda t: _csv(t, HEADER + "3," + "1" * 200_000 + ",Training\n"), DataError,
                        "row 2: not readable as CSV .*field larger"),
    "unknown usage": (lambda t: _csv(t, HEADER + ROW.format(usage="Holdout")), DataError, "unknown Usage 'Holdout'"),
    "missing column": (lambda t: _csv(t, "emotion,Usage\n3,Training\n"), DataError, "missing column 'pixels'"),
    "empty csv": (lambda t: _csv(t, ""), DataError, "empty CSV file"),
    "not a square": (lambda t: _csv(t, HEADER + "3,1 2 3,Training\n"), DataError, "3 pixel values"),
    "pixel over 255": (lambda t: _csv(t, HEADER + "3," + " ".join(["300"] * 4) + ",Training\n"), DataError, "0..255"),
    "unknown label": (lambda t: _csv(t, HEADER + ROW.format(usage="Training").replace("3,", "smug,", 1)), DataError,
                      "unknown emotion class 'smug'"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_dataset_bad_input_is_one_clear_error(tmp_path, case):
    from facemotion.datasets import load_splits

    make, error, message = DATA_CASES[case]
    with pytest.raises(error, match=message) as e:
        load_splits(make(tmp_path), ("train",))
    assert "\n" not in str(e.value)


def test_a_csv_with_a_byte_order_mark_loads(tmp_path):
    from facemotion.datasets import load_splits

    p = _csv(tmp_path, b"\xef\xbb\xbf" + (HEADER + ROW.format(usage="Training")).encode())
    assert len(load_splits(p, ("train",))["train"]) == 1


def test_skip_bad_counts_a_bad_row_once(tmp_path):
    from facemotion.datasets import load_splits

    text = HEADER + ROW.format(usage="Training") + "3,1 2 3,Training\n" + ROW.format(usage="PublicTest") + \
        ROW.format(usage="PrivateTest")
    d = load_splits(_csv(tmp_path, text), ("train", "val", "test"), skip_bad=True)
    assert [len(d[s].skipped) for s in ("train", "val", "test")] == [1, 0, 0]
    assert [len(d[s]) for s in ("train", "val", "test")] == [1, 1, 1]


def test_a_member_declaring_a_huge_image_is_refused_from_its_header(tmp_path):
    from facemotion.datasets import load_splits

    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, "PNG")  # a few KB that would decode to 400 MP
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/ok.jpg", jpg_bytes(faces_like(1)[0]))
        zf.writestr("train/happy/bomb.png", buf.getvalue())
    with pytest.raises(DataError, match="bomb.png: declares 20000x20000 pixels"):
        load_splits(path, ("train",))
    d = load_splits(path, ("train",), skip_bad=True)["train"]
    assert len(d) == 1 and len(d.skipped) == 1  # the good member is kept


def test_subset_refuses_member_names_that_leave_the_archive(tmp_path):
    from facemotion.datasets import write_subset

    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "val"):
            zf.writestr(f"{split}/happy/a.jpg", jpg_bytes(faces_like(1)[0]))
        zf.writestr("../../train/happy/escape.jpg", jpg_bytes(faces_like(1)[0]))
    with pytest.raises(DataError, match="escape.jpg: a member name that leaves the archive's root"):
        write_subset(path, tmp_path / "out.zip")
    assert not list(tmp_path.glob("*out*"))


def test_an_unlistable_folder_is_an_error_not_a_gap(tmp_path, monkeypatch):
    from facemotion.datasets import archives, load_splits

    for cls in ("happy", "sad"):
        (tmp_path / "d" / cls).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "d" / cls / "a.png"), faces_like(1)[0])
    real = os.scandir

    def scandir(p="."):  # root reads everything: a permission error is simulated
        if str(p).endswith("sad"):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p)

    monkeypatch.setattr(archives.os, "scandir", scandir)
    with pytest.raises(DataError, match="sad: cannot list this folder"):
        load_splits(tmp_path / "d", ("train",), cache=False)


def test_data_stats_on_a_folder_without_a_dataset_fails(tmp_path, capsys):
    from facemotion.cli import main

    assert main(["data", "stats", str(tmp_path), "-o", str(tmp_path / "o")]) == 1
    assert "no dataset here" in capsys.readouterr().err


# ----------------------------------------------------------------------------- CLI options

CLI_OPTION_CASES = [
    ("video x.mp4 --every 0", "--every: must be >= 1, got 0"),
    ("video x.mp4 --every -3", "--every: must be >= 1, got -3"),
    ("video x.mp4 --smooth -1", r"--smooth: must be in \[0, 1\), got -1"),
    ("video x.mp4 --smooth 5", r"--smooth: must be in \[0, 1\), got 5"),
    ("video x.mp4 --smooth nan", "--smooth: must be a finite number"),
    ("video x.mp4 --max-frames -1", "--max-frames: must be >= 1, got -1"),
    ("video x.mp4 --max-frames 0", "--max-frames: must be >= 1, got 0"),
    ("webcam --device -1", r"--device: must be in \[0, 255\], got -1"),
    ("webcam --device cam", "--device: expected an integer, got 'cam'"),
    ("image x.jpg --detect-size 1", "--detect-size: must be >= 64, got 1"),
    ("image x.jpg --min-confidence 1.5", r"--min-confidence: must be in \[0, 1\]"),
    ("image x.jpg --detector foo", "--detector: invalid choice: 'foo'"),
    ("serve --port 70000", r"--port: must be in \[0, 65535\]"),
    ("train --data d --batch-size 0", "--batch-size: must be >= 1, got 0"),
    ("train --data d --batch-size -4", "--batch-size: must be >= 1, got -4"),
    ("train --data d --epochs 0", "--epochs: must be >= 1"),
    ("train --data d --lr nan", "--lr: must be a finite number"),
    ("train --data d --lr 0", r"--lr: must be > 0, got 0"),
    ("train --data d --val-fraction 0", r"--val-fraction: must be in \(0, 1\), got 0"),
    ("train --data d --limit -5", "--limit: must be >= 0, got -5"),
    ("train --data d --threads -1", "--threads: must be >= 0, got -1"),
    ("train --data d --device bogus", "--device: 'bogus' is not a device"),
    ("train --data d --model-kwargs {bad", "--model-kwargs: not valid JSON"),
    ("train --data d --model-kwargs [1]", "--model-kwargs: expected a JSON object"),
    ("train --data d --ema 1", r"--ema: must be in \[0, 1\), got 1"),
    ("train --data d --kd-temp 0", "--kd-temp: must be > 0"),
    ("evaluate m.pt --data d --batch-size -1", "--batch-size: must be >= 1"),
    ("evaluate m.pt --data d --choose-ensemble -2", "--choose-ensemble: must be >= 0"),
    ("export m.pt -o x.onnx --temperature 0", "--temperature: must be > 0"),
    ("data subset d -o x.zip --splits nope", "--splits: invalid choice: 'nope'"),
]


@pytest.mark.parametrize("argv,message", CLI_OPTION_CASES, ids=[c[0] for c in CLI_OPTION_CASES])
def test_cli_option_out_of_range_is_a_usage_error(argv, message, capsys):
    from facemotion.cli import main

    with pytest.raises(SystemExit) as e:
        main(argv.split())
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    assert __import__("re").search(message, err), err


def test_train_refuses_what_it_cannot_run(kaggle_zip, tmp_path, capsys):
    pytest.importorskip("torch")
    from facemotion.cli import main

    base = ["train", "--data", str(kaggle_zip), "--epochs", "1", "--batch-size", "4", "--no-progress"]
    assert main(base + ["--arch", "nosuch", "--out", str(tmp_path / "a")]) == 2
    assert "--arch: unknown model 'nosuch'" in capsys.readouterr().err
    assert main(base + ["--model-kwargs", '{"depth": 3}', "--out", str(tmp_path / "b")]) == 2
    assert "--model-kwargs: mini_xception does not take these arguments" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(base + ["--out", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(base + ["--arch", "vgg_fer_s", "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "is a run of mini_xception" in capsys.readouterr().err


# ----------------------------------------------------------------------------- outputs


def test_same_named_inputs_get_a_mirrored_output_tree(media, tmp_path, capsys):
    from facemotion.cli import main

    for sub, src in (("a", "justin.jpg"), ("b", "two_people.jpg")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.jpg").write_bytes((media / src).read_bytes())
    out = tmp_path / "out"
    args = [str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg"), str(tmp_path / "a")]  # a/x.jpg twice
    assert main(["image", *args, "-o", str(out)]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == \
        ["a/x.json", "a/x_annotated.jpg", "b/x.json", "b/x_annotated.jpg"]
    import json

    assert len(json.loads((out / "b" / "x.json").read_text())["faces"]) == 2
    assert "wrote 2 annotated images" in capsys.readouterr().out


def test_a_full_disk_fails_that_input_alone(media, tmp_path, monkeypatch, capsys):
    import errno

    import facemotion.photos as photos
    from facemotion.cli import main

    real = photos.write_image

    def full(path, image):
        if "justin" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, image)

    monkeypatch.setattr(photos, "write_image", full)
    out = tmp_path / "out"
    assert main(["image", str(media / "justin.jpg"), str(media / "obama.jpg"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "justin_annotated.jpg: cannot write (No space left on device)" in err and "1 of 2 inputs failed" in err
    assert (out / "obama_annotated.jpg").exists() and not list(out.glob(".*tmp*"))


def test_outputs_never_follow_a_planted_link(media, tmp_path, capsys):
    from facemotion.cli import main

    out = tmp_path / "out"
    out.mkdir()
    outside = tmp_path / "outside.csv"
    (out / "test_faces.csv").symlink_to(outside)
    assert main(["video", str(media / "test.mp4"), "-o", str(out), "--max-frames", "2", "--no-video",
                 "--no-progress"]) == 1
    assert "test_faces.csv: is a symbolic link" in capsys.readouterr().err and not outside.exists()
    (out / "justin.json").symlink_to(outside)  # whole-file outputs replace the link, not its target
    assert main(["image", str(media / "justin.jpg"), "-o", str(out)]) == 0
    assert not outside.exists() and not (out / "justin.json").is_symlink()


# ----------------------------------------------------------------------------- videos


def test_a_video_with_a_damaged_middle_is_read_past_it_and_reported(media, tmp_path, capsys):
    import json

    from facemotion.cli import main

    data = bytearray((media / "test.mp4").read_bytes())
    mid = len(data) // 3
    data[mid:mid + 20000] = bytes(20000)  # a damaged stretch: a few frames cannot be decoded
    clip = tmp_path / "damaged.mp4"
    clip.write_bytes(bytes(data))
    out = tmp_path / "out"
    assert main(["video", str(clip), "-o", str(out), "--no-video", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "damaged.mp4: incomplete: " in err and "frames could not be decoded" in err
    summary = json.loads((out / "damaged_summary.json").read_text())
    assert summary["status"].startswith("incomplete") and summary["decode_errors"] > 0
    assert summary["frames"] >= 100  # read on past the damage, not stopped at it (39 frames)


def test_sigterm_finishes_the_video_like_ctrl_c(media, tmp_path):
    import json
    import signal
    import time

    import cv2

    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "facemotion", "video", str(media / "short_hamilton_clip.mp4"),
                          "-o", str(out), "--detector", "haar", "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob(".short_hamilton_clip_annotated.tmp*")):
        time.sleep(0.2)  # until frames are being written
    time.sleep(1.0)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err[-2000:]
    summary = json.loads((out / "short_hamilton_clip_summary.json").read_text())
    assert summary["status"].startswith("interrupted after")
    cap = cv2.VideoCapture(str(out / "short_hamilton_clip_annotated.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == summary["frames"] > 0
    assert not list(out.glob(".*tmp*"))
    # a rerun says plainly that it starts over
    r = subprocess.run([sys.executable, "-m", "facemotion", "video", str(media / "short_hamilton_clip.mp4"), "-o",
                        str(out), "--max-frames", "2", "--no-video", "--no-progress"], capture_output=True, text=True,
                       timeout=120)
    assert "from an earlier run that did not finish; starting this video over" in r.stderr


# ----------------------------------------------------------------------------- training runs


def test_a_killed_run_resumes_with_a_consistent_log_and_no_leftovers(kaggle_zip, tmp_path, capsys):
    pytest.importorskip("torch")
    import csv

    from facemotion.cli import main

    out = tmp_path / "run"
    base = ["train", "--data", str(kaggle_zip), "--batch-size", "4", "--no-progress", "--out", str(out)]
    assert main(base + ["--epochs", "1"]) == 0
    # a kill after last.pt was renamed but before the log line, and one in the middle of a write
    (out / "log.csv").write_text((out / "log.csv").read_text().splitlines()[0] + "\n")
    (out / ".last.tmp4242.pt").write_bytes(b"half a checkpoint")
    assert main(base + ["--epochs", "2", "--resume"]) == 0
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert not list(out.glob(".*tmp*"))
    # the log is never written through a planted link: the resume replaces the link with the log
    outside = tmp_path / "outside.csv"
    (out / "log.csv").unlink()
    (out / "log.csv").symlink_to(outside)
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    assert not outside.exists() and not (out / "log.csv").is_symlink()
    assert [r["epoch"] for r in csv.DictReader(open(out / "log.csv"))] == ["1", "2", "3"]


@pytest.fixture(scope="module")
def bad_checkpoints(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from facemotion.training.checkpoint import describe
    from facemotion.training.models import create_model

    d = tmp_path_factory.mktemp("ckpts")
    m = create_model("mini_xception")
    good = {**describe(m, epoch=1), "model_state": m.state_dict()}
    torch.save({**good, "arch": "vgg_fer_s"}, d / "wrong_arch.pt")
    torch.save({k: v for k, v in good.items() if k != "arch"}, d / "no_arch.pt")
    torch.save({k: v for k, v in good.items() if k != "model_state"}, d / "no_weights.pt")
    torch.save({**good, "arch": "resnet_fer_xl"}, d / "unknown_arch.pt")
    (d / "garbage.pt").write_bytes(b"not a checkpoint at all")
    return d


CHECKPOINT_CASES = {
    "wrong_arch.pt": "weights do not fit vgg_fer_s",
    "no_arch.pt": "model card has no 'arch'",
    "no_weights.pt": "not a facemotion checkpoint",
    "unknown_arch.pt": "cannot build its architecture 'resnet_fer_xl'",
    "garbage.pt": "not a loadable facemotion checkpoint",
}


@pytest.mark.parametrize("name", list(CHECKPOINT_CASES))
@pytest.mark.parametrize("command", ["image", "evaluate", "export"])
def test_a_bad_checkpoint_is_one_line_in_every_command(bad_checkpoints, kaggle_zip, media, tmp_path, capsys,
                                                       command, name):
    from facemotion.cli import main

    ckpt = str(bad_checkpoints / name)
    argv = {"image": ["image", str(media / "justin.jpg"), "--model", ckpt, "-o", str(tmp_path)],
            "evaluate": ["evaluate", ckpt, "--data", str(kaggle_zip)],
            "export": ["export", ckpt, "-o", str(tmp_path / "x.onnx")]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and CHECKPOINT_CASES[name] in err, err
    assert not (tmp_path / "x.onnx").exists()


def test_file_names_the_os_or_the_terminal_cannot_take(media, tmp_path):
    long_name = tmp_path / ("a" * 300 + ".jpg")
    odd = tmp_path / os.fsdecode(b"caf\xe9.jpg")  # not valid UTF-8: a surrogate escape in Python
    odd.write_bytes((media / "justin.jpg").read_bytes())
    env = {**os.environ, "PYTHONIOENCODING": "ascii:strict"}
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", str(long_name), str(odd), "--json"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "File name too long" in r.stderr and "1 of 2 inputs failed" in r.stderr
    assert '"dominant_emotion": "happy"' in r.stdout and "caf\\udce9.jpg" in r.stdout
