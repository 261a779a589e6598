"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facemotion.fairness import wilson  # noqa: F401 - the benchmarks' intervals are the package's

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared"))
MEDIA = SHARED / "media"
FER_ZIP = SHARED / "datasets" / "fer2013.zip"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")

# fer is never a facemotion dependency: the comparisons run it in a virtual environment of its own
FER_INSTALL = """\
    python3 -m venv /tmp/fer-venv && /tmp/fer-venv/bin/pip install torch==2.13.0 && \\
      /tmp/fer-venv/bin/pip install --no-deps fer==25.10.3 && /tmp/fer-venv/bin/pip install tensorflow \\
      pandas requests tqdm matplotlib Pillow 'moviepy>=1.0.3,<2' ffmpeg-python 'opencv-contrib-python<5' 'setuptools<81'
"""


def cli_video(clip: Path, args=(), src: Path | None = None, keep: Path | None = None) -> dict:
    """``facemotion video CLIP -o DIR ARGS`` as a user runs it (MP4 and CSV written), in a fresh
    process; with ``src``, that tree's package (PYTHONPATH) instead of the installed one; with
    ``keep``, the outputs are written there and kept. Returns the summary's frames/s, the
    number of face ids and the turn its reading gave the frames."""
    env = {**os.environ, "PYTHONPATH": str(src)} if src else None
    with (contextlib.nullcontext(str(keep)) if keep else tempfile.TemporaryDirectory()) as out:
        Path(out).mkdir(parents=True, exist_ok=True)
        # cwd: `-m` puts the current folder first on sys.path; PYTHONPATH must decide which code runs
        r = subprocess.run([sys.executable, "-m", "facemotion", "video", str(clip), "-o", out, "--no-progress", *args],
                           capture_output=True, text=True, env=env, cwd=out)
        if r.returncode:
            raise SystemExit(f"facemotion video {clip.name} {' '.join(args)} failed{f' at {src}' if src else ''}:\n"
                             f"{r.stderr[-2000:]}")
        s = json.loads((Path(out) / f"{clip.stem}_summary.json").read_text())
    return {"fps": s["processing_fps"], "ids": len(s["faces"]), "turned": s.get("turned", 0)}


def shared_clips(names) -> list[Path]:
    """The named clips of the shared media that exist; a line for each one skipped."""
    found = []
    for name in names:
        if (MEDIA / name).exists():
            found.append(MEDIA / name)
        else:
            print(f"skipping {name}: not found under {MEDIA}")
    return found


