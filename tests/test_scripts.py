"""The maintainers' shell scripts refuse a wrong argument in one line that names it, before any
long job starts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv, named", [
    (["scripts/measure_default.sh", "no_such_model", "prev", "tag"], "models/no_such_model.pt"),
    (["scripts/train_levers.sh", "no-such-lever"], "no-such-lever"),
    (["scripts/score_candidates.sh", "runs/x", "no_such.pt"], "no_such.pt"),
])
def test_scripts_refuse_a_wrong_argument_in_one_line(argv, named):
    r = subprocess.run(["bash", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]


def test_score_candidates_names_a_runs_best_by_its_folder_and_refuses_a_clash(tmp_path):
    """Two runs' best.pt are two candidates (named by their folders); two files that would be
    reported by one name are refused before anything is exported."""
    for run in ("run_a", "run_b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "best.pt").write_bytes(b"")
    (tmp_path / "run_a.pt").write_bytes(b"")
    clash = [str(tmp_path / "run_a" / "best.pt"), str(tmp_path / "run_a.pt")]
    r = subprocess.run(["bash", "scripts/score_candidates.sh", str(tmp_path / "out"), *clash], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "run_a.pt: named run_a like " in r.stderr and not (tmp_path / "out").exists()
    # distinct folders pass the check and reach the export, which refuses the empty file by name
    both = [str(tmp_path / "run_a" / "best.pt"), str(tmp_path / "run_b" / "best.pt")]
    r = subprocess.run(["bash", "scripts/score_candidates.sh", str(tmp_path / "out"), *both], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "best.pt" in r.stderr and "named" not in r.stderr and (tmp_path / "out").is_dir()


def test_gpu_campaign_carries_the_crops_exactly_and_names_its_missing_files(tmp_path, monkeypatch):
    """The FER+ campaign's crops travel as lossless WebP (the same pixels, so the teacher targets
    made here match the faces there), its rare emotions are folders of their own, and a call
    before `pack` is refused in one line."""
    import cv2
    import numpy as np
    from conftest import faces_like, load_script

    gc = load_script("gpu_campaign")
    src = tmp_path / "crops" / "sof_train"
    for k, img in enumerate(faces_like(6, seed=2)):
        (src / ("sad" if k % 2 else "happy")).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(src / ("sad" if k % 2 else "happy") / f"{k}.png"), img)
    assert gc.webp_crops(src, tmp_path / "gpu" / "crops" / "sof_train") == 6
    for f in sorted(src.glob("*/*.png")):
        back = cv2.imread(str(tmp_path / "gpu" / "crops" / "sof_train" / f.parent.name / (f.stem + ".webp")), 0)
        assert np.array_equal(back, cv2.imread(str(f), 0))
    monkeypatch.setattr(gc, "ROOT", tmp_path)
    monkeypatch.setattr(gc, "CROP_SETS", ("sof_train",))
    assert gc.make_rare(tmp_path / "gpu" / "crops") == ["runs/rare/sof_train"]
    assert sorted(p.name for p in (tmp_path / "runs" / "rare" / "sof_train").iterdir() if p.is_dir()) == ["sad"]
    with pytest.raises(SystemExit, match="gpu/ferplus.json is missing"):
        gc.use_ferplus()


def test_gpu_campaign_pack_makes_or_names_its_missing_inputs(tmp_path, monkeypatch):
    """`pack` reads crops another command made, and where one is missing and its set's clone is
    not given it stops in one line naming the folder and the option, before any long step."""
    import argparse

    from conftest import load_script

    gc = load_script("gpu_campaign")
    monkeypatch.setattr(gc, "ROOT", tmp_path)
    (tmp_path / "runs" / "crops" / "muxspace_train" / "happy").mkdir(parents=True)
    (tmp_path / "runs" / "crops" / "muxspace_train" / "happy" / "a.png").write_bytes(b"x")
    a = argparse.Namespace(crops="runs/crops", muxspace="", sof="", utk="", gender="", fer="fer.zip")
    with pytest.raises(SystemExit, match=r"runs/crops/sof_train is missing: give --sof") as e:
        gc.pack_inputs(a)
    assert "\n" not in str(e.value)
    a.gender = "runs/gender/gender.csv"
    (tmp_path / "runs" / "crops" / "sof_train").mkdir()
    (tmp_path / "runs" / "crops" / "sof_train" / ".done").touch()
    with pytest.raises(SystemExit, match=r"runs/crops/utk_unlabelled is missing: give --utk"):
        gc.pack_inputs(a)
