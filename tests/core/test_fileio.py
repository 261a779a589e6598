"""Whole-file outputs are written once, atomically (facemotion.fileio)."""

import os

import pytest

from facemotion.fileio import atomic_path, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "report.json"
    write_text(target, "old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(target.parent) == ["report.json"]


def test_folders_and_keeping_an_existing_result(tmp_path):
    with atomic_path(tmp_path / "cache" / "k") as tmp:
        tmp.mkdir()
        (tmp / "a.npy").write_bytes(b"1")
    assert (tmp_path / "cache" / "k" / "a.npy").read_bytes() == b"1"
    with atomic_path(tmp_path / "cache" / "k", replace=False) as tmp:  # another process finished first
        tmp.mkdir()
        (tmp / "a.npy").write_bytes(b"2")
    assert (tmp_path / "cache" / "k" / "a.npy").read_bytes() == b"1"
    assert sorted(os.listdir(tmp_path / "cache")) == ["k"]
