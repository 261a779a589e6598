"""The two records every path carries: Face (one face) and Analysis (one picture or frame),
on the shared photos, and the recognizer's small public surface over the stages."""

from __future__ import annotations

import json
import pickle

import pytest

import facemotion
from facemotion import EmotionRecognizer
from facemotion.images import load_image
from facemotion.results import Analysis, Face


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


def test_a_face_is_the_dict_it_was_with_attributes(rec, media):
    (face,) = rec.detect_emotions(media / "obama.jpg")
    assert isinstance(face, Face) and isinstance(face, dict)
    assert face.dominant_emotion == face["dominant_emotion"] and face.box == face["box"]
    plain = dict(face)
    # JSON, pickling (Ray, worker processes) and equality are the plain dict's
    assert json.dumps(face) == json.dumps(plain) and face == plain
    again = pickle.loads(pickle.dumps(face))
    assert type(again) is Face and again == face
    assert face.probabilities(rec.labels).argmax() == rec.labels.index(face.dominant_emotion)
    with pytest.raises(AttributeError, match="no 'face_id'"):
        face.face_id  # noqa: B018  (a photo's face has no track)


def test_an_analysis_is_the_json_record_facemotion_image_writes(rec, media, tmp_path):
    from facemotion.photos import annotate_images

    path = media / "obama_and_biden.jpg"
    a = rec.analyze(path)
    (photo,) = annotate_images(rec, [path], tmp_path)
    written = (tmp_path / "obama_and_biden.json").read_text()
    assert json.loads(written) == json.loads(json.dumps(a.to_dict()))
    assert (a.width, a.height) == (photo.record["width"], photo.record["height"]) and len(a.faces) >= 2
    assert a.faces == rec.detect_emotions(path)
    # a decoded array: the same faces, no file
    pixels = rec.analyze(load_image(path))
    assert pixels.file is None and pixels.faces == a.faces


def test_a_folder_of_photos_on_threads_gives_what_one_photo_at_a_time_gives(rec, media, tmp_path):
    """facemotion image's photos taken several at once (a recognizer per thread): every record,
    annotated picture and JSON file the same as one at a time, the results in input order, a
    photo that cannot be read failing alone in its place."""
    from facemotion.photos import annotate_images

    broken = tmp_path / "broken.jpg"
    broken.write_bytes((media / "justin.jpg").read_bytes()[:3000])
    paths = [*sorted(media.glob("*.jpg")), broken, media / "32bit.png"]
    alone = list(annotate_images(rec, paths, tmp_path / "one", workers=1))
    together = list(annotate_images(rec, paths, tmp_path / "four", workers=4))
    assert [r.path for r in together] == [r.path for r in alone] == paths
    assert [(r.record, r.error) for r in together] == [(r.record, r.error) for r in alone]
    assert sum(r.error is not None for r in together) == 1 and "truncated" in together[-2].error
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "four").iterdir()) and len(files) == 2 * (len(paths) - 1)
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "four" / name).read_bytes(), name


def test_a_folders_saliency_maps_on_threads_are_those_made_one_at_a_time(rec, media, tmp_path, monkeypatch):
    """explain's maps made a photo per core, its figures drawn in the calling thread: every file
    the same as one photo at a time, in order."""
    import cv2

    import facemotion.photos as photos

    paths = [media / "justin.jpg", media / "no-faces.jpg", media / "obama_small.jpg"]
    # the figures (matplotlib's, a second a photo, drawn in this thread either way) as a dot
    monkeypatch.setattr(photos, "photo_figure", lambda whole, faces, path, title: cv2.imwrite(str(path), whole[:1, :1]))
    real = photos.in_order
    for name, workers in (("one", 1), ("two", 2)):
        monkeypatch.setattr(photos, "in_order", lambda r, jobs, work, _=None, n=workers: real(r, jobs, work, n))
        got = list(photos.explain_images(rec, paths, tmp_path / name))
        assert [r.path for r in got] == paths and all(r.error is None for r in got)
    files = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(files) == 2 * 5 + 2  # no-faces: 2
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_an_analysis_as_a_table(rec, media):
    pd = pytest.importorskip("pandas")
    a = rec.analyze(media / "obama_and_biden.jpg")
    t = a.to_pandas()
    assert isinstance(t, pd.DataFrame) and len(t) == len(a.faces) >= 2
    assert list(t.columns) == ["file", "x", "y", "w", "h", "confidence", *rec.labels, "dominant_emotion"]
    assert list(t["dominant_emotion"]) == [f.dominant_emotion for f in a.faces]
    assert Analysis([], 10, 10).to_pandas().empty
    # a record made without its labels (from a JSON file) keeps its emotions' columns
    again = Analysis([dict(f) for f in a.faces], a.width, a.height, file=a.file).to_pandas()
    assert list(again.columns) == list(t.columns)


