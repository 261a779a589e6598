"""``torchrun --nproc_per_node=2 -m facemotion train``: two CPU processes (gloo) train one model
on a real FER2013 slice, write one set of checkpoints, resume, and reach the single-process
accuracy."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from facemotion.training.checkpoint import load_checkpoint  # noqa: E402
from facemotion.training.train import get_args_parser, main  # noqa: E402

# 2,048 training faces, 2 epochs at a constant rate: a global batch of 64 either way (64 in one
# process, 32 in each of two), so both runs take the same 64 steps
COMMON = ["--arch", "mini_xception", "--sched", "none", "--warmup-epochs", "0", "--lr", "5e-3", "--no-progress"]
TRAIN_FACES, VAL_FACES = 2048, 1200  # validation reads every epoch of all three runs: a third of PublicTest


@pytest.fixture(scope="module")
def fer_slice(fer_zip, tmp_path_factory):
    """The real zip's layout with TRAIN_FACES of its Training faces and VAL_FACES of PublicTest
    (each drawn with a seed), their files as they are: the runs decode those, not the 28,709
    faces of Training."""
    import random
    import zipfile

    out = tmp_path_factory.mktemp("slice") / "fer2013_slice.zip"
    with zipfile.ZipFile(fer_zip) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        names = src.namelist()
        train = sorted(random.Random(0).sample([n for n in names if n.startswith("train/") and not n.endswith("/")],
                                               TRAIN_FACES))
        val = sorted(random.Random(1).sample([n for n in names if "/PublicTest_" in n], VAL_FACES))
        for name in train + val:
            dst.writestr(name, src.read(name))
    return out


def torchrun(data, out, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "facemotion",
           "train", "--data", str(data), "--out", str(out), "--batch-size", "32", *COMMON, *extra]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:  # torchrun's workers too, not only torchrun
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 0, err[-3000:]
    return err


def test_two_processes_train_one_model_and_resume(fer_slice, tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("this torch build has no torch.distributed")
    fer_zip = fer_slice
    single = main(get_args_parser().parse_args(["--data", str(fer_zip), "--out", str(tmp_path / "one"), "--epochs", "2",
                                                "--batch-size", "64", "--threads", "1", *COMMON]))

    out = tmp_path / "two"
    log = torchrun(fer_zip, out, "--epochs", "1")
    assert "2 processes (gloo), each a shard" in log and "32 steps/epoch" in log
    log = torchrun(fer_zip, out, "--epochs", "2", "--resume")  # every process picks up last.pt
    assert log.count("resumed from") == 1 and log.count("epoch   2") == 1  # rank 0 alone speaks

    files = sorted(p.name for p in out.iterdir())
    named = [f for f in files if f.startswith("mini_xception.")]
    assert set(files) - set(named) == {"best.pt", "last.pt", "log.csv", "accuracy.png", "loss.png", "summary.json"}
    assert 1 <= len(named) <= 2 and not list(out.glob(".*"))  # one set of checkpoints, no stray temporaries
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    last = load_checkpoint(out / "last.pt")
    assert last["epoch"] == 2 and last["step"] == 64 and last["train_args"]["world_size"] == 2
    # the metrics are over both shards: the whole slice, and all of its PublicTest faces
    assert float(rows[1]["img_per_s"]) > 0 and len(last["history"]) == 2
    two = last["history"][-1]["val_acc"]
    one = single["best"]["val_acc"] if single["best"]["epoch"] == 2 else load_checkpoint(
        tmp_path / "one" / "last.pt")["history"][-1]["val_acc"]
    # within noise: after 2 epochs both sit near the majority class's 25% of PublicTest, and the two
    # runs see the slice in other batches (two shards), so they differ by training noise; both are
    # read on the same 1,200 faces. All of PublicTest gave under 3 points on the AMD EPYC this test
    # was written on, 3.4 on a Xeon with AVX-512 (its kernels round otherwise)
    assert abs(two - one) < 0.05, (one, two)
