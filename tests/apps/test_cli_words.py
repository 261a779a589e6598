"""The command line's own words: a file of another kind is not written over, a command refused
leaves no empty folder, an output below a file is named with its option, counts are in the
right number, and what a command wrote is said where its output allows."""

from __future__ import annotations

import json

import pytest

import facemotion
from facemotion.cli import main

SAMPLE = str(facemotion.SAMPLE_IMAGE)


def test_outputs_below_a_file_are_named_with_their_option(tmp_path, capsys, media, fer_zip):
    (tmp_path / "notes.txt").write_text("x")
    below = str(tmp_path / "notes.txt" / "sub")
    for argv, option in ((["video", str(media / "test.mp4"), "-o", below], "-o"),
                         (["batch", SAMPLE, "--to", below + ".csv"], "--to"),
                         (["data", "stats", str(fer_zip), "-o", below], "-o"),
                         (["data", "crops", str(media), "--unlabelled", "--out", below], "--out")):
        assert main(argv) == 2  # the option names a path no output can be at, as -o photo.jpg does
        err = capsys.readouterr()
        assert err.err.strip() == f"error: {option} {argv[-1]}: {tmp_path / 'notes.txt'} is a file, not a folder"
        assert err.out == ""  # refused before any result is printed


def test_summary_lines_count_in_the_right_number(tmp_path, capsys):
    assert main(["batch", SAMPLE, "--to", str(tmp_path / "t.csv"), "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert ": 1 row; 1 input processed (" in line and ", 1 face;" in line
    assert main(["batch", SAMPLE, "--to", str(tmp_path / "t.csv"), "--no-progress"]) == 0  # resumed: all done
    again = capsys.readouterr().out
    assert ": 1 row; 0 inputs processed (" in again and ", 0 faces; 1 input done before;" in again


def test_image_with_json_and_a_folder_says_what_it_wrote_on_stderr(tmp_path, capsys):
    assert main(["image", SAMPLE, "--json", "-o", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert [json.loads(line)["file"] for line in out.splitlines()] == [SAMPLE]  # stdout: the JSON lines only
    assert f"wrote 1 annotated image to {tmp_path / 'out'}/" in err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["astronaut_annotated.jpg"]


def test_batch_leaves_no_empty_annotate_folder_when_every_input_failed(tmp_path):
    assert main(["batch", str(tmp_path / "nope.jpg"), "--to", str(tmp_path / "t.csv"), "--annotate",
                 str(tmp_path / "a" / "b"), "--no-progress"]) == 1
    assert not (tmp_path / "a").exists()


def test_a_file_of_another_kind_is_not_written_over(tmp_path, tiny_checkpoint, kaggle_zip):
    pytest.importorskip("torch", reason="teacher-targets and interpolate need torch (the [train] extra)")
    import shutil

    from facemotion.errors import UsageError

    ckpt = tmp_path / "best.pt"
    shutil.copy(tiny_checkpoint, ckpt)
    before = ckpt.read_bytes()
    assert main(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint),
                 "--to", str(ckpt)]) == 2
    assert ckpt.read_bytes() == before
    targets = tmp_path / "targets.pt"
    assert main(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint),
                 "--to", str(targets), "--no-progress"]) == 0
    assert main(["teacher-targets", "--data", str(kaggle_zip), "--teacher", str(tiny_checkpoint),
                 "--to", str(targets), "--no-progress"]) == 0  # its own kind: kept or made again
    with pytest.raises(UsageError, match=r"holds teacher targets, which this would replace with a checkpoint"):
        from facemotion.training.checkpoint import refuse_other_kind

        refuse_other_kind(targets, "--to", "checkpoint")
    assert main(["interpolate", str(tiny_checkpoint), str(tiny_checkpoint), "--alpha", "0.5",
                 "--to", str(targets)]) == 2


def test_train_refused_leaves_no_folder_and_reads_its_options(tmp_path, capsys, kaggle_zip):
    pytest.importorskip("torch", reason="train needs torch (the [train] extra)")
    out = tmp_path / "runs" / "train"
    base = ["train", "--data", str(kaggle_zip), "--out", str(out), "--epochs", "1", "--batch-size", "4",
            "--no-progress"]
    for extra in (["--arch", "nosuch"], ["--init", str(tmp_path / "nope.pt")], ["--prune", "0.5"],
                  ["--vote-scheme", "majority"], ["--balance-groups", str(tmp_path)]):
        assert main(base + extra) in (1, 2), extra
        assert not (tmp_path / "runs").exists(), extra
    err = capsys.readouterr().err
    assert "error: --vote-scheme majority: how FER+'s votes become targets, with --labels ferplus" in err
    assert f"error: --balance-groups: {tmp_path} is a folder; give the CSV" in err
