"""Balanced accuracy against a set's labels, with a bootstrap within each class: how label_audit.py
reads afterwards each answerer (a rater or a model) on the audited photos."""

from __future__ import annotations

import numpy as np

from facemotion.labels import EMOTIONS as EMOTIONS7

from _common import table

MIN_AGREED = 10  # label_audit.py's: a class enters the second mean from this many photos


def against_labels(truth: np.ndarray, answers: dict, seed: int = 0, boot: int = 2000) -> tuple[list[str], dict]:
    """Read afterwards, outside the rules: each answerer's (a rater's, '?' a miss, or a model's)
    balanced accuracy against the set's labels on the audited photos, the mean of its per-class
    recalls, over every class and over the classes of >= MIN_AGREED photos, with 95% intervals
    from a bootstrap within each class. The happy and neutral photos are samples of their
    classes, so each class's recall is estimated as the test part's would be."""
    rng = np.random.default_rng([seed, 3])
    classes = [e for e in EMOTIONS7 if (truth == e).any()]
    big = [e for e in classes if (truth == e).sum() >= MIN_AGREED]
    where = {e: np.flatnonzero(truth == e) for e in classes}
    draws = [np.concatenate([rng.choice(i, len(i)) for i in where.values()]) for _ in range(boot)]

    def balanced(hit, over, idx=None):
        idx = np.arange(len(truth)) if idx is None else idx
        return float(np.mean([hit[idx][truth[idx] == e].mean() for e in over]))

    data, rows = {}, []
    for name, ans in answers.items():
        hit = ans == truth
        data[name] = {}
        for key, over in (("all classes", classes), (f"classes of >= {MIN_AGREED}", big)):
            if not over:  # no class that large: nothing to average
                data[name][key] = {"value": None, "ci": None}
                continue
            lo, hi = np.percentile([balanced(hit, over, d) for d in draws], [2.5, 97.5])
            data[name][key] = {"value": balanced(hit, over), "ci": (float(lo), float(hi))}
        rows.append([name, *("-" if d["value"] is None else
                             f"{100 * d['value']:.1f}% [{100 * d['ci'][0]:.1f}, {100 * d['ci'][1]:.1f}]"
                             for d in data[name].values())])
    lines = ["read afterwards, outside the rules: balanced accuracy against the set's labels on these photos "
             "(per-class recall averaged; a rater's '?' is a miss) [95%, bootstrap within classes]:",
             table(["answers", f"all {len(classes)} classes", f"the {len(big)} classes of >= {MIN_AGREED} photos"], rows)]
    return lines, data
