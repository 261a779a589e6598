"""Documents dressed as photos: PostScript, EPS and PDF files named ``.jpg`` never reach
Ghostscript, through any entry point (the CLI's image, batch, video and data commands, the
Python API, the service's upload paths). A ``gs`` on PATH that records each call proves it:
Pillow's EPS plugin runs whatever ``gs`` it finds there, as the first test shows."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import facemotion
from facemotion.errors import DataError, ImageError, VideoError

from .conftest import ServerProcess, error_of, request

# the file: six lines whose own `print` appeared in our output when Ghostscript ran it
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n(GS_RAN_THIS) print flush\nshowpage\n"
HOSTILE = {
    "PostScript": (POSTSCRIPT, "a PostScript document"),
    "DOS EPS": (b"\xc5\xd0\xd3\xc6" + b"\x1e\x00\x00\x00" + len(POSTSCRIPT).to_bytes(4, "little") + bytes(18)
                + POSTSCRIPT, "an EPS document"),
    "PDF": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", "a PDF document"),
    "PostScript after blank lines": (b"\n\n" + POSTSCRIPT, "a PostScript document"),
}


@pytest.fixture
def gs_stub(tmp_path, monkeypatch):
    """A ``gs`` first on PATH (for this process and every one it starts) that records its calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "gs_calls.log"
    bin_dir.mkdir()
    stub = bin_dir / "gs"
    stub.write_text(f"#!/bin/sh\necho \"$@\" >> '{log}'\necho GS_RAN_THIS\nexit 0\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    from PIL import EpsImagePlugin

    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)  # Pillow looks it up once and keeps it
    return log


@pytest.fixture
def hostile(tmp_path):
    """Each hostile file saved as ``<kind>.jpg``."""
    out = {}
    for kind, (data, _) in HOSTILE.items():
        out[kind] = tmp_path / f"{kind.replace(' ', '_')}.jpg"
        out[kind].write_bytes(data)
    return out


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "facemotion", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def test_the_stub_sees_what_unguarded_pillow_runs(gs_stub, hostile):
    # the detector of this file's tests works: Pillow left to itself hands the file to `gs`
    code = f"from PIL import Image\ntry:\n    Image.open({str(hostile['PostScript'])!r}).load()\nexcept Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert gs_stub.is_file() and gs_stub.read_text().strip()


def test_image_command_refuses_each_in_one_json_line(gs_stub, hostile):
    r = _cli("image", *hostile.values(), "--json")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert len(lines) == len(HOSTILE)
    for line, (kind, (_, what)) in zip(lines, HOSTILE.items()):
        rec = json.loads(line)  # JSON lines stay JSON lines: nothing of the file's own output
        assert rec["file"] == str(hostile[kind])
        assert rec["error"].startswith(f"{hostile[kind]}: {what}, not an image format facemotion reads (JPEG, PNG")
    assert "GS_RAN_THIS" not in r.stdout + r.stderr
    assert not gs_stub.exists()


def test_batch_video_and_data_commands_refuse_it(gs_stub, hostile, tmp_path):
    ps = hostile["PostScript"]
    r = _cli("batch", ps, "--to", tmp_path / "out.csv", "--no-progress")
    rows = (tmp_path / "out.csv").read_text()
    assert "a PostScript document, not an image format" in rows and "GS_RAN_THIS" not in rows + r.stdout
    r = _cli("video", ps, "-o", tmp_path / "v", "--no-progress")
    assert r.returncode == 1 and r.stderr.strip().splitlines()[-1] == f"error: {ps}: a PostScript document, not a video"
    tree = tmp_path / "tree" / "train" / "happy"
    tree.mkdir(parents=True)
    (tree / "Training_1.jpg").write_bytes(POSTSCRIPT)
    r = _cli("data", "stats", tmp_path / "tree", "-o", tmp_path / "stats")
    assert r.returncode == 1 and "Training_1.jpg: a PostScript document, not an image format" in r.stderr
    assert "Traceback" not in r.stderr
    assert not gs_stub.exists()


