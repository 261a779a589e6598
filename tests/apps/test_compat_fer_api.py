"""facemotion.compat.fer beyond fer's own tests (tests/apps/test_compat_fer.py): what it says to
input fer calls invalid and to fer's options that mean nothing here, that its answers are the
recognizer's in fer's shape, and where Video.analyze writes."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

import facemotion
from facemotion import EMOTIONS, EmotionRecognizer, ImageError, UsageError, VideoError
from facemotion.boxes import iou
from facemotion.compat.fer import FER, InvalidImage, Video

DATA = Path(__file__).resolve().parents[1] / "data" / "fer"
JUSTIN, NO_FACES, CLIP = DATA / "justin.jpg", DATA / "no-faces.jpg", DATA / "woman2.mp4"


@pytest.fixture(scope="module")
def fer():
    return FER(mtcnn=True)


@pytest.mark.parametrize("image", [None, np.zeros((0, 0, 3), np.uint8), np.zeros((0,), np.uint8)],
                         ids=["none", "empty-3d", "empty-1d"])
def test_what_fer_calls_invalid_raises_invalid_image_in_one_line(fer, image):
    for call in (fer.detect_emotions, fer.top_emotion, fer.find_faces):
        with pytest.raises(InvalidImage) as e:
            call(image)
        assert "\n" not in str(e.value) and "not an image" in str(e.value)
        assert isinstance(e.value, ImageError)  # facemotion's own handlers catch it too


def test_a_missing_file_is_invalid_with_facemotions_message(fer, tmp_path):
    with pytest.raises(InvalidImage, match=r"nothing\.jpg"):
        fer.detect_emotions(str(tmp_path / "nothing.jpg"))
    with pytest.raises(VideoError, match=r"nothing\.mp4"):  # fer: an AssertionError
        Video(str(tmp_path / "nothing.mp4"), outdir=str(tmp_path / "out"))


@pytest.mark.parametrize("option, instead", [
    ({"tfserving": True}, "facemotion serve"),
    ({"emotion_model": "emotion_model.hdf5"}, "EmotionRecognizer(model=...)"),
    ({"cascade_file": "haarcascade_frontalface_alt.xml"}, "EmotionRecognizer(detector='haar')"),
    ({"scale_factor": 1.3}, "Haar cascade"),
    ({"min_neighbors": 3}, "Haar cascade"),
    ({"offsets": (20, 20)}, "leave offsets out"),
])
def test_options_without_meaning_here_say_the_facemotion_way_in_one_line(option, instead):
    with pytest.raises(UsageError) as e:
        FER(**option)
    message = str(e.value)
    assert "\n" not in message and instead in message and next(iter(option)) in message


def test_fers_own_range_checks_stay_value_errors():
    for bad in ({"scale_factor": 1.0}, {"min_face_size": 0}, {"min_neighbors": -1}, {"offsets": (1, 2, 3)}):
        with pytest.raises(ValueError):
            FER(**bad)


def test_video_options_without_meaning_here_say_so(tmp_path):
    video = Video(str(CLIP), outdir=str(tmp_path / "out"))
    for option in ({"lang": "de"}, {"size_multiplier": 2}, {"output": "json"},
                   {"detection_box": {"left": 3}}, {"detection_box": {"x_min": 5000}}, {"smooth": 1},
                   {"frequency": 0}):
        with pytest.raises(UsageError) as e:
            video.analyze(FER(), **option)
        assert "\n" not in str(e.value)
    with pytest.raises(UsageError, match="detector"):
        video.analyze(object())


def test_records_are_the_recognizers_answers_in_fers_shape(fer):
    (face,) = fer.detect_emotions(cv2.imread(str(JUSTIN)))
    assert set(face) == {"box", "emotions"} and list(face["emotions"]) == list(EMOTIONS)
    assert isinstance(face["box"], list) and len(face["box"]) == 4 and all(type(v) is int for v in face["box"])
    # the default model answers FER+'s eight emotions: contempt is added to disgust, then fer's rounding
    (own,) = EmotionRecognizer().detect_emotions(str(JUSTIN))
    assert "contempt" in own["emotions"]
    assert face["box"] == list(own["box"])
    folded = {**own["emotions"], "disgust": own["emotions"]["disgust"] + own["emotions"]["contempt"]}
    assert face["emotions"] == {e: round(folded[e], 2) for e in EMOTIONS}
    assert fer.top_emotion(str(JUSTIN)) == ("happy", face["emotions"]["happy"])
    assert fer.top_emotion(str(NO_FACES)) == (None, None)


def test_fers_other_inputs_and_methods(fer):
    faces = fer.detect_emotions(str(JUSTIN))
    uri = "data:image/jpeg;base64," + base64.b64encode(JUSTIN.read_bytes()).decode()
    assert fer.detect_emotions(uri) == faces
    assert fer.batch_detect_emotions([str(JUSTIN), str(NO_FACES)]) == [faces, []]
    assert fer.find_faces(cv2.imread(str(JUSTIN))) == [faces[0]["box"]]
    with pytest.raises(InvalidImage, match="no URLs"):  # fer's own error for a picture it cannot fetch
        fer.detect_emotions("https://example.com/justin.jpg")
    with pytest.raises(UsageError, match=r"face_rectangles: expected boxes \(x, y, w, h\) of numbers, got \[\(1, 2\)\]"):
        fer.detect_emotions(str(JUSTIN), face_rectangles=[(1, 2)])
    # rectangles given: those regions classified, the box as given; one outside the picture left out
    given = fer.detect_emotions(str(JUSTIN), face_rectangles=np.array([faces[0]["box"], [900, 900, 40, 40]]))
    assert given == faces
    assert fer.emotions == given
    assert FER._get_labels() == dict(enumerate(EMOTIONS))
    square = FER.tosquare((10, 20, 30, 50))
    assert square[2] == square[3] == 50
    padded = FER.pad(np.full((60, 80), 7, np.uint8))
    assert padded.shape == (140, 160) and (FER.depad(padded) == 7).all()


def test_min_face_size_applies_without_mtcnn_as_fers_cascade(tmp_path):
    assert FER(min_face_size=500).detect_emotions(str(JUSTIN)) == []  # the face is 184 px
    assert len(FER(mtcnn=True, min_face_size=500).detect_emotions(str(JUSTIN))) == 1


def test_another_recognizer_answers_through_fers_api():
    small = EmotionRecognizer(model="fer2013_mini_xception")
    (face,) = FER(recognizer=small).detect_emotions(str(JUSTIN))
    (own,) = small.detect_emotions(str(JUSTIN))
    assert face["emotions"] == {e: round(own["emotions"][e], 2) for e in EMOTIONS}
    with pytest.raises(UsageError, match="recognizer"):
        FER(recognizer="fer2013_mini_xception")


def test_video_analyze_writes_where_fer_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    video = Video(str(CLIP))
    rows = video.analyze(FER(), frequency=10, max_results=3)
    # output/ as fer's default: the analysed frames (0, 10, 20) zipped, the annotated H.264 video
    with zipfile.ZipFile(tmp_path / "output" / "images.zip") as z:
        assert sorted(z.namelist()) == ["woman20.jpg", "woman210.jpg", "woman220.jpg"]
    assert not list((tmp_path / "output").glob("*.jpg"))
    import av

    with av.open(str(tmp_path / "output" / "woman2_output.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.video[0].frames == 3
    assert len(rows) == 3 and set(rows[0]) == {"box0", *(f"{e}0" for e in EMOTIONS)}
    assert (tmp_path / "data.csv").read_text().splitlines()[0].split(",")[:2] == ["angry0", "box0"]
    # the rows are the recognizer's readings of those frames (smooth=0: each frame's own)
    cap = cv2.VideoCapture(str(CLIP))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 10)
    (own,) = FER().detect_emotions(cap.read()[1])
    cap.release()
    assert rows[1]["box0"] == own["box"] and rows[1]["happy0"] == pytest.approx(own["emotions"]["happy"], abs=0.011)


def test_a_clip_named_in_bytes_that_are_not_utf8_zips_its_frames(tmp_path, monkeypatch):
    import os
    import shutil

    monkeypatch.chdir(tmp_path)
    name = os.fsdecode(bytes(tmp_path) + b"/v\xe9.mp4")
    shutil.copy(CLIP, name)
    assert len(Video(name).analyze(FER(), max_results=2, save_video=False)) == 2
    with zipfile.ZipFile(tmp_path / "output" / "images.zip") as z:
        assert sorted(z.namelist()) == ["v\\xe90.jpg", "v\\xe91.jpg"]  # the name as text: \xe9


def test_video_include_audio_puts_the_sources_sound_in_the_annotated_video(tmp_path, media, monkeypatch):
    """fer's include_audio=True: the source's sound over the analysed frames' span (3 frames,
    every 10th of a 29.97/s clip: a second)."""
    import av

    monkeypatch.chdir(tmp_path)  # fer writes its rows to data.csv where it runs

    video = Video(str(media / "short_hamilton_clip.mp4"), outdir=str(tmp_path / "out"))
    video.analyze(FER(), frequency=10, max_results=3, save_frames=False, include_audio=True)
    with av.open(str(tmp_path / "out" / "short_hamilton_clip_output.mp4")) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert v.frames == 3 and a.codec_context.name == "aac"
        assert float(a.duration * a.time_base) == pytest.approx(float(v.duration * v.time_base), abs=0.1)
    # fer's name for the video with its sound, which fer programs open
    out = tmp_path / "out"
    assert (out / "short_hamilton_clip_output_audio.mp4").read_bytes() == (out / "short_hamilton_clip_output.mp4").read_bytes()


def test_video_detection_box_and_pandas(tmp_path):
    video = Video(str(CLIP), outdir=str(tmp_path / "out"))
    whole = video.analyze(FER(), output="pandas", max_results=2, save_frames=False, save_video=False)
    box = {"x_min": 150, "x_max": 450, "y_min": 20, "y_max": 336}
    part = video.analyze(FER(), output="pandas", max_results=2, save_frames=False, save_video=False,
                         detection_box=box)
    assert list(whole.columns) == ["box", *EMOTIONS]
    # found in the part, given in the whole frame: the same face (the part is detected at another scale)
    for a, b in zip(whole["box"], part["box"]):
        assert iou(a, b) > 0.8, (a, b)
    assert not list((tmp_path / "out").iterdir())  # nothing saved when nothing is asked
    assert video.get_max_faces([[{}], [{}, {}]]) == 2
    assert facemotion.compat.fer.Video is Video


def test_every_module_of_fers_wheel_has_its_namesake(fer, tmp_path):
    """fer 25.10.3's wheel has fer, classes, exceptions, utils and emotionsmultilanguage: a fer
    program's `from fer.utils import load_image` switches as its other imports do."""
    import importlib

    for name in ("fer", "classes", "exceptions", "utils", "emotionsmultilanguage"):
        importlib.import_module(f"facemotion.compat.fer.{name}")
    from facemotion.compat.fer.emotionsmultilanguage import emotions_dict
    from facemotion.compat.fer.utils import draw_annotations, load_image, loadBase64Img

    photo = Path(facemotion.SAMPLE_IMAGE)
    img = load_image(str(photo))
    uri = "data:image/jpeg;base64," + base64.b64encode(photo.read_bytes()).decode()
    assert (loadBase64Img(uri) == img).all() and img.shape == cv2.imread(str(photo)).shape
    with pytest.raises(InvalidImage, match="no such file"):
        load_image(str(tmp_path / "nope.jpg"))
    with pytest.raises(InvalidImage, match="reads no URLs"):
        load_image("https://example.com/a.jpg")
    frame = img.copy()
    assert draw_annotations(frame, fer.detect_emotions(img)) is frame and not (frame == img).all()  # in place
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)  # fer draws on gray frames too
    drawn = draw_annotations(gray.copy(), fer.detect_emotions(img))
    assert drawn.shape == gray.shape and not (drawn == gray).all()
    assert set(emotions_dict) == set(EMOTIONS) and emotions_dict["happy"]["de"] == "Glucklich"
