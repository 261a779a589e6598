"""The web service's API, over loopback only: JSON and JPEG answers, the first version's paths,
multipart uploads, the WebSocket stream, and JSON errors."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .conftest import error_of, request


def test_detect_and_annotate(media, server):
    for path in ("/v1/detect", "/detect"):
        code, headers, body = request(server.url + path, (media / "two_people.jpg").read_bytes())
        assert code == 200 and headers["content-type"] == "application/json"
        out = json.loads(body)
        assert (out["width"], out["height"]) == (1126, 661)
        assert len(out["faces"]) == 2 and all(f["dominant_emotion"] for f in out["faces"])
        assert set(out["faces"][0]) == {"box", "confidence", "emotions", "dominant_emotion"}
    for path in ("/v1/annotate", "/annotate", "/v1/annotate?bars=false", "/v1/annotate?blur=true"):
        code, headers, body = request(server.url + path, (media / "justin.jpg").read_bytes())
        assert code == 200 and headers["content-type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert "server" not in headers  # no version banner
        from facemotion import detect_emotions  # ?blur=true: each face pixelated, none found again

        assert len(detect_emotions(body)) == (0 if "blur" in path else 1)


def test_same_records_as_the_library(media, server):
    from facemotion import detect_emotions

    expected = detect_emotions(media / "two_people.jpg")
    got = json.loads(request(server.url + "/v1/detect", (media / "two_people.jpg").read_bytes())[2])["faces"]
    assert [f["box"] for f in got] == [list(f["box"]) for f in expected]
    assert [f["dominant_emotion"] for f in got] == [f["dominant_emotion"] for f in expected]


def test_multipart_upload(media, server):
    img = (media / "justin.jpg").read_bytes()
    b = b"----xyz"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'
            b"--" + b + b'\r\nContent-Disposition: form-data; name="image"; filename="j.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + img + b"\r\n--" + b + b"--\r\n")
    code, _, out = request(server.url + "/v1/detect", body, {"Content-Type": "multipart/form-data; boundary=----xyz"})
    assert code == 200 and json.loads(out)["faces"][0]["dominant_emotion"] == "happy"
    code, _, out = request(server.url + "/v1/detect", body.replace(b'name="image"', b'name="other"').replace(
        b'; filename="j.jpg"', b""), {"Content-Type": "multipart/form-data; boundary=----xyz"})
    assert code == 400 and "no 'image' field" in error_of(out)
    # a file sent empty (curl -F image=@empty.jpg) is named as that, not as a missing field; an
    # empty file input (a browser names no file) is still no image at all
    empty = body.replace(img, b"")
    code, _, out = request(server.url + "/v1/detect", empty, {"Content-Type": "multipart/form-data; boundary=----xyz"})
    assert code == 400 and error_of(out) == "multipart body: the file 'j.jpg' is empty"
    code, _, out = request(server.url + "/v1/detect", empty.replace(b'filename="j.jpg"', b'filename=""'),
                           {"Content-Type": "multipart/form-data; boundary=----xyz"})
    assert code == 400 and "no 'image' field" in error_of(out)


def test_base64_bodies_as_browsers_and_deepface_clients_send_them(media, server):
    """A canvas's `toDataURL()` (as text, or a form's field), a JSON body {"image"|"img": ...} with a
    data URI or plain base64: each gets the faces the image's own bytes get. A form holding two
    images is refused, not answered for the first alone; a JSON body without an image says what
    one holds."""
    import base64

    img = (media / "two_people.jpg").read_bytes()
    want = json.loads(request(server.url + "/v1/detect", img)[2])["faces"]
    uri = "data:image/jpeg;base64," + base64.b64encode(img).decode()
    b64 = base64.b64encode(img).decode()
    form = (b"--xyz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n" + uri.encode() + b"\r\n--xyz--\r\n")
    empty_input = (b"--xyz\r\nContent-Disposition: form-data; name=\"extra\"; filename=\"\"\r\n\r\n\r\n"
                   b"--xyz\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.jpg\"\r\n\r\n" + img
                   + b"\r\n--xyz--\r\n")
    for body, kind in [(uri.encode(), "text/plain"), (uri.encode(), None), (b"\n  " + uri.encode(), "text/plain"),
                       (img, "application/json"),  # what the body holds decides, not its label
                       (empty_input, "multipart/form-data; boundary=xyz"),  # a file input left empty is no image
                       (json.dumps({"image": uri}).encode(), "application/json"),
                       (json.dumps({"img": b64}).encode(), "application/json; charset=utf-8"),
                       (form, "multipart/form-data; boundary=xyz")]:
        code, _, out = request(server.url + "/v1/detect", body, {"Content-Type": kind} if kind else {})
        assert code == 200 and json.loads(out)["faces"] == want, (kind, out[:200])
    two = b"".join(b"--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"%d.jpg\"\r\n\r\n" % i
                   + img + b"\r\n" for i in (1, 2)) + b"--xyz--\r\n"
    code, _, out = request(server.url + "/v1/detect", two, {"Content-Type": "multipart/form-data; boundary=xyz"})
    assert code == 400 and "holds 2 'image' fields: send one image a request" in error_of(out)
    for body, said in [(b'{"url": "x"}', 'JSON without an image; send {"image": "data:image/jpeg;base64,..."}'),
                       (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "JSON without an image"),  # nested past recursion
                       (b'{"image": "data:image/png;base64,***"}', "a data URI without base64 image data")]:
        code, _, out = request(server.url + "/v1/detect", body, {"Content-Type": "application/json"})
        assert code == 400 and said in error_of(out), out


def test_errors_are_json(server):
    cases = [("/v1/detect", b"definitely not an image", None, 400, "not an image"),
             ("/v1/detect", b"", None, 400, "empty request body"),
             ("/nope", b"x", None, 404, "no such endpoint /nope"),
             ("/v1/detect", None, "GET", 405, "GET is not allowed"),
             ("/v1/annotate?bars=maybe", b"x", None, 422, "bars"),
             # a parameter the endpoint does not have is refused, not dropped for the served model's answer
             ("/v1/detect?model=other", b"x", None, 422, "query.model: not a parameter of /v1/detect (it takes none)"),
             ("/annotate?bars=false&size=2", b"x", None, 422,
              "query.size: not a parameter of /annotate (it takes bars, blur)")]
    for path, data, method, status, text in cases:
        code, headers, body = request(server.url + path, data, method=method)
        assert code == status and headers["content-type"] == "application/json", (path, code)
        assert text in error_of(body), (path, body)
    code, _, body = request(server.url + "/health")
    health = json.loads(body)
    assert code == 200 and health["status"] == "ok" and health["model"] and list(health["colors"]) == health["emotions"]
    for path in ("/health", "/"):  # what monitors send (curl -I): GET's answer without its body
        code, headers, body = request(server.url + path, method="HEAD")
        assert code == 200 and body == b"" and int(headers["content-length"]) > 0, path


def test_docs_and_page_are_local(server):
    code, headers, body = request(server.url + "/openapi.json")
    spec = json.loads(body)
    assert code == 200 and {"/v1/detect", "/v1/annotate", "/health"} <= set(spec["paths"])
    for path in ("/", "/docs"):
        code, headers, body = request(server.url + path)
        assert code == 200 and b"<html" in body
        assert "default-src 'self'" in headers["content-security-policy"]
        assert not re.search(rb"""(src|href)=["']?(https?:)?//""", body)  # nothing fetched from elsewhere
    for asset in ("app.js", "style.css", "docs.js", "docs.css"):
        code, _, body = request(f"{server.url}/static/{asset}")
        assert code == 200 and not re.search(rb"https?://|url\(", body)


