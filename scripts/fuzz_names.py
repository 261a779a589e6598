"""Name fuzzing (docs/usage.md, "Odd file names"): hostile file names through every command
that reads or writes one, counting tracebacks and lost inputs.

    python scripts/fuzz_names.py --names 3000            # per command; a few minutes each on 2 cores
    python scripts/fuzz_names.py --names 60 --commands image,http

Names are drawn by Hypothesis as bytes (Linux file names may be any bytes but ``/`` and NUL):
Latin-1 bytes that are not UTF-8, Unicode of every category (controls, bidi marks, combining
marks, separators), spreadsheet formula starts (``= + - @``), commas, quotes, newlines, a
leading ``-``, and names of exactly 255 bytes. Each run puts ``--per-run`` of them in one
folder and runs the command in-process through ``facemotion.cli.main``:

- ``image``: every input has its ``_annotated.jpg`` and JSON inside ``-o``, the JSON naming it
  (``file`` / ``file_bytes``) exactly;
- ``batch-csv``, ``batch-jsonl``, ``batch-parquet``: every input has its row, the name read
  back exactly (``path`` / ``path_bytes``), and a rerun processes nothing (resume);
- ``video``: one clip per name; its CSV and summary are written, the summary naming it;
- ``data``: ``data stats`` over ``train/<label>/<name>.png``, label folders in odd spellings
  (upper case, padding, full-width): every image is counted, or the label is refused in one line;
- ``http``: the upload's ``filename`` in a multipart body to ``/v1/detect``: 200 with the face,
  and no line from a library in the log.

A traceback is an exception other than a one-line ``error:``; a lost input is one without its
output. Prints one line per command and exits 1 if either count is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import facemotion
from facemotion.batch.sinks import read_rows
from facemotion.cli import main
from facemotion.names import from_columns

NAME_MAX = 255
SPECIAL = ["-", "--", "=", "+", "@", "'", '"', ",", "\n", "\r", "\t", "\u202e", "\u200f", "\u2066", " ", "\\",
           "*", "?", "[", "]", "~", "#", "%", "e\u0301", "\u01c5", "\u00df", "\u0130", "\x7f", "\x1b", "..",
           "$(x)", "`", "\ufeff", "\u2028", "=HYPERLINK(\"x\")", "@SUM(1)", "NUL", "CON"]
LETTERS = st.characters(codec="utf-8", categories=["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Nd", "Pc", "Pd", "Ps",
                                                   "Pe", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf",
                                                   "Co"])
UNICODE = st.text(LETTERS, min_size=1, max_size=24).map(lambda s: s.encode())  # Unicode of every category
SPECIALS = st.sampled_from(SPECIAL).map(lambda s: s.encode())
KINDS = (
    st.binary(min_size=1, max_size=24),                                      # any bytes (not UTF-8, mostly)
    st.text(st.characters(min_codepoint=0xa0, max_codepoint=0xff), min_size=1, max_size=12)
      .map(lambda s: s.encode("latin-1")),                                   # an old camera's Latin-1 name
    SPECIALS, SPECIALS, UNICODE, UNICODE, UNICODE, UNICODE,
)
# a name is a few segments, weighted so that about half the names are UTF-8
SEGMENT = st.integers(0, len(KINDS) - 1).flatmap(lambda k: KINDS[k])


def file_name(segments: list[bytes], suffix: bytes, full: bool) -> bytes:
    """Segments -> one valid file name ending in ``suffix`` (at most 255 bytes; ``full``: exactly)."""
    raw = b"".join(segments).replace(b"/", b"_").replace(b"\0", b"_")
    if raw.startswith(b"."):  # a hidden file is an input too, but `data` skips it by design
        raw = b"x" + raw
    room = NAME_MAX - len(suffix)
    raw = (raw * (room // max(len(raw), 1) + 1) if full else raw)[:room]
    return raw + suffix


def names(suffix: bytes, count: int):
    """A strategy for ``count`` distinct file names ending in ``suffix``."""
    one = st.builds(file_name, st.lists(SEGMENT, min_size=1, max_size=5), st.just(suffix),
                    st.sampled_from([False] * 9 + [True]))
    return st.lists(one, min_size=count, max_size=count, unique=True)


class Tally:
    def __init__(self, command: str):
        self.command, self.names, self.tracebacks, self.lost, self.log_lines = command, 0, 0, 0, 0
        self.examples = []

    def note(self, kind: str, what) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {what!r}"[:300])

    def line(self, seconds: float) -> str:
        return (f"{self.command}: {self.names} names, {self.tracebacks} tracebacks, {self.lost} lost inputs, "
                f"{self.log_lines} library log lines ({seconds:.0f} s)" + "".join(f"\n  {e}" for e in self.examples))


def run_cli(argv: list[str], tally: Tally) -> tuple[int, str]:
    """``facemotion ARGV`` in this process: (exit code, its stdout + stderr); an exception that
    escapes, or a traceback printed, is a traceback."""
    err, out = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main(argv)
    except SystemExit as e:  # argparse: a usage error is a one-line answer too
        code = e.code if isinstance(e.code, int) else 2
    except Exception as e:  # noqa: BLE001 - what the fuzzer exists to find
        tally.note("tracebacks", f"{argv[0]}: {type(e).__name__}: {e}")
        return -1, err.getvalue()
    if "Traceback" in err.getvalue():
        tally.note("tracebacks", err.getvalue()[-300:])
    return code, out.getvalue() + err.getvalue()


def _inside(root: Path) -> bool:
    """Whether every file written under ``root`` is really inside it (no link or name escaped)."""
    real = os.path.realpath(root)
    return all(os.path.realpath(os.path.join(d, f)).startswith(real + os.sep)
               for d, _, files in os.walk(root) for f in files)


def _populate(folder: Path, batch: list[bytes], seed: Path) -> list[str]:
    folder.mkdir(parents=True)
    paths = []
    for raw in batch:
        path = os.path.join(os.fsencode(folder), raw)
        os.link(seed, path)  # a hard link: thousands of inputs cost no disk
        paths.append(os.fsdecode(path))
    return paths


def check_image(work: Path, batch: list[bytes], seeds: dict, tally: Tally) -> None:
    paths = _populate(work / "in", batch, seeds["image"])
    out = work / "out"
    code, err = run_cli(["image", str(work / "in"), "-o", str(out), "--threads", "1"], tally)
    named = set()
    for f in out.glob("**/*.json") if out.exists() else []:
        rec = json.loads(f.read_text(encoding="utf-8"))
        if rec.get("faces") and f.with_name(f.stem + "_annotated.jpg").exists():
            named.add(from_columns(rec["file"], rec.get("file_bytes")))
    for p in paths:
        if p not in named:
            tally.note("lost", (p, code, err[-200:]))
    if not _inside(out):
        tally.note("lost", "an output outside -o")


def check_batch(work: Path, batch: list[bytes], seeds: dict, tally: Tally, suffix: str) -> None:
    paths = _populate(work / "in", batch, seeds["image"])
    out = str(work / f"results{suffix}")
    argv = ["batch", str(work / "in"), "--to", out, "--no-progress", "--workers", "1", "--threads", "1"]
    code, err = run_cli(argv, tally)
    rows = read_rows(out) if os.path.exists(out) else []
    found = {r[0] for r in rows if r[-1] is None}
    for p in paths:
        if p not in found:
            tally.note("lost", (p, code, err[-200:]))
    code, err = run_cli(argv, tally)  # the rerun reads its own output back: nothing left to do
    if code != 0 or len(read_rows(out)) != len(rows) or " 0 inputs processed" not in err:
        tally.note("lost", ("rerun", code, err[-200:]))


def check_video(work: Path, batch: list[bytes], seeds: dict, tally: Tally) -> None:
    for i, p in enumerate(_populate(work / "in", batch, seeds["video"])):
        out = work / "out" / str(i)  # a folder each: two names may share a stem (x.mp4, x.MP4)
        code, err = run_cli(["video", p, "-o", str(out), "--no-progress", "--threads", "1"], tally)
        summaries = list(out.glob("*_summary.json")) if out.exists() else []
        rec = json.loads(summaries[0].read_text(encoding="utf-8")) if len(summaries) == 1 else {}
        source = from_columns(rec.get("source", ""), rec.get("source_bytes"))
        if code != 0 or source not in (p, os.path.basename(p)) or not list(out.glob("*_faces.csv")):
            tally.note("lost", (p, code, err[-200:]))
        if out.exists() and not _inside(out):
            tally.note("lost", "an output outside -o")


# label folders as archives and other people's trees spell them: all the same seven classes
LABEL_NAMES = ["happy", "Happy", "HAPPY", "happy ", " sad", "Sad\t", "\ufeffangry", "ｆｅａｒ", "Neutral  ",
               "surprised", "Disgust", "anger"]


def check_data(work: Path, batch: list[bytes], seeds: dict, tally: Tally, labels: list[str]) -> None:
    tree = work / "in"
    paths = []
    for k, label in enumerate(labels):  # the names spread over the label folders
        paths += _populate(tree / "train" / label, batch[k::len(labels)], seeds["face48"])
    code, text = run_cli(["data", "stats", str(tree), "-o", str(work / "out")], tally)
    total = [line for line in text.splitlines() if line.startswith("total")]
    counted = int(total[0].split()[-1].replace(",", "")) if total else -1
    if code != 0 or counted != len(paths):
        tally.note("lost", (labels, code, text[-300:]))


def _multipart(filename: bytes, image: bytes, broken: bool) -> tuple[bytes, bytes]:
    """A browser's form upload of ``image`` under ``filename`` (its quote and line breaks
    percent-encoded, as browsers do); ``broken``: a boundary the body does not keep to."""
    name = filename.replace(b'"', b"%22").replace(b"\r", b"%0D").replace(b"\n", b"%0A")
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name + b"\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n" + image + b"\r\n--XyZ--\r\n")
    if broken:  # the parser logs "Expected boundary character ..." with the body's bytes, then raises
        body = b"--XyQ" + body[5:]
    return body, b"multipart/form-data; boundary=XyZ"


async def _post(app, body: bytes, content_type: bytes) -> tuple[int, bytes, dict]:
    """One POST /v1/detect through the ASGI app, as uvicorn would hand it over: (status, body, headers)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/detect", "raw_path": b"/v1/detect", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", content_type),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8000), "state": {}}
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if chunks:
            return chunks.pop()
        await asyncio.Event().wait()  # the client stays connected

    sent = []

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:]), dict(sent[0]["headers"])