def test_the_stream_yields_one_analysis_per_frame(rec, media):
    image = load_image(media / "obama.jpg")
    frames = list(rec.stream([image, image, image], every=2))
    assert all(isinstance(f, Analysis) for f in frames) and [f.index for f in frames] == [0, 1, 2]
    assert [f.detected for f in frames] == [True, False, True]
    assert (frames[0].width, frames[0].height) == (image.shape[1], image.shape[0])
    face = frames[1].faces[0]
    assert isinstance(face, Face) and face.face_id == frames[0].faces[0].face_id
    assert frames[1].to_dict()["frame"] == 1 and "frame" in frames[1].to_pandas().columns
    # a frame's table carries its faces' tracks, as video's CSV; two readings of a frame compare
    assert list(frames[1].to_pandas().columns[:5]) == ["frame", "time_s", "face_id", "x", "y"]
    assert frames[1].to_pandas()["face_id"].tolist() == [face.face_id]
    again = list(rec.stream([image.copy(), image.copy(), image.copy()], every=2))
    assert again == frames and frames[0] != frames[1]


def test_a_stream_refuses_its_bad_arguments_when_called(rec, tmp_path):
    """Not at the first frame asked for: a missing file, a camera index out of range (OpenCV
    crashes the process on -1 on some systems), a bool, a bad tracking option."""
    from facemotion.errors import UsageError, VideoError

    for source, words in ((tmp_path / "nope.mp4", "no such file"), (-1, "a camera's index is a whole number, 0 to 255"),
                          (True, "camera True: a camera's index")):
        with pytest.raises(VideoError, match=words):
            rec.stream(source)
    with pytest.raises(VideoError, match="camera '300': a camera's index"):  # a camera named as text
        rec.stream("300")
    with pytest.raises(UsageError, match="iou_threshold: expected a number"):
        rec.stream([], iou_threshold="abc")
    with pytest.raises(UsageError, match="max_missed: must be >= 0"):
        rec.stream([], max_missed=-1)
    with pytest.raises(UsageError, match="max_pixels: expected an integer"):
        rec.read("x.jpg", max_pixels="x")


def test_a_photo_named_in_bytes_that_are_not_utf8_makes_a_table(rec, media, tmp_path):
    import os
    import shutil

    pytest.importorskip("pandas")
    name = os.fsdecode(bytes(tmp_path) + b"/caf\xe9.jpg")
    shutil.copy(media / "justin.jpg", name)
    a = rec.analyze(name)
    t = a.to_pandas()
    assert t["file"][0].endswith("caf\\xe9.jpg") and t["file_bytes"][0] == (bytes(tmp_path) + b"/caf\xe9.jpg").hex()
    assert "<table" in a._repr_html_()


def test_an_analysis_prints_as_a_line_and_a_notebook_shows_its_table(media):
    """A mesh's records made a repr of 30,000 characters: it is a line per picture, its faces'
    top emotions and boxes; a notebook shows ``to_pandas()``'s table."""
    rec = EmotionRecognizer(mesh=True)
    a = rec.analyze(media / "obama_and_biden.jpg")
    text = repr(a)
    assert len(text) < 400 and "\n" not in text and text.startswith("Analysis(file=")
    assert all(f"{f.dominant_emotion} " in text and str(f.box) in text for f in a.faces)
    assert "<table" in a._repr_html_() and a.faces[0].dominant_emotion in a._repr_html_()
    frame = next(iter(rec.stream(str(media / "test.mp4"))))
    assert frame.file == str(media / "test.mp4") and "frame=0" in repr(frame)


def test_annotate_draws_what_facemotion_image_draws(rec, media, tmp_path):
    """``annotate`` gives the picture with its faces drawn, the same pixels as the command's
    annotated image, from any input (a PIL image, given faces or found anew); a stream's frame
    is drawn with its ids; an Analysis of a photo keeps no pixels to draw on, which is said."""
    import cv2
    from PIL import Image

    from facemotion.photos import annotate_images

    path = media / "two_people.jpg"
    (photo,) = annotate_images(rec, [path], tmp_path)
    written = cv2.imread(str(photo.outputs[0]))
    drawn = rec.annotate(path)
    assert drawn.shape == written.shape and drawn.dtype == written.dtype
    assert abs(drawn.astype(int) - written.astype(int)).mean() < 2  # the command's file is a JPEG
    a = rec.analyze(path)
    assert (rec.annotate(Image.open(path), faces=a) == drawn).all()
    assert (rec.annotate(path, faces=[]) == load_image(path)).all()
    # the fer package's records (box and emotions, no dominant_emotion) are drawn as ours are
    fer_shaped = [{"box": list(f["box"]), "emotions": dict(f["emotions"])} for f in a.faces]
    assert (rec.annotate(path, faces=fer_shaped) == drawn).all()
    frame = next(iter(rec.stream([load_image(media / "obama.jpg")])))
    assert not (rec.annotate(frame) == frame.frame).all()
    with pytest.raises(facemotion.UsageError, match="keeps no pixels"):
        rec.annotate(a)
    for bad, said in [(a.faces[0], "one face's record"), ([{"box": (1, 2, 3, 4)}], "not a face record"),
                      ([{**a.faces[0], "box": (float("nan"), 1, 2, 3)}], "not four finite numbers"),
                      ([{"box": (1, 2, 3, 4), "emotions": {"happy": None, "sad": 0.1}}], "are not all numbers")]:
        with pytest.raises(facemotion.UsageError, match=said):
            rec.annotate(path, faces=bad)
    with pytest.raises(facemotion.UsageError, match="bars"):
        rec.annotate(path, bars="no")


