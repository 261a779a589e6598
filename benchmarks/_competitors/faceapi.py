"""face-api.js as its users run it: in a browser, ``faceapi.detectAllFaces(img).withFaceExpressions()``
with its default detector (SSD MobileNet v1) and its expression network, on TensorFlow.js's
WebAssembly backend, in headless Chromium on 127.0.0.1 (the browser tests' driver,
``tests/apps/conftest.py``). The maintained build is ``@vladmandic/face-api`` (MIT; the original
``face-api.js`` package ships no weights and was last released in 2020): the same networks and API.

Its files come from the npm registry, pinned and checked as the page's own are
(:mod:`facemotion.web.assets`: ``FACEMOTION_NPM_REGISTRY`` may name a folder of the two
tarballs, which ``npm pack @vladmandic/face-api@1.7.15 @tensorflow/tfjs-backend-wasm@4.22.0``
writes), and kept in the same cache. Each photo is served to the page from where it lies and
decoded by the browser as an ``<img>`` (EXIF orientation applied, as facemotion applies it).
A 48 px face given whole (FER+ PrivateTest) goes to the expression network alone, as fer is
given the whole picture as its box.
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from pathlib import Path

from facemotion.web.assets import NpmPackage, fetch, path_of

from web_fps import _test_helpers

FACEAPI = NpmPackage(
    "@vladmandic/face-api", "1.7.15",
    "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==", "MIT",
    {
        "package/dist/face-api.esm.js": "14f0e9813f6d9f14a9cdafb6543a74835ebb13085090e2942310a7a737f55d9a",
        "package/model/ssd_mobilenetv1_model.bin": "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8",
        "package/model/ssd_mobilenetv1_model-weights_manifest.json":
            "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955",
        "package/model/face_expression_model.bin": "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d",
        "package/model/face_expression_model-weights_manifest.json":
            "5b349c17c7836da506e03422cd6461c74085d8bb2713ad4114647dc5d28174c8",
    })
# the WebAssembly backend's binaries, of the TensorFlow.js version face-api.esm.js bundles
TFJS_WASM = NpmPackage(
    "@tensorflow/tfjs-backend-wasm", "4.22.0",
    "sha512-/IYhReRIp4jg/wYW0OwbbJZG8ON87mbz0PgkiP3CdcACRSvUN0h8rvC0O3YcDtkTQtFWF/tcXq/KlVDyV49wmA==", "Apache-2.0",
    {
        "package/dist/tfjs-backend-wasm.wasm": "70a5d516060464e5269f01c74bac1772d6b8ab6cb612acf16b5cdaf61f78d892",
        "package/dist/tfjs-backend-wasm-simd.wasm": "77ebb28a6d34f371dbbf2086b7f2de8994acd8ea5a3cf1fa24d2c26c840cac7b",
        "package/dist/tfjs-backend-wasm-threaded-simd.wasm":
            "c052228d4bef185c27bbe59a9e029570c78bbb9f08b3cb46b597851650373de2",
    })
VERSION = f"face-api.js ({FACEAPI.name} {FACEAPI.version}, TensorFlow.js {TFJS_WASM.version} WebAssembly)"

# face-api.js's expression names -> FER2013's
NAMES = {"angry": "angry", "disgusted": "disgust", "fearful": "fear", "happy": "happy", "sad": "sad",
         "surprised": "surprise", "neutral": "neutral"}

PAGE = """<!doctype html><meta charset="utf-8"><title>face-api.js</title>
<script type="module">
import * as faceapi from './face-api.esm.js';
faceapi.tf.setWasmPaths(new URL('./', location.href).href);
await faceapi.tf.setBackend('wasm');
await faceapi.tf.ready();
await faceapi.nets.ssdMobilenetv1.loadFromUri('model');
await faceapi.nets.faceExpressionNet.loadFromUri('model');
// a photo's faces as its users get them (whole: the picture is the face, the expression network alone)
window.readPhoto = async (url, whole) => {
  const img = new Image();
  img.src = url;
  await img.decode();
  if (whole) {
    const e = await faceapi.nets.faceExpressionNet.predictExpressions(img);
    return [{ box: [0, 0, img.naturalWidth, img.naturalHeight], expressions: { ...e } }];
  }
  const found = await faceapi.detectAllFaces(img).withFaceExpressions();
  return found.map((f) => ({ box: [f.detection.box.x, f.detection.box.y, f.detection.box.width,
                                   f.detection.box.height], expressions: { ...f.expressions } }));
};
window.faceapiBackend = faceapi.tf.getBackend();
</script>
"""


class _Site(http.server.BaseHTTPRequestHandler):
    """The page, face-api.js's files (from the cache) and the photos (``/photo/N``: the N-th
    path handed to :meth:`FaceApi.faces`)."""

    def __init__(self, *args, files: dict, photos: dict, **kw):
        self.files, self.photos = files, photos
        super().__init__(*args, **kw)

    def do_GET(self):  # noqa: N802 - http.server's name
        name = self.path.split("?")[0].lstrip("/")
        kinds = {".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
                 ".html": "text/html"}
        if name in ("", "index.html"):
            body, kind = PAGE.encode(), "text/html"
        elif name.startswith("photo/") and name[6:] in self.photos:
            body, kind = Path(self.photos[name[6:]]).read_bytes(), "application/octet-stream"
        elif name in self.files:
            body, kind = self.files[name].read_bytes(), kinds.get(Path(name).suffix, "application/octet-stream")
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FaceApi:
    """face-api.js on a page of its own in headless Chromium; :meth:`faces` reads one photo."""

    def __init__(self):
        conf = _test_helpers()
        if conf.chromium_path() is None:
            raise RuntimeError("Chromium is not installed (bash scripts/install_chromium.sh installs it)")
        fetch(quiet=True, packages=(FACEAPI, TFJS_WASM))
        files = {Path(m).name if m.startswith("package/dist/") else m.removeprefix("package/"): path_of(pkg, m)
                 for pkg in (FACEAPI, TFJS_WASM) for m in pkg.files}
        self.photos: dict[str, str] = {}
        self.asked = 0
        handler = functools.partial(_Site, files=files, photos=self.photos)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.tmp = tempfile.TemporaryDirectory(prefix="facemotion-faceapi-")
        self.browser = conf.Chromium(profile=str(Path(self.tmp.name) / "profile"))
        try:
            self.browser.call("Page.navigate", {"url": f"http://127.0.0.1:{self.server.server_address[1]}/"})
            deadline = time.monotonic() + 120
            while not self.browser.evaluate("window.faceapiBackend || ''"):
                if time.monotonic() > deadline:
                    raise RuntimeError("face-api.js's page did not load its models in 120 s")
                time.sleep(0.2)
        except BaseException:
            self.close()
            raise

    def faces(self, path: str, whole: bool = False) -> list[dict]:
        """The faces face-api.js finds in the photo at ``path``: ``{"box", "emotions"}`` each,
        the emotions under FER2013's names."""
        self.asked += 1
        key = str(self.asked)  # a new address each photo: the browser keeps what it has fetched
        self.photos[key] = path
        try:
            found = self.browser.evaluate(f"readPhoto('photo/{key}', {'true' if whole else 'false'})")
        except RuntimeError as e:
            raise SystemExit(f"error: face-api.js could not read {path}: {str(e)[:300]}") from None
        finally:
            del self.photos[key]
        return [{"box": f["box"], "emotions": {NAMES[k]: float(v) for k, v in f["expressions"].items()}}
                for f in found]

    def close(self) -> None:
        try:
            if getattr(self, "browser", None) is not None:
                self.browser.close()
        finally:
            self.server.shutdown()
            self.server.server_close()
            self.tmp.cleanup()