class _Foreign(logging.Handler):
    """Counts log records from other libraries (the server's log should hold ours only)."""

    def __init__(self):
        super().__init__(logging.INFO)  # asyncio's debug lines are not a server's log
        self.records = []

    def emit(self, record):
        if not record.name.startswith("facemotion"):
            self.records.append(f"{record.name}: {record.getMessage()}"[:200])


def check_http(work: Path, batch: list[bytes], seeds: dict, tally: Tally) -> None:
    from facemotion.service import create_app

    if "app" not in seeds:
        seeds["app"] = create_app(facemotion.EmotionRecognizer(threads=1))
    image, handler = seeds["image"].read_bytes(), _Foreign()
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    try:
        for raw in batch:
            for broken in (False, True):
                try:
                    status, body, _ = asyncio.run(_post(seeds["app"], *_multipart(raw, image, broken)))
                except Exception as e:  # noqa: BLE001
                    tally.note("tracebacks", f"http: {type(e).__name__}: {e}")
                    continue
                ok = status == 400 if broken else status == 200 and len(json.loads(body)["faces"]) == 1
                if not ok:
                    tally.note("lost", (raw, broken, status, body[:200]))
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    for line in handler.records:
        tally.note("log_lines", line)


def make_seeds(folder: Path) -> dict:
    """The files every name is a hard link to: a face photo, a short clip of it, a 48x48 face."""
    photo = cv2.imread(facemotion.SAMPLE_IMAGE)
    face = photo[40:190, 150:300]  # the astronaut's face with a margin: small, so quick to analyse
    seeds = {"image": folder / "face.jpg", "video": folder / "clip.mp4", "face48": folder / "face48.png"}
    cv2.imwrite(str(seeds["image"]), face)
    cv2.imwrite(str(seeds["face48"]), cv2.resize(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), (48, 48)))
    writer = cv2.VideoWriter(str(seeds["video"]), cv2.VideoWriter_fourcc(*"mp4v"), 10, face.shape[1::-1])
    for _ in range(3):
        writer.write(face)
    writer.release()
    return seeds


