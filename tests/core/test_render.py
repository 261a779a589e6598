"""Drawing: per-emotion panels must not cover each other or the faces."""

import cv2
import numpy as np

from facemotion import EmotionRecognizer, render


def test_panels_of_faces_side_by_side_do_not_overlap(media, monkeypatch):
    # two_people.jpg: two faces ~380 px apart; a panel to the right of the left face and one
    # to the left of the right face used to be drawn over each other
    image = cv2.imread(str(media / "two_people.jpg"))
    faces = EmotionRecognizer(detector="haar").detect_emotions(image)
    assert len(faces) == 2
    panels = []
    real = render._draw_bars
    monkeypatch.setattr(render, "_draw_bars", lambda *a, **k: panels.append(real(*a, **k)) or panels[-1])
    out = render.draw(image, faces)
    assert out.shape == image.shape and (out != image).any()
    boxes = [tuple(f["box"]) for f in faces]
    H, W = image.shape[:2]
    assert len(panels) == 2
    assert render._overlap(panels[0], panels[1]) == 0
    for p in panels:
        assert all(render._overlap(p, b) == 0 for b in boxes)
        x, y, w, h = p
        assert 0 <= x and x + w <= W and 0 <= y and y + h <= H


def test_panel_placement_prefers_right_then_avoids_what_is_taken():
    box = (100, 100, 50, 50)
    assert render._place_panel(80, 60, box, 1000, 800, [box]) == (156, 100)  # right of the face
    # the right side is taken: left of the face
    assert render._place_panel(80, 60, box, 1000, 800, [box, (150, 90, 200, 100)]) == (14, 100)
    # at the image's right edge it stays inside the image
    x, y = render._place_panel(80, 60, (950, 10, 40, 40), 1000, 800, [(950, 10, 40, 40)])
    assert x + 80 <= 1000 and y >= 0


def test_a_group_photo_shows_its_faces_not_panels_over_them(monkeypatch):
    """Thirty faces in a grid: a panel is drawn only where it covers no face (here none fits),
    each face keeps its box and label, and every number stays in the records."""
    import numpy as np

    import facemotion

    tile = cv2.resize(cv2.imread(facemotion.SAMPLE_IMAGE), (200, 200))
    group = np.vstack([np.hstack([tile] * 6)] * 5)
    faces = EmotionRecognizer().detect_emotions(group)
    assert len(faces) >= 25
    panels = []
    real = render._draw_bars
    monkeypatch.setattr(render, "_draw_bars", lambda *a, **k: panels.append(real(*a, **k)) or panels[-1])
    out = render.draw(group, faces)
    drawn = [p for p in panels if p is not None]
    boxes = [tuple(f["box"]) for f in faces]
    assert len(panels) == len(faces) and not any(render._overlap(p, b) for p in drawn for b in boxes)
    for x, y, w, h in boxes:  # the inside of every face as it was (its box is drawn on its edge)
        inner = (slice(y + 6, y + h - 6), slice(x + 6, x + w - 6))
        assert np.abs(out[inner].astype(int) - group[inner].astype(int)).mean() < 1


def test_a_group_photos_small_faces_keep_their_labels_clear_of_panels(monkeypatch):
    """Small faces spread out (a group photo's, as the small-face search finds them): a panel is
    drawn beside a face where room is, and covers no face and no label, whether that label is
    drawn before the panel or after it."""
    import numpy as np

    image = np.full((1500, 2000, 3), 120, np.uint8)
    faces = [{"box": (100 + 480 * c, 120 + 330 * r, 30, 30), "dominant_emotion": "happy",
              "emotions": {e: float(e == "happy") for e in ("angry", "disgust", "fear", "happy", "sad", "surprise",
                                                           "neutral")}} for r in range(4) for c in range(4)]
    panels = []
    real = render._draw_bars
    monkeypatch.setattr(render, "_draw_bars", lambda *a, **k: panels.append(real(*a, **k)) or panels[-1])
    render.draw(image, faces)
    s = render._scale(image)
    labels = [render._head(f, None, 0.55 * s * 1.2, max(1, int(round(2 * s))), 1500)[2] for f in faces]
    drawn = [p for p in panels if p is not None]
    assert len(drawn) >= 12  # most faces keep their panel
    assert not any(render._overlap(p, c) for p in drawn for c in [f["box"] for f in faces] + labels)


def test_label_text_reads_on_every_emotions_colour():
    """Black or white label text, whichever contrasts more (as the page picks): black on angry's
    red, sad's blue and contempt's brown fell under WCAG's 4.5:1."""
    from facemotion.render import COLORS, text_on

    def luminance(bgr):
        lin = [(c / 255) / 12.92 if c / 255 <= 0.04045 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in bgr[::-1]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    for emotion, colour in COLORS.items():
        a, b = sorted((luminance(colour), luminance(text_on(colour))))
        assert (b + 0.05) / (a + 0.05) >= 4.5, emotion


def test_blur_pixelates_the_faces_found_so_none_is_found_again(media):
    """--blur: each face's widened box in blocks of one colour, the rest of the picture as it was;
    the detector finds none of the faces in what is drawn."""
    from facemotion.render import BLUR_BLOCKS, BLUR_MARGIN, blur_faces, draw

    rec = EmotionRecognizer()
    image = cv2.imread(str(media / "two_people.jpg"))
    faces = rec.detect_emotions(image)
    assert len(faces) == 2
    out = blur_faces(image, [f["box"] for f in faces])
    H, W = image.shape[:2]
    inside = np.zeros((H, W), bool)
    for f in faces:
        x, y, w, h = f["box"]
        m = BLUR_MARGIN * max(w, h)
        x0, y0 = max(0, int(x - m)), max(0, int(y - m))
        x1, y1 = min(W, int(np.ceil(x + w + m))), min(H, int(np.ceil(y + h + m)))
        inside[y0:y1, x0:x1] = True
        region = out[y0:y1, x0:x1].reshape(-1, 3)
        # about BLUR_BLOCKS x BLUR_BLOCKS colours, where the face had tens of thousands
        before = len(np.unique(image[y0:y1, x0:x1].reshape(-1, 3), axis=0))
        assert len(np.unique(region, axis=0)) <= (BLUR_BLOCKS + 3) ** 2 < before
    assert np.array_equal(out[~inside], image[~inside])
    assert rec.detect_emotions(out) == [] and rec.detect_emotions(draw(image, faces, blur=True)) == []
    assert len(rec.detect_emotions(draw(image, faces))) == 2  # the boxes and panels alone hide no face
    drawn = rec.annotate(image, faces, blur=True)
    assert np.array_equal(drawn, draw(image, faces, blur=True)) and rec.detect_emotions(drawn) == []
