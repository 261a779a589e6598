"""Hostile names (issue 48): file names, headers and labels that users' data carries, written
and shown by the rule of facemotion.names; the name fuzzer's CI slice (scripts/fuzz_names.py
runs thousands)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import struct
import warnings
from pathlib import Path

import pytest

import facemotion
from facemotion.cli import build_parser, main
from facemotion.names import cell, fit_stems, from_columns, name_bytes, one_line, shown, text, uncell

from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
LATIN1 = b"caf\xe9.jpg"  # not UTF-8: what old cameras and zip archives write


@pytest.fixture(scope="module")
def face_jpg(tmp_path_factory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("seed") / "face.jpg"
    cv2.imwrite(str(path), cv2.imread(facemotion.SAMPLE_IMAGE)[40:190, 150:300])
    return path


def _folder(root: Path, names: list[bytes], seed: Path) -> list[str]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for raw in names:
        path = os.path.join(os.fsencode(root), raw)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copy(seed, path)
        out.append(os.fsdecode(path))
    return out


# -- the rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [LATIN1, b"a\\xe9.jpg", b"plain.jpg", b"\xff\xfe", "é\u202e.jpg".encode()])
def test_text_and_bytes_give_the_name_back_exactly(raw):
    name = os.fsdecode(raw)
    t, b = text(name), name_bytes(name)
    t.encode("utf-8")  # always writable as UTF-8
    assert os.fsencode(from_columns(t, b or None)) == raw
    assert (b == "") == (raw.decode("utf-8", "ignore").encode() == raw)


def test_shown_names_are_one_line_and_unambiguous():
    assert shown("photo.jpg") == "photo.jpg"
    odd = ["a\nb.jpg", "x\u202egpj.exe", os.fsdecode(LATIN1), '"q.jpg', "tab\t.jpg", "a\\xe9.jpg"]
    seen = {shown(n) for n in odd} | {shown(os.fsdecode(b"a\xe9.jpg"))}
    assert len(seen) == len(odd) + 1  # the literal "\xe9" and the byte 0xe9 look different
    for n in odd:
        s = shown(n)
        assert "\n" not in s and "\u202e" not in s and s.encode("utf-8")
    assert one_line("x\ny: failed") == "x\\ny: failed"


@pytest.mark.parametrize("value", ["=1+1", "+x", "-2", "@SUM(A1)", "\tx", "'=x", "'plain", "plain"])
def test_csv_cells_are_neutralised_and_read_back(value):
    c = cell(value)
    assert not c.startswith(("=", "+", "-", "@", "\t"))
    assert uncell(c) == value


def test_output_stems_never_collide_nor_pass_255_bytes():
    stems = fit_stems(["x", "X", "x", "a/" + "é" * 200, "a/" + "é" * 199 + "e"])
    assert len({s.casefold() for s in stems}) == 5
    assert all(len(s.split("/")[-1].encode()) <= 255 - 32 for s in stems)


def test_label_folders_in_odd_spellings_are_matched_or_refused_in_one_line():
    from facemotion.labels import UnknownLabelError, label_index

    for name in ["Happy", "HAPPY ", "\ufeffhappy", "ｈａｐｐｙ", " happy\t"]:
        assert label_index(name) == 3
    with pytest.raises(UnknownLabelError) as e:
        label_index("ha\nppy²")
    assert "\n" not in str(e.value)


# -- the commands --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_latin1_folder_completes_in_every_sink_and_resumes(tmp_path, face_jpg, suffix, capsys, monkeypatch):
    from facemotion.batch.sinks import read_rows

    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    monkeypatch.chdir(tmp_path)
    paths = _folder(tmp_path / "photos", [LATIN1, b"ok.jpg", b"=1+1,x.jpg", b"-dash.jpg"], face_jpg)
    argv = ["batch", "photos", "--to", f"results{suffix}", "--no-progress", "--detect-workers", "1"]
    assert main(argv) == 0
    rows = read_rows(f"results{suffix}")
    assert sorted(os.path.abspath(r[0]) for r in rows) == sorted(paths)  # every input, named exactly
    assert main(argv) == 0  # the rerun reads its own output back: nothing is left to do
    assert " 0 inputs processed" in capsys.readouterr().out
    assert read_rows(f"results{suffix}") == rows


def test_csv_output_holds_no_formula_and_is_utf8(tmp_path, face_jpg, monkeypatch):
    from facemotion.batch.sinks import read_rows

    _folder(tmp_path / "in", [b"=HYPERLINK(1).jpg", b"@x.jpg", b"+1.jpg", b"caf\xe9.jpg", b"new\nline.jpg"], face_jpg)
    (tmp_path / "in" / "=bad.jpg").write_bytes(b"not an image")
    monkeypatch.chdir(tmp_path / "in")  # "." lists the names bare: a cell would start with "="
    assert main(["batch", ".", "--to", "../r.csv", "--no-progress", "--detect-workers", "1"]) == 1  # =bad.jpg failed
    raw = (tmp_path / "r.csv").read_bytes().decode("utf-8")
    import csv
    import io

    for row in list(csv.reader(io.StringIO(raw)))[1:]:
        assert not any(c.startswith(("=", "+", "-", "@")) for c in row if not c.lstrip("-").replace(".", "").isdigit())
    names = sorted(os.fsencode(r[0]) for r in read_rows(tmp_path / "r.csv"))
    assert names == sorted([b"=HYPERLINK(1).jpg", b"@x.jpg", b"+1.jpg", b"caf\xe9.jpg", b"new\nline.jpg", b"=bad.jpg"])


def test_image_outputs_never_collide_nor_leave_the_folder(tmp_path, face_jpg):
    inputs = [b"a/x.jpg", b"b/x.jpg", b"x.jpg", b"x.png", b"x_jpg.jpg", b"X.jpg", b"caf\xe9.jpg",
              b"-" + b"y" * 240 + b".jpg"]
    paths = _folder(tmp_path / "in", inputs, face_jpg)
    out = tmp_path / "out"
    assert main(["image", *paths, "-o", str(out)]) == 0
    records = [json.loads(p.read_text()) for p in out.rglob("*.json")]
    assert sorted(from_columns(r["file"], r.get("file_bytes")) for r in records) == sorted(paths)
    assert len(list(out.rglob("*_annotated.jpg"))) == len(paths)
    assert all(os.path.realpath(p).startswith(str(out.resolve())) for p in out.rglob("*"))


def test_video_name_option_stays_in_the_folder(tmp_path):
    from facemotion.errors import FacemotionError
    from facemotion.video.outputs import _output_stem

    for bad in ("../x", "a/b", "..", ""):
        with pytest.raises(FacemotionError, match="one file name"):
            _output_stem(bad)
    assert _output_stem(os.fsdecode(b"clip\xe9")) == os.fsdecode(b"clip\xe9")


def test_deprecation_note_once_per_option(capsys):
    build_parser().parse_args(["batch", "x", "--to", "r.csv", "--every", "1", "--every", "2"])
    assert capsys.readouterr().err.count("--every is deprecated") == 1


def test_corrupt_exif_warns_nobody(tmp_path):
    data = open(facemotion.SAMPLE_IMAGE, "rb").read()
    payload = b"Exif\x00\x00II*\x00" + struct.pack("<IH", 8, 50) + b"\x01\x02" * 10  # an IFD past the end
    bad = tmp_path / "exif.jpg"
    bad.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(facemotion.detect_emotions(str(bad))) == 1
    assert not [w for w in caught if "EXIF" in str(w.message)]


# -- the server ------------------------------------------------------------------------------

@pytest.mark.parametrize("host,status", [(b"127.0.0.1:1@evil", 400), (b"127.0.0.1:x", 400), (b"localhost:99999", 400),
                                         (b"a b", 400), (b"evil.example", 403), (b"127.0.0.1:8000", 200),
                                         (b"[::1]:8000", 200), (b"LOCALHOST", 200)])
def test_host_header_is_parsed_strictly(host, status):
    from facemotion.service.limits import Limits, OriginGuard

    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(m):
        sent.append(m)

    scope = {"type": "http", "headers": [(b"host", host)]}
    asyncio.run(OriginGuard(ok, Limits())(scope, None, send))
    assert sent[0]["status"] == status


def test_origin_with_a_port_that_is_not_a_number_is_refused():
    from facemotion.service.limits import Limits, OriginGuard

    guard = OriginGuard(None, Limits())
    assert "malformed Origin" in guard.malformed({b"host": b"localhost", b"origin": b"http://localhost:x"})
    assert guard.malformed({b"host": b"localhost", b"origin": b"http://localhost:8000"}) is None


def test_server_responses_carry_a_request_id(face_jpg):
    pytest.importorskip("fastapi")
    fuzz = load_script("fuzz_names")
    from facemotion.service import create_app

    app = create_app(facemotion.EmotionRecognizer(threads=1))
    try:
        status, body, headers = asyncio.run(fuzz._post(app, *fuzz._multipart(LATIN1, face_jpg.read_bytes(), False)))
    finally:
        app.state.pool.close()
    assert status == 200 and len(json.loads(body)["faces"]) == 1
    assert len(headers[b"x-request-id"]) == 12


# -- the fuzzer's CI slice (scripts/fuzz_names.py --names 3000 runs the long one) ------------------

@pytest.mark.parametrize("command", ["image", "batch-csv", "batch-jsonl", "batch-parquet", "video", "data", "http"])
def test_name_fuzzer(command, monkeypatch):
    from facemotion.cli import infer
    from facemotion.video import process

    if command == "batch-parquet":
        pytest.importorskip("pyarrow")
    if command == "http":
        pytest.importorskip("fastapi")
    fuzz = load_script("fuzz_names")
    # what the fuzzer replaces for speed (one recognizer, timelines as empty files) is put back after
    monkeypatch.setattr(infer, "_recognizer", infer._recognizer)
    monkeypatch.setattr(process, "Timelines", fuzz.EmptyTimelines)
    tally = fuzz.run(command, 60, per_run=60)
    assert tally.names == 60
    assert (tally.tracebacks, tally.lost, tally.log_lines) == (0, 0, 0), tally.examples
