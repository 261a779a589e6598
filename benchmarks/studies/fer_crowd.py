"""FER2013's two sets of human labels, split by apparent gender: where do they part?

Every FER2013 face has two labels made by people: FER2013's own (the folder it sits in: the
emotion its web search asked for, kept by the set's curators) and FER+'s ten-annotator crowd.
Neither is the truth; where they disagree, the disagreement shows how each reads a face. Split by
``scripts/fer_gender.py``'s reading (p_female >= 0.5: read as a woman, as ``train --balance-groups``
reads it), this prints, with 95% Wilson intervals:

- of the faces FER2013 labels happy, the share the crowd calls neutral (and happy);
- of the faces FER2013 labels neutral, the share the crowd calls happy;
- the "contested" faces (both happy and neutral voted, at least 80% of the emotion votes between
  them): the share whose majority is happy, and the mean share of happy votes.

A crowd that reads a faint smile as happy on a woman's face and as neutral on a man's would show
as the crowd parting from FER2013's label in opposite directions for the two groups. What this
cannot tell: which source leans (FER2013's curators may lean the other way), or whether the
faces themselves differ (women in the web photos may smile more broadly within a label).

    python benchmarks/studies/fer_crowd.py --gender runs/gender/gender.csv [--split train|val]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from facemotion.datasets.ferplus import crowd_distribution, majority, read_votes, votes_for
from facemotion.labels import EMOTIONS
from facemotion.training.groups import read_groups

from _common import machine, proportion

PREFIX = {"train": "train/", "val": "test/"}
SPLIT_NAME = {"train": "Training_", "val": "PublicTest_"}
HAPPY, NEUTRAL = EMOTIONS.index("happy"), EMOTIONS.index("neutral")


def measure(fer_label: np.ndarray, votes: np.ndarray, woman: np.ndarray) -> dict:
    crowd = majority(votes, EMOTIONS)  # FER2013's seven; -1: no single emotion (or contempt)
    dist = crowd_distribution(votes, EMOTIONS)
    hn = dist[:, HAPPY] + dist[:, NEUTRAL]
    contested = (dist[:, HAPPY] > 0) & (dist[:, NEUTRAL] > 0) & (hn >= 0.8)
    out = {}
    for name, m in (("women", woman), ("men", ~woman)):
        said_happy, said_neutral = m & (fer_label == HAPPY) & (crowd >= 0), m & (fer_label == NEUTRAL) & (crowd >= 0)
        c = m & contested
        out[name] = {
            "faces": int(m.sum()),
            "fer_happy_crowd_neutral": proportion(crowd == NEUTRAL, said_happy),
            "fer_happy_crowd_happy": proportion(crowd == HAPPY, said_happy),
            "fer_neutral_crowd_happy": proportion(crowd == HAPPY, said_neutral),
            "contested_crowd_happy": proportion(crowd == HAPPY, c),
            "contested_happy_votes": float(dist[c, HAPPY].mean()) if c.any() else None,
        }
    return out


def report(res: dict, head: str) -> str:
    def cell(d):
        v, (lo, hi) = d["value"], d["ci"]
        if v is None:
            return "no faces"
        return f"{100 * v:5.1f}% [{100 * lo:4.1f}, {100 * hi:4.1f}] of {d['n']:>5}"
    rows = [("FER2013 happy, crowd neutral", "fer_happy_crowd_neutral"),
            ("FER2013 happy, crowd happy", "fer_happy_crowd_happy"),
            ("FER2013 neutral, crowd happy", "fer_neutral_crowd_happy"),
            ("contested, crowd majority happy", "contested_crowd_happy")]
    lines = [head, f"{'':34s}{'read as women':>34s}{'read as men':>34s}"]
    for title, key in rows:
        lines.append(f"{title:34s}{cell(res['women'][key]):>34s}{cell(res['men'][key]):>34s}")
    mean = ["–" if v is None else f"{100 * v:.1f}%" for v in (res[g]["contested_happy_votes"] for g in ("women", "men"))]
    lines.append(f"{'contested, mean share of happy votes':34s}{mean[0]:>34s}{mean[1]:>34s}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gender", required=True, help="scripts/fer_gender.py's gender.csv (or any --balance-groups file)")
    p.add_argument("--votes", default=None, help="FER+ vote file (default: the shipped one)")
    p.add_argument("--split", choices=sorted(PREFIX), default="train",
                   help="Training (the labels the models learn; default) or PublicTest")
    p.add_argument("--out", default=None, help="write OUT.txt and OUT.json too")
    a = p.parse_args(argv)
    groups = read_groups(a.gender)
    sources = sorted(s for s in groups if s.startswith(PREFIX[a.split]) and SPLIT_NAME[a.split] in s)
    if not sources:
        raise SystemExit(f"fer_crowd.py: {a.gender} has no reading for any face of the {a.split} split "
                         f"(sources like {PREFIX[a.split]}<emotion>/{SPLIT_NAME[a.split]}<id>.jpg)")
    fer_label = np.array([EMOTIONS.index(s.split("/")[1]) for s in sources])
    votes = votes_for(sources, read_votes(a.votes), where=a.gender)
    woman = np.array([groups[s] == "female" for s in sources])
    res = measure(fer_label, votes, woman)
    command = f"python benchmarks/studies/fer_crowd.py --gender {a.gender} --split {a.split}"
    head = (f"{machine()}\n$ {command}\n"
            f"FER2013 {a.split} faces read by gender: {woman.sum()} as women, {(~woman).sum()} as men "
            "(95% Wilson intervals; 'contested': happy and neutral both voted, >= 80% of the votes)\n")
    text = report(res, head)
    print(text)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out + ".txt").write_text(text + "\n")
        record = {"machine": machine(), "command": command, "split": a.split, **res}
        Path(a.out + ".json").write_text(json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
