"""One option name, one meaning: every command's argparse table is walked, and an option name
that takes a different kind of value (a flag or a value, the check and bounds its value goes
through, its choices) on two commands fails the test.

Deprecated spellings (kept working for a release, with a note) are left out: they are the old
names of options renamed because they meant something else elsewhere. Names whose meaning the
table cannot see are pinned below (what they set, per command)."""

from __future__ import annotations

import argparse
from collections import defaultdict

from facemotion.cli import build_parser

# options that may differ in kind on purpose: none
EXEMPT: set[str] = set()
# names whose kind agrees everywhere but whose target the table cannot see: the commands that
# use each, checked by hand to mean one thing. A command that takes one of these names up must
# be added here after that check (or use another name).
PINNED = {
    "--every": {"video", "webcam"},          # run the detector every N frames, track in between
    "--workers": {"serve"},                  # inference threads sharing one model
    "--target": {"explain"},                 # the emotion explained
    "--tta": {"evaluate", "export"},         # test-time views averaged: none, flip, tencrop
    "--threads": {"image", "explain", "demo", "video", "webcam", "serve", "batch", "train"},  # the compute
                                             # library's threads (ONNX Runtime + OpenCV; torch in train)
    "--limit": {"train", "teacher-targets", "evaluate"},  # use N images (0: all)
    # an output folder; a command that writes one file takes --to FILE (its old -o still works)
    "-o": {"demo", "evaluate", "explain", "image", "import", "train", "video", "webcam"},
    "--out": {"demo", "evaluate", "explain", "image", "import", "train", "video", "webcam"},
    "--to": {"adopt", "batch", "export", "interpolate", "quantize", "teacher-targets"},  # the one file written
    "--blur": {"image", "video", "webcam", "batch"},  # pixelate the faces found in the pictures drawn
}


def commands():
    p = build_parser()
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def deprecated(action) -> bool:
    return type(action).__name__ == "Alias"


def meaning(action) -> tuple:
    """What the option takes: a flag, or a value with its check (and bounds) and choices."""
    if action.nargs == 0:
        return ("flag",)
    check = getattr(action.type, "meaning", None) or getattr(action.type, "__name__", None)
    return ("value", check, tuple(action.choices) if action.choices else None,
            action.nargs if action.nargs in ("?", "*", "+") else None)


def option_table():
    table = defaultdict(lambda: defaultdict(list))
    for name, parser in commands().items():
        for action in parser._actions:
            if deprecated(action) or isinstance(action, argparse._HelpAction):
                continue
            for opt in action.option_strings:
                table[opt][meaning(action)].append(name)
    return table


def test_every_option_name_has_one_meaning_across_commands():
    clashes = [f"{opt}: " + "; ".join(f"{' '.join(m[:2]) if m[0] == 'flag' else m} in {', '.join(cmds)}"
                                      for m, cmds in kinds.items())
               for opt, kinds in sorted(option_table().items()) if len(kinds) > 1 and opt not in EXEMPT]
    assert not clashes, "\n".join(clashes)


def test_pinned_names_are_used_only_where_checked():
    table = option_table()
    used = {opt: {c for cmds in kinds.values() for c in cmds} for opt, kinds in table.items()}
    wrong = {opt: sorted(used.get(opt, set()) ^ cmds) for opt, cmds in PINNED.items() if used.get(opt, set()) != cmds}
    assert not wrong, f"commands that differ from the pinned ones (check what the option means there): {wrong}"


def test_the_table_sees_the_options_it_judges():
    table = option_table()
    # shared options are found on every command that has them, with checks the table can compare
    assert {"image", "video", "serve", "batch", "train"} <= {c for cmds in table["--threads"].values() for c in cmds}
    assert all(m[1] is not None for m in table["--threads"])
    assert len(table["--seed"]) == 1 and len(table["--tta"]) == 1 and len(table["--every"]) == 1


def test_renamed_options_keep_their_old_spelling_with_a_note(capsys):
    cmds = commands()
    args = cmds["batch"].parse_args(["x.jpg", "--to", "r.csv", "--every", "5", "--workers", "3"])
    assert (args.every, args.workers) == (5, 3)
    err = capsys.readouterr().err
    assert "--every is deprecated here; use --frame-step" in err and "--workers is deprecated here; use --detect-workers" in err
    # where the old name means something else in another command, the note says so
    assert "`video --every N` detects every N-th frame and writes every frame" in err
    args = cmds["train"].parse_args(["--data", "d", "--target", "majority"])
    assert args.target == "majority" and "use --vote-scheme" in capsys.readouterr().err
    assert cmds["batch"].parse_args(["x.jpg", "--to", "r.csv", "--frame-step", "5"]).every == 5
    assert cmds["export"].parse_args(["a.pt", "--to", "a.onnx", "--tta"]).tta == "flip"  # the old flag still works
    assert cmds["train"].parse_args(["--data", "d", "--threads", "auto"]).threads == "auto"
    capsys.readouterr()
    # -o names a folder everywhere; the commands that write one file said -o for it before --to
    assert cmds["export"].parse_args(["a.pt", "-o", "a.onnx"]).out == "a.onnx"
    assert "-o is deprecated here; use --to" in capsys.readouterr().err
