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


def test_a_temporary_copy_a_killed_process_left_is_removed_by_a_rerun(tmp_path):
    """`data subset` killed mid-write left `.sub.tar.tmp19622.xz` beside the finished file for
    good; its next run removes a copy whose process is gone, and leaves one whose process runs
    (a write under way), another file's, and a name no process could have."""
    import subprocess

    from facemotion.fileio import remove_stale_temps

    gone = subprocess.Popen(["true"])
    gone.wait()  # a process number no process holds now
    stale = tmp_path / f".sub.tar.tmp{gone.pid}.xz"
    busy = tmp_path / f".sub.tar.tmp{os.getppid()}.xz"  # a live process's (this test's parent)
    other = tmp_path / f".sub.tmp{gone.pid}.xz"  # another file's
    odd = tmp_path / ".sub.tar.tmp99999999999999999999.xz"  # (os.kill raised OverflowError)
    for p in (stale, busy, other, odd):
        p.write_bytes(b"part")
    remove_stale_temps(tmp_path / "sub.tar.xz")
    assert not stale.exists() and busy.exists() and other.exists() and odd.exists()
