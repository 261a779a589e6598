"""What users hand the photo command and the API as they come: a folder run twice, inputs from
several places, a photo piped in beside a file of its name, a bad setting, a crop alone, a
picture without faces as a table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import facemotion
from facemotion import EmotionRecognizer
from facemotion.cli import main
from facemotion.errors import ImageError, UsageError, VideoError
from facemotion.writers import output_stems


@pytest.fixture(scope="module")
def rec():
    return EmotionRecognizer()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_a_folder_run_twice_reads_no_output_and_no_hidden_file(tmp_path, monkeypatch, capsys):
    photo = Path(facemotion.SAMPLE_IMAGE).read_bytes()
    (tmp_path / "a.jpg").write_bytes(photo)
    (tmp_path / "._a.jpg").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")  # what a Mac leaves on a USB disk
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "b.jpg").write_bytes(photo)
    monkeypatch.chdir(tmp_path)
    assert main(["image", "."]) == 0
    assert main(["image", "."]) == 0  # the second run finds facemotion-out/ under "."
    assert _files(tmp_path / "facemotion-out") == ["a.json", "a_annotated.jpg"]
    assert main(["image", "*"]) == 0  # a glob's folders are read as folders, the output folder not
    assert _files(tmp_path / "facemotion-out") == ["a.json", "a_annotated.jpg"]
    assert capsys.readouterr().out.count("wrote 1 annotated image") == 3
    assert main(["image", "._a.jpg", "--json"]) == 1  # named as such, it is an input: its one line
    assert "._a.jpg" in capsys.readouterr().err
    assert main(["image", "facemotion-out"]) == 0  # the output folder named as the input is read
    assert (tmp_path / "facemotion-out" / "a_annotated_annotated.jpg").is_file()
    (tmp_path / "link").symlink_to(tmp_path)  # the output folder reached through a link is still it
    assert main(["image", "link", "-o", "facemotion-out"]) == 0
    assert not (tmp_path / "facemotion-out" / "facemotion-out").exists()
    assert not list((tmp_path / "facemotion-out").glob("*annotated_annotated_annotated*"))


def test_a_folder_written_into_itself_keeps_its_photos_and_reads_no_copy(tmp_path, media, capsys):
    """image -o the photos' folder: an output never replaces an input (a photo of one's own named
    p_annotated.jpg beside p.jpg keeps its bytes, and p.jpg fails alone, saying why); a rerun
    leaves out the annotated copies facemotion drew (marked in the JPEG), not the user's."""
    from facemotion.writers import annotated_copy

    photo = Path(facemotion.SAMPLE_IMAGE).read_bytes()
    (tmp_path / "p.jpg").write_bytes(photo)
    own = tmp_path / "p_annotated.jpg"  # a photo of the user's, named like an output
    own.write_bytes((media / "two_people.jpg").read_bytes())
    kept = own.read_bytes()
    assert main(["image", str(tmp_path), "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'p.jpg'}: its output {own} would replace an input of this run; write to another -o" in err
    assert own.read_bytes() == kept and not annotated_copy(own) and annotated_copy(tmp_path / "p_annotated_annotated.jpg")
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "a.jpg").write_bytes(photo)
    for _ in range(2):
        assert main(["image", str(tmp_path / "q"), "-o", str(tmp_path / "q")]) == 0
    assert "note: left out 1 annotated copy facemotion drew" in capsys.readouterr().err
    assert _files(tmp_path / "q") == ["a.jpg", "a.json", "a_annotated.jpg"]


def test_an_input_reached_through_a_link_is_not_replaced_either(tmp_path, media, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(Path(facemotion.SAMPLE_IMAGE).read_bytes())
    (photos / "p_annotated.jpg").write_bytes((media / "two_people.jpg").read_bytes())
    (tmp_path / "out").symlink_to(photos)
    assert main(["image", str(photos), "-o", str(tmp_path / "out")]) == 1
    assert "would replace an input of this run" in capsys.readouterr().err
    assert (photos / "p_annotated.jpg").read_bytes() == (media / "two_people.jpg").read_bytes()


def test_a_file_of_the_users_named_as_an_output_is_not_replaced(tmp_path, media, capsys):
    """p.jpg named alone, -o its folder: the user's own p_annotated.jpg (not an input of this run)
    and q.json (not a facemotion record) keep their bytes, and their photos fail alone saying
    why; explain's files, and batch --annotate's copies, likewise. facemotion's own outputs of an
    earlier run are replaced, as a rerun does."""
    photo = Path(facemotion.SAMPLE_IMAGE).read_bytes()
    for name in ("p.jpg", "q.jpg", "r.jpg"):
        (tmp_path / name).write_bytes(photo)
    own = {tmp_path / "p_annotated.jpg": (media / "two_people.jpg").read_bytes(),
           tmp_path / "q.json": b'{"taken": "2019-05-01"}\n',
           tmp_path / "r_explain.png": (media / "32bit.png").read_bytes()}
    for path, data in own.items():
        path.write_bytes(data)
    photos = [str(tmp_path / n) for n in ("p.jpg", "q.jpg", "r.jpg")]
    assert main(["image", *photos, "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    for path in list(own)[:2]:
        assert f"its output {path} would replace a file facemotion did not write; remove it or write to another " \
               "-o" in err
    assert "2 of 3 inputs failed" in err and (tmp_path / "r.json").is_file()
    assert main(["image", photos[2], "-o", str(tmp_path)]) == 0  # its own outputs: a rerun replaces them
    # a copy drawn before copies were marked, beside its record: the set of an earlier run, replaced too
    (tmp_path / "r_annotated.jpg").write_bytes(photo)
    assert main(["image", photos[2], "-o", str(tmp_path)]) == 0
    assert main(["explain", photos[2], "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"its output {tmp_path / 'r_explain.png'} would replace a file facemotion did not write" in err
    batch = ["batch", photos[0], "--to", str(tmp_path / "t.csv"), "--no-progress", "--annotate", str(tmp_path)]
    assert main(batch) == 2
    assert f"would replace {tmp_path / 'p_annotated.jpg'}, a file facemotion did not write" in capsys.readouterr().err
    assert all(path.read_bytes() == data for path, data in own.items())


def test_explain_run_again_into_the_photos_folder_reads_only_the_photos(media, tmp_path, capsys):
    """Its crops, maps and figure are marked as drawn: a second run leaves them out, and runs."""
    (tmp_path / "p.jpg").write_bytes((media / "two_people.jpg").read_bytes())
    for _ in range(2):
        assert main(["explain", str(tmp_path), "-o", str(tmp_path)]) == 0
    assert "note: left out 5 annotated copies facemotion drew" in capsys.readouterr().err
    assert not list(tmp_path.glob("*_explain_*")) and not list(tmp_path.glob("*crop_face*"))


def test_explain_removes_only_the_files_an_earlier_run_of_the_photo_wrote(media, tmp_path):
    """A rerun of explain removes the face files of the earlier run's faces it no longer finds
    (its JSON names them); files of that pattern it did not write are left alone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "p_face3_crop.png").write_bytes(b"the user's own")
    (tmp_path / "p.jpg").write_bytes((media / "two_people.jpg").read_bytes())
    assert main(["explain", str(tmp_path / "p.jpg"), "-o", str(out)]) == 0
    assert (out / "p_face2_crop.png").is_file()
    (tmp_path / "p.jpg").write_bytes((media / "justin.jpg").read_bytes())  # one face now
    assert main(["explain", str(tmp_path / "p.jpg"), "-o", str(out)]) == 0
    assert not (out / "p_face2_crop.png").exists() and not (out / "p_face2_saliency.png").exists()
    assert (out / "p_face3_crop.png").read_bytes() == b"the user's own"
    # photos that share a name write under their folders' names, and are tidied there too
    for where, photo in (("a", "two_people.jpg"), ("b", "justin.jpg")):
        (tmp_path / where).mkdir()
        (tmp_path / where / "p.jpg").write_bytes((media / photo).read_bytes())
    args = ["explain", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(tmp_path / "nested")]
    assert main(args) == 0 and (tmp_path / "nested" / "a" / "p_face2_crop.png").is_file()
    (tmp_path / "a" / "p.jpg").write_bytes((media / "justin.jpg").read_bytes())
    assert main(args) == 0 and not (tmp_path / "nested" / "a" / "p_face2_crop.png").exists()


def test_one_name_shared_moves_only_those_inputs(tmp_path):
    same = [tmp_path / "r1" / "in" / "x.jpg", tmp_path / "r2" / "media" / "x.jpg", tmp_path / "r2" / "x.png"]
    assert output_stems([*same, tmp_path / "r2" / "media" / "biden.jpg"]) == ["in/x", "media/x", "r2/x", "biden"]
    assert output_stems([tmp_path / "x.jpg", tmp_path / "x.png"]) == ["x_jpg", "x_png"]
    # a file whose own name is one the suffix rule makes keeps it; the made one moves aside
    assert output_stems([tmp_path / "x.jpg", tmp_path / "x.png", tmp_path / "x_jpg.jpg"]) == ["x_jpg~2", "x_png", "x_jpg"]
    assert output_stems(["/p/2019/a/x.jpg", "/p/2020/a/x.jpg"]) == ["2019/a/x", "2020/a/x"]
    piped = tmp_path / "tmp-abc" / "stdin"
    assert output_stems([piped, tmp_path / "c" / "stdin.jpg"], keep=[piped]) == ["stdin", "c/stdin"]
    # at different depths (one folder's path is the end of another's): the whole paths tell them apart
    assert output_stems(["/r/b/x.jpg", "/r/a/b/x.jpg", "/r/x/a/b/x.jpg"]) == ["b/x", "a/b/x", "x/a/b/x"]


def test_inputs_from_two_places_keep_short_names(tmp_path):
    photo = Path(facemotion.SAMPLE_IMAGE).read_bytes()
    for p in ("in/x.jpg", "other/deep/x.jpg", "other/deep/lone.jpg"):
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(photo)
    out = tmp_path / "out"
    assert main(["image", str(tmp_path / "in" / "x.jpg"), str(tmp_path / "other" / "deep"), "-o", str(out)]) == 0
    assert _files(out) == ["deep/x.json", "deep/x_annotated.jpg", "in/x.json", "in/x_annotated.jpg",
                           "lone.json", "lone_annotated.jpg"]


def test_a_photo_piped_in_is_stdin_beside_a_file_named_so(tmp_path):
    (tmp_path / "stdin.jpg").write_bytes(Path(facemotion.SAMPLE_IMAGE).read_bytes())
    p = subprocess.run([sys.executable, "-m", "facemotion", "image", "-", "stdin.jpg", "-o", "o"], cwd=tmp_path,
                       input=Path(facemotion.SAMPLE_IMAGE).read_bytes(), capture_output=True)
    assert p.returncode == 0, p.stderr
    assert _files(tmp_path / "o") == sorted([f"{tmp_path.name}/stdin.json", f"{tmp_path.name}/stdin_annotated.jpg",
                                             "stdin.json", "stdin_annotated.jpg"])
    assert json.loads((tmp_path / "o" / "stdin.json").read_text())["file"] == "-"


@pytest.mark.parametrize("value", ["abc", "", "inf", "nan", "0", "-5", "1.9"])
def test_a_bad_pixel_limit_is_one_line_before_any_input(value):
    env = {**os.environ, "FACEMOTION_MAX_PIXELS": value}
    p = subprocess.run([sys.executable, "-m", "facemotion", "image", facemotion.SAMPLE_IMAGE, "--json"], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [p.stderr.strip()] and p.stderr.startswith("error: FACEMOTION_MAX_PIXELS: ")
    api = subprocess.run([sys.executable, "-c", "import facemotion as f\ntry: f.detect_emotions(f.SAMPLE_IMAGE)\n"
                          "except f.errors.UsageError as e: print('refused:', e)"], env=env, capture_output=True, text=True)
    assert api.returncode == 0 and api.stdout.startswith("refused: FACEMOTION_MAX_PIXELS"), api.stderr  # import works


def test_empty_names_and_file_urls_are_refused_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["image", ""]) == 2 and not (tmp_path / "facemotion-out").exists()  # "" is not "."
    assert main(["image", f"file://{facemotion.SAMPLE_IMAGE}"]) == 2
    assert f"a file URL; give its path ({facemotion.SAMPLE_IMAGE})" in capsys.readouterr().err
    with pytest.raises(ImageError, match="an empty name"):
        facemotion.detect_emotions("")
    with pytest.raises(ImageError, match="stream is open as text"):
        facemotion.detect_emotions(open(facemotion.SAMPLE_IMAGE))


def test_one_crop_alone_is_one_face(rec):
    image = cv2.imread(facemotion.SAMPLE_IMAGE)
    x, y, w, h = rec.detect_emotions(image)[0]["box"]
    crop = image[y:y + h, x:x + w]
    alone = rec.classify_faces(crop)
    assert alone.shape == (1, len(rec.labels)) and np.allclose(alone, rec.classify_faces([crop]))
    assert rec.labels[alone[0].argmax()] == "happy"
    with pytest.raises(UsageError, match="face 0: expected a face image"):
        rec.classify_faces([facemotion.SAMPLE_IMAGE])
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None]  # Keras' H x W x 1
    assert rec.classify_faces(gray).shape == (1, len(rec.labels))
    for bad, said in ((None, "got NoneType"), (np.zeros(10), r"an array of shape \(10,\)"), (5, "got int")):
        with pytest.raises(UsageError, match=f"faces: .*{said}"):
            rec.classify_faces(bad)


def test_a_data_uri_is_a_picture_and_a_pasted_blob_a_short_line(rec):
    """The native API reads a web page's inline picture as the fer layer does; a string of
    50,000 characters taken for a path is named by its start and length, not in full."""
    import base64

    uri = "data:image/jpeg;base64," + base64.b64encode(Path(facemotion.SAMPLE_IMAGE).read_bytes()).decode()
    assert rec.detect_emotions(uri) == rec.detect_emotions(facemotion.SAMPLE_IMAGE)
    with pytest.raises(ImageError, match=r"^data:image/png;base64,@@@\.\.\.: a data URI without base64"):
        rec.detect_emotions("data:image/png;base64,@@@")
    with pytest.raises(ImageError) as e:
        rec.detect_emotions("x" * 50_000)
    assert len(str(e.value)) < 200 and "(50000 characters)" in str(e.value)


def test_tables_keep_their_columns_without_faces_and_refuse_unknown_labels(rec):
    empty = rec.analyze(np.zeros((120, 120, 3), np.uint8)).to_pandas()
    assert len(empty) == 0
    assert list(empty.columns) == ["file", "x", "y", "w", "h", "confidence", *rec.labels, "dominant_emotion"]
    meshed = EmotionRecognizer(mesh=True)  # with the mesh: its columns, faces or not
    assert list(meshed.analyze(np.zeros((120, 120, 3), np.uint8)).to_pandas().columns) == \
        list(meshed.analyze(facemotion.SAMPLE_IMAGE).to_pandas().columns)
    a = rec.analyze(rec.read(facemotion.SAMPLE_IMAGE))
    assert a.file == facemotion.SAMPLE_IMAGE  # a Picture from read() remembers its file
    assert list(a.to_pandas(labels=["sad", "happy"]).columns[6:8]) == ["sad", "happy"]
    with pytest.raises(UsageError, match="no 'joy' among this model's emotions"):
        a.to_pandas(labels=["happy", "joy"])
    with pytest.raises(UsageError, match="no 'xx'"):
        a.faces[0].probabilities(["xx"])
    assert rec.analyze_video([np.zeros((64, 64, 3), np.uint8)]).shape == (0, 8 + len(rec.labels) + 1)
    for bad in (-1, 0):
        with pytest.raises(UsageError, match="max_frames: must be >= 1"):
            rec.analyze_video([np.zeros((64, 64, 3), np.uint8)], max_frames=bad)
    with pytest.raises(VideoError, match="frame 0: NoneType, not a frame"):
        list(rec.stream([None]))


def test_stream_reads_one_picture_as_one_frame_and_pil_frames_as_pictures(rec):
    """A picture given to stream is one frame (its rows were read as 384 frames without faces);
    PIL frames are RGB and read as detect_emotions reads them (red and blue had been swapped)."""
    from PIL import Image

    image = rec.read(facemotion.SAMPLE_IMAGE).pixels
    expected = [f["box"] for f in next(iter(rec.stream([image]))).faces]  # a list of one frame
    for one in (image, Image.open(facemotion.SAMPLE_IMAGE)):
        frames = list(rec.stream(one))
        assert len(frames) == 1 and [f["box"] for f in frames[0].faces] == expected
    assert len(list(rec.stream(image[..., 0]))) == 1  # a gray picture
    pil = Image.open(facemotion.SAMPLE_IMAGE)
    assert [f["box"] for f in next(iter(rec.stream([pil, pil]))).faces] == expected
    assert len(list(rec.stream(np.zeros((3, 64, 64), np.uint8)))) == 3  # a stack of gray frames
    with pytest.raises(VideoError, match="float: not a video"):
        list(rec.stream(2.5))


def test_flags_and_options_that_cannot_apply_are_refused(capsys):
    for kw in ({"fold_contempt": "no"}, {"mesh": "False"}, {"upright": 2}):
        with pytest.raises(UsageError, match="expected True or False"):
            EmotionRecognizer(**kw)
    with pytest.raises(UsageError, match="the detector 'none' finds no faces"):
        EmotionRecognizer(detector="none", min_confidence=0.5)
    assert main(["image", facemotion.SAMPLE_IMAGE, "--detector", "none", "--min-confidence", "0.5"]) == 2
    assert capsys.readouterr().err.startswith("error: --min-confidence: the detector 'none'")
    assert main(["image", facemotion.SAMPLE_IMAGE, "--model", "fer2013_mini_xception", "--precision", "int8"]) == 1
    assert "fer2013_mini_xception: no int8 variant is shipped" in capsys.readouterr().err


def test_fer_data_uri_without_data_names_the_uri():
    from facemotion.compat.fer import FER
    from facemotion.compat.fer.exceptions import InvalidImage

    with pytest.raises(InvalidImage, match="data:image/jpeg;base64,@@@"):
        FER().detect_emotions("data:image/jpeg;base64,@@@")
    import base64

    wrapped = "data:image/jpeg;base64," + base64.encodebytes(Path(facemotion.SAMPLE_IMAGE).read_bytes()).decode()
    assert FER().top_emotion(wrapped)[0] == "happy"  # base64 in lines of 76, as encodebytes writes it


def test_progress_bars_are_drawn_at_a_terminal_only():
    """Into a log or a pipe a console bar's redraws are noise, and the next line would start on
    the bar's: it is drawn where the stream is a terminal, and never where the caller says no."""
    import io

    from facemotion.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert progress_bar(total=1, file=io.StringIO()).disable
    assert not progress_bar(total=1, file=Terminal()).disable
    assert progress_bar(total=1, file=Terminal(), disable=True).disable
    closed = io.StringIO()
    closed.close()
    assert progress_bar(total=1, file=closed).disable


def test_a_notebooks_bar_is_kept():
    """In a notebook tqdm.auto's bar class is its own (module ``tqdm.auto``) derived from the
    notebook's widget bar: that is a bar to draw, though a kernel's stderr is no terminal."""
    import tqdm.asyncio
    import tqdm.notebook
    import tqdm.std

    from facemotion.progress import in_notebook

    notebook_auto = type("tqdm", (tqdm.notebook.tqdm, tqdm.asyncio.tqdm), {"__module__": "tqdm.auto"})
    console_auto = type("tqdm", (tqdm.asyncio.tqdm,), {"__module__": "tqdm.auto"})
    assert in_notebook(notebook_auto)
    assert not in_notebook(console_auto) and not in_notebook(tqdm.std.tqdm)


def test_web_addresses_are_named_as_given_and_batch_refuses_stdin(tmp_path, monkeypatch, capsys):
    """A web address fails alone, in its record or row and its message named as given (Path()
    folds https://x to https:/x), from the arguments and from a list file; the other inputs run."""
    import csv

    monkeypatch.chdir(tmp_path)
    url, listed = "https://example.com/photos/a.jpg", "https://example.com/b.jpg"
    (tmp_path / "list.txt").write_text(f"{listed}\n")
    assert main(["image", str(facemotion.SAMPLE_IMAGE), url, "--json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("file") for r in records] == [str(facemotion.SAMPLE_IMAGE), url]
    assert records[1]["error"].startswith(f"{url}: a web address") and len(records[0]["faces"]) == 1
    assert main(["batch", str(facemotion.SAMPLE_IMAGE), url, "list.txt", "--to", "t.csv"]) == 1
    rows = list(csv.DictReader(open(tmp_path / "t.csv", newline="")))
    assert [r["path"] for r in rows] == [str(facemotion.SAMPLE_IMAGE), url, listed]
    assert rows[2]["error"].startswith(f"{listed}: a web address")
    capsys.readouterr()
    assert main(["batch", "-", "--to", "t2.csv"]) == 2
    assert capsys.readouterr().err.startswith("error: -: facemotion batch reads photos and videos from files")


def test_a_folders_links_to_folders_are_named_not_read(tmp_path, capsys):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    photos.mkdir(), elsewhere.mkdir()
    (photos / "a.jpg").write_bytes(Path(facemotion.SAMPLE_IMAGE).read_bytes())
    (elsewhere / "b.jpg").write_bytes(Path(facemotion.SAMPLE_IMAGE).read_bytes())
    (photos / "linked").symlink_to(elsewhere, target_is_directory=True)
    assert main(["image", str(photos), "-o", str(tmp_path / "out")]) == 0
    assert main(["batch", str(photos), "--to", str(tmp_path / "t.csv")]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "linked folder" in line]
    assert len(notes) == 2 and all(f"({photos / 'linked'}) not read" in n for n in notes)
    assert _files(tmp_path / "out") == ["a.json", "a_annotated.jpg"]


def test_a_shipped_name_is_not_hidden_by_a_folder_and_a_typo_gets_the_nearest(tmp_path, monkeypatch):
    from facemotion.errors import ModelError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "quad_ensemble").mkdir()  # an output folder named after the model, say
    assert EmotionRecognizer(model="quad_ensemble", detector="none").model_name == "quad_ensemble_int8"
    with pytest.raises(ModelError, match=r"; did you mean newfaces4_resnet_s\?$"):
        EmotionRecognizer(model="NEWFACES4_RESNET_S", detector="none")


def test_batch_csv_writes_fixed_decimals_as_the_video_csv(tmp_path, media):
    """The same clip's rows in batch's table and in the video CSV are the same text, number for
    number (6 decimals for probabilities and confidence, 4 for times; no 4e-06 beside 0.93)."""
    import csv
    import shutil

    clip = tmp_path / "clip.mp4"
    shutil.copy(media / "test.mp4", clip)
    assert main(["batch", str(clip), "--to", str(tmp_path / "t.csv"), "--no-progress"]) == 0
    assert main(["video", str(clip), "-o", str(tmp_path / "v"), "--no-video", "--no-progress"]) == 0
    batch = list(csv.DictReader(open(tmp_path / "t.csv", newline="")))
    video = list(csv.DictReader(open(tmp_path / "v" / "clip_faces.csv", newline="")))
    columns = ["frame", "time_s", "face_id", "confidence", *EmotionRecognizer().labels]
    assert len(batch) == len(video) > 20
    assert [[r[c] for c in columns] for r in batch] == [[r[c] for c in columns] for r in video]
    assert all(len(r["angry"].partition(".")[2]) == 6 and len(r["time_s"].partition(".")[2]) == 4 for r in batch)