def shared_photos() -> list[Path]:
    return sorted(p for p in MEDIA.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def photo_list(n: int, folder: Path) -> Path:
    """``n`` distinct paths (links to the shared photos, repeated) in a list file."""
    if not (photos := shared_photos()):
        raise SystemExit(f"no photos under {MEDIA} (set FACEMOTION_SHARED)")
    links = [folder / f"{i:05d}_{photos[i % len(photos)].name}" for i in range(n)]
    for i, link in enumerate(links):
        os.symlink(photos[i % len(photos)].resolve(), link)
    listing = folder / "photos.txt"
    listing.write_text("".join(f"{link}\n" for link in links))
    return listing


def cli_batch(listing: Path, to: Path, args=(), timeout: float | None = None, src: Path | None = None) -> dict:
    """``facemotion batch LIST --to CSV ARGS`` in a fresh process (with ``src``, that tree's
    package, as :func:`cli_video`): wall seconds, the command's own inputs/s (model loading
    excluded), and each face's top emotion by (path, face). A run that fails or outlasts
    ``timeout`` seconds raises RuntimeError saying so."""
    what = f"facemotion batch {' '.join(args)}".strip()
    print(f"({what}: {listing.read_text().count(chr(10))} photos ...)", flush=True)
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "facemotion", "batch", str(listing), "--to", str(to),
                            "--no-progress", "--overwrite", *args], capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, "PYTHONPATH": str(src)} if src else None, cwd=src)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"{what}: still running after {timeout:.0f} s; its last words: "
                           f"{(e.stderr or b'')[-500:]!r}") from None
    wall = time.perf_counter() - t0
    if r.returncode:
        raise RuntimeError(f"{what} failed:\n{r.stderr[-2000:]}")
    rate = float(re.search(r"processed \(([\d.]+)/s\)", r.stdout).group(1))
    with open(to, newline="") as f:
        rows = list(csv.DictReader(f))
    labels = [k for k in rows[0] if k in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")]
    top = {(row["path"], row["face_id"]): max(labels, key=lambda k: float(row[k] or 0)) for row in rows if not row["error"]}
    return {"wall_s": wall, "inputs_per_s": rate, "faces": len(top), "top": top, "note": r.stderr.strip()}


def baseline_checkpoint(model: str | None) -> str:
    """The committed torch checkpoint of a shipped model (default: the package default), so a
    plain-PyTorch baseline runs the same network facemotion runs."""
    from facemotion.zoo import default_model_name

    return str(ROOT / "models" / f"{model or default_model_name()}.pt")


def machine() -> str:
    """The CPU with its instruction sets (they decide ONNX Runtime's kernels: speed, and what int8
    models compute), Python and ONNX Runtime: the first line of every benchmark's output."""
    from importlib.metadata import PackageNotFoundError, version

    from facemotion.cpu import cpu_summary

    try:
        ort = f", onnxruntime {version('onnxruntime')}"
    except PackageNotFoundError:
        ort = ""
    return f"{cpu_summary()}; Python {platform.python_version()}{ort}"


def timeit(fn, repeat: int = 20, warmup: int = 3) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def table(headers, rows) -> str:
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(r[i]).ljust(w) for i, w in enumerate(widths)) + " |" for r in rows]
    return "\n".join([line, sep, *body])


# fer's side for the accuracy benchmarks (bias, cross_dataset): one photo path in, every face
# fer finds out (its own detector and network); with "whole", the photo is one face (a crop)
FER_FACES_SIDE = r"""
import cv2
from fer.fer import FER
fer = FER()

def handle(r):
    img = cv2.imread(r["path"])
    if img is None:
        return {"error": "unreadable"}
    kw = {"face_rectangles": [(0, 0, img.shape[1], img.shape[0])]} if r.get("whole") else {}
    out = []
    for f in fer.detect_emotions(img, **kw):
        em = {k: float(v) for k, v in f["emotions"].items()}
        out.append({"box": [int(v) for v in f["box"]], "emotions": em, "dominant_emotion": max(em, key=em.get)})
    return out
"""


def largest_face(faces: list[dict]) -> dict | None:
    """The largest of ``detect_emotions``-style faces (the one a photo's label is about)."""
    return max(faces, key=lambda f: f["box"][2] * f["box"][3]) if faces else None


