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

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "scripts"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from train_roll import CENTRE, RollNet, arguments, export, fit, turned  # noqa: E402

from facemotion.preprocess import normalize  # noqa: E402

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
    a = arguments(__doc__, 30, "src/facemotion/weights/orient.onnx")
    model = OrientNet()
    acc, epoch, minutes = fit(model, a, batch, lambda out, k: F.cross_entropy(out, k, label_smoothing=0.05),
                              evaluate, False, lambda v: f"PublicTest quarter-turn accuracy {v:.2%}")
    meta = {"task": "quarter_turn", "input_size": 48,
            "output": "logits of the face's quarter turn: 0 upright, 1 turned 90 counter-clockwise, 2 upside down, "
                      "3 turned 90 clockwise",
            "lean_degrees": LEAN, "centre_fraction": CENTRE, "public_test_accuracy": round(acc, 4),
            "epoch": epoch, "trained_on": "FER2013 Training, each face turned by a random quarter turn and lean "
                                          "(self-supervised)",
            "train_minutes": minutes}
    export(model, Path(a.out), meta, output="quarter")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