def test_a_local_page_on_another_port_may_call_it_and_sigterm_is_a_normal_stop():
    """A development server's page (http://localhost:3000) gets its preflight answered and CORS
    headers on the answer; the schema has one operation per id (HEAD /health is out of it);
    /health takes a monitor's cache-buster; SIGTERM exits 0."""
    from .conftest import ServerProcess

    s = ServerProcess()
    try:
        local = {"Origin": "http://localhost:3000"}
        code, headers, _ = request(s.url + "/v1/detect", method="OPTIONS",
                                   headers={**local, "Access-Control-Request-Method": "POST"})
        assert code == 200 and headers["access-control-allow-origin"] == "http://localhost:3000"
        code, headers, _ = request(s.url + "/health", headers=local)
        assert code == 200 and headers["access-control-allow-origin"] == "http://localhost:3000"
        assert headers["access-control-expose-headers"] == "x-request-id"  # the id a 500 names, readable
        code, _, body = request(s.url + "/health?ts=1700000000")  # a monitor's cache-buster
        assert code == 200 and json.loads(body)["status"] == "ok"
        spec = json.loads(request(s.url + "/openapi.json")[2])
        ids = [op["operationId"] for route in spec["paths"].values() for op in route.values()]
        assert len(ids) == len(set(ids))
        s.proc.terminate()
        assert s.proc.wait(30) == 0
        assert not any("UserWarning" in line or "interrupted" in line for line in s.stderr), s.stderr
    finally:
        s.stop()