SUFFIXES = {"image": b".jpg", "batch-csv": b".jpg", "batch-jsonl": b".JPG", "batch-parquet": b".jpeg",
            "video": b".mp4", "data": b".png", "http": b".jpg"}
COMMANDS = tuple(SUFFIXES)


def draw_names(suffix: bytes, count: int, seed: int, exclude: bytes = b"") -> list[bytes]:
    """``count`` distinct names from the strategy (generated in lists of 20, Hypothesis's buffer)."""
    found: dict[bytes, None] = {}

    @settings(max_examples=count // 20 + 5, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(names(suffix, 20))
    def collect(batch):
        for raw in batch:
            for ch in exclude:
                raw = raw.replace(bytes([ch]), b"_")
            found[raw] = None

    while len(found) < count:  # duplicates (short names repeat) are drawn again, under another seed
        collect._hypothesis_internal_use_seed = seed
        collect()
        seed += 1_000_003
    return list(found)[:count]


def _share_recognizers() -> None:
    """One recognizer per set of options for the whole run: loading the models for each of
    thousands of command lines would cost more than the names (which they do not depend on)."""
    from facemotion.cli import infer

    if getattr(infer._recognizer, "shared", False):
        return
    make, made = infer._recognizer, {}

    def shared(args):
        key = repr([getattr(args, k, None) for k in ("detector", "model", "min_confidence", "detect_size", "precision",
                                                     "threads", "upright", "fold_contempt")])
        if key not in made:
            made[key] = make(args)
        return made[key]

    shared.shared = True
    infer._recognizer = shared


class EmptyTimelines:
    """The video's timeline figures as empty files under their names: drawing them costs 0.5 s
    a clip, and their content holds no name (``--real-plots`` draws them)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def emotions(self, times_s, probs, path, *args, **kwargs):
        from facemotion.fileio import write_bytes

        write_bytes(path, b"")

    measures = emotions

    def overview(self, faces, path, *args, **kwargs):
        from facemotion.fileio import write_bytes

        write_bytes(path, b"")


def _quick_timelines() -> None:
    from facemotion.video import process

    process.Timelines = EmptyTimelines


def run(command: str, count: int, per_run: int = 100, seed: int = 0) -> Tally:
    """``count`` names through ``command`` in runs of ``per_run``; returns the tally."""
    import random

    tally = Tally(command)
    # a backslash in a dataset's file name is read as a folder separator (zip archives from
    # Windows use it): left out of `data` here, see docs/usage.md
    drawn = draw_names(SUFFIXES[command], count, seed, exclude=b"\\" if command == "data" else b"")
    pick = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-names-") as tmp:
        seeds = make_seeds(Path(tmp))
        try:
            for i in range(0, len(drawn), per_run):
                batch, work = drawn[i:i + per_run], Path(tmp) / f"run{i}"
                work.mkdir()
                if command == "image":
                    check_image(work, batch, seeds, tally)
                elif command.startswith("batch-"):
                    check_batch(work, batch, seeds, tally, "." + command.split("-")[1])
                elif command == "video":
                    check_video(work, batch, seeds, tally)
                elif command == "data":
                    check_data(work, batch, seeds, tally, pick.sample(LABEL_NAMES, pick.randint(1, 3)))
                else:
                    check_http(work, batch, seeds, tally)
                tally.names += len(batch)
                shutil.rmtree(work, ignore_errors=True)
        finally:
            if "app" in seeds:
                seeds["app"].state.pool.close()
    return tally


def main_(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--names", type=int, default=3000, help="names per command")
    p.add_argument("--per-run", type=int, default=100, help="names per command line (one folder)")
    p.add_argument("--commands", default=",".join(COMMANDS), help=f"comma-separated, of {', '.join(COMMANDS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--real-plots", action="store_true", help="draw the video's timelines (0.5 s a clip)")
    args = p.parse_args(argv)
    if not args.real_plots:
        _quick_timelines()
    bad = 0
    for command in args.commands.split(","):
        start = time.perf_counter()
        tally = run(command, args.names, args.per_run, args.seed)
        print(tally.line(time.perf_counter() - start), flush=True)
        bad += tally.tracebacks + tally.lost + tally.log_lines
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main_())
