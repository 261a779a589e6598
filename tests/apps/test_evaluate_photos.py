"""``facemotion evaluate MODEL --data FOLDER`` on a folder of <emotion>/<photo>: real photos of
the London set through the detector (the largest face scored, as the public API finds it), face
crops with ``--crops``, photos without a face counted as misses, folder names through the one
table of names, and bad folders or options refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.cli import main
from facemotion.labelled import photo_report, read_labelled_folder
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS
from facemotion.metrics import classification_report

from conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]

LONDON = SHARED / "datasets" / "london_faces"


@pytest.fixture(scope="module")
def london():
    if not (LONDON / "london_info.csv").is_file():
        pytest.skip(f"the London set is not at {LONDON}")
    return LONDON


def photo_folder(root, london, media):
    """Five smiles (folder 'Smiling': an alias), five neutral faces, a photo without a face among
    the smiles, and what a real folder also holds: a hidden file and a notes file."""
    for folder, src in (("Smiling", "smiling"), ("neutral", "neutral")):
        (root / folder).mkdir(parents=True)
        for p in sorted((london / src).glob("*.jpg"))[:5]:
            shutil.copy(p, root / folder / p.name)
    shutil.copy(media / "no-faces.jpg", root / "Smiling" / "no-faces.jpg")
    (root / "Smiling" / ".DS_Store").write_bytes(b"\0")
    (root / "notes.txt").write_text("photos of the London set\n")
    return root


def largest(rec, path):
    faces = rec.detect_emotions(str(path))
    return max(faces, key=lambda f: f["box"][2] * f["box"][3])["dominant_emotion"] if faces else None


def test_a_folder_of_photos_is_scored_as_the_public_api_sees_it(tmp_path, london, media, capsys):
    data = photo_folder(tmp_path / "photos", london, media)
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(data), "-o", str(tmp_path / "out"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rec = EmotionRecognizer(model="newfaces4_resnet_s")
    items = read_labelled_folder(data, rec.labels)
    said = [largest(rec, it.path) for it in items]
    truth = [it.label for it in items]
    assert len(items) == r["n"] == 11 and r["faces_found"] == 10 and said.count(None) == 1
    assert r["accuracy"] == pytest.approx(np.mean([s == t for s, t in zip(said, truth)]))
    assert r["per_class"]["happy"]["support"] == 6 and r["per_class"]["neutral"]["support"] == 5
    for e in ("happy", "neutral"):
        assert r["per_class"][e]["recall"] == pytest.approx(np.mean([s == e for s, t in zip(said, truth) if t == e]))
    assert r["balanced_accuracy"] == pytest.approx(np.mean([r["per_class"][e]["recall"] for e in ("happy", "neutral")]))
    cm = np.array(r["confusion_matrix"])
    assert cm.shape == (8, 9) and cm.sum() == 11 and cm[EMOTIONS.index("happy"), -1] == 1  # the photo without a face
    assert (tmp_path / "out" / "report.json").is_file() and (tmp_path / "out" / "confusion.png").stat().st_size > 5000


def test_crops_are_classified_whole(tmp_path, fer_zip, capsys):
    import cv2

    from facemotion.datasets import load_splits

    test = load_splits(fer_zip, ("test",))["test"]
    picked = {e: np.flatnonzero(test.labels == EMOTIONS.index(e))[:4] for e in ("happy", "surprise", "angry")}
    for e, idx in picked.items():
        (tmp_path / e).mkdir()
        for i in idx:
            cv2.imwrite(str(tmp_path / e / f"{i}.png"), test.images[i])
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(tmp_path), "--crops", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    rec = EmotionRecognizer(model="newfaces4_resnet_s", detector="none")
    order = sorted(picked)  # read_labelled_folder sorts folders, then files
    files = [f for e in order for f in sorted((tmp_path / e).iterdir())]
    probs = rec.classify_faces(np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]))
    want = photo_report([f.parent.name for f in files], probs, np.ones(len(files), bool), FERPLUS_EMOTIONS)
    assert r["faces_found"] == r["n"] == 12 and r["detector"] == "none"
    assert r["per_class"] == want["per_class"] and r["confusion_matrix"] == want["confusion_matrix"]
    # precision, F1 and calibration as the FER2013 protocol defines them, over the classes present
    full = classification_report([FERPLUS_EMOTIONS.index(f.parent.name) for f in files], probs, FERPLUS_EMOTIONS)
    for e in order:
        assert r["per_class"][e] == pytest.approx(full["per_class"][e])
    assert r["macro_f1"] == pytest.approx(np.mean([full["per_class"][e]["f1"] for e in order]))
    assert r["ece"] == pytest.approx(full["ece"]) and r["nll"] == pytest.approx(full["nll"])
    assert r["mean_confidence"] == pytest.approx(probs.max(1).mean())


def test_bad_folders_and_options_are_refused_in_one_line(tmp_path, london, media):
    data = photo_folder(tmp_path / "photos", london, media)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "facemotion", "evaluate", "newfaces4_resnet_s", "--data", *map(str, args)],
                              capture_output=True, text=True, timeout=300)

    (data / "bored").mkdir()
    p = run(data)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith(f"error: {data / 'bored'}: folder name 'bored' names no emotion;")
    (data / "bored").rmdir()
    p = run(data, "--calibrate")
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1] == \
        "error: --calibrate: not for a folder of photos (it needs a FER2013 dataset)"
    # a truncated photo: refused in one line, or with --skip-bad a miss that is counted
    (data / "neutral" / "broken.jpg").write_bytes((media / "justin.jpg").read_bytes()[:3000])
    p = run(data)
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1] == \
        f"error: {data / 'neutral' / 'broken.jpg'}: image file is truncated (incomplete download?) (--skip-bad counts such " \
        "a photo as a miss)"
    p = run(data, "--skip-bad", "--json")
    r = json.loads(p.stdout)
    assert p.returncode == 0 and r["n"] == 12 and r["faces_found"] == 10 and len(r["unreadable"]) == 1
    assert "1 unreadable photo counted as misses" in p.stderr
    empty = tmp_path / "empty"
    (empty / "happy").mkdir(parents=True)
    p = run(empty)
    assert p.returncode == 1 and p.stderr.strip().splitlines()[-1] == f"error: {empty}: no images in <emotion>/ folders"


def test_a_folder_reads_every_image_kind_the_cli_reads(tmp_path, london):
    """A labelled folder counts the same files as images as `facemotion image` does: a browser's
    .jfif download of a JPEG is a photo to score, not a file to pass over."""
    from facemotion.inputs import IMAGE_SUFFIXES

    smile = sorted((london / "smiling").glob("*.jpg"))[0]
    (tmp_path / "happy").mkdir()
    for suffix in (".jpg", ".jfif"):
        shutil.copy(smile, tmp_path / "happy" / f"face{suffix}")
    items = read_labelled_folder(tmp_path, EMOTIONS)
    assert [it.path.name for it in items] == ["face.jfif", "face.jpg"] and ".jfif" in IMAGE_SUFFIXES


def test_groups_report_accuracy_per_person_group(tmp_path, london, media, capsys):
    """--groups CSV: each group's accuracy over its people (both photos of a person one unit),
    as the public API answers them; groups.png beside the report; a dataset of faces refuses it."""
    import csv

    data = photo_folder(tmp_path / "photos", london, media)
    info = {r["face_id"]: r["face_gender"] for r in csv.DictReader(open(london / "london_info.csv"))}
    rows = [(p.relative_to(data).as_posix(), p.name[:3], info[p.name[:3]])
            for p in sorted(data.glob("*/*.jpg")) if p.name[:3] in info]
    with open(tmp_path / "groups.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "person", "gender"), *rows])
    out = tmp_path / "out"
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(data), "--groups", str(tmp_path / "groups.csv"),
                 "-o", str(out), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["groups"]
    rec = EmotionRecognizer(model="newfaces4_resnet_s")
    truth = {it.path.relative_to(data).as_posix(): it.label for it in read_labelled_folder(data, rec.labels)}
    for g, cell in r["attributes"]["gender"]["groups"].items():
        people = {}
        for file, person, gender in rows:
            if gender == g:
                people.setdefault(person, []).append(largest(rec, data / file) == truth[file])
        assert cell["units"] == len(people) and cell["photos"] == sum(map(len, people.values()))
        assert cell["accuracy"] == pytest.approx(np.mean([np.mean(v) for v in people.values()]))
    assert r["unit"] == "person" and r["attributes"]["gender"]["left_out"] == 1  # the photo without a face
    assert (out / "groups.png").stat().st_size > 10_000
    p = subprocess.run([sys.executable, "-m", "facemotion", "evaluate", "newfaces4_resnet_s", "--data",
                        str(SHARED / "datasets" / "fer2013.zip"), "--groups", str(tmp_path / "groups.csv")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.strip().splitlines()[-1].endswith(
        "fer2013.zip is a dataset of faces; --groups is for a folder of <emotion>/<photo>")


def test_control_tests_the_gap_within_each_level(tmp_path, london, capsys):
    """--control COLUMN: each group's accuracy within each level of a covariate (here the rated
    visibility of 24 London smiles), as the public API answers them; without --groups it is refused."""
    import csv

    info = {r["face_id"]: r["face_gender"] for r in csv.DictReader(open(london / "london_info.csv"))}
    vis = {r["face_id"]: r["visibility"] for r in csv.DictReader(open(ROOT / "benchmarks" / "data" /
                                                                       "london_smile_visibility.csv"))}
    data = tmp_path / "photos"
    (data / "happy").mkdir(parents=True)
    smiles = sorted((london / "smiling").glob("*.jpg"))[:24]
    for p in smiles:
        shutil.copy(p, data / "happy" / p.name)
    rows = [(f"happy/{p.name}", info[p.name[:3]], vis[p.name[:3]]) for p in smiles]
    with open(tmp_path / "groups.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "gender", "visibility"), *rows])
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(data), "--groups", str(tmp_path / "groups.csv"),
                 "--control", "visibility", "--json", "-o", str(tmp_path / "out")]) == 0
    r = json.loads(capsys.readouterr().out)["groups"]
    assert list(r["attributes"]) == ["gender"] and r["control"] == "visibility"
    assert (tmp_path / "out" / "groups.png").stat().st_size > 10_000  # its title carries the gap at equal levels
    c = r["attributes"]["gender"]["test"]["at_equal_control"]
    rec = EmotionRecognizer(model="newfaces4_resnet_s")
    hits = {file: largest(rec, data / file) == "happy" for file, _, _ in rows}
    for level, by in c["levels"].items():
        for g, cell in by.items():
            mine = [hits[file] for file, gender, v in rows if gender == g and v == level]
            assert cell["units"] == len(mine)
            assert cell["accuracy"] == (pytest.approx(np.mean(mine)) if mine else None)
    assert 0 < c["p"] <= 1 and c["p_holm"] == c["p"]  # one attribute: Holm changes nothing
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(data), "--control", "visibility"]) == 2
    assert capsys.readouterr().err.strip() == "error: --control: needs --groups (the CSV that has the column)"


def test_no_face_gives_no_calibration_and_an_empty_class_is_named(tmp_path, media, capsys):
    """A folder where no face is found has no probabilities: no ECE of 0 that reads as perfect
    calibration; a class folder that gave no photo (empty, or its photos a level down) is named,
    not silently left out of the averages."""
    for d in ("happy", "sad/deeper", "angry"):
        (tmp_path / "set" / d).mkdir(parents=True)
    for k in range(2):
        shutil.copy(media / "no-faces.jpg", tmp_path / "set" / "happy" / f"{k}.jpg")
    shutil.copy(media / "obama.jpg", tmp_path / "set" / "sad" / "deeper" / "x.jpg")
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(tmp_path / "set"), "-o", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert "probabilities: none (no face found)" in out and "ECE 0.000" not in out
    assert "note: no photos in" in err and "angry" in err and "sad" in err
    r = json.loads((tmp_path / "out" / "report.json").read_text())
    assert r["ece"] is None and r["nll"] is None and r["mean_confidence"] is None
    # the robustness suite's options need a dataset: refused, not ignored
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(tmp_path / "set"), "--corruptions", "jpeg"]) == 2
    assert "--corruptions: goes with --robustness" in capsys.readouterr().err


def test_a_contempt_folder_scored_as_disgust_says_so_and_the_header_names_the_model_that_ran(media, tmp_path, capsys):
    for emotion, photo in (("contempt", "biden.jpg"), ("happy", "obama.jpg")):
        (tmp_path / emotion).mkdir()
        shutil.copy(media / photo, tmp_path / emotion / photo)
    assert main(["evaluate", "mini_xception", "--data", str(tmp_path)]) == 0  # an older name of a shipped model
    got = capsys.readouterr()
    assert "note: contempt/ is scored as disgust: fer2013_mini_xception reads FER2013's seven emotions" in got.err
    assert "mini_xception on" not in got.out.replace("fer2013_mini_xception", "")
    assert main(["evaluate", "newfaces4_resnet_s", "--data", str(tmp_path)]) == 0  # FER+'s eight: read as it is
    assert "scored as disgust" not in capsys.readouterr().err


def test_crops_name_what_they_cannot_go_with(tmp_path, capsys):
    (tmp_path / "happy").mkdir()
    (tmp_path / "f.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    for argv, said in ((["--data", str(tmp_path / "f.zip"), "--crops"], "--crops: "),
                       (["--data", str(tmp_path), "--crops", "--detector", "haar"], "--detector: --crops reads each")):
        assert main(["evaluate", "fer2013_mini_xception", *argv]) == 2
        assert capsys.readouterr().err.startswith(f"error: {said}")


def test_models_of_seven_and_eight_emotions_are_averaged_over_eight(tmp_path):
    """As on a dataset: a seven-emotion model gives contempt 0, and the average is a probability."""
    import shutil

    import facemotion
    from facemotion import EmotionRecognizer
    from facemotion.cli import main
    from facemotion.labelled import averaged_labels, read_labelled_folder, score_images

    (tmp_path / "happy").mkdir()
    shutil.copy(facemotion.SAMPLE_IMAGE, tmp_path / "happy" / "a.jpg")
    recs = [EmotionRecognizer(model="fer2013_mini_xception"), EmotionRecognizer()]
    labels = averaged_labels(recs)
    assert labels[-1] == "contempt" and len(labels) == 8
    probs, found = score_images(recs, read_labelled_folder(tmp_path, labels), progress=False)
    alone = recs[0].detect_emotions(facemotion.SAMPLE_IMAGE)[0]["emotions"]["happy"]
    other = recs[1].detect_emotions(facemotion.SAMPLE_IMAGE)[0]["emotions"]["happy"]
    assert found.all() and abs(probs[0].sum() - 1) < 1e-5 and abs(probs[0][3] - (alone + other) / 2) < 1e-5
    assert main(["evaluate", "fer2013_mini_xception", "newfaces4_resnet_s", "--data", str(tmp_path)]) == 0
