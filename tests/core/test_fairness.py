"""facemotion.fairness: the groups CSV read against a folder's photos (refused in one line where it
does not fit), accuracy per group with the person as the unit, intervals that hold their point,
and a permutation test that sees a real gap and not a null one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facemotion.errors import DataError
from facemotion.fairness import (
    MIN_GROUP,
    format_group_report,
    group_report,
    holm,
    permutation_gap,
    read_groups,
    stratified_gap,
    wilson,
)

ROOT = Path("/photos")
FILES = [ROOT / "happy" / "a1.jpg", ROOT / "happy" / "b1.jpg", ROOT / "neutral" / "a2.jpg", ROOT / "neutral" / "b2.jpg"]


def csv_file(tmp_path, text):
    p = tmp_path / "groups.csv"
    p.write_text(text)
    return p


def test_the_csv_is_read_by_path_or_unique_name(tmp_path):
    p = csv_file(tmp_path, "file, person ,gender,age\nhappy/a1.jpg,A,f,young\nb1.jpg,B,m,\nneutral\\a2.jpg,A,f,young\n")
    groups, persons, _ = read_groups(p, ROOT, FILES)
    assert groups == {"gender": ["f", "m", "f", None], "age": ["young", None, "young", None]}
    assert persons == ["A", "B", "A", None]


@pytest.mark.parametrize("text, message", [
    ("name,gender\na1.jpg,f\n", "groups.csv: no 'file' column (the photo's path inside /photos), columns: name, gender"),
    ("file,person\na1.jpg,A\n", "groups.csv: no group column beside 'file' and 'person'"),
    ("file,gender\na1.jpg,f\nhappy/zz.jpg,m\n", "groups.csv: line 3: file 'happy/zz.jpg' is not a photo of /photos"),
    ("file,gender\na1.jpg,f\nhappy/a1.jpg,f\n", "groups.csv: line 3: happy/a1.jpg already given on line 2"),
    ("file,person,gender\na1.jpg,A,f\na2.jpg,A,m\n", "groups.csv: person 'A' is in two 'gender' groups ('f' and 'm')"),
])
def test_a_csv_that_does_not_fit_is_refused_in_one_line(tmp_path, text, message):
    with pytest.raises(DataError) as e:
        read_groups(csv_file(tmp_path, text), ROOT, FILES)
    assert str(e.value).endswith(message) and "\n" not in str(e.value)


def test_unique_names_only_stand_for_their_photo(tmp_path):
    files = [ROOT / "happy" / "x.jpg", ROOT / "sad" / "x.jpg"]
    with pytest.raises(DataError, match=r"line 2: file 'x.jpg' names 2 photos of /photos \(happy/x.jpg, sad/x.jpg\); "
                                        r"give its path inside the folder$"):
        read_groups(csv_file(tmp_path, "file,g\nx.jpg,1\n"), ROOT, files)


def test_the_person_is_the_unit_and_intervals_hold_their_point():
    # 6 people of group a, 6 of b, two photos each; a's people get both right, b's one of two
    persons = [f"{g}{i}" for g in "ab" for i in range(6) for _ in range(2)]
    gender = [p[0] for p in persons]
    y = np.zeros(24, int)
    pred = np.array([0] * 12 + [0, 1] * 6)
    found = np.ones(24, bool)
    r = group_report(y, pred, found, ["happy", "neutral"], {"g": gender}, persons, seed=0, permutations=500)
    a, b = r["attributes"]["g"]["groups"]["a"], r["attributes"]["g"]["groups"]["b"]
    assert (a["units"], a["photos"], a["accuracy"]) == (6, 12, 1.0) and (b["units"], b["accuracy"]) == (6, 0.5)
    assert b["ci"][0] < 0.5 < b["ci"][1] and a["ci"][1] == 1.0
    assert list(b["ci"]) == pytest.approx(wilson(3.0, 6))  # six units, not twelve photos
    t = r["attributes"]["g"]["test"]
    assert t["high"] == "a" and t["gap"] == pytest.approx(0.5) and t["p"] < 0.01 and t["p_holm"] == t["p"]
    assert "largest gap: a - b 50.0 points" in format_group_report(r)


def test_no_gap_is_not_significant_and_small_groups_are_not_tested():
    rng = np.random.default_rng(3)
    y = np.zeros(400, int)
    pred = (rng.random(400) < 0.3).astype(int)  # the same 70% for everyone
    g = ["x" if i % 2 else "y" for i in range(400)]
    g[:MIN_GROUP - 1] = ["tiny"] * (MIN_GROUP - 1)
    r = group_report(y, pred, np.ones(400, bool), ["happy", "neutral"], {"g": g}, None, seed=1, permutations=1000)
    t = r["attributes"]["g"]["test"]
    assert r["unit"] == "photo" and set(t["groups"]) == {"x", "y"} and t["p"] > 0.05
    assert r["attributes"]["g"]["groups"]["tiny"]["units"] == MIN_GROUP - 1


def test_photos_without_a_face_are_misses_and_recall_is_per_class():
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 2, 1, 0])  # 2 = no face
    r = group_report(y, pred, np.array([1, 0, 1, 1], bool), ["happy", "neutral"], {"g": ["a"] * 4}, None)
    c = r["attributes"]["g"]["groups"]["a"]
    assert c["accuracy"] == 0.5 and c["faces_found"] == 3 and c["recall"] == {"happy": 0.5, "neutral": 0.5}
    assert r["attributes"]["g"]["test"] is None


def test_many_units_are_tested_in_blocks_with_the_same_answer():
    rng = np.random.default_rng(0)
    values = (rng.random(50_000) < np.r_[np.full(25_000, 0.5), np.full(25_000, 0.52)]).astype(float)
    labels = ["a"] * 25_000 + ["b"] * 25_000
    t = permutation_gap(values, labels, np.random.default_rng(1), 200)  # 200 x 50,000 labels: in blocks
    assert t["high"] == "b" and t["p"] < 0.05
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def _confounded():
    """(hits, groups, strata): a sits mostly in the easy stratum, b in the hard one; within each
    stratum both hit as often (75% easy, 25% hard)."""
    cells = [("a", "easy", 60, 45), ("b", "easy", 24, 18), ("a", "hard", 24, 6), ("b", "hard", 60, 15)]
    hit, labels, strata = [], [], []
    for g, s, n, k in cells:
        hit += [1.0] * k + [0.0] * (n - k)
        labels += [g] * n
        strata += [s] * n
    return np.array(hit), labels, np.array(strata)


def test_a_gap_a_covariate_explains_does_not_survive_equal_strata():
    hit, labels, strata = _confounded()
    plain = permutation_gap(hit, labels, np.random.default_rng(0), 500)
    at_equal = stratified_gap(hit, labels, strata, np.random.default_rng(0), 500)
    assert plain["gap"] == pytest.approx(51 / 84 - 33 / 84) and plain["p"] < 0.01
    assert at_equal["gap"] == pytest.approx(0.0) and at_equal["p"] > 0.5 and at_equal["units_compared"] == 168
    # a gap inside the strata does survive, and only strata holding every group count
    hit2 = np.where(np.array(labels) == "a", 1.0, 0.0)
    s2 = np.r_[strata[:-5], ["only_b"] * 5]
    r = stratified_gap(hit2, labels, s2, np.random.default_rng(0), 500)
    assert (r["high"], r["gap"]) == ("a", pytest.approx(1.0)) and r["p"] < 0.01 and r["units_compared"] == 163
    # no stratum holding every group: no gap to tell, null in JSON (NaN is no JSON)
    apart = stratified_gap(hit2, labels, np.array([f"s_{g}" for g in labels]), np.random.default_rng(0), 50)
    assert apart["gap"] is None and apart["p"] is None and set(apart["means"].values()) == {None}
    import json

    json.loads(json.dumps(apart), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_control_column_tests_each_gap_at_equal_levels(tmp_path):
    hit, labels, strata = _confounded()
    files = [ROOT / "happy" / f"{i}.jpg" for i in range(len(hit))]
    rows = ["file,gender,smile"] + [f"{i}.jpg,{g},{s}" for i, (g, s) in enumerate(zip(labels, strata))]
    groups, persons, control = read_groups(csv_file(tmp_path, "\n".join(rows) + "\n"), ROOT, files, "smile")
    assert list(groups) == ["gender"] and persons is None and control[:2] == ["easy", "easy"]
    y, pred = np.zeros(len(hit), int), np.where(hit == 1, 0, 1)
    r = group_report(y, pred, np.ones(len(hit), bool), ["happy", "neutral"], groups, None, control=control,
                     control_name="smile", seed=0, permutations=500)
    t = r["attributes"]["gender"]["test"]
    c = t["at_equal_control"]
    assert t["gap"] == pytest.approx(18 / 84) and c["gap"] == pytest.approx(0.0) and c["p_holm"] > 0.5
    assert c["levels"]["easy"]["a"] == {"units": 60, "accuracy": 0.75}
    text = format_group_report(r)
    assert "at equal smile: " in text and "per smile: easy: a 75.0% (60), b 75.0% (24); hard: a 25.0% (24)" in text
    # the plain test is the same with or without the control: the control has its own random stream
    r0 = group_report(y, pred, np.ones(len(hit), bool), ["happy", "neutral"], groups, None, seed=0, permutations=500)
    assert r0["attributes"]["gender"]["test"]["p"] == t["p"]
    with pytest.raises(DataError, match=r"groups.csv: no 'light' column for --control \(columns: file, gender, smile\)"):
        read_groups(csv_file(tmp_path, "\n".join(rows) + "\n"), ROOT, files, "light")
    with pytest.raises(DataError, match=r"person 'A' is in two 'smile' groups"):
        read_groups(csv_file(tmp_path, "file,person,gender,smile\n0.jpg,A,f,easy\n1.jpg,A,f,hard\n"), ROOT, files,
                    "smile")


def test_a_csv_whose_columns_are_ambiguous_is_refused(tmp_path):
    """A column given twice (the last won) and a row with more cells than the header (the rest
    was dropped) are one line each."""
    from facemotion.errors import DataError
    from facemotion.fairness import read_groups

    photo = tmp_path / "set" / "happy" / "a.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"")
    for text, said in [("file,gender,gender\nhappy/a.jpg,f,m\n", "column 'gender' given twice"),
                       ("file,gender\nhappy/a.jpg,f,extra\n", "line 2: more cells than the header's 2 columns")]:
        (tmp_path / "g.csv").write_text(text)
        with pytest.raises(DataError, match=said):
            read_groups(tmp_path / "g.csv", tmp_path / "set", [photo])
    # a spreadsheet's empty trailing columns and cells are no ambiguity
    (tmp_path / "g.csv").write_text("file,gender,,\nhappy/a.jpg,f,,,\n")
    groups, _, _ = read_groups(tmp_path / "g.csv", tmp_path / "set", [photo])
    assert groups == {"gender": ["f"]}
