"""The batched device path (facemotion.cuda.batched: many pictures at once, every step on the
device): on torch's CPU device here, the same code a GPU runs, against the per-picture path (the
same faces, boxes within 1 px, the same top emotions; crops within a grey level) on the shared
photos, turned copies of them (the upright turn and its level search) and the shared clips (the
tracks' leans and level boxes carried from frame to frame); its OpenCV-equivalent image steps
pixel for pixel; on a GPU (skipped without one) against the CPU path itself."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch runtime needs torch (the [train] extra)")
cv2 = pytest.importorskip("cv2")

from facemotion import EmotionRecognizer  # noqa: E402

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason=f"no CUDA device: torch {torch.__version__} sees no GPU here "
                                                 "(bash scripts/gpu_run.sh runs these on a lent GPU)")
# the device's image steps reproduce OpenCV 4's arithmetic, the one facemotion requires (<5).
# OpenCV 5 turns pictures in float (warpAffine's pixels move by up to 6 grey levels), so a
# comparison with the CPU path's OpenCV holds only for OpenCV 4 (a lent machine may have 5)
needs_opencv4 = pytest.mark.skipif(int(cv2.__version__.split(".")[0]) >= 5, reason=(
    f"OpenCV {cv2.__version__} is outside facemotion's requirement (opencv-python-headless<5): its "
    "warpAffine rounds otherwise than OpenCV 4's, which the device's steps reproduce"))


def _photos(media) -> list[Path]:
    return sorted(p for p in media.iterdir() if p.suffix.lower() in (".jpg", ".png"))


def _torch_cpu(**kw) -> EmotionRecognizer:
    """The GPU path's code on torch's CPU device, in float32 (the detector at its GPU frame)."""
    from facemotion.cuda import torch_runtime

    rec = EmotionRecognizer(precision="float32", **kw)
    rec.stages.use_runtime(torch_runtime("cpu", autocast=False))
    return rec


def _turned(image: np.ndarray, degrees: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.warpAffine(image, cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0), (w, h))


def _close_boxes(a, b, px: int = 1) -> bool:
    return len(a) == len(b) and all(max(abs(float(i) - float(j)) for i, j in zip(x, y)) <= px for x, y in zip(a, b))


@needs_opencv4
def test_the_device_image_steps_give_opencvs_pixels(media):
    from facemotion.cuda import imageops as ops

    rng = np.random.default_rng(0)
    off = []
    for path in _photos(media):
        image = cv2.imread(str(path))
        t = torch.from_numpy(image)
        g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        off.append(ops.gray(t).numpy().astype(int) - g)
        h, w = g.shape
        for side in (640, 400, 333):  # the detector's working copies
            f = side / max(h, w)
            if f < 1:
                size = (max(1, round(w * f)), max(1, round(h * f)))
                want = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                off.append(ops.resize(t, size).numpy().astype(int) - want)
        for _ in range(10):  # crops to the classifier's grid, shrunk and enlarged
            bw, bh = (int(v) for v in rng.integers(5, min(300, w - 1, h - 1), 2))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            area = bh > 48 or bw > 48
            how = cv2.INTER_AREA if area else cv2.INTER_LINEAR
            want = cv2.resize(g[y:y + bh, x:x + bw], (48, 48), interpolation=how)
            off.append(ops.resize(torch.from_numpy(g)[y:y + bh, x:x + bw], (48, 48), "area" if area else "linear")
                       .numpy().astype(int) - want)
        m = cv2.getRotationMatrix2D((w / 3, h / 2), 17.0, 0.6)  # turns: exactly
        want = cv2.warpAffine(image, m, (160, 150), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        assert np.array_equal(ops.warp_affine(t, cv2.invertAffineTransform(m), (160, 150)).numpy(), want), path.name
    flat = np.concatenate([o.ravel() for o in off])
    assert np.abs(flat).max() <= 1 and (flat != 0).mean() < 1e-3, (np.abs(flat).max(), (flat != 0).mean())


def test_the_device_halves_a_phone_photo_as_the_cpu(media):
    """facemotion.preprocess.shrink's halvings on the device (imageops.shrink): a 12 MP photo's working
    copies and a large face's grid, as the CPU shrinks them (but for a rounding tie); and the
    batched path finds and crops the photo's face as the per-picture path does."""
    from facemotion import preprocess
    from facemotion.cuda import imageops as ops

    image = cv2.resize(cv2.imread(str(media / "obama.jpg")), (3024, 4032), interpolation=cv2.INTER_CUBIC)
    image = np.clip(image + np.random.default_rng(0).normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    t = torch.from_numpy(image)
    off = []
    for size in [(480, 640), (300, 400), (150, 200)]:
        assert preprocess.halvings(4032, 3024, size[1], size[0], preprocess.PICTURE_LEAST) >= 1
        want = preprocess.shrink(image, size, preprocess.PICTURE_LEAST)
        off.append(ops.shrink(t, size, preprocess.PICTURE_LEAST).numpy().astype(int) - want)
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[500:2001, 300:1799]
    off.append(ops.shrink(torch.from_numpy(g), (48, 48), preprocess.FACE_LEAST).numpy().astype(int)
               - preprocess.shrink(g, (48, 48), preprocess.FACE_LEAST))
    flat = np.concatenate([o.ravel() for o in off])
    assert np.abs(flat).max() <= 1 and (flat != 0).mean() < 1e-3
    stages = _torch_cpu().stages
    want = stages.detect_crops(image)
    got = stages.crops_many([image], stages.detect_many([image]))[0]
    assert len(want.boxes) == 1 and want.boxes == got.boxes
    assert np.abs(want.crops.astype(int) - got.crops.astype(int)).max() <= 1


def test_many_warps_in_one_pass_give_each_warps_pixels(monkeypatch):
    """warp_many (a batch's leaning faces and level patches turned together) gives each job the
    very pixels warp_affine gives it, gray and colour, of sources and outputs of every size, and
    so in passes cut to its pixel budget."""
    from facemotion.cuda import imageops as ops

    rng = np.random.default_rng(0)
    for tail in ((), (3,)):
        sources = [torch.from_numpy(rng.integers(0, 256, (int(rng.integers(20, 300)), int(rng.integers(20, 300)),
                                                           *tail), dtype=np.uint8)) for _ in range(4)]
        jobs = []
        for _ in range(12):
            k = int(rng.integers(len(sources)))
            h, w = sources[k].shape[:2]
            m = cv2.getRotationMatrix2D((float(rng.uniform(0, w)), float(rng.uniform(0, h))),
                                        float(rng.uniform(-40, 40)), float(rng.uniform(0.3, 2.5)))
            jobs.append((k, cv2.invertAffineTransform(m), (int(rng.integers(5, 200)), int(rng.integers(5, 200)))))
        want = [ops.warp_affine(sources[k], m, size) for k, m, size in jobs]
        for budget in (ops.WARP_MANY_PIXELS, 20_000):
            monkeypatch.setattr(ops, "WARP_MANY_PIXELS", budget)
            got = ops.warp_many(sources, jobs)
            assert len(got) == len(jobs) and all(torch.equal(a, b) for a, b in zip(got, want))


@needs_opencv4
def test_the_batched_path_finds_and_crops_as_the_per_picture_path(media):
    """The shared photos and turned copies of some (faces that lean: the roll network, the level
    search and the turned crops), as one batch: the per-picture stages' faces, boxes, leans,
    level boxes, crops (within a grey level) and top emotions; and boxes within 1 px of the CPU
    path's (ONNX Runtime, each picture padded to 32 rather than the GPU's frame)."""
    rec = _torch_cpu()
    stages = rec.stages
    assert stages.batched is not None
    images = [rec.read(p).pixels for p in _photos(media)]
    images += [_turned(images[k], 20) for k in range(0, len(images), 3)]
    want = [stages.detect_crops(image) for image in images]
    got = stages.crops_many(images, stages.detect_many(images))
    n_turned = 0
    for k, (a, b) in enumerate(zip(want, got)):
        assert a.boxes == b.boxes and a.confidences == b.confidences, k
        assert (a.angles is None) == (b.angles is None), k
        if a.angles is not None:
            np.testing.assert_allclose(a.angles, b.angles, atol=0.05)
            n_turned += sum(v is not None for v in a.levels)
            for u, v in zip(a.levels, b.levels):
                assert (u is None) == (v is None) and (u is None or np.allclose(u, v, atol=1e-3)), (k, u, v)
        assert np.abs(a.crops.astype(int) - b.crops.astype(int)).max(initial=0) <= 1, k
    assert n_turned >= 3  # the level search ran
    pa = stages.classify_crops(np.concatenate([f.crops for f in want]))
    pb = stages.classify_crops(np.concatenate([f.crops for f in got]))
    assert (pa.argmax(1) == pb.argmax(1)).all() and np.abs(pa - pb).max() < 0.01
    cpu = EmotionRecognizer(precision="float32")
    for path, faces in zip(_photos(media), got):
        assert _close_boxes([f.box for f in cpu.detect_emotions(path)], faces.boxes), path.name


def _faces(results) -> list:
    return [(r.index, [(f["box"], f["face_id"], f["dominant_emotion"]) for f in r.faces]) for r in results]


@needs_opencv4
@pytest.mark.parametrize("clip,every,start,frames,step", [
    ("test.mp4", 1, 0, 24, 1), ("short_hamilton_clip.mp4", 1, 10, 24, 1), ("short_hamilton_clip.mp4", 3, 70, 24, 1),
    ("short_hamilton_clip.mp4", 1, 0, 60, 4)])  # sampled (frame_step): the frames between skipped in a batch too
def test_a_video_in_batches_of_frames_gives_the_per_frame_stream(media, clip, every, start, frames, step):
    """The stream over the batched path (16 frames at a time; tracking, smoothing and records
    frame by frame after each batch) gives the per-frame stream's faces, ids, boxes and top
    emotions: a track's lean carried between detections and its level box reused while the lean
    holds, across a batch's frames and from batch to batch, and the Hamilton clip's scene cuts
    (frames 20 and 82). A small working copy keeps it quick on a CPU."""
    from facemotion.video.sources import FrameSource

    with FrameSource(media / clip) as src:
        shots = [f for _, _, f in itertools.islice(src, start, start + frames)]
    batched, single = _torch_cpu(detect_size=256), _torch_cpu(detect_size=256)
    single.stages.batched = None
    a = _faces(single.stream(iter(shots), every=every, frame_step=step))
    b = _faces(batched.stream(iter(shots), every=every, frame_step=step))
    assert a == b and sum(len(f) for _, f in a) >= frames // step and {i % step for i, _ in a} == {0}


def test_the_batch_engine_batched_gives_the_per_picture_rows(media, tmp_path):
    from facemotion.batch import COLUMNS, JobSpec, expand, read_rows
    from facemotion.batch.local import run_local
    from facemotion.batch.sinks import open_sink

    items = expand([*(_photos(media) * 2), media / "test.mp4"])
    spec = JobSpec(every=20)
    rows = {}
    for name, batched in (("single", False), ("batched", True)):
        rec = _torch_cpu()
        if not batched:
            rec.stages.batched = None
        sink = open_sink(tmp_path / f"{name}.csv", spec.signature(), labels=spec.labels())
        try:
            counts = run_local(items, spec, sink, recognizer=rec, workers=2, progress=False)
        finally:
            sink.close()
        assert counts["processed"] == len(items) and counts["failed"] == 0
        rows[name] = read_rows(tmp_path / f"{name}.csv")
    a, b = rows["single"], rows["batched"]
    # path, frame, time, face id, the box; then the confidence, the probabilities, the top emotion
    assert [r[:8] for r in a] == [r[:8] for r in b] and len(a) > len(items)
    top = len(COLUMNS) - 3 + len(rec.labels) - 7  # the dominant emotion's column, the model's labels
    assert [r[top] for r in a] == [r[top] for r in b]


def test_auto_keeps_a_small_job_on_the_cpu(capsys):
    from facemotion.cuda import AUTO_LEAST, resolve_device

    assert resolve_device("auto", "--device", job=(180, "frames")) == "cpu"
    assert "--device auto: cpu (180 frames: fewer than 20,000" in capsys.readouterr().err
    assert resolve_device("cpu", job=(10**6, "photos")) == "cpu" and AUTO_LEAST["frames"] > 115


def test_auto_keeps_photos_on_the_cpu_at_any_size(capsys):
    """On photos the CPU path was the faster at every size measured (a GPU's batch: 0.5x the CPU's
    on an H200's 16-core host), so auto keeps a collection of any size there and says why."""
    from facemotion.cuda import resolve_device

    assert resolve_device("auto", "--device", job=(10**6, "photos")) == "cpu"
    assert "--device auto: cpu (on photos the CPU path is the faster" in capsys.readouterr().err


def test_a_graphs_check_is_kept_on_disk(tmp_path, monkeypatch):
    """The check against ONNX Runtime runs once per graph file, torch version and kind of device;
    a later runtime takes its verdict (the conversion itself is milliseconds)."""
    from facemotion.cuda import cache, runtime

    monkeypatch.setenv("FACEMOTION_CACHE", str(tmp_path))
    calls = []
    real = runtime.check_graph
    monkeypatch.setattr(runtime, "check_graph", lambda m, d: calls.append(m.path.name) or real(m, d))
    path = runtime.roll_estimator().path
    runtime.TorchRuntime("cpu").module(path)
    runtime.TorchRuntime("cpu").module(path)
    assert calls == [path.name] and len(list((tmp_path / "torch-graphs").glob("*.json"))) == 1
    monkeypatch.setattr(torch, "__version__", "0.0.0-other")
    runtime.TorchRuntime("cpu").module(path)
    assert calls == [path.name] * 2
    monkeypatch.setenv("FACEMOTION_GRAPH_CACHE", "0")
    runtime.TorchRuntime("cpu").module(path)
    assert calls == [path.name] * 3 and cache.graph_key(path, torch.device("cpu")).endswith("-cpu")


def _chooses_as_the_cpu(batched, tmp_path) -> None:
    """A video's frames on the batched path are searched at the size the CPU path searches them
    at: 400 px without ``detect_size`` (its path made anew for that size, not the photos' 640), and
    more where a large clip's first seconds need it (a 1080p group of 40 px faces: 800), with the
    CPU path's faces, ids and top emotions; on torch's CPU device here, on a GPU in the loan's run.
    (At 16 px in the detector's copy, one face's box is picked from two near-tied candidates, 0.79
    and 0.80, one way by ONNX Runtime's arithmetic and the other by torch's: 5 px apart, the same face.)"""
    from facemotion.boxes import iou

    from conftest import group_clip

    clip = group_clip(tmp_path / "group.mp4", 40, frames=4)
    cpu = EmotionRecognizer(precision="float32")
    video = batched.for_video()
    assert video.stages.batched is not None and video.stages.batched.detector.detector.max_side == 400
    a, b = _faces(cpu.stream(clip)), _faces(batched.stream(clip))
    assert [len(f) for _, f in a] == [8] * 4 and [i for i, _ in a] == [i for i, _ in b]
    ids = {}  # each CPU face id -> the batched path's id for the same face: one and the same in every frame
    for (i, fa), (_, fb) in zip(a, b):
        # each face paired with the other side's face it overlaps most (faces of equal size may
        # come in another order where the two arithmetics part)
        for box, fid, top in fa:
            match = max(fb, key=lambda g: iou(box, g[0]))
            assert iou(box, match[0]) > 0.6 and match[2] == top, (i, box, match)
            assert ids.setdefault(fid, match[1]) == match[1], (i, fid)
    assert len(set(ids.values())) == 8


@needs_opencv4
def test_a_clips_size_is_chosen_on_the_batched_path_as_on_the_cpu(tmp_path):
    _chooses_as_the_cpu(_torch_cpu(), tmp_path)


# -- on a GPU ---------------------------------------------------------------------------------

@needs_cuda
def test_cuda_batched_photos_give_the_cpu_paths_faces(media):
    """On the GPU (float32), the shared photos and turned copies as one batch: the CPU path's
    faces (boxes within 1 px) and top emotions."""
    gpu, cpu = EmotionRecognizer(precision="float32", device="cuda"), EmotionRecognizer(precision="float32")
    assert gpu.stages.batched is not None
    images = [cpu.read(p).pixels for p in _photos(media)]
    images += [_turned(images[k], 20) for k in range(0, len(images), 3)]
    got = gpu.stages.crops_many(images, gpu.stages.detect_many(images))
    probs = gpu.stages.classify_crops(np.concatenate([f.crops for f in got]))
    k = 0
    for i, (image, faces) in enumerate(zip(images, got)):
        want = cpu.stages.faces(image)
        assert _close_boxes([f.box for f in want], faces.boxes), i
        assert [f.dominant_emotion for f in want] == [gpu.labels[j] for j in probs[k:k + len(want)].argmax(1)], i
        k += len(want)


@needs_opencv4
@needs_cuda
def test_cuda_batched_video_chooses_a_clips_size_as_the_cpu(tmp_path):
    _chooses_as_the_cpu(EmotionRecognizer(precision="float32", device="cuda"), tmp_path)


@needs_opencv4
@needs_cuda
def test_cuda_batched_video_gives_the_cpu_streams_faces(media):
    gpu, cpu = EmotionRecognizer(precision="float32", device="cuda", detect_size=400), \
        EmotionRecognizer(precision="float32", detect_size=400)
    for clip in ("test.mp4", "short_hamilton_clip.mp4"):
        a, b = _faces(cpu.stream(media / clip)), _faces(gpu.stream(media / clip))
        assert [i for i, _ in a] == [i for i, _ in b], clip
        for (i, fa), (_, fb) in zip(a, b):
            assert _close_boxes([f[0] for f in fa], [f[0] for f in fb]), (clip, i)
            assert [f[2] for f in fa] == [f[2] for f in fb], (clip, i)
    print(f"batched video on {torch.cuda.get_device_name(0)}: the CPU stream's faces", file=sys.stderr)
