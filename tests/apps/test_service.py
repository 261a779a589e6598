"""The HTTP server, over loopback only."""

import json
import threading
import urllib.error
import urllib.request

import pytest

from facemotion import EmotionRecognizer
from facemotion.service import serve


@pytest.fixture(scope="module")
def base_url():
    httpd = serve(EmotionRecognizer(), "127.0.0.1", 0)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _post(url, data, ctype="application/octet-stream"):
    req = urllib.request.Request(url, data=data, headers={"Content-Type": ctype}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()


def test_detect_and_annotate(media, base_url):
    code, ctype, body = _post(base_url + "/detect", (media / "two_people.jpg").read_bytes())
    assert code == 200
    faces = json.loads(body)["faces"]
    assert len(faces) == 2 and all(f["dominant_emotion"] for f in faces)
    code, ctype, body = _post(base_url + "/annotate", (media / "justin.jpg").read_bytes())
    assert code == 200 and ctype == "image/jpeg" and body[:2] == b"\xff\xd8"


def test_multipart_upload(media, base_url):
    img = (media / "justin.jpg").read_bytes()
    b = b"----xyz"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="image"; filename="j.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n" + img + b"\r\n--" + b + b"--\r\n")
    code, _, out = _post(base_url + "/detect", body, "multipart/form-data; boundary=" + b.decode())
    assert code == 200 and json.loads(out)["faces"][0]["dominant_emotion"] == "happy"


def test_bad_requests(base_url):
    code, _, body = _post(base_url + "/detect", b"definitely not an image")
    assert code == 400 and "not an image" in json.loads(body)["error"]
    assert _post(base_url + "/nope", b"x")[0] == 404
    with urllib.request.urlopen(base_url + "/health") as r:
        assert json.loads(r.read())["status"] == "ok"