def frames(video, n):
    cap = cv2.VideoCapture(str(video))
    out = []
    while len(out) < n:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(cv2.imencode(".jpg", frame)[1].tobytes())
    cap.release()
    return out


def test_stream_keeps_one_id_per_face(media, server):
    clip = frames(media / "test.mp4", 15)
    with connect(server.url.replace("http", "ws") + "/v1/stream", open_timeout=10) as ws:
        replies = []
        for jpeg in clip:  # one in flight, as the page sends
            ws.send(jpeg)
            replies.append(json.loads(ws.recv(timeout=30)))
        assert [r["frame"] for r in replies] == list(range(15))
        ids = {f["face_id"] for r in replies for f in r["faces"]}
        assert ids == {1}, ids
        # shown from its second detection on (the bound leaves room for Haar, which misses frames 5-8)
        assert not replies[0]["faces"] and sum(len(r["faces"]) for r in replies) >= 9
        face = next(f for r in replies for f in r["faces"])
        assert set(face) == {"face_id", "box", "confidence", "emotions", "dominant_emotion"}
        assert (replies[0]["width"], replies[0]["height"]) == (596, 336)

        ws.send(b"not a jpeg")  # a bad frame is answered, and the stream goes on
        assert json.loads(ws.recv(timeout=30))["error"].startswith("frame: not an image")  # a frame, not a request
        ws.send("hello")
        assert "binary" in json.loads(ws.recv(timeout=30))["error"]
        ws.send(b"")
        empty = json.loads(ws.recv(timeout=30))
        assert "an empty frame" in empty["error"] and empty["frame"] == 16
        ws.send(clip[0])  # 15 frames back: a jump, the same face
        assert [f["face_id"] for f in json.loads(ws.recv(timeout=30))["faces"]] == [1]
        # a frame of another size is another source: its face is not the clip's, and gets a new id
        # (shown from its second detection on)
        other = (media / "biden.jpg").read_bytes()
        for _ in range(2):
            ws.send(other)
            reply = json.loads(ws.recv(timeout=30))
        assert [f["face_id"] for f in reply["faces"]] == [2], reply


def test_stream_searches_frames_as_the_video_command_does(media, server):
    from facemotion import EmotionRecognizer

    clip = frames(media / "test.mp4", 4)
    video = EmotionRecognizer().for_video()  # 400 px, as `facemotion video` and `webcam` search frames
    with connect(server.url.replace("http", "ws") + "/v1/stream", open_timeout=10) as ws:
        for i, jpeg in enumerate(clip):
            ws.send(jpeg)
            reply = json.loads(ws.recv(timeout=30))
            if i:  # shown from its second detection on
                found = video.stages.detect(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))
                assert [f["box"] for f in reply["faces"]] == [[int(v) for v in b] for b, _ in found]


def test_stream_newest_frame_wins(media, server):
    clip = frames(media / "test.mp4", 10)
    with connect(server.url.replace("http", "ws") + "/v1/stream", open_timeout=10) as ws:
        for jpeg in clip:  # faster than the server can go
            ws.send(jpeg)
        replies = [json.loads(ws.recv(timeout=30))]
        while replies[-1]["frame"] != 9:
            replies.append(json.loads(ws.recv(timeout=30)))
        seen = [r["frame"] for r in replies]
        assert seen == sorted(seen) and len(seen) < 10, seen  # frames that waited were replaced, not queued


def test_stream_from_a_foreign_page_is_refused(server):
    with pytest.raises(InvalidStatus) as e:
        connect(server.url.replace("http", "ws") + "/v1/stream", origin="http://evil.example", open_timeout=10)
    assert e.value.response.status_code == 403


def test_serve_command_errors_are_one_line():
    import socket
    import subprocess
    import sys

    def serve(*args, code=1):
        p = subprocess.run([sys.executable, "-m", "facemotion", "serve", *args], capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == code and "Traceback" not in p.stderr, p.stderr
        return p.stderr.strip()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert "cannot listen there" in serve("--port", str(s.getsockname()[1]))
    assert "--allow-origin 'example.com'" in serve("--allow-origin", "example.com", code=2)
    assert "error: --max-body: must be > 0, got 0" in serve("--max-body", "0", code=2)  # a usage error
    # without the [serve] extra, the command says how to get it
    code = ("import sys\nclass B:\n def find_spec(self, n, p=None, t=None):\n"
            "  if n.split('.')[0] == 'fastapi': raise ImportError(n, name=n)\n"
            "sys.meta_path.insert(0, B())\nfrom facemotion.cli import main\nsys.exit(main(['serve']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "pip install 'facemotion[serve]'" in p.stderr, p.stderr
