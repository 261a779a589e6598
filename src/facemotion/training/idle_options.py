"""``facemotion train``'s options that only tune a part of the run another option turns on
(distillation, the unlabelled faces' consistency, corruptions, SGD): given alone, each is
refused in one line rather than passed over."""

from __future__ import annotations

from ..errors import UsageError

# options that tune a part of the run another option turns on: (dest, what turns it on, whether it is on)
_TUNES = (("kd_alpha", "a teacher (--teacher or --teacher-targets)", lambda c: c.teacher or c.teacher_targets),
          ("kd_temp", "a teacher (--teacher or --teacher-targets)", lambda c: c.teacher or c.teacher_targets),
          ("kd_offline", "--teacher", lambda c: c.teacher),
          ("unlabelled_weight", "--unlabelled FOLDER", lambda c: c.unlabelled),
          ("unlabelled_threshold", "--unlabelled FOLDER", lambda c: c.unlabelled),
          ("corrupt_mix", "--corrupt P", lambda c: c.corrupt),
          ("momentum", "--opt sgd", lambda c: c.opt == "sgd"))


def refuse_idle_options(cfg, parser) -> None:
    """An option given for a part of the run that is off would do nothing: said, as --prune
    without --init is, not passed over (the run trained as if it were not given)."""
    for dest, needs, on in _TUNES:
        if getattr(cfg, dest, None) != parser.get_default(dest) and not on(cfg):
            raise UsageError(f"--{dest.replace('_', '-')}: tunes what {needs} turns on, which this run does not "
                             "use; give that too, or leave it out")
