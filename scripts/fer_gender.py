"""Who FER2013's faces are, by apparent gender, and what each gender is labelled.

FER2013 records nothing about the people in it. A two-way classifier (man / woman, as UTKFace's
authors estimated it) fine-tuned from ``models/ferplus_resnet_s.pt`` on UTKFace's train crops
(``benchmarks/public_sets.py unlabelled``; equalized, as FER2013's faces are) reads every
Training and PublicTest face. The script prints its accuracy on the UTKFace faces it never
trained on (one in ten, by a hash of the file name; per gender and race), and for each gender
the share of Training faces whose FER+ majority is each emotion: a gap there is a shortcut a
network can learn (a man's face -> neutral). It writes ``OUT/gender.csv`` (source, p_female,
split), which ``facemotion train --balance-groups`` reads, and ``OUT/gender.json``. With
``--extra-data``, the training crops of those folders are read and audited too (Specs on Faces'
file names record each person's gender: the reading is checked against it).

    python benchmarks/public_sets.py unlabelled --root /data/utk --out runs/crops/utk_unlabelled
    python scripts/fer_gender.py --utk-crops runs/crops/utk_unlabelled --out runs/gender

The labels are a classifier's guess of how a face looks, not anyone's gender: they serve to
balance and audit a data set, never to describe a person.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import FER_ZIP, machine  # noqa: E402

GENDERS = ("male", "female")  # UTKFace's order: 0 male, 1 female
RACES = ("White", "Black", "Asian", "Indian", "Other")


def utk_crops(folder: Path):
    """UTKFace crops (``age_gender_race_*.png`` anywhere under ``folder``) -> (faces N x 48 x 48
    uint8 equalized, gender N, race N, held-out mask N)."""
    faces, gender, race, held = [], [], [], []
    for p in sorted(folder.rglob("*.png")):
        f = p.name.split("_")
        if len(f) < 4 or f[1] not in ("0", "1") or not f[2].isdigit() or int(f[2]) >= len(RACES):
            continue
        img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        if img is None or img.shape != (48, 48):
            continue
        faces.append(cv2.equalizeHist(img))
        gender.append(int(f[1]))
        race.append(int(f[2]))
        held.append(int(hashlib.sha1(p.name.encode()).hexdigest(), 16) % 10 == 0)
    if not faces:
        raise SystemExit(f"fer_gender.py: {folder}: no UTKFace crops (age_gender_race_*.png) found")
    return np.stack(faces), np.array(gender), np.array(race), np.array(held)


def build(init: Path):
    """resnet_fer_s with a two-way head, every other weight from ``init``."""
    import torch

    from facemotion.training.checkpoint import load_checkpoint
    from facemotion.training.models import create_model

    model = create_model("resnet_fer_s", num_classes=2)
    ck = load_checkpoint(init)
    state = dict(ck.get("ema_state") or ck["model_state"])
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = model.load_state_dict(state, strict=False).missing_keys
    print(f"{init}: {len(state)} tensors loaded, new: {', '.join(missing)}", file=sys.stderr)
    return model.to(memory_format=torch.channels_last)


def train(model, x, y, *, epochs: int, lr: float, batch: int, seed: int):
    """Plain fine-tune: AdamW, cosine schedule, mirror images and shifts of up to 3 pixels."""
    import torch

    from facemotion.preprocess import normalize
    from facemotion.progress import progress_bar

    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * (len(xt) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    model.train()
    for epoch in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        bar = progress_bar(range(len(xt) // batch), desc=f"gender epoch {epoch + 1}/{epochs}", unit="batch")
        for b in bar:
            idx = perm[b * batch:(b + 1) * batch]
            xb = normalize(xt[idx])
            flip = torch.rand(len(idx), generator=g) < 0.5
            xb[flip] = xb[flip].flip(-1)
            dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=g))
            xb = torch.roll(xb, (dy, dx), (2, 3))
            loss = torch.nn.functional.cross_entropy(model(xb.contiguous(memory_format=torch.channels_last)), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if b % 20 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return model


def p_female(model, faces: np.ndarray, batch: int = 512) -> np.ndarray:
    """P(woman) for N x 48 x 48 uint8 faces, the probabilities of the face and its mirror image
    averaged (facemotion.tta's flip views)."""
    import torch

    from facemotion import tta
    from facemotion.preprocess import normalize

    out = []
    with torch.no_grad():
        for i in range(0, len(faces), batch):
            xb = normalize(torch.from_numpy(faces[i:i + batch]).unsqueeze(1))
            out.append(tta.apply(lambda v: torch.softmax(model(v), 1), xb, "flip")[:, 1].numpy())
    return np.concatenate(out)


def recorded_gender(name: str) -> float:
    """Specs on Faces' file names record the person's gender (``AbdA_00003_m_31_...``): 1 woman,
    0 man, NaN where the name records none."""
    m = re.match(r"^[A-Za-z]+_\d+_([mf])_", name)
    return float("nan") if m is None else float(m.group(1) == "f")


def label_table(labels, names, pf, head: str) -> tuple[list[str], dict]:
    """Per label: its faces, the share read as women, and its share of each reading's faces."""
    woman = pf >= 0.5
    lines = [f"{woman.mean() * 100:.1f}% read as women, {((pf > 0.3) & (pf < 0.7)).mean() * 100:.1f}% unsure "
             "(0.3 < p < 0.7)", "", f"{head:<14}{'faces':>7}{'women':>8}{'of men':>9}{'of women':>10}"]
    table = {}
    for k, label in enumerate(names):
        m = np.asarray(labels) == k
        if not m.any():
            continue
        of_men, of_women = (m & ~woman).sum() / max((~woman).sum(), 1), (m & woman).sum() / max(woman.sum(), 1)
        table[label] = {"faces": int(m.sum()), "women": float(woman[m].mean()),
                        "share_of_men": float(of_men), "share_of_women": float(of_women)}
        lines.append(f"{label:<14}{m.sum():>7}{woman[m].mean() * 100:>7.1f}%{of_men * 100:>8.1f}%{of_women * 100:>9.1f}%")
    return lines, table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--utk-crops", required=True, help="UTKFace train crops (benchmarks/public_sets.py unlabelled --out)")
    p.add_argument("--data", default=str(FER_ZIP), help="FER2013 (zip or folder; default %(default)s)")
    p.add_argument("--init", default=str(ROOT / "models" / "ferplus_resnet_s.pt"), help="the weights it starts from")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra-data", nargs="*", default=[], metavar="FOLDER",
                   help="<emotion>/<image> crop folders (train --extra-data) to read and audit too")
    p.add_argument("--out", required=True, help="folder for gender.csv and gender.json")
    a = p.parse_args(argv)
    import torch

    from facemotion.datasets import load_splits

    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    x, gender, race, held = utk_crops(Path(a.utk_crops))
    print(f"UTKFace crops: {len(x)} ({held.sum()} held out)", file=sys.stderr)
    model = train(build(Path(a.init)), x[~held], gender[~held], epochs=a.epochs, lr=a.lr, batch=128, seed=a.seed)
    ph = p_female(model, x[held])
    right = (ph >= 0.5) == (gender[held] == 1)
    lines = [f"python scripts/fer_gender.py {' '.join(argv if argv is not None else sys.argv[1:])}", machine(), "",
             f"held-out UTKFace faces: {held.sum()}, accuracy {right.mean() * 100:.1f}%"]
    check = {"all": float(right.mean())}
    for gi, gname in enumerate(GENDERS):
        m = gender[held] == gi
        check[gname] = float(right[m].mean())
        lines.append(f"  {gname:<7} {m.sum():>5} faces  {right[m].mean() * 100:5.1f}%")
    for ri, rname in enumerate(RACES):
        m = race[held] == ri
        check[rname] = float(right[m].mean())
        lines.append(f"  {rname:<7} {m.sum():>5} faces  {right[m].mean() * 100:5.1f}%")

    splits = load_splits(a.data, ("train", "val"), labels="ferplus", progress=True)
    rows, table = [], {}
    for name, sp in splits.items():
        pf = p_female(model, sp.images)
        rows += [(str(s), f"{v:.4f}", name) for s, v in zip(sp.sources, pf)]
        if name == "train":
            text, table["FER2013 Training"] = label_table(sp.labels, sp.label_names, pf, "FER+ majority")
            lines += ["", f"FER2013 Training, {len(sp)} faces with a FER+ label: " + text[0], *text[1:]]
    for folder in a.extra_data:  # training crops (train --extra-data): the same reading, keyed as the trainer keys them
        sp = load_splits(folder, ("train",), progress=True)["train"]
        pf = p_female(model, np.stack([cv2.equalizeHist(f) for f in sp.images]))  # as FER2013's faces are
        rows += [(str(s), f"{v:.4f}", "extra") for s, v in zip(sp.sources, pf)]
        text, table[folder] = label_table(sp.labels, sp.label_names, pf, "label")
        lines += ["", f"{folder}, {len(sp)} crops: " + text[0], *text[1:]]
        recorded = np.array([recorded_gender(Path(str(s)).name) for s in sp.sources], dtype=float)
        if np.isfinite(recorded).any():  # Specs on Faces names its people's gender: a check on real photos
            k = np.isfinite(recorded)
            right = (pf[k] >= 0.5) == (recorded[k] == 1)
            check[f"{folder} (recorded gender)"] = float(right.mean())
            lines.append(f"  against the gender its file names record ({k.sum()} crops): {right.mean() * 100:.1f}% right")
    tmp = out / "gender.csv.tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["source", "p_female", "split"])
        w.writerows(rows)
    tmp.replace(out / "gender.csv")
    (out / "gender.json").write_text(json.dumps({"machine": machine(), "checks": check, "tables": table},
                                                indent=1))
    text = "\n".join(lines)
    (out / "gender.txt").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
