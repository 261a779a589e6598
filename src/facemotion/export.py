"""``facemotion export CHECKPOINT -o model.onnx``: ONNX with metadata, checked against torch.

The exported graph is ``softmax(model(x) / T)`` with a dynamic batch axis, so ONNX Runtime
returns calibrated probabilities directly. Several checkpoints export as one ensemble graph,
``softmax(log(mean_i softmax(model_i(x))) / T)``: the members' probabilities averaged, as
``facemotion evaluate a.pt b.pt ...`` scores them, then one temperature for the ensemble.
An ensemble then runs through ONNX Runtime like any single model, without torch.

Before reporting success the export runs the same inputs through torch and ONNX Runtime and
fails if any probability differs by more than ``tolerance`` (1e-4).

``weights="float16"`` stores the large weight tensors in half precision, each behind a Cast
to float32, which ONNX Runtime folds into a float32 constant when it loads the file: half the
file size (what lets a 9M-parameter ensemble stay under 20 MB), the same float32 arithmetic and
speed. The float32 graph is checked against torch first, as above; the half-precision file is
then checked against it and fails past ``fp16_tolerance`` (1e-2); its deviation is returned.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from .checkpoint import model_from_checkpoint
from .errors import ModelError


@contextlib.contextmanager
def _quiet_logs():
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lv in zip(loggers, levels):
            lg.setLevel(lv)


def _wrapper(models, temperature: float, tta: bool = False):
    import torch

    class WithSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(models)
            self.register_buffer("inv_t", torch.tensor(1.0 / temperature))

        def logits(self, model, x):
            if tta:  # average the logits of the face and its mirror image (one batch of 2N)
                n = x.shape[0]
                z2 = model(torch.cat([x, torch.flip(x, dims=[3])]))
                return (z2[:n] + z2[n:]) * 0.5
            return model(x)

        def forward(self, x):
            if len(self.members) == 1:
                z = self.logits(self.members[0], x)
            else:  # softmax average; its log as the logits of the ensemble (softmax(log p) = p)
                p = sum(torch.softmax(self.logits(m, x), dim=1) for m in self.members) / len(self.members)
                z = torch.log(p.clamp_min(1e-12))
            return torch.softmax(z * self.inv_t, dim=1)

    return WithSoftmax().eval()


def _load_members(checkpoints) -> tuple[list, list]:
    """Checkpoint path(s) -> (models, checkpoints); members of an ensemble must agree on what
    the input is and what the outputs mean."""
    import torch

    refs = list(checkpoints) if isinstance(checkpoints, (list, tuple)) else [checkpoints]
    if not refs:
        raise ModelError("export: no checkpoint given")
    models, ckpts = [], []
    for ref in refs:
        model, ckpt = model_from_checkpoint(ref)
        models.append(model.float().to(memory_format=torch.contiguous_format))
        ckpts.append(ckpt)
    for ref, ckpt in zip(refs[1:], ckpts[1:]):
        for key in ("labels", "input_size", "normalization"):
            if ckpt.get(key) != ckpts[0].get(key):
                raise ModelError(f"{ref}: its {key} ({ckpt.get(key)}) differs from {refs[0]}'s "
                                 f"({ckpts[0].get(key)}); these cannot form one ensemble")
    return models, ckpts


def set_metadata(proto, values: dict) -> None:
    """Add or replace ``proto``'s metadata entries (JSON-encoded values, as facemotion reads them)."""
    current = {entry.key: entry for entry in proto.metadata_props}
    for k, v in values.items():
        entry = current.get(k) or proto.metadata_props.add()
        entry.key, entry.value = k, json.dumps(v)


