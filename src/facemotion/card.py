"""The model card: what every facemotion model file says about itself, in one schema.

Checkpoints (``.pt``: the card's fields beside the weights), ONNX files (one metadata entry
per field, JSON-encoded) and the shipped index (``weights/models.json``: a card per model)
all write a :class:`ModelCard` and all read one back through :meth:`ModelCard.from_dict`,
which checks it: the labels must be one of facemotion's label sets (the seven FER2013 emotions,
or those and FER+'s contempt) in their order, the input the grid
and normalization that :mod:`facemotion.preprocess` produces, and, for a graph,
:meth:`ModelCard.check_io` compares the card with the graph's own input and output shapes.
A model that would silently get the wrong input or whose outputs mean something else is
refused with one line naming the file and the field.

Files written before this schema (formats ``facemotion-checkpoint/1`` and
``facemotion-onnx/1``) are read through :func:`_upgrade`, which maps their few differently
named keys; nothing else reads old layouts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from .errors import ModelError
from .labels import EMOTIONS, LABEL_SETS, label_set_name
from .preprocess import INPUT_SIZE, NORMALIZATION
from .tta import MODES

FORMAT = "facemotion-card/1"
LEGACY_FORMATS = ("facemotion-checkpoint/1", "facemotion-onnx/1")
WEIGHT_DTYPES = ("float32", "float16", "int8")
# Canonical metric names: accuracy (a fraction) on FER2013's PublicTest and PrivateTest with
# the card's own ``tta``, the mean accuracy under the robustness suite's corruptions
# (benchmarks/robustness.py: a stratified PrivateTest subset, every corruption x severity), and
# the training run's selection metrics on its validation split.
METRICS = ("public_test", "private_test", "private_test_mean_corrupted", "val_loss", "val_acc", "val_split",
           # the honest protocol (facemotion.protocol, the card's own tta): accuracy against the FER+
           # majority over 7 classes on PublicTest and PrivateTest and over 8 on PrivateTest, FER2013
           # PrivateTest accuracy without the faces that copy a Training face, ECE against the FER+
           # 7-class majority and the cross-entropy to the crowd's votes (both on PrivateTest)
           "ferplus_val", "ferplus_test", "ferplus_test_8", "private_test_dedup", "ece_ferplus", "crowd_ce")
# what an int8 model's ``quantization`` record must say (facemotion.training.quantize.Scheme.card
# writes these and more: the op types quantized, what stays float, whether it is exact across CPUs)
QUANTIZATION_KEYS = ("scheme", "format", "weights", "activations")


@dataclass
class ModelCard:
    arch: str                      # registry name (``facemotion models``), or "ensemble"
    name: str = ""                 # what users call it (a shipped name); "" for a run's checkpoint
    arch_kwargs: dict = field(default_factory=dict)
    labels: tuple = EMOTIONS       # output order
    input_size: int = INPUT_SIZE   # the input is N x channels x input_size x input_size
    channels: int = 1
    normalization: dict = field(default_factory=lambda: dict(NORMALIZATION))  # uint8 -> model input
    temperature: float = 1.0       # softmax(logits / T): fitted on PublicTest
    tta: str = "none"              # views averaged (inside the graph for an export)
    parameters: int | None = None
    weights_dtype: str = "float32"  # storage precision of the weights
    epoch: int | None = None       # the training epoch these weights were selected at
    metrics: dict = field(default_factory=dict)   # names from METRICS
    members: list = field(default_factory=list)   # an ensemble's members: {arch, arch_kwargs, parameters, epoch, source[, labels]}
    training: dict = field(default_factory=dict)  # compute record: epochs, hours, device, init, ...
    recovered_from: dict | None = None            # set by ``facemotion import`` (rebuilt from a graph)
    quantization: dict | None = None              # an int8 model's scheme (``facemotion quantize``); None: float,
                                                  # or int8 made before schemes were recorded
    adopted: dict | None = None                   # a graph from elsewhere (``facemotion adopt``): its source file,
                                                  # its input's conventions and its outputs' order
    format: str = FORMAT

    # ------------------------------------------------------------------ writing

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels)
        d["format"] = FORMAT
        return d

    # ------------------------------------------------------------------ reading

    @classmethod
    def from_dict(cls, d: dict, where: str = "model") -> "ModelCard":
        """The card in ``d`` (a checkpoint, ONNX metadata or index entry: keys that are not
        card fields are ignored), upgraded from a legacy layout and validated."""
        if not isinstance(d, dict):
            raise ModelError(f"{where}: no model card (expected a dict of metadata)")
        fmt = d.get("format")
        if fmt != FORMAT and fmt not in LEGACY_FORMATS:
            raise ModelError(f"{where}: not a facemotion model (card format {fmt!r}, expected {FORMAT!r})")
        d = _upgrade(d) if fmt in LEGACY_FORMATS else d
        if not d.get("arch"):
            raise ModelError(f"{where}: model card has no 'arch'")
        names = {f.name for f in fields(cls)}
        card = cls(**{k: v for k, v in d.items() if k in names})
        card.labels = tuple(card.labels or ())
        card.validate(where)
        return card

    def validate(self, where: str = "model") -> "ModelCard":
        """Refuse a card facemotion cannot feed correctly or whose outputs mean something else."""
        if label_set_name(self.labels) is None:
            sets = "; ".join(f"{k}: {list(v)}" for k, v in LABEL_SETS.items())
            raise ModelError(f"{where}: model labels {list(self.labels)} are none of facemotion's label sets ({sets})")
        outputs = self.arch_kwargs.get("num_classes") if isinstance(self.arch_kwargs, dict) else None
        if isinstance(outputs, int) and outputs != len(self.labels):  # caught here, before a graph is built
            raise ModelError(f"{where}: the network has {outputs} outputs (arch_kwargs num_classes) but its card "
                             f"lists {len(self.labels)} labels ({', '.join(self.labels)})")
        if not isinstance(self.input_size, int) or isinstance(self.input_size, bool) or self.input_size != INPUT_SIZE:
            raise ModelError(f"{where}: model input size {self.input_size!r} differs from the {INPUT_SIZE} px faces "
                             "facemotion's preprocessing makes")
        if self.channels != 1:
            raise ModelError(f"{where}: model expects {self.channels} channels; facemotion feeds 1 (gray)")
        norm = self.normalization if isinstance(self.normalization, dict) else {}
        for key in ("scale", "offset"):
            got = norm.get(key)
            if not isinstance(got, (int, float)) or not math.isclose(got, NORMALIZATION[key], rel_tol=1e-6, abs_tol=1e-9):
                raise ModelError(f"{where}: model normalization {key}={got!r} differs from facemotion's "
                                 f"{NORMALIZATION[key]!r} (inputs would be scaled wrongly)")
        if not isinstance(self.temperature, (int, float)) or not (0 < self.temperature < math.inf):
            raise ModelError(f"{where}: model temperature {self.temperature!r} is not a positive number")
        if self.tta not in MODES:
            raise ModelError(f"{where}: model tta {self.tta!r} is not one of {', '.join(MODES)}")
        if self.weights_dtype not in WEIGHT_DTYPES:
            raise ModelError(f"{where}: model weights_dtype {self.weights_dtype!r} is not one of {', '.join(WEIGHT_DTYPES)}")
        if self.quantization is not None:
            q = self.quantization
            if not isinstance(q, dict) or not all(isinstance(q.get(k), str) and q.get(k) for k in QUANTIZATION_KEYS):
                raise ModelError(f"{where}: model quantization {q!r} is not a record with the text fields "
                                 f"{', '.join(QUANTIZATION_KEYS)}")
            if self.weights_dtype != "int8":
                raise ModelError(f"{where}: model has a quantization record but weights_dtype {self.weights_dtype!r}")
        if self.adopted is not None and not isinstance(self.adopted, dict):
            raise ModelError(f"{where}: model adopted {self.adopted!r} is not a record")
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown:
            raise ModelError(f"{where}: unknown metric name(s) {', '.join(unknown)} (known: {', '.join(METRICS)})")
        return self

    def check_io(self, input_shape, output_shape, where: str = "model") -> None:
        """Compare the card with a graph's input (N, C, S, S) and output (N, classes) shapes;
        symbolic dimensions (strings or None) are not checked."""
        def fixed(v):
            return isinstance(v, int) and v > 0

        inp, out = list(input_shape), list(output_shape)
        if len(inp) != 4:
            raise ModelError(f"{where}: graph input has shape {inp}, expected N x {self.channels} x {self.input_size} "
                             f"x {self.input_size}")
        if fixed(inp[1]) and inp[1] != self.channels:
            raise ModelError(f"{where}: graph takes {inp[1]} channels but its card says {self.channels}")
        for v in inp[2:]:
            if fixed(v) and v != self.input_size:
                raise ModelError(f"{where}: graph input is {inp[2]}x{inp[3]} but its card says "
                                 f"{self.input_size}x{self.input_size}")
        if len(out) != 2 or (fixed(out[1]) and out[1] != len(self.labels)):
            raise ModelError(f"{where}: graph output has shape {out}, but its card lists {len(self.labels)} labels")

    # ------------------------------------------------------------------ shortcuts

    @property
    def accuracy(self) -> dict:
        """{'public_test': ..., 'private_test': ...} where recorded."""
        return {k: self.metrics[k] for k in ("public_test", "private_test", "private_test_mean_corrupted")
                if k in self.metrics}


def _upgrade(d: dict) -> dict:
    """A legacy checkpoint's or ONNX file's metadata in the current layout."""
    d = dict(d)
    if "weights" in d and "weights_dtype" not in d and isinstance(d["weights"], str):
        d["weights_dtype"] = d.pop("weights")
    metrics = dict(d.get("metrics") or {})
    flip_measured = False
    for old, new in (("public_test_tta", "public_test"), ("private_test_tta", "private_test")):
        if old in metrics:
            metrics.setdefault(new, metrics.pop(old))
            flip_measured = True
    d["metrics"] = metrics
    # a card's metrics are measured with its own tta; old slim checkpoints recorded flip-TTA
    # accuracy under *_tta names and no tta field
    d["tta"] = d.get("tta") or ("flip" if flip_measured else "none")
    d["format"] = FORMAT
    return d
