"""``facemotion models``: the shipped models (and, with the [train] extra, the architectures)
with the accuracy each file recorded, and what runs when no --model is given."""

from __future__ import annotations


def cmd_models(args) -> int:
    from ..cpu import cpu_summary
    from ..zoo import default_model_name, default_precision, listing, shipped_models

    print(f"cpu: {cpu_summary()}")
    print("shipped models (work offline, no torch needed):")
    default = default_model_name()
    ran = f"{default}_int8 (its int8 copy; --precision float32 for the float)" if default_precision() else default
    print(f"  without --model: {ran}")
    cards = {name: e.card for name, e in shipped_models().items()}
    rows = listing()
    w = max((len(m["name"]) for m in rows), default=0) + 2
    for m in rows:
        metrics = cards[m["name"]].metrics if m["name"] in cards else {}
        labels = cards[m["name"]].labels if m["name"] in cards else ()
        print(f"  {m['name']:<{w}}{'(default) ' if m['default'] else ''}{m['what']}, {m['parameters']:,} params, "
              f"{len(labels)} emotions{' (flip averaging built in)' if m['tta'] == 'flip' else ''}")
        print(f"  {'':<{w}}{_model_scores(metrics, 'contempt' in labels)}")
    try:
        from ..training.models import count_parameters, create_model, list_models
    except ImportError:
        print("architectures: install the [train] extra (torch) to list and train them")
        return 0
    print("architectures (facemotion train --arch NAME):")
    for n in list_models():
        print(f"  {n:<20}{count_parameters(create_model(n)):,} params")
    return 0


def _model_scores(metrics: dict, ferplus: bool = False) -> str:
    """A card's PrivateTest numbers, each naming its labels (docs/labels.md); a FER+ model's
    mean corrupted accuracy is measured against the FER+ majority, a FER2013 model's against
    FER2013's labels."""
    pct = lambda k: f"{metrics[k] * 100:.1f}%"  # noqa: E731
    parts = []
    if "ferplus_test" in metrics:
        parts.append(f"FER+ majority {pct('ferplus_test')} (7 classes)"
                     + (f", {pct('ferplus_test_8')} (8)" if "ferplus_test_8" in metrics else ""))
    if "private_test" in metrics:
        parts.append(f"FER2013 labels {pct('private_test')}"
                     + (f" ({pct('private_test_dedup')} without train duplicates)" if "private_test_dedup" in metrics else ""))
    if "private_test_mean_corrupted" in metrics:
        parts.append(f"mean corrupted {pct('private_test_mean_corrupted')}{' (FER+ majority)' if ferplus else ''}")
    return "PrivateTest: " + "; ".join(parts) if parts else "no accuracy recorded"
