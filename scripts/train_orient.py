"""Train the quarter-turn network that finds faces in sideways and upside-down photos
(``src/facemotion/weights/orient.onnx``).

A face crop (the detector's box, the classifier's 48x48 grid) -> which quarter turn it shows:
0 (upright), 1 (turned 90 degrees counter-clockwise on screen), 2 (upside down), 3 (turned 90
clockwise). A photo saved sideways without its EXIF orientation (a scan, a re-saved phone photo,
a screenshot) shows every face so; the detector, trained on upright faces, misses most of them
and reads the ones it finds upside down as other emotions (``benchmarks/upright.py --quarter``
measures both). :mod:`facemotion.orient` turns such a photo upright before its faces are read.

Self-supervised on FER2013's Training faces, which are roughly upright: each face is turned by a
random quarter turn plus a lean of up to LEAN degrees (a tilted head in a turned photo), with
the roll network's augmentation (shift, zoom, mirror, light, noise), and the network learns the
quarter turn back. Chosen on PublicTest faces turned the same way (accuracy); PrivateTest is
not read. It reads the centre of the crop, as the roll network does, for the same reason
(``scripts/train_roll.py``).

    python scripts/train_orient.py --data ../shared/datasets/fer2013.zip --epochs 30 \\
        --out src/facemotion/weights/orient.onnx
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from train_roll import CENTRE, RollNet, export, turned  # noqa: E402

from facemotion.datasets import load_splits  # noqa: E402
from facemotion.preprocess import normalize  # noqa: E402
from facemotion.progress import progress_bar  # noqa: E402

LEAN = 30.0  # degrees of head tilt on top of the quarter turn


class OrientNet(RollNet):
    """The roll network's body, read out as four logits (one per quarter turn)."""

    def __init__(self, widths=(16, 32, 64, 96)):
        super().__init__(widths)
        self.head = nn.Linear(widths[-1], 4)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def batch(images, gen, train: bool):
    x = normalize(images).unsqueeze(1)
    n = len(x)
    k = torch.randint(0, 4, (n,), generator=gen)
    lean = (torch.rand(n, generator=gen) * 2 - 1) * LEAN
    if train:  # a mirrored upright face is still upright: mirror before turning
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    x = turned(x, k * 90.0 + lean, gen, train)
    if train:
        g = torch.exp((torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.6)
        x = ((x + 1) / 2).clamp(0, 1) ** g * 2 - 1
        x = x + torch.randn(x.shape, generator=gen) * 0.05 * torch.rand(n, 1, 1, 1, generator=gen)
    return x, k


def evaluate(model, images, seed=0) -> float:
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(images), 512):
            x, k = batch(images[i:i + 512], gen, train=False)
            right += int((model(x).argmax(1) == k).sum())
    return right / len(images)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="src/facemotion/weights/orient.onnx")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    d = load_splits(a.data, ["train", "val"])
    tr, va = torch.from_numpy(d["train"].images), torch.from_numpy(d["val"].images)
    model = OrientNet()
    opt = torch.optim.AdamW(model.parameters(), a.lr, weight_decay=1e-4)
    steps = a.epochs * (len(tr) // a.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps)
    best, t0, first = (-1.0, None, 0), time.perf_counter(), 1
    # an epoch's state next to the output, so a stopped run goes on where it was
    state_file = Path(a.out).with_suffix(".resume.pt")
    if state_file.exists():
        st = torch.load(state_file, weights_only=False)
        model.load_state_dict(st["model"]), opt.load_state_dict(st["opt"]), sched.load_state_dict(st["sched"])
        best, first = st["best"], st["epoch"] + 1
        print(f"resuming after epoch {st['epoch']} from {state_file}", flush=True)
    for epoch in range(first, a.epochs + 1):
        model.train()
        gen = torch.Generator().manual_seed(a.seed * 1000 + epoch)
        perm = torch.randperm(len(tr), generator=gen)
        bar = progress_bar(range(len(tr) // a.batch_size), desc=f"epoch {epoch}/{a.epochs}", unit="batch")
        for b in bar:
            x, k = batch(tr[perm[b * a.batch_size:(b + 1) * a.batch_size]], gen, train=True)
            loss = F.cross_entropy(model(x), k, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, va)
        print(f"epoch {epoch}: PublicTest quarter-turn accuracy {acc:.2%}", flush=True)
        if acc > best[0]:
            best = (acc, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        tmp = state_file.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "best": best, "epoch": epoch}, tmp)
        tmp.replace(state_file)
    model.load_state_dict(best[1])
    meta = {"task": "quarter_turn", "input_size": 48,
            "output": "logits of the face's quarter turn: 0 upright, 1 turned 90 counter-clockwise, 2 upside down, "
                      "3 turned 90 clockwise",
            "lean_degrees": LEAN, "centre_fraction": CENTRE, "public_test_accuracy": round(best[0], 4),
            "epoch": best[2], "trained_on": "FER2013 Training, each face turned by a random quarter turn and lean "
                                            "(self-supervised)",
            "train_minutes": round((time.perf_counter() - t0) / 60, 1)}
    export(model, Path(a.out), meta, output="quarter")
    state_file.unlink(missing_ok=True)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
