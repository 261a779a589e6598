"""``facemotion models``: the one table of shipped models to choose from (what each is for, its
accuracy on both label sets, weakest classes, speed, size), what runs when no --model is given,
and, with the [train] extra, the architectures ``train --arch`` takes."""

from __future__ import annotations

import shutil
import sys
import textwrap


def cmd_models(args) -> int:
    if getattr(args, "model", None) is not None:
        return describe(args.model, args.json)
    if getattr(args, "json", False):
        from ..errors import UsageError

        raise UsageError("--json: prints one model's card; name the model (facemotion models NAME --json)")
    from ..cpu import cpu_summary
    from ..zoo import STANDS_IN, default_model_name, default_precision, guide_rows, guide_table, shipped_models

    width = shutil.get_terminal_size((10_000, 24)).columns if sys.stdout.isatty() else 10_000

    def say(line: str) -> None:  # wrapped to a terminal narrower than the line, never cut
        print(textwrap.fill(line, width, subsequent_indent="  ") if len(line) > width else line)

    say(f"cpu: {cpu_summary()}")
    default = default_model_name()
    ran = f"{default}_int8 (its int8 copy; --precision float32 for the float)" if default_precision() else default
    say(f"shipped models (offline, no torch needed); without --model: {ran}")
    table = guide_table(markdown=False)
    print(table if len(table.splitlines()[0]) <= width else _blocks(guide_rows(), width))
    cpu = shipped_models()[default].guide.get("faces_per_s_cpu")
    say("accuracy: FER2013's PrivateTest, each file's own (docs/labels.md); faces/s: the classifier alone, batch 1, "
        f"{'on ' + cpu if cpu else 'the machine it names'} (benchmarks/results/pipeline_classifiers.txt)")
    say("also accepted: " + ", ".join(f"{old} (= {new})" for old, new in STANDS_IN.items())
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


def _blocks(rows: list[list[str]], width: int = 10_000) -> str:
    """The model table's rows (:func:`~facemotion.zoo.guide_rows`) for a terminal narrower than
    the table: a block per model, a line per column, its value wrapped to ``width`` under itself
    (or, where the terminal leaves it too little room, under its name)."""
    from ..zoo import GUIDE_COLUMNS

    w = max(len(h) for h in GUIDE_COLUMNS[1:])
    room = width - w - 4
    lines = []
    for r in rows:
        lines.append(r[0].strip("`"))
        for h, c in zip(GUIDE_COLUMNS[1:], r[1:]):
            c = c.replace("`", "")
            if room >= 20:
                parts = textwrap.wrap(c, room) or [""]
                lines += [f"  {h if i == 0 else '':<{w}}  {x}" for i, x in enumerate(parts)]
            else:
                lines += [f"  {h}", *textwrap.wrap(c, max(20, width - 4), initial_indent="    ", subsequent_indent="    ")]
    return "\n".join(lines)


def describe(model, as_json: bool = False) -> int:
    """What one model is, from its card: ``facemotion models MODEL``."""
    import json
    from pathlib import Path

    from ..labels import label_set_name
    from ..recognizer import EmotionRecognizer
    from ..zoo import resolve

    rec = EmotionRecognizer(detector="none", model=model)  # opened as every command opens it: its card checked
    c, path = rec.model_card, Path(resolve(model)[0])
    if as_json:
        print(json.dumps({"path": str(path), "bytes": path.stat().st_size, **c.to_dict()}))
        return 0
    n = c.input_size
    net = ("an ensemble of " + " + ".join(str(m.get("arch")) for m in c.members) if c.members
           else "another project's graph, adopted" if c.adopted else c.arch)
    lines = [f"{rec.model_name}: {path} ({path.stat().st_size / 1e6:.1f} MB)",
             f"  labels: {', '.join(c.labels)} ({label_set_name(c.labels)})",
             f"  input: facemotion's {n} x {n} gray face crop, pixels as -1..1",
             f"  network: {net}" + (f", {c.parameters:,} parameters" if c.parameters else "")
             + f", {c.weights_dtype} weights, temperature {c.temperature:.3f}, views: {c.tta}"]
    named = {"ferplus_test": "FER+ majority 7 classes", "ferplus_test_8": "FER+ majority 8 classes",
             "private_test_dedup": "FER2013 labels, duplicates out", "private_test": "FER2013 labels",
             "ece_ferplus": "ECE (FER+)"}
    shown = [f"{what} {c.metrics[k] * (1 if k.startswith('ece') else 100):.{3 if k.startswith('ece') else 1}f}"
             + ("" if k.startswith("ece") else "%") for k, what in named.items() if k in c.metrics]
    lines.append("  PrivateTest: " + ("; ".join(shown) if shown else
                                      f"not measured (facemotion evaluate {model} --data fer2013.zip)"))
    if c.quantization:
        lines.append(f"  int8: {c.quantization.get('scheme')} ({c.quantization.get('weights')} weights, "
                     f"{c.quantization.get('activations')} activations)")
    if c.adopted:
        a, i = c.adopted, c.adopted.get("input", {})
        stats = "".join(f", {k} {','.join(f'{v:g}' for v in i[k])}" for k in ("mean", "std") if i.get(k))
        lines.append(f"  adopted from {a.get('source')} (sha256 {str(a.get('sha256'))[:16]}...): it takes "
                     f"{i.get('size')} x {i.get('size')} {'gray' if i.get('channels') == 1 else 'colour'} "
                     f"({str(i.get('layout')).upper()}), pixels as {i['range'][0]:g}..{i['range'][1]:g}{stats}; "
                     f"its {a.get('scores')}: {', '.join(a.get('outputs', []))}")
    print("\n".join(lines))
    return 0
