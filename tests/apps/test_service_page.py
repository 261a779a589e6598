"""The page in a real browser: headless Chromium (Debian's ``chromium``; scripts/install_chromium.sh)
uploads a photo and streams a fake camera fed from test.mp4, against a local server."""

from __future__ import annotations

import pytest

from .conftest import chromium_path

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Chromium is not installed (bash scripts/install_chromium.sh installs it)")


def test_photo_upload_draws_every_face(browser, server, media, tmp_path):
    browser.goto(server.url + "/?engine=server")  # the server path (the page may run the models itself)
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(media / "two_people.jpg")]})
    photo = browser.wait_for("window.facemotion.photo")
    assert "error" not in photo, photo
    assert (photo["width"], photo["height"]) == (1126, 661) and len(photo["faces"]) == 2
    # each face's box is drawn on the canvas in its emotion's colour, and a card lists its bars
    drawn = browser.evaluate("""(() => {
        const ctx = document.getElementById('photo-canvas').getContext('2d');
        return window.facemotion.photo.faces.map(f => {
            const [x, y, w, h] = f.box;
            return Array.from(ctx.getImageData(x, y + Math.round(h / 2), 1, 1).data.slice(0, 3));
        });
    })()""")
    colors = browser.evaluate("fetch('/health').then(r => r.json()).then(h => h.colors)")
    for face, rgb in zip(photo["faces"], drawn):
        expected = colors[face["dominant_emotion"]]
        assert rgb == [int(expected[i:i + 2], 16) for i in (1, 3, 5)], (face["dominant_emotion"], rgb)
    assert browser.evaluate("document.querySelectorAll('#photo-faces .face').length") == 2
    emotions = browser.evaluate("fetch('/health').then(r => r.json()).then(h => h.emotions)")
    assert browser.evaluate("document.querySelectorAll('#photo-faces .face .bar').length") == 2 * len(emotions)
    assert "2 faces" in browser.evaluate("document.getElementById('photo-status').textContent")
    # the page says where a photo goes: here, the server (not "nothing leaves this computer")
    where = browser.evaluate("document.getElementById('photo-where').textContent")
    assert where == f"the photo goes to the facemotion server at {server.url.split('//')[1].rstrip('/')}, which keeps nothing"
    browser.screenshot(tmp_path / "photo.png")

    # a file that is not an image: one clear line on the page
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not an image at all")
    browser.evaluate("window.facemotion.photo = null")
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(bad)]})
    assert "not an image" in browser.wait_for("window.facemotion.photo && window.facemotion.photo.error")
    assert browser.evaluate("document.getElementById('photo-status').classList.contains('error')")


def test_webcam_tab_streams_live_boxes_with_one_stable_id(browser, server, tmp_path):
    browser.goto(server.url + "/?engine=server")  # the server path (the page may run the models itself)
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').click()")
    # past the loop of the fake camera's clip (78 frames at 25 fps): the id holds across it
    browser.wait_for("window.facemotion.stream.replies >= 40", timeout=30)
    stream = browser.evaluate("window.facemotion.stream")
    assert stream["errors"] == 0
    assert stream["ids"] == [1], stream["ids"]  # one person, one id all along
    assert stream["withFaces"] >= 0.6 * stream["replies"], stream  # room for Haar (a page engine), which misses the face looking down
    # the overlay has the live box drawn, the card its emotion history
    painted = browser.wait_for("""(() => {  // at a frame with a face (one evaluation: one consistent state)
        if (!window.facemotion.stream.faces.length) return 0;
        const c = document.getElementById('cam-overlay'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n;
    })()""")
    assert painted > 500
    assert browser.evaluate("document.querySelectorAll('#cam-faces .face canvas.history').length") == 1
    browser.screenshot(tmp_path / "webcam.png")
    browser.evaluate("document.getElementById('cam-stop').click()")
    assert browser.wait_for("document.getElementById('cam-start').disabled === false")


def test_annotated_videos_play_in_the_browser(browser, tmp_path):
    """What process_video writes (H.264) plays in a <video>; the old mp4v did not."""
    import numpy as np

    from facemotion.writers.video import OpenCVWriter, SafeVideoWriter

    for name, codecs in (("h264.mp4", None), ("mp4v.mp4", (OpenCVWriter,))):
        w = SafeVideoWriter(tmp_path / name, 25, (320, 240), **({"codecs": codecs} if codecs else {}))
        for v in range(0, 250, 10):
            w.write(np.full((240, 320, 3), v, np.uint8))
        w.close()
    (tmp_path / "v.html").write_text('<video id="h" src="h264.mp4" muted></video>'
                                     '<video id="m" src="mp4v.mp4" muted></video>')
    browser.call("Page.navigate", {"url": (tmp_path / "v.html").as_uri()})
    state = """(id => { const v = document.getElementById(id);
                 return v && (v.error ? 'error ' + v.error.code : v.readyState >= 2 ? v.videoWidth : null); })"""
    assert browser.wait_for(f"{state}('h')") == 320
    assert browser.wait_for(f"{state}('m')") == "error 4"  # MEDIA_ERR_SRC_NOT_SUPPORTED


def test_a_group_photo_keeps_its_faces_clear_of_bar_panels(browser, server, tmp_path):
    """Thirty faces in a grid: the page draws a panel only where it covers no face (the cards
    below have every number), so the middle of every face is as bright as the photo's."""
    import cv2
    import numpy as np

    import facemotion

    tile = cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (200, 200))
    group = tmp_path / "group.png"  # lossless: the page's pixels are the file's
    pixels = np.vstack([np.hstack([tile] * 6)] * 5)
    cv2.imwrite(str(group), pixels)
    browser.goto(server.url + "/?engine=server")
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(group)]})
    photo = browser.wait_for("window.facemotion.photo")
    assert "error" not in photo and len(photo["faces"]) >= 25
    middles = browser.evaluate("""(() => {
        const ctx = document.getElementById('photo-canvas').getContext('2d');
        return window.facemotion.photo.faces.map(f => {
            const [x, y, w, h] = f.box, d = ctx.getImageData(x + w / 3, y + h / 3, w / 3, h / 3).data;
            let sum = 0;
            for (let i = 0; i < d.length; i += 4) sum += (d[i] + d[i + 1] + d[i + 2]) / 3;
            return sum / (d.length / 4);
        });
    })()""")
    gray = pixels.mean(axis=2)
    for f, shown in zip(photo["faces"], middles):  # a panel darkens what it covers to 38%
        x, y, w, h = f["box"]
        assert shown > 0.9 * gray[y + h // 3:y + 2 * h // 3, x + w // 3:x + 2 * w // 3].mean(), (f["box"], shown)
