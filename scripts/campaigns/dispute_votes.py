"""A FER+ vote file in which FER2013's own label settles the Training faces whose two human labels
dispute happy against neutral (for `facemotion train --votes`).

`benchmarks/studies/fer_crowd.py` shows the crowd parting from FER2013's label in opposite directions for
the faces read as men and as women (it calls more of men's FER2013-happy faces neutral, more of
women's FER2013-neutral faces happy). This writes a copy of the vote file where, on every Training
face whose FER2013 label is happy and whose crowd majority is neutral, or the other way round,
the happy and neutral counts are swapped: the crowd's spread is kept, its majority becomes
FER2013's. The rule reads no gender, so it treats everyone alike; its effect differs by group only
as far as the disputes do. PublicTest and PrivateTest rows are copied unchanged, so choosing and
scoring still read the crowd.

    python scripts/campaigns/dispute_votes.py --out runs/votes_disputed.csv.gz [--votes FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from facemotion.datasets.ferplus import majority, read_votes, shipped_votes_path  # noqa: E402
from facemotion.fileio import atomic_path  # noqa: E402
from facemotion.labels import FERPLUS_EMOTIONS  # noqa: E402

HAPPY, NEUTRAL = FERPLUS_EMOTIONS.index("happy"), FERPLUS_EMOTIONS.index("neutral")


def disputed(paths: pd.Series, crowd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Training faces FER2013 calls happy and the crowd neutral, those it calls neutral and the
    crowd happy), as masks over the rows."""
    parts = paths.str.split("/", expand=True)
    train = (parts[0] == "train").to_numpy()
    folder = parts[1].to_numpy()
    return (train & (folder == "happy") & (crowd == NEUTRAL),
            train & (folder == "neutral") & (crowd == HAPPY))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--votes", default=None, help="the FER+ vote file to start from (default: the shipped one)")
    p.add_argument("--out", required=True, help="the vote file to write (.csv or .csv.gz)")
    a = p.parse_args(argv)
    src = Path(a.votes) if a.votes else shipped_votes_path()
    table = read_votes(src)  # checked: FER+'s columns, counts >= 0, Kaggle paths
    df = pd.read_csv(src, dtype={"path": str}, keep_default_na=False)
    crowd = majority(table.votes)  # rows in the file's order, over FER+'s eight emotions
    to_happy, to_neutral = disputed(df["path"], crowd)
    swap = to_happy | to_neutral
    df.loc[swap, ["neutral", "happiness"]] = df.loc[swap, ["happiness", "neutral"]].to_numpy()
    with atomic_path(a.out) as tmp:
        df.to_csv(tmp, index=False, compression="gzip" if str(a.out).endswith(".gz") else None)
    print(f"{a.out}: {int(to_happy.sum())} Training faces FER2013 calls happy and the crowd neutral, "
          f"{int(to_neutral.sum())} the other way round: happy and neutral votes swapped; "
          f"{len(df) - int(swap.sum())} rows unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
