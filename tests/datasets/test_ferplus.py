"""FER+ crowd votes as a label source: the shipped vote file, the checks a foreign vote file
meets, the majority / crowd rules, and training on the votes with a new 8-class head."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from facemotion.datasets import load_splits
from facemotion.datasets.ferplus import (
    VOTE_COLUMNS,
    crowd_distribution,
    majority,
    read_votes,
    shipped_votes_path,
    soft_targets,
    trainable,
    votes_for,
)
from facemotion.errors import DataError
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS

from conftest import faces_like, jpg_bytes, train_args

HEADER = "path,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF,ferplus_name,match_corr\n"


def _votes(tmp_path, rows: str, header: str = HEADER):
    p = tmp_path / "votes.csv"
    p.write_text(header + rows)
    return p


def test_shipped_vote_file_is_the_shared_one_and_keys_every_split():
    t = read_votes()
    assert len(t) == 35_711  # README: 28,560 + 3,579 + 3,572 rows
    assert VOTE_COLUMNS[:8] == FERPLUS_EMOTIONS and VOTE_COLUMNS[8:] == ("unknown", "not_face")
    # the README's example row, re-ordered into facemotion's columns
    i = t.by_path["test/angry/PrivateTest_10131363.jpg"]
    assert dict(zip(VOTE_COLUMNS, t.votes[i])) == {"angry": 4, "disgust": 0, "fear": 0, "happy": 1, "sad": 0,
                                                   "surprise": 2, "neutral": 2, "contempt": 0, "unknown": 1,
                                                   "not_face": 0}
    assert t.by_name["fer0033834.png"] == i  # fer2013.csv's rows find the same votes
    assert shipped_votes_path().name.endswith(".csv.gz")


def test_majority_and_crowd_rules():
    v = np.array([
        [0, 0, 0, 6, 0, 0, 4, 0, 0, 0],    # happy
        [0, 0, 0, 5, 0, 0, 5, 0, 0, 0],    # a tie: no majority
        [0, 0, 0, 1, 0, 0, 2, 6, 1, 0],    # contempt: in the 8, not in the 7
        [0, 0, 0, 2, 0, 0, 1, 0, 7, 0],    # mostly unknown
        [np.nan] * 10,                     # no FER+ row
    ], np.float32)
    assert majority(v).tolist() == [3, -1, 7, -1, -1]
    assert majority(v, EMOTIONS).tolist() == [3, -1, -1, -1, -1]
    assert trainable(v).tolist() == [True, True, True, False, False]
    q = crowd_distribution(v)
    assert np.allclose(q[0, [3, 6]], [0.6, 0.4]) and np.isnan(q[4]).all()
    t = soft_targets(v[:3])
    assert np.allclose(t.sum(1), 1)
    assert t[2, 3] == 0 and t[2, 7] == pytest.approx(0.75)  # a single vote is dropped as noise (FER+'s rule)
    assert soft_targets(v[:1], "majority").tolist() == [[0, 0, 0, 1, 0, 0, 0, 0]]


@pytest.mark.parametrize("header, rows, says", [
    ("path,neutral,happiness\n", "train/happy/Training_1.jpg,1,9\n", "row 1: not a FER+ vote file: missing column"),
    (HEADER, "train/happy/Training_1.jpg,0,10,0,0,0,0,0,0,0,0,x,1\nphotos/a.jpg,0,10,0,0,0,0,0,0,0,0,y,1\n",
     "row 3: path 'photos/a.jpg' is not a Kaggle-layout path"),
    (HEADER, "train/happy/Training_1.jpg,0,11,0,0,0,0,-1,0,0,0,x,1\n", "row 2: vote counts must be finite and >= 0"),
    (HEADER, "train/happy/Training_1.jpg,0,ten,0,0,0,0,0,0,0,0,x,1\n", "row 2: a vote count is not a number"),
    (HEADER, "train/happy/Training_1.jpg,0,0,0,0,0,0,0,0,0,0,x,1\n", "row 2: no votes"),
])
def test_a_bad_vote_file_is_refused_in_one_line_naming_the_row(tmp_path, header, rows, says):
    with pytest.raises(DataError) as e:
        read_votes(_votes(tmp_path, rows, header))
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "votes.csv") in msg and says in msg


def test_a_vote_file_for_another_dataset_is_refused(tmp_path):
    data = tmp_path / "mine.zip"
    with zipfile.ZipFile(data, "w") as zf:
        for i, img in enumerate(faces_like(4)):
            zf.writestr(f"train/happy/Training_{i}.jpg", jpg_bytes(img))
    votes = _votes(tmp_path, "train/happy/Training_99.jpg,0,10,0,0,0,0,0,0,0,0,x,1\n")
    with pytest.raises(DataError, match="none of its 4 faces is in the vote file"):
        load_splits(data, ("train",), labels="ferplus", votes=votes, cache=False)
    # the same file with a matching row labels that face and leaves the others out
    votes.write_text(HEADER + "train/happy/Training_2.jpg,1,0,0,0,0,0,0,9,0,0,fer0000000.png,1\n")
    s = load_splits(data, ("train",), labels="ferplus", votes=votes, cache=False)["train"]
    assert len(s) == 1 and s.dropped == 3 and s.label_names[s.labels[0]] == "contempt"
    # fer2013.csv's data row 2 (after its header) is FER+'s fer0000000.png
    assert votes_for(["row 2"], read_votes(votes))[0, 7] == 9


def test_ferplus_splits_of_fer2013(fer_zip):
    d = load_splits(fer_zip, ("val",), labels="ferplus")["val"]
    assert d.label_names == FERPLUS_EMOTIONS and d.targets.shape == (len(d), 8)
    assert np.allclose(d.targets.sum(1), 1)
    assert (len(d), d.dropped) == (3526, 63)  # 3,589 PublicTest faces, 10 without FER+ votes
    # the 7-class majority protocol's faces (the FER+ README's unique-argmax count)
    assert int((majority(d.votes, EMOTIONS) >= 0).sum()) == 3370


def test_intent_mixes_each_faces_fer2013_label_into_its_crowd_target(fer_zip):
    crowd = load_splits(fer_zip, ("val",), labels="ferplus")["val"]
    both = load_splits(fer_zip, ("val",), labels="ferplus", intent=0.3)["val"]
    meant = load_splits(fer_zip, ("val",))["val"]  # FER2013's own labels, every face
    assert len(both) == len(crowd) and (both.labels == crowd.labels).all()  # the crowd's majority still scores
    kept = np.isin(meant.sources, both.sources)
    expect = 0.7 * crowd.targets + 0.3 * np.eye(8, dtype=np.float32)[meant.labels[kept]]
    assert np.allclose(both.targets, expect, atol=1e-6) and np.allclose(both.targets.sum(1), 1)
    # where the crowd and the meant expression disagree, the target holds both
    differ = crowd.targets.argmax(1) != meant.labels[kept]
    assert differ.mean() > 0.2 and (both.targets[differ, meant.labels[kept][differ]] >= 0.3).all()
    with pytest.raises(ValueError, match=r"intent: must be in \[0, 1\], got 1.5"):
        load_splits(fer_zip, ("val",), labels="ferplus", intent=1.5)


def test_intent_weight_needs_the_crowds_labels(fer_zip, tmp_path):
    pytest.importorskip("torch")
    from facemotion.errors import UsageError
    from facemotion.training.train import main

    with pytest.raises(UsageError, match="--intent-weight: .* needs --labels ferplus"):
        main(train_args(fer_zip, tmp_path / "run", arch="mini_xception", limit=16, intent_weight=0.5))


def test_training_on_the_votes_warm_starts_a_new_head(fer_zip, tmp_path):
    torch = pytest.importorskip("torch")
    from facemotion.training.checkpoint import load_checkpoint, model_from_checkpoint
    from facemotion.training.train import main

    seven = tmp_path / "seven"
    main(train_args(fer_zip, seven, arch="mini_xception", limit=64, epochs=1))
    eight = tmp_path / "eight"
    main(train_args(fer_zip, eight, arch="mini_xception", limit=64, epochs=1, labels="ferplus",
                    init=seven / "best.pt", label_smoothing=0))
    ck = load_checkpoint(eight / "last.pt")
    assert tuple(ck["labels"]) == FERPLUS_EMOTIONS and ck["arch_kwargs"] == {"num_classes": 8}
    model, _ = model_from_checkpoint(eight / "last.pt")
    assert model(torch.zeros(2, 1, 48, 48)).shape == (2, 8)
    # the head's first seven rows started from the 7-class model: a fresh 8-class head would not
    start = load_checkpoint(seven / "best.pt")
    head = [k for k in start["model_state"] if start["model_state"][k].shape[:1] == (7,)][-1]
    moved = (ck["model_state"][head][:7] - start["model_state"][head]).abs().max()
    assert moved < start["model_state"][head].abs().max()


def test_a_card_whose_labels_do_not_match_the_network_is_refused(fer_zip, tmp_path):
    torch = pytest.importorskip("torch")
    from facemotion.errors import ModelError
    from facemotion.training.checkpoint import model_from_checkpoint
    from facemotion.training.train import main

    main(train_args(fer_zip, tmp_path / "r", arch="mini_xception", limit=32, epochs=1))
    ck = torch.load(tmp_path / "r" / "best.pt", weights_only=True)
    ck["labels"] = list(FERPLUS_EMOTIONS)
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ModelError, match="7 outputs but its card lists 8 labels"):
        model_from_checkpoint(tmp_path / "bad.pt")


def test_a_csv_whose_rows_were_renumbered_is_refused_not_relabelled(tmp_path):
    """FER+ keys fer2013.csv's faces by row: a CSV of PrivateTest rows renumbered from row 2 (what
    a subset of them is) would read the first Training faces' votes; it is refused in one line.
    Rows that are where fer2013.csv has them (its first Training rows) are read."""
    faces = faces_like(4)
    pixels = [" ".join(map(str, f.ravel())) for f in faces]
    for usage, split in (("PrivateTest", "test"), ("Training", "train")):
        csv = tmp_path / f"{usage}.csv"
        csv.write_text("emotion,pixels,Usage\n" + "".join(f"3,{p},{usage}\n" for p in pixels))
        if split == "test":
            with pytest.raises(DataError, match=r"its row 2 is, in fer2013\.csv, a train face: FER\+'s votes are keyed"):
                load_splits(csv, (split,), labels="ferplus", cache=False)
            # and evaluate's protocol reads no FER+ votes for it (they would be other faces'),
            # scoring FER2013's labels alone; refused where the votes are required
            from facemotion.protocol import load_protocol_split

            assert load_protocol_split(csv, split)[1] is None
            with pytest.raises(DataError, match=r"its row 2 is, in fer2013\.csv, a train face"):
                load_protocol_split(csv, split, required=True)
        else:
            assert len(load_splits(csv, (split,), labels="ferplus", cache=False)[split]) > 0
