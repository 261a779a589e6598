"""Campaign rule 2 (docs/training-log.md, "GPU campaign 3"; "The first run on the CPU" for its
CPU form), read in one run: whether the mean of the given checkpoints replaces the shipped
ensemble. Written to OUT/rule_ensemble.txt and .json.

The candidate is every member at once (no subset is searched, no weights are fitted), exported
as the rule says: flip averaging in the graph, float16 weights. It and the shipped ensemble are
scored by the same commands:
1. PublicTest FER+ 7-class accuracy (``facemotion evaluate --labels ferplus --split val -o``);
2. the mean balanced accuracy over the val parts of muxspace and Specs on Faces
   (``benchmarks/cross_dataset.py --part val``, both models in one run).
The candidate replaces the shipped ensemble only if it is higher on **both**. A temperature is
fitted when it ships (``scripts/ship_model.py``); it moves no answer, so it is left out here.
Nothing of PrivateTest, London or the test parts is read.

    python scripts/campaigns/rule_ensemble.py --out runs/cpu_f_vggs_score/ensemble runs/quad_members/*.pt runs/cpu_f_vggs/best.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "scripts" / "campaigns"))

from _common import FER_ZIP, machine, table  # noqa: E402
from _rules import facemotion, public_fer7, run, val_mean  # noqa: E402

WHAT = {"public": "PublicTest", "val_mean": "the val mean"}


def decide(cand: dict, incumbent: dict) -> tuple[bool, list[str]]:
    """(replaces?, the criteria it fails): higher on both, a tie is not higher."""
    fails = [k for k in ("public", "val_mean") if not cand[k] > incumbent[k]]
    return not fails, fails


def export(members: list[Path], onnx: Path, name: str) -> None:
    """The members' mean as one graph, remade when a member is newer than the file."""
    if onnx.exists() and all(m.stat().st_mtime <= onnx.stat().st_mtime for m in members):
        return
    facemotion("export", *members, "--to", onnx, "--tta", "flip", "--weights", "float16", "--name", name)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("members", nargs="+", type=Path, help="the candidate's checkpoints (.pt), every one of them")
    p.add_argument("--out", type=Path, required=True, help="folder for the candidate's ONNX file and the scores")
    p.add_argument("--against", default="quad_ensemble", help="the shipped ensemble it may replace")
    p.add_argument("--name", default="candidate_ensemble", help="the candidate's file and model name")
    p.add_argument("--fer", type=Path, default=FER_ZIP)
    p.add_argument("--muxspace", type=Path, default=Path("/data/muxspace"))
    p.add_argument("--sof", type=Path, default=Path("/data/sof"))
    a = p.parse_args(argv)
    if len(a.members) < 2:
        sys.exit("rule_ensemble.py: name at least two checkpoints: an ensemble is their mean")
    for f in [*a.members, a.fer, a.muxspace, a.sof]:
        if not f.exists():
            sys.exit(f"rule_ensemble.py: {f}: no such file or folder")
    from facemotion.classify import load_classifier

    incumbent = Path(a.against)
    try:  # an unknown name or a file that is no model ends here, in one line, before anything runs
        load_classifier(a.against)
    except Exception as e:  # noqa: BLE001 - facemotion's own errors say what is wrong in one line
        sys.exit(f"rule_ensemble.py: --against {a.against}: {e}")
    a.out.mkdir(parents=True, exist_ok=True)
    onnx = a.out / f"{a.name}.onnx"
    export(a.members, onnx, a.name)
    res = {}
    for key, model in (("candidate", onnx), ("incumbent", incumbent)):
        report = a.out / f"{model.stem}.public"
        facemotion("evaluate", model, "--data", a.fer, "--labels", "ferplus", "--split", "val", "-o", report)
        res[key] = {"model": str(model), "parameters": load_classifier(str(model)).card.parameters,
                    "public": public_fer7(model, a.fer, report / "report.json")}
    run("cross_dataset.py", ROOT / "benchmarks" / "cross_dataset.py", "--muxspace", a.muxspace, "--sof", a.sof,
        "--part", "val", "--no-fer", "--london", "", "--fer-data", "", "--models", onnx, a.against,
        "--out", a.out / "val")
    for r in res.values():
        r["val_mean"] = val_mean(a.out / "val.json", Path(r["model"]))
    replaces, fails = decide(res["candidate"], res["incumbent"])
    rows = [[f"{Path(r['model']).name}{' (' + str(len(a.members)) + ' members)' if k == 'candidate' else ''}",
             f"{r['parameters']:,}", f"{r['public']:.2%}", f"{r['val_mean']:.1%}"] for k, r in res.items()]
    text = "\n".join([
        f"campaign rule 2 (docs/training-log.md); {machine()}",
        "members: " + ", ".join(str(m) for m in a.members),
        table(["model", "parameters", "PublicTest FER+7", "val mean"], rows),
        f"the rule chooses: {a.name} (higher on both)" if replaces else
        f"the rule chooses: {a.against} stays (the candidate is not higher on {' and '.join(WHAT[f] for f in fails)})"])
    print(text)
    (a.out / "rule_ensemble.txt").write_text(text + "\n")
    (a.out / "rule_ensemble.json").write_text(json.dumps({"members": [str(m) for m in a.members], **res,
                                                          "replaces": replaces, "fails": fails}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