def store_fp16(proto, min_elements: int = 1024) -> int:
    """Rewrite ``proto`` in place: every float32 initializer of at least ``min_elements``
    values (conv/dense weights; biases, scalars and shapes stay as they are) becomes a float16
    initializer plus a ``Cast`` back to float32 under the original name, so no consumer
    changes. Returns how many tensors were converted."""
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    graph_inputs = {i.name for i in graph.input}
    inits, casts = [], []
    for init in graph.initializer:
        size = int(np.prod(init.dims)) if len(init.dims) else 1
        if init.data_type != TensorProto.FLOAT or size < min_elements or init.name in graph_inputs:
            inits.append(init)
            continue
        a = numpy_helper.to_array(init)
        if not np.isfinite(a).all() or np.abs(a).max() > np.finfo(np.float16).max:
            inits.append(init)  # would overflow half precision: keep it exact
            continue
        half = numpy_helper.from_array(a.astype(np.float16), f"{init.name}__fp16")
        inits.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__cast"))
    del graph.initializer[:]
    graph.initializer.extend(inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)  # the casts first keeps the graph topologically sorted
    return len(casts)


def export_onnx(checkpoint, out, *, temperature: float | None = None, name: str | None = None,
                extra_meta: dict | None = None, tta: bool = False, tolerance: float = 1e-4, check_images: np.ndarray | None = None,
                opset: int = 18, weights: str = "float32", fp16_tolerance: float = 1e-2) -> dict:
    import onnx
    import onnxruntime as ort
    import torch

    from .models import count_parameters

    if weights not in ("float32", "float16"):
        raise ModelError(f"export: weights must be float32 or float16, not {weights!r}")
    models, ckpts = _load_members(checkpoint)
    ckpt = ckpts[0]
    if temperature is None:
        # a single model keeps its fitted temperature; an ensemble's must be fitted on the
        # ensemble's own output (the members' temperatures do not compose), so it defaults to 1
        temperature = ckpt.get("temperature", 1.0) if len(models) == 1 else 1.0
    t = float(temperature)
    wrapped = _wrapper(models, t, tta)
    size = int(ckpt.get("input_size", 48))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    dummy = torch.zeros(2, 1, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    # the torch.export-based exporter; its progress chatter goes to stdout/logging, which a CLI
    # user does not need to see (failures still raise)
    with contextlib.redirect_stdout(io.StringIO()), _quiet_logs():
        torch.onnx.export(wrapped, (dummy,), str(tmp), input_names=["input"], output_names=["probs"],
                          dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True,
                          external_data=False)
    proto = onnx.load(str(tmp))
    meta = {
        "name": name or ckpt["arch"],
        "arch": ckpt["arch"], "arch_kwargs": ckpt.get("arch_kwargs", {}), "labels": ckpt["labels"],
        "input_size": size, "channels": 1, "normalization": ckpt["normalization"], "temperature": t, "tta": "flip" if tta else "none",
        "parameters": sum(count_parameters(m) for m in models), "epoch": ckpt.get("epoch"), "metrics": ckpt.get("metrics", {}),
        "format": "facemotion-onnx/1", "weights_dtype": weights,
    }
    if len(models) > 1:
        meta.update(name=name or "ensemble", arch="ensemble", arch_kwargs={}, epoch=None, metrics={},
                    members=[{"arch": c["arch"], "arch_kwargs": c.get("arch_kwargs", {}), "parameters": count_parameters(m),
                              "epoch": c.get("epoch"), "source": Path(str(r)).name}
                             for m, c, r in zip(models, ckpts, checkpoint)])
    meta.update(extra_meta or {})
    del proto.metadata_props[:]
    set_metadata(proto, meta)
    proto.producer_name = "facemotion"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))

    # parity: torch vs ONNX Runtime on random inputs and, when given, real faces
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (64, 1, size, size)).astype(np.float32)
    if check_images is not None and len(check_images):
        from .preprocess import normalize

        x = np.concatenate([x, normalize(np.asarray(check_images)[:, None])]).astype(np.float32)
    with torch.no_grad():
        p_torch = wrapped(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    p_ort = sess.run(None, {"input": x})[0]
    diff = float(np.abs(p_torch - p_ort).max())
    if not diff <= tolerance:
        tmp.unlink(missing_ok=True)
        raise ModelError(f"{out}: ONNX Runtime and torch disagree by {diff:.2e} > {tolerance:.0e}; not written")
    result = {"path": str(out), "max_abs_diff": diff, "checked_inputs": int(len(x)), "metadata": meta}
    if weights == "float16":
        # the export is proven above in float32; this measures what half-precision storage costs
        result["fp16_tensors"] = store_fp16(proto)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        p_half = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        result["fp16_max_abs_diff"] = float(np.abs(p_half - p_ort).max())
        result["fp16_argmax_agreement"] = float((p_half.argmax(1) == p_ort.argmax(1)).mean())
        if not result["fp16_max_abs_diff"] <= fp16_tolerance:
            tmp.unlink(missing_ok=True)
            raise ModelError(f"{out}: float16 weights change the probabilities by {result['fp16_max_abs_diff']:.2e} "
                             f"> {fp16_tolerance:.0e}; not written")
    os.replace(tmp, out)
    result["bytes"] = out.stat().st_size
    return result


def checkpoints_from_onnx(path, check: bool = True) -> tuple[list[dict], dict]:
    """The inverse of :func:`export_onnx`: rebuild each member of an exported file as a
    facemotion checkpoint (a dict, as ``load_checkpoint`` returns).

    The exporter folds every BatchNorm into the conv before it (``<conv>.weight`` and
    ``<conv>.weight_bias`` in the graph); the rebuilt network keeps its BatchNorm as the
    identity plus that bias (weight 1, mean 0, variance 1 - eps), which computes the same
    function in eval mode, so the checkpoint evaluates, teaches and re-exports like the
    original; to train from it, :func:`restore_batchnorm_statistics` (which ``train --init``
    applies) gives those layers statistics first. Weights
    stored in float16 come back rounded to it. A member's own temperature and metrics are not
    in the graph (an ensemble has one temperature), so the checkpoint gets T = 1 and none.

    With ``check``, the rebuilt members run through the same wrapper as the export (flip
    TTA, ensemble average, temperature) and must match ONNX Runtime on random inputs to
    1e-4; returns (checkpoints, {"max_abs_diff": ...}).
    """
    import onnx
    import onnxruntime as ort
    import torch
    from onnx import numpy_helper

    from .checkpoint import describe
    from .models import count_parameters, create_model

    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as e:
        raise ModelError(f"{path}: not a loadable ONNX file ({str(e).splitlines()[0][:200]})") from None
    try:
        meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    except ValueError:
        meta = {}
    if meta.get("format") != "facemotion-onnx/1":
        raise ModelError(f"{path}: not a facemotion export (no facemotion-onnx/1 metadata)")
    inits = {}
    for init in proto.graph.initializer:
        name = init.name[:-len("__fp16")] if init.name.endswith("__fp16") else init.name
        inits[name] = numpy_helper.to_array(init).astype(np.float32)
    members = meta.get("members") or [{"arch": meta["arch"], "arch_kwargs": meta.get("arch_kwargs", {}),
                                       "epoch": meta.get("epoch"), "source": path.name}]
    models, ckpts = [], []
    for i, m in enumerate(members):
        try:
            model = create_model(m["arch"], **m.get("arch_kwargs", {})).eval()
        except (KeyError, TypeError) as e:  # an architecture this version does not register
            raise ModelError(f"{path}: member {i}: cannot build {m.get('arch')!r} ({e})") from None
        state = model.state_dict()
        # exports made before ensembles existed named a single model's weights "model.*"
        prefix = next((pre for pre in (f"members.{i}.", "model.") if any(pre + k in inits for k in state)), "")
        loaded = set()
        for key in state:
            if prefix + key in inits:
                state[key] = torch.from_numpy(inits[prefix + key]).reshape(state[key].shape)
                loaded.add(key)
        # a BatchNorm folded into the conv before it: identity plus the folded bias
        conv = None
        for name, mod in model.named_modules():
            if isinstance(mod, torch.nn.Conv2d):
                conv = name
            elif isinstance(mod, torch.nn.BatchNorm2d) and f"{name}.weight" not in loaded and conv is not None:
                bias = inits.get(f"{prefix}{conv}.weight_bias")
                if bias is None:
                    continue
                state[f"{name}.weight"] = torch.ones(mod.num_features)
                state[f"{name}.bias"] = torch.from_numpy(bias)
                state[f"{name}.running_mean"] = torch.zeros(mod.num_features)
                state[f"{name}.running_var"] = torch.full((mod.num_features,), 1.0 - mod.eps)
                loaded |= {f"{name}.{k}" for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")}
                conv = None
        missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
        if missing:
            raise ModelError(f"{path}: member {i} ({m['arch']}): cannot recover {', '.join(missing[:3])}"
                             f"{' ...' if len(missing) > 3 else ''} from the graph")
        model.load_state_dict(state)
        models.append(model)
        ckpts.append({**describe(model, epoch=m.get("epoch"), parameters=count_parameters(model),
                                 metrics={}, recovered_from={"file": path.name, "member": i, "source": m.get("source"),
                                                             "weights_dtype": meta.get("weights_dtype", "float32")}),
                      "model_state": model.state_dict()})
    info = {}
    if check:
        size = int(meta.get("input_size", 48))
        x = np.random.default_rng(0).uniform(-1, 1, (64, 1, size, size)).astype(np.float32)
        wrapped = _wrapper(models, float(meta.get("temperature", 1.0)), meta.get("tta") == "flip")
        with torch.no_grad():
            p_torch = wrapped(torch.from_numpy(x)).numpy()
        p_ort = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
        info["max_abs_diff"] = float(np.abs(p_torch - p_ort).max())
        if not info["max_abs_diff"] <= 1e-4:
            raise ModelError(f"{path}: the rebuilt members disagree with the graph by {info['max_abs_diff']:.2e}")
    return ckpts, info


def restore_batchnorm_statistics(model, images, batch_size: int = 512) -> int:
    """Make a rebuilt (BatchNorm-folded) network train like a normal one; returns how many
    BatchNorms it rewrote.

    A folded BatchNorm is the identity plus a bias ``b``: exact in eval mode, but in train mode
    it would normalize by the batch's statistics, which the identity form never expected, and
    every layer's scale would be lost at the first step. Measuring each such layer's input mean
    ``mu`` and variance ``var`` on ``images`` (normalized N x 1 x S x S) and setting running
    statistics (mu, var), weight sqrt(var + eps) and bias b + mu keeps the eval-mode function
    exactly (weight * (y - mu) / sqrt(var + eps) + bias = y + b), while a training batch, whose
    statistics are close to (mu, var), now sees nearly the same function too.
    """
    import torch

    folded = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.running_var is not None
              and torch.all(m.weight == 1) and torch.all(m.running_mean == 0)
              and torch.allclose(m.running_var, torch.full_like(m.running_var, 1.0 - m.eps))]
    if not folded:
        return 0
    sums = {id(m): [0.0, 0.0, 0] for m in folded}

    def hook(mod, inputs):
        y = inputs[0].detach().float()
        acc = sums[id(mod)]
        acc[0] = acc[0] + y.sum((0, 2, 3))
        acc[1] = acc[1] + (y * y).sum((0, 2, 3))
        acc[2] += y.numel() // y.shape[1]

    handles = [m.register_forward_pre_hook(hook) for m in folded]
    was_training = model.training
    model.eval()  # the function being measured is the eval-mode one, which the rewrite keeps
    try:
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                model(images[i:i + batch_size])
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    with torch.no_grad():
        for m in folded:
            s, s2, n = sums[id(m)]
            mu = s / n
            var = (s2 / n - mu * mu).clamp_min(0)
            m.running_mean.copy_(mu)
            m.running_var.copy_(var)
            m.bias.add_(mu)
            m.weight.copy_(torch.sqrt(var + m.eps))
    return len(folded)