def test_api_refuses_paths_bytes_streams_and_lazy_pil_images(gs_stub, hostile):
    rec = facemotion.EmotionRecognizer()
    for kind, path in hostile.items():
        what = HOSTILE[kind][1]
        data = path.read_bytes()
        for source, name in ((path, str(path)), (str(path), str(path)), (data, f"<{len(data)} bytes>"),
                             (io.BytesIO(data), "<BytesIO>")):
            with pytest.raises(ImageError, match=f"^{name}: {what}, not an image format") as e:
                rec.analyze(source)
            assert "\n" not in str(e.value)
    # a PIL image the caller opened, still undecoded: decoding it here would run Ghostscript
    with pytest.raises(ImageError, match="a PIL image of format EPS, which facemotion does not decode"):
        rec.detect_emotions(Image.open(hostile["PostScript"]))
    assert not gs_stub.exists()


def test_dataset_readers_refuse_it(gs_stub, tmp_path):
    from facemotion.datasets import load_splits

    path = tmp_path / "mini.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("train/happy/Training_1.jpg", POSTSCRIPT)
    with pytest.raises(DataError, match=r"Training_1\.jpg: a PostScript document, not an image format"):
        load_splits(path, ("train",))
    assert not gs_stub.exists()


def test_service_refuses_uploads_and_never_runs_gs(gs_stub, hostile):
    server = ServerProcess()  # started after the stub: it inherits the PATH
    try:
        for kind, path in hostile.items():
            data = path.read_bytes()
            code, _, body = request(server.url + "/v1/detect", data)
            assert code == 415 and error_of(body).startswith(f"request body: {HOSTILE[kind][1]}, not an image format")
            # the page's upload: a multipart form, the file named like a photo
            b = b"----fm"
            form = (b"--" + b + b'\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
                    b"Content-Type: image/jpeg\r\n\r\n" + data + b"\r\n--" + b + b"--\r\n")
            code, _, body = request(server.url + "/v1/annotate", form,
                                    {"Content-Type": "multipart/form-data; boundary=----fm"})
            assert code == 415 and HOSTILE[kind][1] in error_of(body)
    finally:
        server.stop()
    assert "GS_RAN_THIS" not in "".join(server.stderr)
    assert not gs_stub.exists()


def test_the_allowed_formats_are_read_by_content_not_name(tmp_path):
    from facemotion.formats import pil_formats, refused_kind, sniff

    rec = facemotion.EmotionRecognizer()
    img = Image.open(facemotion.SAMPLE_IMAGE)
    for fmt, ext in (("PNG", ".jpg"), ("WEBP", ".png"), ("BMP", ".gif"), ("TIFF", ".webp"), ("GIF", ".bmp"),
                     ("PPM", ".tif"), ("JPEG", ".png")):
        buf = io.BytesIO()
        img.convert("L" if fmt == "PPM" else "RGB").save(buf, fmt)
        assert sniff(buf.getvalue()[:16]) == fmt and fmt in pil_formats()
        path = tmp_path / f"{fmt}{ext}"  # a misleading name changes nothing
        path.write_bytes(buf.getvalue())
        faces = rec.detect_emotions(path)
        assert [f.dominant_emotion for f in faces] == ["happy"], fmt
    assert refused_kind(b"%PDF-1.7") == "a PDF document" and refused_kind(b"\x89PNG\r\n\x1a\n") is None


