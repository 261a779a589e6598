"""``facemotion export CHECKPOINT --to model.onnx``: ONNX with metadata, checked against torch.

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
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from .. import tta as _tta
from ..card import ModelCard
from ..errors import ModelError
from ..fileio import PendingFile
from ..preprocess import normalize
from .checkpoint import card_of, model_from_checkpoint
from .models import count_parameters


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


def _wrapper(models, temperature: float, tta_mode="none", width: int | None = None):
    """The exported function: the members' views, softmax average and temperature. ``width``:
    the ensemble's number of classes; a member with fewer (a 7-class model among FER+ ones)
    gives 0 to the labels it lacks, which come after its own (FER+ adds contempt last)."""
    tta_mode = _tta.mode_name(tta_mode)

    class WithSoftmax(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.members = torch.nn.ModuleList(models)
            self.register_buffer("inv_t", torch.tensor(1.0 / temperature))

        def logits(self, model, x):
            # the views' logits averaged, all views in one batch: one model call in the graph
            return _tta.apply(model, x, tta_mode, concat=torch.cat)

        def padded(self, p):
            return p if width is None or p.shape[1] == width else torch.nn.functional.pad(p, (0, width - p.shape[1]))

        def forward(self, x):
            if len(self.members) == 1:
                z = self.logits(self.members[0], x)
            else:  # softmax average; its log as the logits of the ensemble (softmax(log p) = p)
                p = sum(self.padded(torch.softmax(self.logits(m, x), dim=1)) for m in self.members) / len(self.members)
                z = torch.log(p.clamp_min(1e-12))
            return torch.softmax(z * self.inv_t, dim=1)

    return WithSoftmax().eval()


def _load_members(checkpoints) -> tuple[list, list]:
    """Checkpoint path(s) -> (models, checkpoints). Each member's card is checked on load
    (labels, input size, normalization: facemotion's own), so the members of an ensemble agree
    on what the input is and what the outputs mean."""
    refs = list(checkpoints) if isinstance(checkpoints, (list, tuple)) else [checkpoints]
    if not refs:
        raise ModelError("export: no checkpoint given")
    models, ckpts = [], []
    for ref in refs:
        model, ckpt = model_from_checkpoint(ref)
        if hasattr(model, "reparameterize"):  # RepVGG: training branches folded into one conv each
            model.reparameterize()
        models.append(model.float().to(memory_format=torch.contiguous_format))
        ckpts.append(ckpt)
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


def check_parity(reference: np.ndarray, candidate: np.ndarray, tolerance: float, what: str) -> float:
    """Max |difference| of two models' probabilities on the same inputs; past ``tolerance`` a
    ModelError "``what`` by <difference> > <tolerance>". Every export and import proves itself
    with this."""
    diff = float(np.abs(reference - candidate).max())
    if not diff <= tolerance:  # also catches NaN
        raise ModelError(f"{what} by {diff:.2e} > {tolerance:.0e}")
    return diff


def _probe_inputs(size: int, images=None) -> np.ndarray:
    """The parity inputs: 64 random normalized faces and, when given, real ones."""
    x = np.random.default_rng(0).uniform(-1, 1, (64, 1, size, size)).astype(np.float32)
    if images is not None and len(images):
        x = np.concatenate([x, normalize(np.asarray(images)[:, None])]).astype(np.float32)
    return x


def _run_onnx(path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _ensemble_labels(ckpts) -> tuple:
    """The label set an ensemble answers in: the largest of its members'. A member with FER2013's
    seven among FER+ ones is averaged with contempt 0, as ``evaluate`` averages them; sets that
    do not extend one another are refused."""
    sets = [tuple(card_of(c).labels) for c in ckpts]
    common = max(sets, key=len)
    if any(s != common[:len(s)] for s in sets):
        raise ModelError("export: the ensemble's members have label sets that do not extend one another "
                         f"({'; '.join(sorted({', '.join(s) for s in sets}))}); average only models with the same labels")
    return common


def _card(checkpoint, models, ckpts, *, name, temperature: float, tta_mode: str, weights: str) -> ModelCard:
    """The exported file's card: the checkpoint's own for one model; for an ensemble, its
    members' (architecture, size, epoch, file) under the name given."""
    first = card_of(ckpts[0])
    # the card's metrics were measured with its own views: with others they would not hold
    metrics = dict(first.metrics) if tta_mode == first.tta else {}
    labels = _ensemble_labels(ckpts)
    card = ModelCard(arch=first.arch, name=name or first.name or first.arch, arch_kwargs=first.arch_kwargs,
                     temperature=temperature, labels=labels,
                     tta=tta_mode, parameters=sum(count_parameters(m) for m in models), weights_dtype=weights,
                     epoch=first.epoch, metrics=metrics, training=dict(first.training))
    if len(models) > 1:
        refs = checkpoint if isinstance(checkpoint, (list, tuple)) else [checkpoint]
        card.name, card.arch, card.arch_kwargs, card.epoch, card.metrics, card.training = \
            name or "ensemble", "ensemble", {}, None, {}, {}
        card.members = [{"arch": c["arch"], "arch_kwargs": c.get("arch_kwargs", {}), "parameters": count_parameters(m),
                         "epoch": c.get("epoch"), "source": Path(str(r)).name,
                         # a member with fewer labels than the file says so, for import
                         **({"labels": list(card_of(c).labels)} if len(card_of(c).labels) < len(labels) else {})}
                        for m, c, r in zip(models, ckpts, refs)]
    return card


def _write_graph(wrapped, path: Path, size: int, opset: int, meta: dict):
    """``wrapped`` exported to ``path`` (a dynamic batch axis, ``meta`` as its metadata), checked
    by ONNX's checker; returns the graph."""
    dummy = torch.zeros(2, 1, size, size)
    batch = torch.export.Dim("batch", min=1, max=65536)
    # the torch.export-based exporter; its progress chatter goes to stdout/logging, which a CLI
    # user does not need to see (failures still raise)
    with contextlib.redirect_stdout(io.StringIO()), _quiet_logs():
        torch.onnx.export(wrapped, (dummy,), str(path), input_names=["input"], output_names=["probs"],
                          dynamic_shapes={"x": {0: batch}}, opset_version=opset, dynamo=True,
                          external_data=False)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    set_metadata(proto, meta)
    proto.producer_name = "facemotion"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return proto


def export_onnx(checkpoint, out, *, temperature: float | None = None, name: str | None = None,
                extra_meta: dict | None = None, tta=None, tolerance: float = 1e-4, check_images: np.ndarray | None = None,
                opset: int = 18, weights: str = "float32", fp16_tolerance: float = 1e-2) -> dict:
    """``checkpoint`` (or a list: one softmax-averaged ensemble) -> an ONNX file at ``out``, checked
    against torch. ``tta``: the views baked in ("flip"/True, "none"/False); None: the checkpoint's
    own (its card's, which its metrics were measured with; an ensemble's where its members agree)."""
    if weights not in ("float32", "float16"):
        raise ModelError(f"export: weights must be float32 or float16, not {weights!r}")
    models, ckpts = _load_members(checkpoint)
    if tta is None:
        own = {card_of(c).tta for c in ckpts}
        tta = own.pop() if len(own) == 1 else "none"
    tta_mode = _tta.mode_name(tta)
    first = card_of(ckpts[0])
    if temperature is None:
        # a single model keeps its fitted temperature; an ensemble's must be fitted on the
        # ensemble's own output (the members' temperatures do not compose), so it defaults to 1
        temperature = first.temperature if len(models) == 1 else 1.0
    t = float(temperature)
    labels = _ensemble_labels(ckpts)
    wrapped = _wrapper(models, t, tta_mode, len(labels))
    size = first.input_size
    # a run's checkpoint, or an ensemble, has no name of its own: the file's stem names it, not its
    # architecture or "ensemble" (each also an older name of a shipped model)
    own = None if len(models) > 1 or not first.name else first.name
    card = _card(checkpoint, models, ckpts, name=name or own or Path(out).stem, temperature=t, tta_mode=tta_mode,
                 weights=weights)
    meta = {**card.to_dict(), **(extra_meta or {})}
    meta = ModelCard.from_dict(meta, str(out)).to_dict()  # extra_meta may only set card fields, validly
    out = Path(out)
    pending = PendingFile(out)
    tmp = pending.tmp
    try:
        proto = _write_graph(wrapped, tmp, size, opset, meta)

        # parity: torch vs ONNX Runtime on random inputs and, when given, real faces
        x = _probe_inputs(size, check_images)
        with torch.no_grad():
            p_torch = wrapped(torch.from_numpy(x)).numpy()
        p_ort = _run_onnx(tmp, x)
        diff = check_parity(p_torch, p_ort, tolerance, f"{out}: ONNX Runtime and torch disagree")
        result = {"path": str(out), "max_abs_diff": diff, "checked_inputs": int(len(x)), "metadata": meta}
        if weights == "float16":
            # the export is proven above in float32; this measures what half-precision storage costs
            result["fp16_tensors"] = store_fp16(proto)
            onnx.checker.check_model(proto)
            onnx.save(proto, str(tmp))
            p_half = _run_onnx(tmp, x)
            result["fp16_argmax_agreement"] = float((p_half.argmax(1) == p_ort.argmax(1)).mean())
            result["fp16_max_abs_diff"] = check_parity(p_ort, p_half, fp16_tolerance,
                                                       f"{out}: float16 weights change the probabilities")
        pending.commit()
    except ModelError as e:
        raise ModelError(f"{e}; not written") from None
    finally:
        pending.discard()
    result["bytes"] = out.stat().st_size
    return result
