"""The cluster engine: the same job on Ray Data (the ``[ray]`` extra; Ray is imported only here).

The driver lists the inputs (as the local engine does) and skips those already in the
output; Ray Data reads that listing as a dataset and ``map_batches`` it through a pool of
actors, each holding one recognizer for its whole life (:class:`RecognizeBatch`: the same
:mod:`.stages` as the local engine, the faces of a batch in one classifier call). The rows
stream back to the driver, which writes them through the same resumable sink, so the output,
its resume and its rows are those of ``--engine local``.

Workers open the input paths themselves: on a cluster the paths must be visible to every
node under the same name (shared storage: NFS, a mounted bucket), and so must the model
file when ``--model`` is a path (shipped models travel with the package).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket

import numpy as np

from ..errors import FacemotionError, UsageError
from ..progress import progress_bar
from .inputs import Item
from .stages import JobSpec, classify_items, detect_item


class RecognizeBatch:
    """A Ray Data actor: a batch of inputs (index, path, kind, stem) -> one row per input with
    its rows as JSON (JSON keeps ``None`` and floats exact, and a photo without faces still
    comes back, so the driver records it as done)."""

    def __init__(self, spec: dict, annotate_dir=None, blur: bool = False):
        import cv2

        cv2.setNumThreads(1)  # one CPU per actor: Ray places as many actors as there are CPUs
        self.spec = JobSpec.from_dict(spec)
        self.rec = self.spec.recognizer()
        self.annotate_dir, self.blur = annotate_dir, blur

    def __call__(self, batch: dict) -> dict:
        items = [Item(int(i), os.fsdecode(p), str(k), os.fsdecode(s))
                 for i, p, k, s in zip(batch["index"], batch["path"], batch["kind"], batch["stem"])]
        detected = [detect_item(self.rec, it, every=self.spec.every, keep_image=self.annotate_dir is not None,
                                smooth=self.spec.smooth) for it in items]
        rows = classify_items(self.rec, detected, self.annotate_dir, self.blur)
        return {"path": np.array([os.fsencode(it.path) for it in items], dtype=object),
                "rows": np.array([json.dumps(r) for r in rows], dtype=object),
                "faces": np.array([d.n_faces for d in detected]),
                "failed": np.array([d.error is not None for d in detected])}


def ray_module():
    try:
        import ray
        import ray.data
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # its per-dataset INFO lines would bury the bar
    except ImportError as e:
        raise FacemotionError(f"--engine ray needs Ray Data ({e.name or e} is not installed): "
                              "pip install 'facemotion[ray]'") from None
    return ray


def check_address(address: str | None) -> None:
    """Whether the cluster at ``address`` (else ``RAY_ADDRESS``) can be reached, said in one line
    before any output exists: Ray's own start printed a traceback for an address it cannot
    parse, and retried an unreachable one for minutes. None, ``auto`` and ``local``: Ray's own
    choice (a local instance started here where none runs)."""
    option = "--ray-address" if address else "RAY_ADDRESS"
    address = address or os.environ.get("RAY_ADDRESS")
    if not address or address in ("auto", "local"):
        return
    rest = address
    if address.startswith("ray://"):
        rest = address[len("ray://"):]
        if importlib.util.find_spec("grpc") is None:
            raise FacemotionError(f"{option} {address}: a ray:// address needs Ray's client: pip install 'ray[client]'")
    host, _, port = rest.rstrip("/").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{option} {address}: not a cluster's address (host:port, ray://host:port, auto or local)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise FacemotionError(f"{option} {address}: no Ray cluster answers there ({e.strerror or e}); start one "
                              "(ray start --head) or give its address") from None


def run_ray(items, spec: JobSpec, sink, *, actors: int | None = None, batch_size: int = 8, address: str | None = None,
            annotate_dir=None, progress: bool = True, blur: bool = False) -> dict:
    """Process ``items`` into ``sink`` on Ray: the running instance if this process started one
    (``ray.init`` before the call), else the cluster at ``address`` / ``RAY_ADDRESS`` (as under
    ``ray job submit``), else a local instance started (and shut down) here."""
    counts = {"processed": 0, "faces": 0, "faceless": 0, "failed": 0, "first_error": None}
    if not items:
        return counts
    ray = ray_module()
    own = not ray.is_initialized()
    if own:
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except Exception as e:  # noqa: BLE001 - Ray raises many kinds; one line, its first
            said = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise FacemotionError(f"--engine ray: Ray could not start ({said})") from None
    bar = progress_bar(total=len(items), unit="input", desc="batch (ray)", disable=not progress, leave=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # rows in input order, as the local engine writes them
        ctx.enable_progress_bars = False  # one bar: ours
        n = actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # a block per batch (and at least two per actor): a block goes to one actor whole
        blocks = min(len(items), max(-(-len(items) // batch_size), 2 * n))
        listing = ray.data.from_items(
            # names as bytes: Arrow's strings are UTF-8, and a file name need not be (names.py)
            [{"index": it.index, "path": os.fsencode(it.path), "kind": it.kind, "stem": os.fsencode(it.stem)}
             for it in items],
            override_num_blocks=blocks)
        results = listing.map_batches(RecognizeBatch,
                                      fn_constructor_kwargs={"spec": spec.to_dict(), "annotate_dir": annotate_dir,
                                                             "blur": blur},
                                      batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=n), num_cpus=1)
        for r in results.iter_rows():
            rows = [tuple(row) for row in json.loads(r["rows"])]
            if rows and "model" not in counts:  # the name the workers' model goes by (its card's)
                counts["model"] = rows[0][-2]  # every layout ends in model, error (rows.columns)
            sink.write(os.fsdecode(r["path"]), rows, failed=bool(r["failed"]))
            counts["processed"] += 1
            counts["faces"] += int(r["faces"])
            counts["faceless"] += not r["failed"] and not r["faces"]
            counts["failed"] += bool(r["failed"])
            counts["first_error"] = counts["first_error"] or (rows[-1][-1] if r["failed"] and rows else None)
            bar.update(1)
            bar.set_postfix(faces=counts["faces"], failed=counts["failed"], refresh=False)
    finally:
        bar.close()
        if own:
            ray.shutdown()
    return counts
