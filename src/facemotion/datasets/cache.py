"""Decoded splits cached as ``.npy`` files, keyed by the source's path, size and mtime (and
a folder's listing), so a second load of the full FER2013 takes well under a second.

The cache lives in ``$FACEMOTION_CACHE`` (default ``~/.cache/facemotion``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ..fileio import atomic_path
from ..preprocess import INPUT_SIZE
from .splits import Split

CACHE_VERSION = "1"


def cache_dir() -> Path:
    root = os.environ.get("FACEMOTION_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "facemotion")
    return Path(root)


def cache_key(path: Path, split: str, skip_bad: bool) -> str:
    st = path.stat()
    raw = f"{CACHE_VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{split}|{skip_bad}|{INPUT_SIZE}"
    if path.is_dir():  # a folder's mtime misses edits inside class folders: hash the listing too
        listing = sorted(_entry(p, path) for p in path.rglob("*") if not p.is_dir())
        raw += "|" + hashlib.sha1("\n".join(listing).encode("utf-8", "surrogateescape")).hexdigest()
    return hashlib.sha1(raw.encode("utf-8", "surrogateescape")).hexdigest()[:20]  # names not UTF-8 too


def _entry(p: Path, root: Path) -> str:
    """A file of a folder as the key sees it: its name, size and time (a photo replaced by another
    of the same size changes the set); a broken link too (--skip-bad counts it as a bad sample)."""
    try:
        st = p.stat()
    except OSError:
        st = p.lstat()
    return f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}"


def cache_load(key: str, name: str) -> Split | None:
    d = cache_dir() / key
    try:
        images = np.load(d / "images.npy", mmap_mode=None)
        labels = np.load(d / "labels.npy")
        sources = np.load(d / "sources.npy")
        skipped = (d / "skipped.txt").read_text().splitlines() if (d / "skipped.txt").exists() else []
    except (OSError, ValueError):
        return None
    return Split(name, images, labels, sources, skipped)


def cache_save(key: str, split: Split) -> None:
    try:
        # the folder appears whole or not at all: a half-written cache is never picked up
        with atomic_path(cache_dir() / key, replace=False) as tmp:
            tmp.mkdir()
            np.save(tmp / "images.npy", split.images)
            np.save(tmp / "labels.npy", split.labels)
            np.save(tmp / "sources.npy", split.sources)
            (tmp / "skipped.txt").write_text("\n".join(split.skipped))
    except OSError:
        pass  # caching is an optimisation; a read-only home must not break loading
