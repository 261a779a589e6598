"""scripts/fer_gender.py: UTKFace crops are read with their recorded gender and race from the file
name, one in ten held out by name, equalized as FER2013's faces are; the two-way network starts
from a shipped checkpoint with a new head, trains, and gives every face a probability."""

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import ROOT, load_benchmark, load_script  # noqa: E402


def test_utk_crops_are_read_by_name_and_the_classifier_trains(tmp_path, fer_zip):
    import zipfile

    fg = load_script("fer_gender")
    with zipfile.ZipFile(fer_zip) as zf:  # real faces, named as UTKFace names its files
        names = [n for n in zf.namelist() if "/Training_" in n][:40]
        faces = [cv2.imdecode(np.frombuffer(zf.read(n), np.uint8), cv2.IMREAD_GRAYSCALE) for n in names]
    for i, face in enumerate(faces):
        dest = tmp_path / "unlabelled" / f"{20 + i}_{i % 2}_{i % 5}_2017{i:04d}.jpg.chip.png"
        dest.parent.mkdir(exist_ok=True)
        cv2.imwrite(str(dest), cv2.convertScaleAbs(face, alpha=0.5))  # low contrast: equalizing must undo it
    cv2.imwrite(str(tmp_path / "unlabelled" / "noname.png"), faces[0])  # not a UTKFace name: skipped
    x, gender, race, held = fg.utk_crops(tmp_path)
    assert x.shape == (40, 48, 48) and x.dtype == np.uint8
    assert list(gender) == [i % 2 for i in range(40)] and list(race) == [i % 5 for i in range(40)]
    assert x.min() == 0 and x.max() == 255  # equalized
    assert held.dtype == bool and 0 <= held.sum() < 40
    model = fg.build(ROOT / "models" / "ferplus_resnet_s.pt")
    model = fg.train(model, x, gender, epochs=1, lr=1e-3, batch=8, seed=0)
    p = fg.p_female(model, x)
    assert p.shape == (40,) and ((p >= 0) & (p <= 1)).all()
    with pytest.raises(SystemExit, match="no UTKFace crops"):
        fg.utk_crops(tmp_path / "unlabelled" / "nothing")
    # Specs on Faces' names record gender; the audit table shares each label out by reading
    assert fg.recorded_gender("AbdA_00003_m_31_i_fr_nc_hp_2016_2_e0_nl_o.png") == 0
    assert fg.recorded_gender("Xy_00012_f_22_i_fr_nc_no_2016_1_e0_nl_o.png") == 1
    assert np.isnan(fg.recorded_gender("Training_1.jpg"))
    lines, table = fg.label_table(np.array([0, 0, 1, 1, 1]), ("sad", "happy"), np.array([0.9, 0.1, 0.8, 0.7, 0.2]), "label")
    assert table["happy"]["faces"] == 3 and table["happy"]["women"] == pytest.approx(2 / 3)
    assert table["sad"]["share_of_men"] == pytest.approx(1 / 2) and table["happy"]["share_of_women"] == pytest.approx(2 / 3)
    assert lines[0].startswith("60.0% read as women")


def test_fer_groups_measures_each_group_and_refuses_a_file_without_the_split(tmp_path, fer_zip):

    fer_groups = load_benchmark("fer_groups")
    happy, neutral = 3, 6
    y = np.array([happy, happy, happy, neutral, happy, neutral])
    pred = np.array([happy, neutral, happy, neutral, neutral, happy])
    woman = np.array([True, True, True, True, False, False])
    r = fer_groups.measure(pred, y, woman)
    assert r["women"]["happy_recall"]["value"] == pytest.approx(2 / 3) and r["men"]["happy_recall"]["value"] == 0
    assert r["happy_gap"] == pytest.approx(2 / 3)
    assert r["women"]["happy_as_neutral"]["k"] == 1 and r["men"]["neutral_recall"]["value"] == 0
    lo, hi = r["women"]["accuracy"]["ci"]
    assert r["women"]["accuracy"]["value"] == 0.75 and lo < 0.75 < hi <= 1
    gender = tmp_path / "gender.csv"
    gender.write_text("source,p_female,split\ntrain/happy/Training_1.jpg,0.9,train\n")
    with pytest.raises(SystemExit, match="no reading for any face of the val split"):
        fer_groups.main(["--gender", str(gender), "--data", str(fer_zip)])


