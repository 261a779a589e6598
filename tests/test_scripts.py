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
