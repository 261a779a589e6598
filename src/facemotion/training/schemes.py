"""The int8 quantization schemes ``facemotion quantize --scheme`` knows, and the default.

Pure Python (no onnx, no torch), so the CLI lists them on the core install. What each one
measures on a CPU (accuracy against the float model, agreement with its own graph, speed) is
``benchmarks/int8.py``'s table, ``benchmarks/results/int8.txt``.

*Exact* means no saturating step on any CPU ONNX Runtime targets: on x86 without VNNI its
uint8 x int8 kernels add two products into an int16 (``vpmaddubsw``), which overflows once
``2 * 255 * |w| > 32767``; 7-bit weights (int8 values in [-64, 64]) never get there, uint8
weights take a 16-bit path, and int8 activations are run as uint8 on x86. With VNNI
(``vpdpbusd``) or on ARM64 the products are summed in int32 whatever the weights: there an
exact scheme computes the same integers as on AVX2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

# the op types a "graph" scheme quantizes (ONNX Runtime has uint8 kernels for all of them);
# a "linear" scheme quantizes only the first three
LINEAR_OPS = ("Conv", "MatMul", "Gemm")
GRAPH_OPS = LINEAR_OPS + ("Relu", "Clip", "MaxPool", "Add", "GlobalAveragePool", "AveragePool")


@dataclass(frozen=True)
class Scheme:
    """One way of quantizing a model: what ``facemotion quantize --scheme NAME`` writes and
    what the int8 model's card records (:meth:`card`)."""

    name: str
    weights: str             # "int7" (int8 values in [-64, 64]), "int8" ([-127, 127]) or "uint8"
    activations: str = "uint8"
    per_channel: bool = True  # one weight scale per output channel (else one per tensor)
    format: str = "QDQ"      # "QDQ" (Quantize/DequantizeLinear pairs) or "QOperator" (QLinearConv, ...)
    ops: str = "graph"       # "graph": GRAPH_OPS up to the last linear layers; "linear": LINEAR_OPS only
    float_layers: tuple = ()  # "first" / "last": the first linear layer / the last ones stay float

    @property
    def exact(self) -> bool:
        """No saturating int16 step on any CPU: ONNX Runtime runs int8 activations as uint8 on
        x86, and 2 * 255 * |w| fits an int16 only for |w| <= 64 (uint8 weights take a 16-bit path)."""
        return self.weights in ("int7", "uint8")

    def card(self, calibration: str) -> dict:
        """The card's ``quantization`` record."""
        chan = "per-channel" if self.per_channel else "per-tensor"
        weights = {"int7": f"int7 {chan} (int8 in [-64, 64], symmetric)",
                   "int8": f"int8 {chan} (symmetric)", "uint8": f"uint8 {chan}"}[self.weights]
        ops = GRAPH_OPS if self.ops == "graph" else LINEAR_OPS
        kept = ["softmax and everything after the last linear layers"]
        kept += [f"the {w} linear layer{'s' if w == 'last' else ''}" for w in self.float_layers]
        return {"scheme": self.name, "format": self.format, "weights": weights,
                "activations": f"{self.activations} per-tensor (asymmetric, MinMax on {calibration})",
                "ops": list(ops), "float": ", ".join(kept), "exact_across_cpus": self.exact}


# Candidates measured by benchmarks/int8.py (benchmarks/results/int8.txt): accuracy against the
# float model, agreement with the graph's own definition, speed on this CPU.
SCHEMES = {s.name: s for s in (
    Scheme("u8s7", weights="int7"),
    Scheme("u8s7-tensor", weights="int7", per_channel=False),
    Scheme("u8s7-qop", weights="int7", format="QOperator"),
    Scheme("u8s7-float-first", weights="int7", float_layers=("first",)),
    Scheme("u8s7-float-last", weights="int7", float_layers=("last",)),
    Scheme("u8s7-linear", weights="int7", ops="linear"),
    Scheme("u8u8", weights="uint8"),
    Scheme("s8s7", weights="int7", activations="int8"),
    Scheme("s8s8", weights="int8", activations="int8"),
    Scheme("u8s8", weights="int8"),
    # what facemotion quantize wrote before the schemes: full-range int8 weights on the
    # convolutions and matrix products only (saturates on x86 without VNNI)
    Scheme("u8s8-linear", weights="int8", ops="linear"),
)}
DEFAULT_SCHEME = "u8s7"
LEGACY_SCHEME = "u8s8-linear"


def get_scheme(name: str | Scheme) -> Scheme:
    if isinstance(name, Scheme):
        return name
    if name not in SCHEMES:
        raise UsageError(f"--scheme: unknown quantization scheme {name!r} (known: {', '.join(SCHEMES)})")
    return SCHEMES[name]
