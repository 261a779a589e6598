"""``facemotion evaluate --robustness``: end to end through the CLI on real and synthetic data,
the model run through its own classifier, and bad options refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facemotion.cli import main


def test_robustness_on_real_private_test_through_the_cli(fer_zip, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(fer_zip), "--robustness", "--limit", "100",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test split, 100 faces (a stratified subset chosen by seed 0)" in text and "mean corrupted" in text
    assert {p.name for p in out.iterdir()} == {"robustness.json", "robustness_fer2013_mini_xception.png",
                                               "recall_fer2013_mini_xception.png"}
    r = json.loads((out / "robustness.json").read_text())
    assert (r["format"], r["split"], r["n"], r["limit"], r["seed"]) == ("facemotion-robustness/1", "test", 100, 100, 0)
    assert len(r["suite"]) == 16
    m = r["models"]["fer2013_mini_xception"]
    assert len(m["corruptions"]) == 16 and all(len(c["severities"]) == 3 for c in m["corruptions"].values())
    accs = [v["accuracy"] for c in m["corruptions"].values() for v in c["severities"].values()]
    assert m["mean_corrupted_accuracy"] == pytest.approx(np.mean(accs))
    assert m["worst"]["accuracy"] == min(c["accuracy"] for c in m["corruptions"].values())
    assert 0.2 < m["mean_corrupted_accuracy"] < m["clean"]["accuracy"]

    # the clean number is the model's own classify path on the same faces (flip averaging in the graph)
    from facemotion.classify import load_classifier
    from facemotion.training.robustness import load_faces

    x, y = load_faces(fer_zip, "test", limit=100, seed=0)
    acc = (load_classifier("fer2013_mini_xception").classify_faces(x).argmax(1) == y).mean()
    assert m["clean"]["accuracy"] == pytest.approx(acc)


def test_robustness_of_several_models_on_synthetic_data(kaggle_zip, tmp_path, capsys):
    out = tmp_path / "r"
    argv = ["evaluate", "fer2013_mini_xception", "fer2013_vgg_s", "--data", str(kaggle_zip), "--robustness",
            "--corruptions", "blur,jpeg", "--severities", "1,3", "--seed", "2", "--json", "-o", str(out)]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert list(r["models"]) == ["fer2013_mini_xception", "fer2013_vgg_s"] and r["n"] == 4 and r["seed"] == 2
    assert [s["name"] for s in r["suite"]] == ["gaussian_blur", "motion_blur", "jpeg"]
    assert set(r["models"]["fer2013_mini_xception"]["corruptions"]["jpeg"]["severities"]) == {"1", "3"}
    assert {p.name for p in out.iterdir()} >= {"robustness.json", "robustness_models.png",
                                               "robustness_fer2013_vgg_s.png", "recall_fer2013_mini_xception.png"}
    assert main(argv) == 0  # the same seed, the same report
    assert json.loads(capsys.readouterr().out)["models"] == r["models"]
    # one model into the same folder: the other's figures go (they sat beside a report without it),
    # and a file of the user's own stays
    (out / "recall_curve.png").write_bytes(b"mine")
    assert main([argv[0], "fer2013_mini_xception", *argv[3:]]) == 0
    capsys.readouterr()
    assert {p.name for p in out.iterdir()} == {"robustness.json", "robustness_fer2013_mini_xception.png",
                                               "recall_fer2013_mini_xception.png", "recall_curve.png"}


BAD = [
    ("--robustness --limit -1", "--limit: must be >= 0, got -1"),  # 0: every face, as train's
    ("--robustness --corruptions fog", "--corruptions: unknown corruption 'fog'; known: gamma_dark"),
    ("--robustness --severities 1,4", "--severities: expected some of 1, 2, 3, got '4'"),
    ("--robustness --seed -1", "--seed: must be in [0, 2147483647], got -1"),
    ("--limit 5", "error: --limit: goes with --robustness"),
    ("--corruptions blur", "error: --corruptions: goes with --robustness"),
    ("--robustness --tta", "error: --tta: not with --robustness"),
    ("--robustness --calibrate", "error: --calibrate: not with --robustness"),
    ("--robustness --choose-ensemble 2", "error: --choose-ensemble: not with --robustness"),
]


@pytest.mark.parametrize("extra,message", BAD, ids=[b[0] for b in BAD])
def test_bad_options_are_one_line(extra, message, kaggle_zip, capsys):
    argv = ["evaluate", "fer2013_mini_xception", "--data", str(kaggle_zip), *extra.split()]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if "error" in line]) == 1


def test_bad_models_are_one_line(kaggle_zip, tmp_path, capsys):
    base = ["evaluate", "--data", str(kaggle_zip), "--robustness"]
    assert main(["evaluate", "fer2013_mini_xception", "fer2013_mini_xception", "--data", str(kaggle_zip), "--robustness"]) == 2
    assert "error: models: fer2013_mini_xception is given twice" in capsys.readouterr().err
    assert main([base[0], str(tmp_path / "nope.onnx"), *base[1:]]) == 1
    err = capsys.readouterr().err
    assert "nope.onnx: no such model file" in err and len(err.strip().splitlines()) == 1
    assert main(["evaluate", "fer2013_mini_xception", "--data", str(tmp_path / "none.zip"), "--robustness"]) == 1
    err = capsys.readouterr().err
    assert "none.zip" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_two_models_of_one_file_name_are_told_apart_in_the_report():
    """a/best.pt and b/best.pt were both headed 'best.pt' on the terminal and in the figures."""
    from facemotion.training.robustness import _shown_names

    assert list(_shown_names({"runs/a/best.pt": 0, "runs/b/best.pt": 0}).values()) == ["a/best.pt", "b/best.pt"]
    assert _shown_names({"fer2013_vgg_s": 0}) == {"fer2013_vgg_s": "fer2013_vgg_s"}


def test_a_folder_holds_one_evaluate_runs_outputs(kaggle_zip, tmp_path, capsys):
    """A plain evaluate and a --robustness one into the same -o: each removes the other's report
    and figures (they were left side by side), and a file of the user's own stays."""
    out = tmp_path / "r"
    plain = ["evaluate", "fer2013_mini_xception", "--data", str(kaggle_zip), "-o", str(out)]
    robust = [*plain, "--robustness", "--corruptions", "blur", "--severities", "1"]
    assert main(plain) == 0
    (out / "notes.txt").write_text("mine")
    assert main(robust) == 0
    assert {p.name for p in out.iterdir()} == {"robustness.json", "robustness_fer2013_mini_xception.png",
                                               "recall_fer2013_mini_xception.png", "notes.txt"}
    assert main(plain) == 0
    capsys.readouterr()
    assert "robustness.json" not in {p.name for p in out.iterdir()} and (out / "report.json").is_file()
    assert {"confusion.png", "notes.txt"} <= {p.name for p in out.iterdir()}
    assert not any(p.name.startswith(("robustness", "recall_")) for p in out.iterdir())
