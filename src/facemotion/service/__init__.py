"""``facemotion serve``: a thin HTTP server over the public API (standard library only).

    POST /detect        body = image bytes (any format), or multipart form field "image"
                        -> {"faces": [...detect_emotions results...], "width": W, "height": H}
    POST /annotate      same input -> annotated JPEG
    GET  /health        -> {"status": "ok", "model": ..., "detector": ...}
    GET  /              -> a small upload page

Bad images get HTTP 400 with {"error": "..."}; the server never prints a traceback for them.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import FacemotionError
from ..images import load_image

MAX_BODY = 32 * 1024 * 1024

PAGE = b"""<!doctype html><meta charset="utf-8"><title>facemotion</title>
<h1>facemotion</h1><p>Choose a photo; every face and its emotions come back as JSON.</p>
<form id=f><input type=file name=image accept="image/*"> <button>Analyse</button></form><pre id=o></pre>
<script>f.onsubmit=async e=>{e.preventDefault();const r=await fetch('/detect',{method:'POST',body:f.image.files[0]});
o.textContent=JSON.stringify(await r.json(),null,2)}</script>"""


def _image_bytes(body: bytes, content_type: str) -> bytes:
    if content_type.startswith("multipart/form-data"):
        from email.parser import BytesParser
        from email.policy import default

        msg = BytesParser(policy=default).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "image":
                return part.get_payload(decode=True) or b""
        raise FacemotionError("multipart body has no 'image' field")
    return body


def make_handler(recognizer):
    lock = threading.Lock()  # OpenCV's cascade is not guaranteed thread-safe; inference is fast anyway

    class Handler(BaseHTTPRequestHandler):
        server_version = "facemotion"

        def _send(self, code: int, body: bytes, ctype: str = "application/json"):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj):
            self._send(code, json.dumps(obj).encode())

        def log_message(self, fmt, *args):  # one line per request, no noise
            pass

        def do_GET(self):
            if self.path == "/health":
                self._json(200, {"status": "ok", "model": recognizer.classifier.name,
                                 "detector": recognizer.detector.name})
            elif self.path in ("/", "/index.html"):
                self._send(200, PAGE, "text/html; charset=utf-8")
            else:
                self._json(404, {"error": f"no such endpoint {self.path}"})

        def do_POST(self):
            if self.path not in ("/detect", "/annotate"):
                return self._json(404, {"error": f"no such endpoint {self.path}"})
            n = int(self.headers.get("Content-Length") or 0)
            if n <= 0:
                return self._json(400, {"error": "empty request body: send image bytes"})
            if n > MAX_BODY:
                return self._json(413, {"error": f"image larger than {MAX_BODY // 2**20} MiB"})
            body = self.rfile.read(n)
            try:
                image = load_image(_image_bytes(body, self.headers.get("Content-Type", "")))
                with lock:
                    faces = recognizer.analyze(image)
            except FacemotionError as e:
                return self._json(400, {"error": str(e).replace(f"<{len(body)} bytes>", "request body")})
            if self.path == "/detect":
                return self._json(200, {"width": image.shape[1], "height": image.shape[0], "faces": faces})
            import cv2

            from ..render import draw

            ok, buf = cv2.imencode(".jpg", draw(image, faces))
            self._send(200, buf.tobytes(), "image/jpeg")

    return Handler


def serve(recognizer, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(recognizer))