def test_animations_and_multi_picture_jpegs_give_their_first_frame(tmp_path):
    rec = facemotion.EmotionRecognizer()
    face = Image.fromarray(np.asarray(Image.open(facemotion.SAMPLE_IMAGE).convert("RGB")))  # pixels only
    blank = Image.new("RGB", face.size, (128, 128, 128))
    for fmt in ("GIF", "WEBP", "MPO", "PNG"):  # PNG: an animated PNG
        buf = io.BytesIO()
        face.save(buf, fmt, save_all=True, append_images=[blank, Image.new("RGB", face.size)])
        assert Image.open(io.BytesIO(buf.getvalue())).n_frames == 3
        assert [f.dominant_emotion for f in rec.detect_emotions(buf.getvalue())] == ["happy"], fmt
    # a TIFF's pages are separate pictures: still refused, saying how to read them (not with
    # `facemotion video`, which refuses a TIFF too)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "TIFF", save_all=True, append_images=[Image.new("RGB", (64, 64), "white")])
    with pytest.raises(ImageError, match="holds 2 pages; facemotion reads one picture per file .save each page as a "
                                         "file of its own.$"):
        rec.detect_emotions(buf.getvalue())


def test_a_video_named_like_a_document_is_refused_before_ffmpeg(tmp_path):
    pdf = tmp_path / "clip.mp4"
    pdf.write_bytes(HOSTILE["PDF"][0])
    with pytest.raises(VideoError, match=r"clip\.mp4: a PDF document, not a video$"):
        list(facemotion.EmotionRecognizer().stream(pdf))


def test_raw_http_clients_get_answers_not_resets(media):
    """Requests a browser never sends still get an HTTP answer with a message: HTTP/1.1 without
    Host (also with a large body still being sent), chunked bodies, HTTP/1.0 with or without a
    length."""
    server = ServerProcess("--max-body", "4")
    img = (media / "justin.jpg").read_bytes()

    def raw(req: bytes) -> tuple[int, dict]:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(req)  # all of it before reading, as naive clients do
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        return int(head.split()[1]), json.loads(body)

    def chunked(data: bytes, n: int = 65536) -> bytes:
        return b"".join(b"%x\r\n" % len(data[i:i + n]) + data[i:i + n] + b"\r\n"
                        for i in range(0, len(data), n)) + b"0\r\n\r\n"

    big = img * (3 * 2**20 // len(img))
    try:
        for body in (img, big):
            code, out = raw(b"POST /v1/detect HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            assert code == 400 and out["error"] == ("malformed HTTP request: no Host header: HTTP/1.1 requests must "
                                                    "name the host they are sent to")
        code, out = raw(b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n" + chunked(img))
        assert code == 200 and out["faces"][0]["dominant_emotion"]
        code, out = raw(b"POST /v1/detect HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                        b"Connection: close\r\n\r\n" + chunked(b"\0" * (5 * 2**20)))
        assert code == 413 and "over the 4 MiB limit" in out["error"]
        code, out = raw(b"POST /v1/detect HTTP/1.0\r\nContent-Length: %d\r\n\r\n" % len(img) + img)
        assert code == 200 and out["faces"]
        code, out = raw(b"POST /v1/detect HTTP/1.0\r\n\r\n" + img)
        assert code == 411 and out["error"].startswith("length required")
    finally:
        server.stop()
    assert "Traceback" not in "".join(server.stderr)


def test_serve_takes_an_address_not_a_name_to_look_up():
    r = _cli("serve", "--host", "example.com", "--port", "0", timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "error: --host: 'example.com' is not an IP address; give the address to listen on (127.0.0.1, 0.0.0.0 for "
        "every interface, ::1, or one of this machine's); names are not looked up (facemotion serve --help lists "
        "its options)"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(magic=st.sampled_from([b"%!", b"%!PS-Adobe-3.0", b"\xc5\xd0\xd3\xc6", b"%PDF-", b"\x04%!", b"\n\r %!PS"]),
       tail=st.binary(max_size=300))
def test_any_document_is_refused_as_what_it_is(gs_stub, magic, tail):
    from facemotion.errors import UnsupportedFormatError
    from facemotion.images import load_image

    with pytest.raises(UnsupportedFormatError, match=r"^<\d+ bytes>: an? (PostScript|EPS|PDF) document, not an image"):
        load_image(magic + tail)
    assert not gs_stub.exists()
