"""The page in a real browser: headless Chromium (Debian's ``chromium``; scripts/install_chromium.sh)
uploads a photo and streams a fake camera fed from test.mp4, against a local server, and reads
what a keyboard, a screen reader (the accessibility tree, the live regions) and a phone get."""

from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from .conftest import chromium_path, open_page
from .test_web_export import StaticServer, site  # noqa: F401 (a fixture: the static site, for its first visit)

pytestmark = pytest.mark.skipif(chromium_path() is None,
                                reason="Chromium is not installed (bash scripts/install_chromium.sh installs it)")


def test_photo_upload_draws_every_face(browser, server, media, tmp_path):
    browser.goto(server.url + "/?engine=server")  # the server path (the page may run the models itself)
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(media / "two_people.jpg")]})
    photo = browser.wait_for("window.facemotionPage.photo")
    assert "error" not in photo, photo
    assert (photo["width"], photo["height"]) == (1126, 661) and len(photo["faces"]) == 2
    # each face's box is drawn on the canvas in its emotion's colour, and a card lists its bars
    drawn = browser.evaluate("""(() => {
        const ctx = document.getElementById('photo-canvas').getContext('2d');
        return window.facemotionPage.photo.faces.map(f => {
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
    # the header's blur box: the photo drawn again, each face's middle in blocks of one colour
    # (as --blur draws it), the numbers unchanged; unticked, the faces as they were
    colours = """window.facemotionPage.photo.faces.map(f => {
        const [x, y, w, h] = f.box, d = document.getElementById('photo-canvas').getContext('2d')
            .getImageData(x + w / 4, y + h / 4, w / 2, h / 2).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
        return seen.size;
    })"""
    sharp = browser.evaluate(colours)
    browser.evaluate("document.getElementById('blur').click()")
    blurred = browser.evaluate(colours)
    assert all(b <= 36 < s for b, s in zip(blurred, sharp)), (blurred, sharp)
    browser.screenshot(tmp_path / "photo_blurred.png")
    browser.evaluate("document.getElementById('blur').click()")
    assert browser.evaluate(colours) == sharp
    browser.goto(server.url + "/?engine=server&blur=1")  # ticked from the address
    assert browser.wait_for("document.getElementById('blur').checked === true")
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]

    # a file that is not an image: one clear line on the page
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"not an image at all")
    browser.evaluate("window.facemotionPage.photo = null")
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(bad)]})
    assert "not an image" in browser.wait_for("window.facemotionPage.photo && window.facemotionPage.photo.error")
    assert browser.evaluate("document.getElementById('photo-status').classList.contains('error')")


def test_webcam_tab_streams_live_boxes_with_one_stable_id(browser, server, tmp_path):
    open_page(browser, server.url + "/?engine=server")  # the server path (the page may run the models itself)
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').click()")
    # past the loop of the fake camera's clip (78 frames at 25 fps): the id holds across it
    browser.wait_for("window.facemotionPage.stream.replies >= 40", timeout=30)
    stream = browser.evaluate("window.facemotionPage.stream")
    assert stream["errors"] == 0
    assert stream["ids"] == [1], stream["ids"]  # one person, one id all along
    assert stream["withFaces"] >= 0.6 * stream["replies"], stream  # room for Haar (a page engine), which misses the face looking down
    # the overlay has the live box drawn, the card its emotion history
    painted = browser.wait_for("""(() => {  // at a frame with a face (one evaluation: one consistent state)
        if (!window.facemotionPage.stream.faces.length) return 0;
        const c = document.getElementById('cam-overlay'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n;
    })()""")
    assert painted > 500
    assert browser.evaluate("document.querySelectorAll('#cam-faces .face canvas.history').length") == 1
    browser.screenshot(tmp_path / "webcam.png")
    # blur: the overlay covers each face with its blocks, read from the video under it (opaque there)
    browser.evaluate("document.getElementById('blur').click()")
    covered = browser.wait_for("""(() => {
        const faces = window.facemotionPage.stream.faces;
        if (!faces.length || !document.getElementById('blur').checked) return 0;
        const [x, y, w, h] = faces[0].box, c = document.getElementById('cam-overlay');
        const d = c.getContext('2d').getImageData(x + w / 4, y + h / 4, w / 2, h / 2).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] === 255; return n / (d.length / 4);
    })()""")
    assert covered > 0.99, covered
    browser.screenshot(tmp_path / "webcam_blurred.png")
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
    photo = browser.wait_for("window.facemotionPage.photo")
    assert "error" not in photo and len(photo["faces"]) >= 25
    middles = browser.evaluate("""(() => {
        const ctx = document.getElementById('photo-canvas').getContext('2d');
        return window.facemotionPage.photo.faces.map(f => {
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


# what each page's script must see before the page's own: config.json (the page's engine) held
# back until the test lets it go, so the test acts while the page is still loading
HOLD_CONFIG = """(() => {
    let go;
    const held = new Promise((r) => { go = r; }), fetch = window.fetch;
    window.releaseConfig = go;
    window.fetch = (url, ...rest) => String(url).includes("config.json") ? held.then(() => fetch(url, ...rest))
                                                                            : fetch(url, ...rest);
})()"""


# every text the page draws on a canvas from now on, as [text, colour, canvas id], in window.drawn
RECORD_TEXT = """(() => {
    window.drawn = [];
    const fill = CanvasRenderingContext2D.prototype.fillText;
    CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
        window.drawn.push([String(text), this.fillStyle, this.canvas.id]);
        return fill.call(this, text, ...rest);
    };
})()"""


def press(browser, key: str) -> None:
    """A key pressed and let go on the focused element, as the keyboard sends it."""
    code, vk, text = {"Enter": ("Enter", 13, "\r"), " ": ("Space", 32, " "), "ArrowRight": ("ArrowRight", 39, ""),
                      "ArrowLeft": ("ArrowLeft", 37, "")}[key]
    for kind in ("keyDown", "keyUp"):
        browser.call("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": vk,
                                                **({"text": text} if text and kind == "keyDown" else {})})


def pick(browser, path) -> None:
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": "#file"})["nodeId"]
    browser.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})


def text_of(browser, id_: str) -> str:
    return browser.evaluate(f"document.getElementById('{id_}').textContent")


def test_a_photo_picked_while_the_page_loads_waits_for_its_engine(browser, site, media):  # noqa: F811
    """A static site's first visit: a photo picked before the page knows its engine is neither
    posted to a server the host has not nor lost to the page's reload (cross-origin isolation):
    the page says it is loading, and analyses the photo in this browser once the models are in."""
    browser.call("Page.enable")  # which scripts on new documents need
    script = browser.call("Page.addScriptToEvaluateOnNewDocument", {"source": HOLD_CONFIG})["identifier"]
    host = StaticServer(site)  # a new origin: no service worker yet
    try:
        browser.goto(host.url + "/")
        assert browser.evaluate("document.getElementById('cam-start').disabled") is True
        assert text_of(browser, "photo-status") == "Loading the models…"
        pick(browser, media / "justin.jpg")
        assert text_of(browser, "photo-status") == "Loading the models… justin.jpg is analysed once they are ready."
        assert text_of(browser, "say") == text_of(browser, "photo-status")  # told to screen readers too
        assert browser.evaluate("window.facemotionPage.photo") is None
        browser.evaluate("releaseConfig()")
        photo = browser.wait_for("window.facemotionPage.photo", timeout=90)
        assert "error" not in photo and len(photo["faces"]) == 1, photo
        assert re.fullmatch(r"justin\.jpg: 1 face: #1 \w+ \(\d+ ms in this browser\)", text_of(browser, "photo-status"))
        assert browser.evaluate("window.facemotionPage.engine.where") == "browser"
        assert browser.evaluate("self.crossOriginIsolated") is False  # no reload took the photo away
        assert browser.evaluate("document.getElementById('cam-start').disabled") is False
    finally:
        browser.call("Page.removeScriptToEvaluateOnNewDocument", {"identifier": script})
        browser.call("Page.disable")
        host.stop()


def test_the_same_photo_picked_again_and_a_host_without_a_server(browser, server, media, tmp_path):
    """The file input is emptied after each pick, so picking the same photo again analyses it
    again; where no facemotion server answers (the page alone on a static host, no config), the
    host's HTML error page is one line, not a JSON parser's complaint."""
    open_page(browser, server.url + "/?engine=server")
    for _ in range(2):
        browser.evaluate("window.facemotionPage.photo = null")
        pick(browser, media / "justin.jpg")
        assert len(browser.wait_for("window.facemotionPage.photo")["faces"]) == 1
        assert browser.evaluate("document.getElementById('file').value") == ""
    from facemotion.web.export import PAGE_FILES, STATIC

    page = tmp_path / "page"
    (page / "static").mkdir(parents=True)
    shutil.copy(STATIC / "index.html", page)
    for name in PAGE_FILES:
        shutil.copy(STATIC / name, page / "static")
    host = StaticServer(page)
    try:
        open_page(browser, host.url + "/")
        pick(browser, media / "justin.jpg")
        error = browser.wait_for("window.facemotionPage.photo && window.facemotionPage.photo.error")
        assert error == "no facemotion server answered here (HTTP 501)", error  # http.server: POST unsupported
        assert text_of(browser, "photo-status") == f"justin.jpg: {error}"
        assert text_of(browser, "alert") == f"justin.jpg: {error}"
    finally:
        host.stop()


def test_webcam_tells_screen_readers_what_changes_not_every_frame(browser, server):
    """The per-frame numbers are in no live region; the faces and their emotions are told in a
    polite one when they change, a few times in the run, not at each of its frames."""
    open_page(browser, server.url + "/?engine=server")
    status = "document.getElementById('cam-status')"
    assert browser.evaluate(f"{status}.getAttribute('aria-live')") == "off"
    live = "[role=status], [role=alert], [role=log], [aria-live]:not([aria-live=off])"
    assert browser.evaluate(f"{status}.closest('{live}')") is None
    browser.evaluate(f"""(() => {{
        window.told = []; window.shown = 0;
        const say = document.getElementById('say'), all = {{ childList: true, characterData: true, subtree: true }};
        new MutationObserver(() => window.told.push(say.textContent)).observe(say, all);
        new MutationObserver(() => window.shown++).observe({status}, all);
        document.getElementById('tab-webcam').click();
        document.getElementById('cam-start').click();
    }})()""")
    browser.wait_for("window.facemotionPage.stream.replies >= 1", timeout=30)
    time.sleep(6)
    told, shown, replies = browser.evaluate("[window.told, window.shown, window.facemotionPage.stream.replies]")
    browser.evaluate("document.getElementById('cam-stop').click()")
    assert replies >= 30 and shown >= replies, (replies, shown)  # the visible line follows every frame
    assert told[0] == "The camera is on.", told
    faces = [t for t in told[1:] if t]
    emotions = browser.evaluate("fetch('/health').then(r => r.json()).then(h => h.emotions)")
    assert faces and all(re.fullmatch(rf"1 face: #1 ({'|'.join(emotions)})|no face found", t) for t in faces), told
    assert len(faces) <= 4, told  # at most one every 2.5 s
    assert browser.wait_for("document.getElementById('say').textContent") == "Stopped."
    assert re.fullmatch(r"the faces in the camera's picture: (1 face: #1 \w+|no face found)",
                        browser.evaluate("document.getElementById('cam-overlay').getAttribute('aria-label')"))


def test_keyboard_focus_follows_start_and_stop(browser, server):
    """Start disables itself: the focus goes to Stop (not the page's start), and back on Stop."""
    open_page(browser, server.url + "/?engine=server")
    browser.evaluate("document.getElementById('tab-webcam').click(); document.getElementById('cam-start').focus()")
    press(browser, "Enter")
    assert browser.wait_for("document.getElementById('cam-stop').disabled === false")
    assert browser.evaluate("document.activeElement.id") == "cam-stop"
    press(browser, "Enter")
    assert browser.wait_for("document.getElementById('cam-start').disabled === false")
    assert browser.evaluate("document.activeElement.id") == "cam-start"


def ax_node(browser, selector: str) -> dict:
    """The accessibility tree's node of an element: what a screen reader is given."""
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    return browser.call("Accessibility.getPartialAXTree", {"nodeId": node, "fetchRelatives": False})["nodes"][0]


def test_a_photos_faces_are_told_in_words_and_numbered_on_it(browser, server, media):
    """The status and the picture's label name each face's emotion, by the number its label on
    the picture and its card's place give it; the webcam's picture and canvases have names."""
    open_page(browser, server.url + "/?engine=server")
    browser.evaluate(RECORD_TEXT)
    pick(browser, media / "two_people.jpg")
    photo = browser.wait_for("window.facemotionPage.photo")
    said = "2 faces: " + ", ".join(f"#{i + 1} {f['dominant_emotion']}" for i, f in enumerate(photo["faces"]))
    assert re.fullmatch(rf"two_people\.jpg: {said} \(\d+ ms\)", text_of(browser, "photo-status"))
    assert text_of(browser, "say") == text_of(browser, "photo-status")
    canvas = ax_node(browser, "#photo-canvas")
    assert canvas["role"]["value"] == "image" and canvas["name"]["value"] == f"two_people.jpg, {said}", canvas
    labels = [t for t in browser.evaluate("window.drawn") if t[2] == "photo-canvas" and t[0].startswith("#")]
    assert [t[0].rsplit(" ", 1)[0] for t in labels] == [f"#{i + 1} {f['dominant_emotion']}"
                                                       for i, f in enumerate(photo["faces"])], labels
    cards = browser.evaluate("[...document.querySelectorAll('#photo-faces .face h2')].map(h => h.textContent)")
    assert [c.split(":")[1].split()[0] for c in cards] == [f["dominant_emotion"] for f in photo["faces"]]
    browser.evaluate("document.getElementById('tab-webcam').click()")
    # (Chromium names a video without a picture "Unable to play media.", the label once it plays)
    assert browser.evaluate("document.getElementById('cam-video').getAttribute('aria-label')") == "the camera's picture"
    overlay = ax_node(browser, "#cam-overlay")
    assert overlay["role"]["value"] == "image" and overlay["name"]["value"].startswith("the faces in the camera's picture")


def test_drop_zone_tabs_headings_and_errors_for_keyboard_and_screen_readers(browser, server, media, tmp_path):
    """The drop zone is a named button that Space and Enter open; the tabs follow WAI-ARIA's tabs
    pattern; the headings skip no level; a failure is told at once, in the page's words."""
    open_page(browser, server.url + "/?engine=server")
    drop = ax_node(browser, "#drop")
    assert drop["role"]["value"] == "button" and drop["name"]["value"] == "Drop a photo here or click to choose one."
    # Space (and Enter) opens the file dialog, and Space does not scroll the page
    browser.call("Page.setInterceptFileChooserDialog", {"enabled": True})
    try:
        browser.evaluate("""document.body.style.minHeight = '4000px'; window.scrollTo(0, 0); window.chooser = 0;
                            document.getElementById('file').addEventListener('click', () => window.chooser++);
                            document.getElementById('drop').focus()""")
        press(browser, " ")
        press(browser, "Enter")
        assert browser.evaluate("[window.chooser, window.scrollY]") == [2, 0]
    finally:
        browser.call("Page.setInterceptFileChooserDialog", {"enabled": False})
    # the tabs: each controls its panel, which it names; the arrow keys move between them
    for tab, panel in (("tab-photo", "photo"), ("tab-webcam", "webcam")):
        assert browser.evaluate(f"document.getElementById('{tab}').getAttribute('aria-controls')") == panel
        assert browser.evaluate(f"""(p => [p.getAttribute('role'), p.getAttribute('aria-labelledby')])(
                                        document.getElementById('{panel}'))""") == ["tabpanel", tab]
    tabs = "[...document.querySelectorAll('[role=tab]')].map(t => [t.id, t.getAttribute('aria-selected'), t.tabIndex])"
    assert browser.evaluate(tabs) == [["tab-photo", "true", 0], ["tab-webcam", "false", -1]]
    browser.evaluate("document.getElementById('tab-photo').focus()")
    press(browser, "ArrowRight")
    assert browser.evaluate(tabs) == [["tab-photo", "false", -1], ["tab-webcam", "true", 0]]
    assert browser.evaluate("[document.activeElement.id, document.getElementById('webcam').hidden]") == ["tab-webcam", False]
    press(browser, "ArrowLeft")
    assert browser.evaluate("[document.activeElement.id, document.getElementById('photo').hidden]") == ["tab-photo", False]
    # headings go down one level at a time: h1, then the faces' cards
    pick(browser, media / "two_people.jpg")
    browser.wait_for("window.facemotionPage.photo")
    levels = browser.evaluate("[...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1])")
    assert levels[0] == 1 and all(b <= a + 1 for a, b in zip(levels, levels[1:])) and len(levels) == 3, levels
    # a failure is told at once (role=alert), in the page's words, not the server's ("request body")
    bad = tmp_path / "notimage.jpg"
    bad.write_bytes(b"not an image at all")
    browser.evaluate("window.facemotionPage.photo = null")
    pick(browser, bad)
    error = browser.wait_for("window.facemotionPage.photo && window.facemotionPage.photo.error")
    assert error.startswith("not an image file"), error
    assert text_of(browser, "photo-status") == text_of(browser, "alert") == f"notimage.jpg: {error}"
    assert text_of(browser, "say") == ""
    assert ax_node(browser, "#alert")["role"]["value"] == "alert"


def test_no_sideways_scrolling_on_a_phone(browser, server):
    """At 360 and 320 px the header wraps and neither tab is wider than the screen."""
    try:
        for width in (360, 320):
            browser.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": 640, "deviceScaleFactor": 1,
                                                                "mobile": False})
            open_page(browser, server.url + "/")  # the in-browser engine: the header's longest line
            for tab in ("photo", "webcam"):
                browser.evaluate(f"document.getElementById('tab-{tab}').click()")
                assert browser.evaluate("document.documentElement.scrollWidth") <= width, (width, tab)
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride")


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two #rrggbb colours."""
    def luminance(c):
        rgb = [int(c[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in rgb]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_label_text_is_readable_on_every_emotions_colour(browser, server, media):
    """A face's label on the picture is black or white, whichever reaches WCAG's 4.5:1 on its
    emotion's colour (black on contempt's, angry's or sad's did not)."""
    open_page(browser, server.url + "/?engine=server")
    colors = browser.evaluate("fetch('/health').then(r => r.json()).then(h => h.colors)")
    text = browser.evaluate(f"Object.values({json.dumps(colors)}).map(c => facemotion.textOn(c))")
    for c, t in zip(colors.values(), text):
        assert contrast(c, {"#000": "#000000", "#fff": "#ffffff"}[t]) >= 4.5, (c, t)
    # as drawn: each face's label on a photo reaches 4.5:1 on its emotion's colour
    browser.evaluate(RECORD_TEXT)
    pick(browser, media / "obama_and_biden.jpg")
    photo = browser.wait_for("window.facemotionPage.photo")
    labels = [t for t in browser.evaluate("window.drawn") if t[0].startswith("#")]
    assert len(labels) == len(photo["faces"]) >= 2
    for (_, style, _), f in zip(labels, photo["faces"]):
        assert contrast(colors[f["dominant_emotion"]], style) >= 4.5, (f["dominant_emotion"], style)
