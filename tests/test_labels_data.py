import zipfile

import cv2
import numpy as np
import pytest

from facemotion.data import available_splits, load_splits
from facemotion.errors import DataError
from facemotion.labels import EMOTIONS, UnknownLabelError, label_index

from conftest import faces_like, jpg_bytes


def test_canonical_order_and_aliases():
    assert EMOTIONS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert label_index("Scared") == 2
    assert label_index("HAPPINESS") == 3
    assert label_index("sadness") == 4
    assert label_index("anger") == 0
    assert label_index("3") == 3
    with pytest.raises(UnknownLabelError, match="'contemptuous'"):
        label_index("contemptuous")


def _write_csv(path, rows, header="emotion,pixels,Usage"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def _pix(seed=0):
    return " ".join(str(v) for v in faces_like(1, seed)[0].ravel())


def test_csv_splits_by_usage(tmp_path):
    p = tmp_path / "fer2013.csv"
    _write_csv(p, [f"3,{_pix()},Training", f"0,{_pix(1)},Training", f"6,{_pix(2)},PublicTest", f"5,{_pix(3)},PrivateTest"])
    d = load_splits(p)
    assert [len(d[s]) for s in ("train", "val", "test")] == [2, 1, 1]
    assert d["train"].labels.tolist() == [3, 0]
    assert d["train"].images.shape == (2, 48, 48) and d["train"].images.dtype == np.uint8
    np.testing.assert_array_equal(d["train"].images[0], faces_like(1, 0)[0])
    assert available_splits(tmp_path) == ["train", "val", "test"]  # a folder holding fer2013.csv


@pytest.mark.parametrize("row, msg", [
    ("3,1 2 3,Training", r"row 3: 3 pixel values, expected 2304"),
    ("3,{pix_bad},Training", r"row 3: non-numeric pixel value 'x7'"),
    ("9,{pix},Training", r"row 3: label index 9"),
    ("3,{pix},Trainingg", r"row 3: unknown Usage"),
])
def test_csv_malformed_rows_name_the_row(tmp_path, row, msg):
    pix = _pix()
    row = row.format(pix=pix, pix_bad="x7 " + " ".join(pix.split()[1:]))
    p = tmp_path / "bad.csv"
    _write_csv(p, [f"3,{pix},Training", row])
    with pytest.raises(DataError, match=msg) as e:
        load_splits(p, ("train",), cache=False)
    assert str(p) in str(e.value) and "--skip-bad" in str(e.value)
    d = load_splits(p, ("train",), skip_bad=True, cache=False)
    assert len(d["train"]) == 1 and len(d["train"].skipped) == 1


def test_csv_missing_split_is_an_error(tmp_path):
    p = tmp_path / "f.csv"
    _write_csv(p, [f"3,{_pix()},Training"])
    with pytest.raises(DataError, match="no rows for split 'test'"):
        load_splits(p, ("train", "test"))


def test_kaggle_zip_splits_test_folder_by_prefix(kaggle_zip):
    d = load_splits(kaggle_zip)
    assert [len(d[s]) for s in ("train", "val", "test")] == [12, 4, 4]
    assert all("PublicTest_" in s for s in d["val"].sources)
    assert all("PrivateTest_" in s for s in d["test"].sources)
    assert sorted(set(d["train"].labels.tolist())) == [0, 3, 5, 6]


def test_only_requested_splits_are_decoded(kaggle_zip, monkeypatch):
    import facemotion.data as data

    seen = []
    real = data.decode_image
    monkeypatch.setattr(data, "decode_image", lambda b, where: (seen.append(where), real(b, where))[1])
    load_splits(kaggle_zip, ("train", "val"), cache=False)
    assert seen and not any("PrivateTest" in w for w in seen)


def test_extracted_folder_same_as_zip(kaggle_zip, tmp_path):
    root = tmp_path / "extracted"
    zipfile.ZipFile(kaggle_zip).extractall(root)
    a, b = load_splits(kaggle_zip), load_splits(root)
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(a[s].images, b[s].images)
        np.testing.assert_array_equal(a[s].labels, b[s].labels)


def test_user_class_folders_with_aliases_and_any_size(tmp_path):
    for cls, n in (("Happiness", 2), ("scared", 1), ("Sad", 1)):
        (tmp_path / cls).mkdir()
        for i in range(n):
            big = cv2.resize(faces_like(1, i)[0], (120, 100))
            cv2.imwrite(str(tmp_path / cls / f"{i}.png"), cv2.cvtColor(big, cv2.COLOR_GRAY2BGR))
    d = load_splits(tmp_path, ("train",))
    assert sorted(d["train"].labels.tolist()) == [2, 3, 3, 4]
    assert d["train"].images.shape == (4, 48, 48)


def test_unknown_class_folder_named(tmp_path):
    (tmp_path / "bored").mkdir()
    cv2.imwrite(str(tmp_path / "bored" / "a.png"), faces_like(1)[0])
    with pytest.raises(DataError, match="'bored'"):
        load_splits(tmp_path, ("train",))


def test_unreadable_image_named_or_skipped(tmp_path):
    (tmp_path / "happy").mkdir()
    cv2.imwrite(str(tmp_path / "happy" / "ok.png"), faces_like(1)[0])
    (tmp_path / "happy" / "broken.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"broken\.jpg: not a readable image"):
        load_splits(tmp_path, ("train",), cache=False)
    d = load_splits(tmp_path, ("train",), skip_bad=True, cache=False)
    assert len(d["train"]) == 1 and len(d["train"].skipped) == 1


def test_missing_split_in_folder_layout(tmp_path):
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "Training_1.jpg").write_bytes(jpg_bytes(faces_like(1)[0]))
    with pytest.raises(DataError, match=r"missing split\(s\) val"):
        load_splits(tmp_path, ("train", "val"))


def test_full_fer2013_zip(fer_zip):
    import time

    t = time.perf_counter()
    d = load_splits(fer_zip)
    cold = time.perf_counter() - t
    assert [len(d[s]) for s in ("train", "val", "test")] == [28709, 3589, 3589]
    assert d["train"].class_counts().tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert sum(x.images.nbytes for x in d.values()) < 100e6  # well under the 1 GB budget
    t = time.perf_counter()
    load_splits(fer_zip)
    warm = time.perf_counter() - t
    assert warm < cold  # the decoded-array cache is used
