"""`facemotion evaluate` prints the honest protocol (facemotion.protocol) beside its report when
the FER+ vote file keys the data, and `--labels ferplus` makes FER+'s 8-class majority primary."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile

import numpy as np
import pytest

from facemotion.cli import main
from facemotion.datasets.ferplus import majority, read_votes
from facemotion.labels import EMOTIONS, FERPLUS_EMOTIONS


@pytest.fixture(scope="module")
def fer_slice(fer_zip, tmp_path_factory):
    """A small Kaggle-layout zip cut from the real FER2013: 40 PrivateTest faces (3 of them copies
    of a Training face, 2 with a contempt majority) and 30 Training faces (the copied ones among
    them). Returns (path, expected 7-class faces, 8-class faces, duplicates)."""
    table = read_votes()
    with zipfile.ZipFile(fer_zip) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith(".jpg"))
        data = {n: zf.read(n) for n in names}
    digest = {n: hashlib.sha1(b).digest() for n, b in data.items()}
    train = [n for n in names if n.startswith("train/")]
    private = [n for n in names if "/PrivateTest_" in n and n in table.by_path]
    by_digest = {}
    for n in train:
        by_digest.setdefault(digest[n], n)
    copies = [n for n in private if digest[n] in by_digest][:3]
    m8 = {n: majority(table.votes[[table.by_path[n]]])[0] for n in private}
    contempt = [n for n in private if m8[n] == 7 and n not in copies][:2]
    rest = [n for n in private if n not in copies and n not in contempt][::90][:35]
    test = copies + contempt + rest
    train_pick = [by_digest[digest[n]] for n in copies] + train[::1000][:27]
    path = tmp_path_factory.mktemp("slice") / "fer_slice.zip"
    with zipfile.ZipFile(path, "w") as out:
        for n in dict.fromkeys(test + train_pick):
            out.writestr(n, data[n])
    votes = table.votes[[table.by_path[n] for n in test]]
    train_digests = {digest[n] for n in train_pick}
    n_dup = sum(digest[n] in train_digests for n in test)
    return path, int((majority(votes, EMOTIONS) >= 0).sum()), int((majority(votes) >= 0).sum()), n_dup


def test_evaluate_prints_the_protocol(fer_slice, capsys):
    path, n7, n8, n_dup = fer_slice
    assert n_dup >= 3 and n8 == n7 + 2  # the two contempt faces
    assert main(["evaluate", "fer2013_vgg_s", "--data", str(path), "--split", "test", "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "protocol on test (PrivateTest)" in out
    assert f"FER+ majority, 7 classes{'':<12}{n7:>7,}" in out
    assert f"FER+ majority, 8 classes{'':<12}{n8:>7,}" in out
    assert f"FER2013, {n_dup} train duplicates out" in out and "crowd cross-entropy" in out


def test_evaluate_labels_ferplus_is_8_class(fer_slice, tmp_path, capsys):
    path, n7, n8, n_dup = fer_slice
    assert main(["evaluate", "fer2013_vgg_s", "--data", str(path), "--split", "test", "--labels", "ferplus",
                 "-o", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["label_source"] == "ferplus" and r["n"] == n8 and list(r["per_class"]) == list(FERPLUS_EMOTIONS)
    assert np.array(r["confusion_matrix"]).shape == (8, 8) and r["per_class"]["contempt"]["support"] == 2
    assert r["per_class"]["contempt"]["recall"] == 0.0  # a 7-class model never says contempt
    p = r["protocol"]
    assert p["ferplus8"]["n"] == n8 and p["ferplus7"]["n"] == n7 and p["fer2013"]["n_duplicates"] == n_dup
    assert p["ferplus8"]["accuracy"] == pytest.approx(r["accuracy"])  # the same faces, the same prediction
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["protocol"]["ferplus7"]["n"] == n7 and (tmp_path / "confusion.png").stat().st_size > 0
    from facemotion.training.evaluate import format_report

    text = format_report(r)
    assert "contempt" in text and "FER+ majority labels" in text


def test_without_votes_there_is_no_protocol(kaggle_zip, capsys):
    from facemotion.training import evaluate

    r = evaluate.evaluate_models(["fer2013_vgg_s"], kaggle_zip, "test")
    assert r["protocol"] is None and list(r["per_class"]) == list(EMOTIONS)
    assert "protocol" not in evaluate.format_report(r)
    with pytest.raises(Exception, match="vote file"):
        evaluate.evaluate_models(["fer2013_vgg_s"], kaggle_zip, "test", labels="ferplus")


def test_models_lists_the_protocol_from_the_cards(monkeypatch, capsys):
    from facemotion import zoo

    shipped = zoo.shipped_models()
    name = zoo.default_model_name()
    e = shipped[name]
    card = dataclasses.replace(e.card, metrics={**e.card.metrics, "ferplus_test": 0.7018, "ferplus_test_8": 0.6961,
                                                "private_test_dedup": 0.6928})
    monkeypatch.setattr(zoo, "shipped_models", lambda: {**shipped, name: dataclasses.replace(e, card=card)})
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    # one table: the FER+ majority (7 classes) and FER2013's labels without duplicates, from the card
    head = next(line for line in out.splitlines() if line.startswith("| model "))
    assert "FER+ majority, 7 classes" in head and "FER2013 labels, duplicates out" in head and "weakest" in head
    row = next(line for line in out.splitlines() if line.startswith(f"| {name} "))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:4] == ["70.2%", "69.3%"], cells


def test_label_frontier_reads_evaluate_reports_and_draws_them(fer_slice, tmp_path, capsys):
    """benchmarks/studies/label_frontier.py places each model by what `facemotion evaluate --labels
    ferplus -o DIR` measured (FER+ 7-class, FER2013 without duplicates, the weakest recall, the
    share called neutral), checks it against the clear-expressions targets and draws the picture;
    a report without the protocol, or a path with none, is refused in one line."""
    from conftest import load_benchmark

    path, *_ = fer_slice
    for m in ("fer2013_vgg_s", "fer2013_mini_xception"):
        assert main(["evaluate", m, "--data", str(path), "--split", "test", "--labels", "ferplus",
                     "-o", str(tmp_path / m)]) == 0
    lf = load_benchmark("label_frontier")
    points = lf.main([f"vgg={tmp_path / 'fer2013_vgg_s'}", f"mini={tmp_path / 'fer2013_mini_xception' / 'report.json'}",
                      "--out", str(tmp_path / "frontier")])
    capsys.readouterr()
    rep = json.loads((tmp_path / "fer2013_vgg_s" / "report.json").read_text())["protocol"]
    vgg = points["vgg"]
    assert vgg["ferplus7"] == rep["ferplus7"]["accuracy"] and vgg["fer2013"] == rep["fer2013"]["accuracy_dedup"]
    assert vgg["weakest_recall"] == min(v for v in rep["fer2013_recall"].values() if v is not None)
    assert vgg["neutral"] == rep["neutral_share"]
    assert lf.meets(vgg) == (vgg["ferplus7"] >= 0.83 and vgg["fer2013"] >= 0.66 and vgg["weakest_recall"] >= 0.35
                             and vgg["neutral"] <= 0.30)
    assert (tmp_path / "frontier.png").stat().st_size > 10_000
    assert "| vgg " in (tmp_path / "frontier.txt").read_text()
    with pytest.raises(SystemExit, match="no such report"):
        lf.main([f"x={tmp_path / 'none'}"])
    (tmp_path / "bare.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(SystemExit, match="no FER2013/FER\\+ protocol"):
        lf.main([f"x={tmp_path / 'bare.json'}"])
