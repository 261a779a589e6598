"""``facemotion models``: the one table of shipped models to choose from (what each is for, its
accuracy on both label sets, weakest classes, speed, size), what runs when no --model is given,
and, with the [train] extra, the architectures ``train --arch`` takes."""

from __future__ import annotations

import shutil
import sys


def cmd_models(args) -> int:
    from ..cpu import cpu_summary
    from ..zoo import STANDS_IN, default_model_name, default_precision, guide_rows, guide_table, shipped_models

    print(f"cpu: {cpu_summary()}")
    default = default_model_name()
    ran = f"{default}_int8 (its int8 copy; --precision float32 for the float)" if default_precision() else default
    print(f"shipped models (offline, no torch needed); without --model: {ran}")
    table = guide_table(markdown=False)
    width = shutil.get_terminal_size((10_000, 24)).columns if sys.stdout.isatty() else 10_000
    print(table if len(table.splitlines()[0]) <= width else _blocks(guide_rows()))
    cpu = shipped_models()[default].guide.get("faces_per_s_cpu")
    print("accuracy: FER2013's PrivateTest, each file's own (docs/labels.md); faces/s: the classifier alone, batch 1, "
          f"{'on ' + cpu if cpu else 'the machine it names'} (benchmarks/results/pipeline_classifiers.txt)")
    print("also accepted: " + ", ".join(f"{old} (= {new})" for old, new in STANDS_IN.items())
          + "; retired models say how to get them (docs/history/models.md)")
    try:
        from ..training.models import count_parameters, create_model, list_models
    except ImportError:
        print("architectures: install the [train] extra (torch) to list and train them")
        return 0
    print("architectures (facemotion train --arch NAME):")
    for n in list_models():
        print(f"  {n:<20}{count_parameters(create_model(n)):,} params")
    return 0


def _blocks(rows: list[list[str]]) -> str:
    """The model table's rows (:func:`~facemotion.zoo.guide_rows`) for a terminal narrower than
    the table: a block per model, a line per column."""
    from ..zoo import GUIDE_COLUMNS

    w = max(len(h) for h in GUIDE_COLUMNS[1:])
    return "\n".join("\n".join([r[0].strip("`"), *(f"  {h:<{w}}  {c.replace('`', '')}" for h, c in zip(GUIDE_COLUMNS[1:], r[1:]))])
                     for r in rows)