def test_fer_crowd_compares_the_two_label_sources_per_group(tmp_path):
    import json

    from facemotion.datasets.ferplus import read_votes

    fer_crowd = load_benchmark("fer_crowd")
    # votes over (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF),
    # in the package's order; three faces FER2013 calls happy, two neutral
    table = read_votes()
    paths = [p for p in table.by_path if p.startswith("train/happy/")][:3] + \
        [p for p in table.by_path if p.startswith("train/neutral/")][:2]
    gender = tmp_path / "gender.csv"
    gender.write_text("source,p_female,split\n" + "".join(f"{p},{0.9 if i % 2 else 0.1},train\n"
                                                          for i, p in enumerate(paths)))
    fer_crowd.main(["--gender", str(gender), "--out", str(tmp_path / "crowd")])
    res = json.loads((tmp_path / "crowd.json").read_text())
    assert res["women"]["faces"] == 2 and res["men"]["faces"] == 3
    assert "cores" in res["machine"] and res["command"].startswith("python benchmarks/studies/fer_crowd.py")
    # the shares are the crowd's own majorities of those faces, counted per group
    from facemotion.datasets.ferplus import majority, votes_for
    from facemotion.labels import EMOTIONS
    crowd = majority(votes_for(paths, table), EMOTIONS)
    men_happy = [i for i in (0, 2) if crowd[i] >= 0]
    r = res["men"]["fer_happy_crowd_happy"]
    assert r["n"] == len(men_happy) and r["k"] == sum(crowd[i] == EMOTIONS.index("happy") for i in men_happy)
    assert "read as women" in (tmp_path / "crowd.txt").read_text()
    gender.write_text("source,p_female,split\ntest/happy/PublicTest_1.jpg,0.9,val\n")
    with pytest.raises(SystemExit, match="no reading for any face of the train split"):
        fer_crowd.main(["--gender", str(gender)])


def test_dispute_votes_lets_fer2013_settle_happy_against_neutral_on_training_faces_only(tmp_path):
    import pandas as pd

    from facemotion.datasets.ferplus import read_votes

    dv = load_script("dispute_votes")
    head = "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\n"
    rows = ["train/happy/Training_1.jpg,6,3,1,0,0,0,0,0,0,0",     # FER2013 happy, crowd neutral: swapped
            "train/neutral/Training_2.jpg,2,7,0,1,0,0,0,0,0,0",   # FER2013 neutral, crowd happy: swapped
            "train/happy/Training_3.jpg,1,8,1,0,0,0,0,0,0,0",     # they agree: kept
            "train/sad/Training_4.jpg,6,3,0,1,0,0,0,0,0,0",       # not a happy/neutral label: kept
            "train/happy/Training_5.jpg,4,4,2,0,0,0,0,0,0,0",     # the crowd ties: no majority, kept
            "test/happy/PublicTest_6.jpg,6,3,1,0,0,0,0,0,0,0"]    # PublicTest: the crowd's, kept
    src = tmp_path / "votes.csv"
    src.write_text(head + "\n".join(rows) + "\n")
    out = tmp_path / "disputed.csv.gz"
    assert dv.main(["--votes", str(src), "--out", str(out)]) == 0
    before, after = pd.read_csv(src), pd.read_csv(out)
    swapped = (before[["neutral", "happiness"]].to_numpy() != after[["neutral", "happiness"]].to_numpy()).any(1)
    assert list(swapped) == [True, True, False, False, False, False]
    assert list(after.loc[0, ["neutral", "happiness", "surprise"]]) == [3, 6, 1]
    assert len(read_votes(out)) == 6  # still a valid vote file
