"""The face mesh in the page (docs/mesh.md, "In the browser"): the in-browser engine (static/mesh.js)
reads each face's 468 landmarks, pose and measures as ``EmotionRecognizer(mesh=True)`` does, on the
shared photos; the export carries the mesh's files and the Python side's settings; ``facemotion
serve --mesh``'s page reads the mesh in the browser and draws the points the API returns."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest

import facemotion
from facemotion.detect import DEFAULT_DETECTOR
from facemotion.service.routes import STATIC

from . import test_web_export as web
from .conftest import ServerProcess, open_page, request
from .test_web_export import analyse_in_page, needs_chromium

site, host = web.site, web.host  # the export and its static host, fixtures of this module too

SELFTEST = "window.facemotionPage && window.facemotionPage.selftest"
# browser vs Python on the shared photos' faces (11 get a mesh). Both run the same ONNX file on the
# same crops (the same warpAffine call in opencv.js and opencv-python): unrounded they differ by ONNX
# Runtime's float rounding alone (WebAssembly vs native kernels), measured 0.004 px median and 0.05 px
# at most on the points, 0.01 degrees on the pose, 3e-4 on the measures, < 1e-7 on the presence.
# The records are rounded (0.1 px, 0.1 degree, 0.001), so what the test sees is a last digit flipped
# now and then: measured median 0 px, largest 0.14 px (x and y each 0.1 apart), pose 0, measures
# 0.001, presence 0. Each bound sits just above one flipped digit.
POINT_MEDIAN_PX, POINT_MAX_PX = 0.05, 0.2
POSE_DEGREES, MEASURE_TOL, PRESENCE_TOL = 0.15, 0.002, 0.002


def python_mesh():
    from facemotion import EmotionRecognizer

    return EmotionRecognizer(detector=DEFAULT_DETECTOR, mesh=True)


def mesh_differences(page_faces, py_faces) -> dict:
    """The largest and median differences of each mesh field between two lists of the same faces."""
    points, pose, measures, presence = [], [], [], []
    for a, b in zip(page_faces, py_faces):
        assert (a["landmarks"] is None) == (b["landmarks"] is None), (a["box"], b["box"])
        if b["landmarks"] is None:  # no mesh (too small or cut), one under the presence threshold or off the eyes
            assert a["pose"] is a["measures"] is None
            assert (a["mesh_presence"] is None) == (b["mesh_presence"] is None), (a["box"], b["box"])
            continue
        d = np.asarray(a["landmarks"]) - np.asarray(b["landmarks"])
        points += list(np.hypot(d[:, 0], d[:, 1]))
        pose += [abs(a["pose"][k] - b["pose"][k]) for k in b["pose"]]
        assert list(a["measures"]) == list(b["measures"])
        # a measure reading points beyond the picture is null on both sides (obama_partial_face's)
        assert [k for k, v in a["measures"].items() if v is None] == [k for k, v in b["measures"].items() if v is None]
        measures += [abs(a["measures"][k] - b["measures"][k]) for k in b["measures"] if b["measures"][k] is not None]
        presence.append(abs(a["mesh_presence"] - b["mesh_presence"]))
    return {"faces": len(presence), "point_median": float(np.median(points)), "point_max": float(np.max(points)),
            "pose_max": max(pose), "measure_max": max(measures), "presence_max": max(presence)}


def pixel(browser, x, y) -> list[int]:
    return browser.evaluate(f"""Array.from(document.getElementById('photo-canvas').getContext('2d')
                                .getImageData({round(x)}, {round(y)}, 1, 1).data.slice(0, 3))""")


@needs_chromium
def test_browser_mesh_is_pythons_on_the_shared_photos(browser, host, site, media):
    from facemotion.images import load_image
    from facemotion.web.export import colors, mesh_paths, mesh_settings, page_config

    # the export: the mesh's files as the package has them, and its settings read from facemotion.mesh
    config = json.loads((site / "web" / "config.json").read_text())
    assert config["mesh"] == json.loads(json.dumps(mesh_settings(on=False)))  # off unless asked (?mesh=1)
    assert page_config([], static=True, mesh=True)["mesh"]["on"] is True  # web-export --mesh
    for rel, path in mesh_paths().items():
        assert (site / "web" / rel).read_bytes() == path.read_bytes()
        assert config["files"][f"web/{rel}"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"web/{rel}" not in (site / "sw.js").read_text()  # fetched (and kept) where it is used
    assert "static/mesh.js" in config["files"] and "MediaPipe" in (site / "THIRD_PARTY.md").read_text()

    # ?mesh=1: the sample's face gets its mesh, drawn under its box, and its pose on its card
    result = open_page(browser, host.url + "/?selftest&mesh=1", SELFTEST)
    assert result["ok"] and result["engine"]["mesh"] is True, result
    face, = result["faces"]
    assert len(face["landmarks"]) == 468 and face["mesh_presence"] > 0.9
    nose = face["landmarks"][1]  # the nose tip: inside the box, under no label or panel
    hexa = colors()[face["dominant_emotion"]]
    assert pixel(browser, *nose[:2]) == [int(hexa[i:i + 2], 16) for i in (1, 3, 5)]
    assert "yaw" in browser.evaluate("document.querySelector('#photo-faces .face p.mesh').textContent")
    # a card whose mouth measures lie beyond the picture says so (null printed as a number threw)
    cut_face = {**face, "measures": {**face["measures"], "smile": None, "mouth_open": None}}
    assert browser.evaluate(f"meshLine({json.dumps(cut_face)})").endswith("smile cut off · mouth open cut off")
    assert browser.evaluate("!document.getElementById('mesh-pick').hidden && document.getElementById('mesh').checked")

    # every shared photo through the page's engine and through Python, decoded whole (the same pixels),
    # and a face cut just above its eyes, whose mesh slides down the face (its eyes off the detector's:
    # not given, by both)
    import cv2

    photos = sorted(media.glob("*.jpg"))
    cut = cv2.imencode(".png", load_image(str(media / "obama.jpg"))[200:])[1].tobytes()
    page = analyse_in_page(browser, [p.read_bytes() for p in photos] + [cut], whole=False)
    rec = python_mesh()
    page_faces, py_faces = [], []
    for photo, result in zip([*photos, cut], page):
        same = rec.analyze(load_image(str(photo)) if isinstance(photo, type(media)) else photo).faces
        assert [tuple(f["box"]) for f in result["faces"]] == [tuple(f["box"]) for f in same], photo
        page_faces += result["faces"]
        py_faces += same
    assert same[0]["mesh_presence"] > 0.5 and same[0]["pose"] is None and result["faces"][0]["pose"] is None
    diff = mesh_differences(page_faces, py_faces)
    print(f"browser vs Python mesh: {diff}")
    assert diff["faces"] >= 10, diff
    assert diff["point_median"] < POINT_MEDIAN_PX and diff["point_max"] < POINT_MAX_PX, diff
    assert diff["pose_max"] < POSE_DEGREES and diff["measure_max"] < MEASURE_TOL, diff
    assert diff["presence_max"] < PRESENCE_TOL, diff


@needs_chromium
def test_served_page_with_mesh_reads_and_draws_it(browser, site):
    """``serve --mesh``: its page runs the mesh in the browser by default (the site fixture has
    filled the browser files' cache), and on the server path draws the points the API returns."""
    server = ServerProcess("--mesh")
    try:
        status, _, body = request(server.url + "/web/config.json")
        assert status == 200 and json.loads(body)["mesh"]["on"] is True
        from facemotion.mesh import MESH_MODEL

        status, _, data = request(server.url + "/web/" + json.loads(body)["mesh"]["file"])
        assert status == 200 and data == MESH_MODEL.read_bytes()
        with open(facemotion.SAMPLE_IMAGE, "rb") as f:
            api = json.loads(request(server.url + "/v1/detect", f.read(), {"Content-Type": "image/jpeg"})[2])["faces"]
        here = open_page(browser, server.url + "/?selftest", SELFTEST)
        assert here["ok"] and here["engine"]["where"] == "browser" and here["engine"]["mesh"] is True, here
        diff = mesh_differences(here["faces"], api)
        assert diff["point_median"] < POINT_MEDIAN_PX and diff["pose_max"] < POSE_DEGREES, diff
        there = open_page(browser, server.url + "/?selftest&engine=server", SELFTEST)
        assert there["ok"] and there["engine"]["where"] == "server", there
        face, = there["faces"]
        assert face["landmarks"] == api[0]["landmarks"]
        colour = json.loads(request(server.url + "/health")[2])["colors"][face["dominant_emotion"]]
        assert pixel(browser, *face["landmarks"][1][:2]) == [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
        assert browser.evaluate("document.getElementById('mesh-pick').hidden")  # the server decides there
    finally:
        server.stop()


NODE_FIELDS = """
const fs = require("fs"), vm = require("vm");
const context = { self: {}, TextDecoder, Math };
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), context);
const [settings, presence] = JSON.parse(process.argv[2]);
const found = presence === null ? null : { presence: Math.fround(presence), landmarks: new Float32Array(1404) };
process.stdout.write(JSON.stringify(context.self.FacemotionMesh.fields(settings, found)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's mesh.js")
@pytest.mark.parametrize("presence", [None, 0.0031, 0.49])
def test_the_pages_mesh_fields_keep_pythons_presence_rule(presence):
    """Under the presence threshold the page's records, as Python's, carry the presence alone (no
    points, pose or measures); without a mesh, nothing (Chromium is not needed to run that part)."""
    from facemotion.mesh import MeshResult
    from facemotion.results import mesh_fields
    from facemotion.web.export import mesh_settings

    settings = json.loads(json.dumps(mesh_settings(on=True)))
    r = subprocess.run(["node", "-e", NODE_FIELDS, str(STATIC / "mesh.js"), json.dumps([settings, presence])],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    mesh = None if presence is None else MeshResult(np.zeros((468, 3), np.float32), np.float32(presence),
                                                    bool(np.float32(presence) >= 0.5), {}, {})
    assert json.loads(r.stdout) == mesh_fields(mesh)


NODE_CUT = """
const fs = require("fs"), vm = require("vm");
const context = { self: {}, TextDecoder, Math };
vm.createContext(context);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), context);
const [settings, canonical, points, presence, width, height] = JSON.parse(process.argv[2]);
const mesh = { ...settings, canonical: new Float64Array(canonical.flat()) };  // as load() reads the .npy file
const found = { presence: Math.fround(presence), landmarks: new Float32Array(points.flat()) };
process.stdout.write(JSON.stringify(context.self.FacemotionMesh.fields(mesh, found, null, width, height)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's mesh.js")
def test_the_pages_measures_leave_out_points_beyond_the_picture_as_pythons_do(media):
    """A face cut below its nose (the shared obama.jpg): the page's engine gives no smile, mouth
    opening or lip press (their points lie beyond the picture), as Python's records do, and the
    same eye and brow measures."""
    import cv2

    from facemotion.mesh import FaceMesh
    from facemotion.mesh.pose import canonical
    from facemotion.results import mesh_fields
    from facemotion.web.export import mesh_settings

    img = cv2.imread(str(media / "obama.jpg"))
    x, y, w, h = python_mesh().detect_emotions(img)[0].box
    cut = img[: int(y + 0.6 * h)]
    (mesh,) = FaceMesh().run(cut, [(x, y, w, cut.shape[0] - y)])
    py = mesh_fields(mesh)
    settings = json.loads(json.dumps(mesh_settings(on=True)))
    args = [settings, canonical().tolist(), mesh.landmarks.tolist(), float(mesh.presence), cut.shape[1], cut.shape[0]]
    r = subprocess.run(["node", "-e", NODE_CUT, str(STATIC / "mesh.js"), json.dumps(args)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    page = json.loads(r.stdout)["measures"]
    assert py["measures"]["smile"] is None and py["measures"]["brow_raise"] is not None
    assert [k for k, v in page.items() if v is None] == [k for k, v in py["measures"].items() if v is None]
    assert all(abs(page[k] - v) <= MEASURE_TOL for k, v in py["measures"].items() if v is not None)
    assert all(abs(json.loads(r.stdout)["pose"][k] - v) <= POSE_DEGREES for k, v in py["pose"].items())