def test_the_recognizer_is_a_small_surface_over_its_stages():
    rec = EmotionRecognizer(detector="none")
    public = sorted(n for n in dir(rec) if not n.startswith("_"))
    assert len(public) <= 16, public
    assert {"read", "analyze", "annotate", "detect_emotions", "classify_faces", "explain", "stream", "analyze_video",
            "stages", "labels"} <= set(public)
    # the stages answer for the recognizer: the same faces as detect_emotions
    st = EmotionRecognizer().stages
    pic = st.read(facemotion.SAMPLE_IMAGE)
    faces = st.detect_crops(pic.pixels)
    records = pic.to_full(st.results(faces, st.classify_crops(faces)))
    assert records == EmotionRecognizer().detect_emotions(facemotion.SAMPLE_IMAGE)


def test_every_input_kind_gives_records_that_serialise(rec, media):
    """What the README says a recognizer takes: a path (str or Path), bytes, an open binary file,
    a stream, a numpy array, a PIL image. Each gives the same faces; ``file`` is the path, or
    None for the rest, in ``to_dict()`` (valid JSON) and ``to_pandas()``."""
    import io

    import cv2
    from PIL import Image

    path = media / "two_people.jpg"
    data = path.read_bytes()
    with open(path, "rb") as fh:
        kinds = {"path": path, "str": str(path), "bytes": data, "bytearray": bytearray(data), "open file": fh,
                 "stream": io.BytesIO(data), "numpy": cv2.imread(str(path)), "PIL": Image.open(path)}
        analyses = {kind: rec.analyze(source) for kind, source in kinds.items()}
    boxes = [f.box for f in analyses["path"].faces]
    assert len(boxes) == 2
    for kind, a in analyses.items():
        record = json.loads(json.dumps(a.to_dict()))
        table = a.to_pandas()
        expected = str(path) if kind in ("path", "str") else None
        assert record["file"] == expected and (record["width"], record["height"]) == (1126, 661), kind
        assert [tuple(f["box"]) for f in record["faces"]] == boxes, kind
        assert len(table) == 2 and list(table["file"]) == [expected] * 2, kind


def test_a_faces_fields_set_as_attributes_and_its_dict_is_json():
    import json

    import cv2

    import facemotion
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer()
    face = rec.detect_emotions(facemotion.SAMPLE_IMAGE)[0]
    face.note = "seen"  # as insightface's Face: a field set as an attribute is a key
    assert face["note"] == "seen" and face.note == "seen"
    del face.note
    assert "note" not in face
    explained = rec.explain(cv2.imread(facemotion.SAMPLE_IMAGE))[0]
    record = json.loads(json.dumps(explained.to_dict()))  # the saliency map as lists of numbers
    assert len(record["saliency"]) == explained["saliency"].shape[0] and record["target"] == explained["target"]
    json.dumps(rec.analyze(facemotion.SAMPLE_IMAGE).to_dict())


def test_a_video_table_has_the_same_types_with_faces_or_without_and_frames_name_the_model():
    import cv2
    import numpy as np

    import facemotion
    from facemotion import EmotionRecognizer

    rec = EmotionRecognizer()
    faces = rec.analyze_video([cv2.imread(facemotion.SAMPLE_IMAGE)] * 2)
    none = rec.analyze_video([np.zeros((64, 64, 3), np.uint8)] * 2)
    assert len(faces) == 2 and len(none) == 0 and (faces.dtypes == none.dtypes).all()
    assert faces["x"].dtype == "int64" and faces["happy"].dtype == "float64"
    assert {a.model for a in rec.stream([np.zeros((64, 64, 3), np.uint8)])} == {rec.model_name}


def test_every_kind_of_picture_keeps_the_pixel_limit_and_a_closed_pil_image_is_said():
    import cv2
    import pytest
    from PIL import Image

    import facemotion
    from facemotion import EmotionRecognizer
    from facemotion.errors import ImageError, ImageTooLargeError

    rec = EmotionRecognizer()
    for picture in (facemotion.SAMPLE_IMAGE, cv2.imread(facemotion.SAMPLE_IMAGE), Image.open(facemotion.SAMPLE_IMAGE)):
        with pytest.raises(ImageTooLargeError, match="over the 1,000 pixels limit"):
            rec.read(picture, max_pixels=1000)
    with Image.open(facemotion.SAMPLE_IMAGE) as im:
        pass
    with pytest.raises(ImageError, match="closed before its pixels were read"):
        rec.detect_emotions(im)
