"""The one registry idiom, as timm's ``register_model`` / ``create_model``: named factories of
one kind (detectors, explanation methods, model-file backends, network architectures),
registered with a decorator, listed, and created by name.

    DETECTORS = Registry("detector")

    @DETECTORS.register("haar")
    class HaarDetector: ...

    DETECTORS.create("haar", max_side=640)

A name the registry lacks may be supplied by the [train] extra through an entry point group
(:mod:`facemotion.plugins`): it is loaded on first use, so the core never imports torch.
"""

from __future__ import annotations

from typing import Callable

from .errors import UsageError
from .plugins import load_entry_point


class Registry:
    """Factories by name. ``aliases``: older names that resolve to a registered one (listed only
    when asked); ``group``: an entry point group searched for a name not registered here;
    ``unknown``: the one-line error for a name nobody knows, formatted with ``name`` and
    ``names`` (the known ones) and raised as ``error``."""

    def __init__(self, kind: str, *, aliases: dict | None = None, group: str | None = None,
                 unknown: str = "unknown {kind} {name!r}; choose one of {names}", error: type = UsageError,
                 sort: bool = False, fold_case: bool = False):
        self.kind, self.aliases, self.group = kind, dict(aliases or {}), group
        self.unknown, self.error, self.sort, self.fold_case = unknown, error, sort, fold_case
        self._items: dict[str, Callable] = {}

    def register(self, name: str | Callable | None = None, factory: Callable | None = None):
        """``@reg.register("name")`` or ``@reg.register`` (the function's own name) on a class or
        function; ``reg.register("name", factory)`` as a call. A name registered twice is refused."""
        if callable(name):  # @reg.register, bare
            return self.register(name.__name__, name)

        def add(fn: Callable) -> Callable:
            key = fn.__name__ if name is None else name
            key = key.lower() if self.fold_case else key  # looked up so: "MyDet" is found as "mydet"
            if key in self.aliases:
                raise ValueError(f"{self.kind} {key!r} is an older name of {self.aliases[key]!r}; register "
                                 "under another name")
            if key in self._items and self._items[key] is not fn:
                raise ValueError(f"{self.kind} {key!r} registered twice")
            self._items[key] = fn
            return fn

        return add if factory is None else add(factory)

    def canonical(self, name: str) -> str:
        """The registered name ``name`` stands for (an alias resolved; case ignored if so made)."""
        key = name.lower() if self.fold_case else name
        return self.aliases.get(key, key)

    def names(self, aliases: bool = False) -> list[str]:
        """The registered names (and, with ``aliases``, the older ones); entry points are listed
        by name, not imported (that would pull torch into a run that does not need it)."""
        found = list(self._items)
        if self.group:
            from importlib.metadata import entry_points

            found += [ep.name for ep in entry_points(group=self.group) if ep.name not in self._items]
        found = sorted(found) if self.sort else found
        return found + (list(self.aliases) if aliases else [])

    def __contains__(self, name: str) -> bool:
        return self.canonical(name) in self._items

    def get(self, name: str, *, who: str | None = None, unknown: str | None = None) -> Callable:
        """The factory of ``name``; an entry point of the group is loaded on the first miss
        (``who`` begins its error when the extra that provides it is missing). ``unknown``: this
        call's one-line error for a name nobody knows (the registry's own otherwise), formatted
        alike."""
        key = self.canonical(name)
        if key not in self._items and self.group:
            factory = load_entry_point(self.group, key, who or f"{key} needs")
            if factory is not None:
                self.register(key, factory)
        if key not in self._items:
            line = self.unknown if unknown is None else unknown
            # the current names only: an older one is still taken, but not offered
            raise self.error(line.format(kind=self.kind, name=name, names=", ".join(self.names())) + self.nearest(name))
        return self._items[key]

    def nearest(self, name: str) -> str:
        """"; did you mean X?" for the current name nearest ``name`` (case ignored), or ""."""
        import difflib

        names = self.names()
        lowered = {n.lower(): n for n in names}
        near = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.6)
        return f"; did you mean {lowered[near[0]]}?" if near else ""

    def create(self, name: str, *args, **kwargs):
        """``get(name)(*args, **kwargs)``."""
        return self.get(name)(*args, **kwargs)
