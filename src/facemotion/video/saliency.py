"""Saliency maps over a video's faces: each face id's latest map, recomputed every N frames,
and their sum for the summary (``facemotion video --explain``)."""

from __future__ import annotations

import numpy as np

from ..align import absolute_box, relative_box
from ..explain import region_shares
from ..explain.figures import overlay_aligned, overlay_in_box


class SaliencyKeeper:
    """Each face id's latest saliency map (recomputed every ``every`` frames analysed, and on the
    frame a face first appears; ``step``: every step-th frame is analysed) and the sum of its maps,
    for the summary."""

    def __init__(self, recognizer, explain: dict, step: int = 1):
        opts = dict(explain)
        self.every = max(1, int(opts.pop("every", 10)))
        self.recognizer, self.opts, self.step = recognizer, opts, step
        self.latest: dict = {}
        self.total: dict = {}
        self.computed = 0

    def update(self, index: int, frame, faces) -> None:
        todo = [f for f in faces if (index // self.step) % self.every == 0 or f["face_id"] not in self.latest]
        if not todo:
            return
        done = self.recognizer.stages.explain_boxes(frame, [(f["box"], f["confidence"]) for f in todo], **self.opts)
        for f, e in zip(todo, done):
            # the map, and where it lies as a change of the face's box (a leaning face's level box,
            # turned; a face the mesh aligned, its landmarks less the box's corner): the box moves
            # between two maps, and the map with it
            if e.get("map_aligned") and e.get("landmarks") is not None:
                where = ("aligned", np.asarray(e["landmarks"], np.float64)[:, :2] - np.asarray(e["box"][:2], float))
            else:
                where = relative_box(e["map_box"], e["box"], e["map_lean"])
            self.latest[f["face_id"]] = (e["saliency"], where)
            self.total[f["face_id"]] = self.total.get(f["face_id"], 0) + e["saliency"]
        self.computed += len(todo)
        self.method = done[0]["method"]

    def overlay(self, frame, faces):
        out = frame.copy()
        for f in faces:
            if f["face_id"] not in self.latest:
                continue
            saliency, rel = self.latest[f["face_id"]]
            if rel[0] == "aligned":  # the crop the landmarks framed, moved with the box
                overlay_aligned(out, rel[1] + np.asarray(f["box"][:2], float), saliency)
            else:
                overlay_in_box(out, absolute_box(rel, f["box"]), saliency, lean=rel[4])
        return out

    def regions(self) -> dict:
        return {fid: region_shares(total)[:3] for fid, total in self.total.items()}

    def summary(self) -> dict:
        return {"every": self.every, "method": getattr(self, "method", None), "maps": self.computed,
                **{k: v for k, v in self.opts.items() if k != "method"}}
