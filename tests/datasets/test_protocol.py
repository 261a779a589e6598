"""The honest protocol (facemotion.protocol): FER+ majority over 7 and 8 classes, FER2013 with and
without the test faces that copy a training face, recall, ECE and the crowd cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest

from facemotion.datasets.duplicates import duplicates_of, training_duplicates
from facemotion.datasets.splits import Split
from facemotion.errors import DataError
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS
from facemotion.metrics import classification_report
from facemotion.protocol import (
    card_metrics,
    format_protocol,
    in_labels,
    labels_of,
    load_protocol_split,
    protocol_report,
)

NAN = float("nan")
# columns: angry disgust fear happy sad surprise neutral contempt unknown not_face
VOTES = np.array([
    [0, 0, 0, 6, 0, 0, 4, 0, 0, 0],  # 0: happy, in both protocols
    [0, 0, 0, 4, 4, 0, 0, 0, 2, 0],  # 1: a tie (happy = sad): out of both
    [0, 0, 0, 0, 0, 0, 4, 6, 0, 0],  # 2: contempt: in the 8-class protocol only
    [4, 0, 0, 0, 0, 0, 0, 0, 6, 0],  # 3: mostly unknown: out of both
    [NAN] * 10,                      # 4: no FER+ row: out of everything FER+
    [0, 0, 0, 0, 3, 0, 5, 0, 0, 2],  # 5: neutral
], np.float64)
HAPPY, SAD, NEUTRAL, ANGRY = (EMOTIONS.index(e) for e in ("happy", "sad", "neutral", "angry"))
FER_LABELS = np.array([HAPPY, SAD, NEUTRAL, ANGRY, HAPPY, SAD])


def _probs7():
    p = np.full((6, 7), 0.05)
    for i, k in enumerate([HAPPY, HAPPY, NEUTRAL, ANGRY, SAD, SAD]):
        p[i, k] = 0.7
    return p / p.sum(1, keepdims=True)


def test_a_7_class_model_on_hand_made_votes():
    p = _probs7()
    dup = np.array([False, False, False, True, False, False])
    r = protocol_report(p, EMOTIONS, FER_LABELS, VOTES, dup)
    assert r["ferplus"] and r["labels"] == list(EMOTIONS)
    # FER2013: right on faces 0, 2, 3 (by the folder labels) and 5 (sad); 3 is a duplicate
    assert r["fer2013"] == {"accuracy": 4 / 6, "n": 6, "accuracy_dedup": 3 / 5, "n_dedup": 5, "n_duplicates": 1}
    # 7 classes: faces 0 (happy: right) and 5 (neutral: said sad)
    f7 = r["ferplus7"]
    assert (f7["n"], f7["accuracy"]) == (2, 0.5)
    assert f7["recall"]["happy"] == 1.0 and f7["recall"]["neutral"] == 0.0 and "contempt" not in f7["recall"]
    assert f7["support"]["happy"] == 1 and f7["ece"] is not None
    # 8 classes: + the contempt face, which a 7-class model can never get; no ECE for 7 outputs
    f8 = r["ferplus8"]
    assert (f8["n"], f8["accuracy"]) == (3, pytest.approx(1 / 3))
    assert f8["recall"]["contempt"] == 0.0 and f8["support"]["contempt"] == 1 and f8["ece"] is None
    # crowd CE over the 7 labels: every face with votes for one of them (not 4; 2 counts its neutral vote)
    assert r["crowd_n"] == 5
    q0 = np.array([0, 0, 0, 0.6, 0, 0, 0.4])
    q2 = np.array([0, 0, 0, 0, 0, 0, 1.0])
    expect = np.mean([-(q * np.log(p[i])).sum() for i, q in (
        (0, q0), (1, np.array([0, 0, 0, .5, .5, 0, 0])), (2, q2), (3, np.eye(7)[ANGRY]),
        (5, np.array([0, 0, 0, 0, 3 / 8, 0, 5 / 8])))])
    assert r["crowd_ce"] == pytest.approx(expect)
    assert card_metrics(r) == {"ferplus_test": 0.5, "ferplus_test_8": pytest.approx(1 / 3),
                               "private_test_dedup": 0.6, "ece_ferplus": f7["ece"], "crowd_ce": r["crowd_ce"]}
    # the meant expressions per class, duplicates out (face 3, the only angry one, is a duplicate)
    assert r["fer2013_recall"] == {"angry": None, "disgust": None, "fear": None, "happy": 0.5, "sad": 0.5,
                                   "surprise": None, "neutral": 1.0}
    assert r["neutral_share"] == r["neutral_share_labels"] == pytest.approx(1 / 6)
    text = format_protocol(r, "hand-made")
    assert "FER+ majority, 7 classes" in text and "1 train duplicates out" in text and "contempt" in text
    assert "called neutral: 16.67% of the faces (FER2013 labels neutral: 16.67%)" in text
    assert "FER2013 (dups out)" in text and "FER+ 7" in text


def test_an_8_class_model_predicts_within_the_seven_for_the_7_class_protocols():
    p = np.zeros((6, 8)) + 0.01
    p[0, HAPPY] = 0.9
    p[2, 7] = 0.9  # contempt, right in the 8-class protocol
    p[5, 7], p[5, NEUTRAL], p[5, SAD] = 0.5, 0.3, 0.2  # contempt first, then neutral
    p[[1, 3, 4], ANGRY] = 0.9
    p /= p.sum(1, keepdims=True)
    r = protocol_report(p, FERPLUS_EMOTIONS, FER_LABELS, VOTES)
    assert r["ferplus7"]["accuracy"] == 1.0  # face 5: contempt ignored, neutral is the argmax of the seven
    assert r["ferplus8"]["accuracy"] == pytest.approx(2 / 3)  # face 5 said contempt
    assert r["ferplus8"]["recall"]["contempt"] == 1.0 and r["ferplus8"]["ece"] is not None
    # FER2013: the argmax over the seven, whatever contempt's probability
    assert r["fer2013"]["n_dedup"] is None and r["fer2013"]["accuracy"] == pytest.approx(
        np.mean(in_labels(p, FERPLUS_EMOTIONS, EMOTIONS).argmax(1) == FER_LABELS))
    assert r["crowd_n"] == 5  # q over the eight: face 2's contempt votes count


def test_without_votes_the_report_says_ferplus_is_unavailable():
    r = protocol_report(_probs7(), EMOTIONS, FER_LABELS)
    assert r["ferplus"] is False and r["ferplus7"] is None and r["crowd_ce"] is None
    assert r["fer2013"]["accuracy"] == 4 / 6
    assert "FER+: unavailable" in format_protocol(r)
    with pytest.raises(DataError, match="6 predictions for 5 faces"):
        protocol_report(_probs7(), EMOTIONS, FER_LABELS[:5])


def test_in_labels_and_labels_of():
    p7 = np.full((2, 7), 1 / 7)
    assert labels_of(p7) == EMOTIONS and labels_of(np.zeros((1, 8))) == FERPLUS_EMOTIONS
    with pytest.raises(DataError, match="5 outputs"):
        labels_of(5)
    p8 = in_labels(p7, EMOTIONS, FERPLUS_EMOTIONS)
    assert p8.shape == (2, 8) and (p8[:, 7] == 0).all()
    back = in_labels(np.hstack([p7 * 0.5, np.full((2, 1), 0.5)]), FERPLUS_EMOTIONS, EMOTIONS)
    np.testing.assert_allclose(back, p7)


def test_classification_report_takes_the_label_names():
    y = np.array([0, 7, 3, 7])
    p = np.eye(8)[[0, 7, 3, 6]] * 0.9 + 0.1 / 8
    r = classification_report(y, p, FERPLUS_EMOTIONS)
    assert list(r["per_class"]) == list(FERPLUS_EMOTIONS) and r["labels"] == list(FERPLUS_EMOTIONS)
    assert r["per_class"]["contempt"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert np.array(r["confusion_matrix"]).shape == (8, 8) and r["accuracy"] == 0.75
    assert list(classification_report(y, p)["per_class"]) == list(FERPLUS_EMOTIONS)  # 8 columns: FER+'s names
    assert list(classification_report([0, 1], np.eye(7)[[0, 1]])["per_class"]) == list(EMOTIONS)  # old callers
    with pytest.raises(ValueError, match="7 label names for 8 columns"):
        classification_report(y, p, EMOTIONS)


def test_duplicates_are_pixel_equal_faces():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (5, 48, 48), np.uint8)
    test = np.stack([train[3], rng.integers(0, 256, (48, 48), np.uint8), train[0]])
    near = test.copy()
    near[2, 0, 0] ^= 1  # one pixel off: not a copy
    assert duplicates_of(test, train).tolist() == [True, False, True]
    assert duplicates_of(near, train).tolist() == [True, False, False]
    split = Split("test", test, np.zeros(3, np.int64), np.array(["a", "b", "c"]))
    assert training_duplicates(split, Split("train", train, np.zeros(5, np.int64), np.array(list("vwxyz")))).sum() == 2
    assert duplicates_of(test[:0], train).shape == (0,)


@pytest.mark.parametrize("split, n7, n8, n_dup", [("test", 3343, 3370, 288), ("val", 3370, 3396, 280)])
def test_the_protocol_counts_on_fer2013(fer_zip, split, n7, n8, n_dup):
    sp, votes, dup = load_protocol_split(fer_zip, split)
    assert votes is not None and votes.shape == (len(sp), 10) and len(sp) == 3589
    assert int(dup.sum()) == n_dup  # pixel copies of a Training face (byte-identical JPEGs in the zip)
    p = np.eye(7)[sp.labels]  # a model that says the folder label
    r = protocol_report(p, EMOTIONS, sp.labels, votes, dup)
    assert (r["ferplus7"]["n"], r["ferplus8"]["n"]) == (n7, n8)
    assert r["fer2013"]["accuracy"] == 1.0 and r["fer2013"]["n_dedup"] == 3589 - n_dup