class FerProcess:
    """A long-lived Python in fer's virtual environment that runs ``code``'s ``handle(request)`` for
    each JSON line sent and answers one JSON line: TensorFlow loads once, and fer's timings can
    alternate with facemotion's call by call. It runs in a temporary folder, as fer writes files
    (data.csv, output/) into the current one."""

    LOOP = """
import json, sys
for line in sys.stdin:
    print(json.dumps(handle(json.loads(line))), flush=True)
"""

    def __init__(self, python: str, code: str):
        self._dir = tempfile.TemporaryDirectory()
        self._log = open(Path(self._dir.name) / "stderr.txt", "w+")
        self.proc = subprocess.Popen([python, "-c", code + self.LOOP], cwd=self._dir.name, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log)

    def ask(self, **request) -> dict:
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self._log.seek(0)
            raise SystemExit(f"fer failed in {self.proc.args[0]}:\n{self._log.read()[-2000:]}")
        return json.loads(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(30)
        self._log.close()
        self._dir.cleanup()


class CpuLoad:
    """``n`` processes each burning a core (a competing load), stopped on exit whatever happens."""

    def __init__(self, n: int):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []


def proportion(hit, sel) -> dict:
    """The share of ``sel``'s items (a boolean mask) that ``hit`` marks: value, counts and its
    95% Wilson interval; value None where ``sel`` is empty."""
    k, n = int(hit[sel].sum()), int(sel.sum())
    return {"value": k / n if n else None, "k": k, "n": n, "ci": wilson(k, n)}


def share_text(p: dict) -> str:
    """One :func:`proportion` as text: ``k/n = v% [lo, hi]``, or ``-`` where it has no items."""
    if not p["n"]:
        return "-"
    lo, hi = p["ci"]
    return f"{p['k']}/{p['n']} = {100 * p['value']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def kappa(a, b, rng, boot: int = 2000) -> dict:
    """Cohen's kappa between two raters' answers to the same items (equal-length arrays): the
    agreement beyond what their own answer shares would give by chance, with a 95% percentile
    bootstrap interval over the items (resampled ``boot`` times with ``rng``)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    cats = np.unique(np.concatenate([a, b]))
    ia, ib = np.searchsorted(cats, a), np.searchsorted(cats, b)

    def one(i):
        joint = np.bincount(ia[i] * len(cats) + ib[i], minlength=len(cats) ** 2).reshape(len(cats), -1) / len(i)
        chance = float(joint.sum(1) @ joint.sum(0))
        # every answer one category for both raters: agreement is complete, kappa is 1 by convention
        return 1.0 if chance == 1 else (float(np.trace(joint)) - chance) / (1 - chance)

    n = len(a)
    draws = [one(rng.integers(0, n, n)) for _ in range(boot)] if n else [np.nan]
    return {"value": one(np.arange(n)) if n else None, "n": n,
            "ci": tuple(float(v) for v in np.percentile(draws, [2.5, 97.5]))}


def kappa_text(k: dict) -> str:
    """One :func:`kappa` as text: ``0.62 [0.51, 0.72] over n``."""
    return "-" if not k["n"] else f"{k['value']:.2f} [{k['ci'][0]:.2f}, {k['ci'][1]:.2f}] over {k['n']}"


def share_bar(ax, x: float, p: dict, colour, width: float = 0.7, label: str | None = None) -> None:
    """One :func:`proportion` as a bar in percent with its Wilson interval, ``k/n`` above it;
    nothing where it has no items."""
    if not p["n"]:
        return
    v, (lo, hi) = 100 * p["value"], p["ci"]
    ax.bar(x, v, width, color=colour, yerr=[[v - 100 * lo], [100 * hi - v]], capsize=3, label=label)
    ax.text(x, min(100 * hi + 2, 101), f"{p['k']}/{p['n']}", ha="center", fontsize=7)


def finish_panels(fig, axes, path: Path, *, ylabel: str, title: str, top: float = 110) -> Path:
    """A row of bar panels made alike: the same y range and grid, the first panel's label, the
    figure's title, then written with :func:`save_png`."""
    for ax in axes:
        ax.set_ylim(0, top)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def save_png(fig, path: Path) -> Path:
    """A benchmark's figure, written atomically at 80 dpi (docs stay slim), and freed."""
    import matplotlib.pyplot as plt

    from facemotion.fileio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return path


def write_results(out: Path, text: str, data: dict) -> None:
    """OUT.txt (the printed report) and OUT.json, each written atomically."""
    from facemotion.fileio import write_text

    write_text(out.with_suffix(".txt"), text + "\n")
    # every figure names the CPU it was measured on (its instruction sets decide the kernels)
    write_text(out.with_suffix(".json"), json.dumps({"machine": machine(), **data}, indent=1))


def command_line(script: str, argv=None) -> str:
    """The command that reproduces a benchmark's run: its arguments as given (``argv``, else the
    process's), quoted for a shell; printed at the top of every results file."""
    args = sys.argv[1:] if argv is None else [str(x) for x in argv]
    return " ".join(["python", Path(script).resolve().relative_to(ROOT).as_posix(), *map(shlex.quote, args)])


def read_rows(path: Path, columns: tuple[str, ...], who: str) -> list[dict]:
    """A rating's CSV as dicts; a missing file or a row without one of ``columns`` ends the
    script ``who`` in one line naming the file and the line."""
    import csv

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise SystemExit(f"{who}: {path}: {e.strerror or e}") from None
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        if any(not (row.get(c) or "").strip() for c in columns):
            raise SystemExit(f"{who}: {path}: line {n}: expected {', '.join(columns)}, got {dict(row)}")
    return rows


def read_answers(answers: Path, codes, allowed, who: str) -> dict:
    """A rater's ``code,answer`` CSV for a blind sheet set: code -> answer. An unknown code, a
    second answer for a code, an answer not in ``allowed`` or a code of ``codes`` left unanswered
    ends the script ``who`` in one line naming the file and the line."""
    got = {}
    for n, r in enumerate(read_rows(answers, ("code", "answer"), who), start=2):
        code, ans = r["code"].strip(), r["answer"].strip()
        if code not in codes or ans not in allowed or code in got:
            why = "an unknown code" if code not in codes else "a second answer" if code in got else \
                f"answer {ans!r} is none of {', '.join(allowed)}"
            raise SystemExit(f"{who}: {answers}: line {n}: {why}")
        got[code] = ans
    missing = sorted(set(codes) - set(got))
    if missing:
        raise SystemExit(f"{who}: {answers}: no answer for code {missing[0]} ({len(missing)} missing)")
    return got


def rating_steps(parser, answers: str, to_default: str | None):
    """A blind rating's two subcommands on ``parser``: ``sheets`` (--out, --seed) and ``label``
    (--key, --answers: ``code,answer`` with the ``answers`` named; --to, required unless a
    ``to_default`` is described); -> the sheets parser, for a script's own view options."""
    sub = parser.add_subparsers(dest="step")
    sheets = sub.add_parser("sheets", help="the blind sheets and their key")
    sheets.add_argument("--out", type=Path, required=True, help="folder for sheet_NN.png and key.csv (not the repository)")
    sheets.add_argument("--seed", type=int, default=0)
    label = sub.add_parser("label", help="the answers joined with the key")
    label.add_argument("--key", type=Path, required=True)
    label.add_argument("--answers", type=Path, required=True, help=f"code,answer ({answers})")
    label.add_argument("--to", type=Path, required=to_default is None, default=None,
                       help=f"default: {to_default}" if to_default else "the CSV to write")
    return sheets


def blind_sheets(tiles: list, key: list[dict], out: Path, columns: int, per_sheet: int, noun: str) -> int:
    """A blind rating's sheets (:func:`contact_sheets`) and its key, ``key``'s rows (code -> what
    the rater must not see) in out/key.csv, which the rater opens only after every answer; -> the
    number of sheets."""
    import csv

    out.mkdir(parents=True, exist_ok=True)
    sheets = contact_sheets(tiles, out, columns, per_sheet)
    with open(out / "key.csv", "w", newline="") as f:
        w = csv.DictWriter(f, list(key[0]))
        w.writeheader()
        w.writerows(key)
    print(f"wrote {sheets} sheets of {len(tiles)} {noun} to {out} (the key: {out / 'key.csv'}; do not open it "
          "before rating)")
    return sheets


def contact_sheets(tiles: list, out: Path, columns: int, per_sheet: int) -> int:
    """Equal tiles (H x W x 3) laid ``columns`` a row, ``per_sheet`` a sheet, into
    out/sheet_NN.png for a person to rate (a light grey rule between columns, blanks to fill the
    last sheet); -> the number of sheets."""
    import cv2
    import numpy as np

    blank = np.full_like(tiles[0], 255)
    rule = np.full((tiles[0].shape[0], 14, 3), 200, np.uint8)
    sheets = -(-len(tiles) // per_sheet)
    for k in range(sheets):
        chunk = tiles[k * per_sheet:(k + 1) * per_sheet]
        chunk += [blank] * (-len(chunk) % columns)
        rows = [np.hstack([x for t in chunk[r:r + columns] for x in (rule, t)][1:]) for r in range(0, len(chunk), columns)]
        cv2.imwrite(str(out / f"sheet_{k + 1:02d}.png"), np.vstack(rows))
    return sheets
