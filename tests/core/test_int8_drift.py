"""Every shipped int8 model against its float original, on the CPU that runs the suite.

ONNX Runtime's uint8 x int8 kernels on x86 without VNNI add two products into a saturating
int16: an int8 model whose weights use the full int8 range loses accuracy there (vgg_fer_s_int8
lost 4 points of PrivateTest on an AVX2-only EPYC) while it matched its float original on the
VNNI CPU that recorded it. So the check is made here, on whatever machine runs the suite: a
fixed, seeded subset of PrivateTest through the public classifier, int8 accuracy at most 0.5
points below the float model's. ``test_int8_same_on_an_emulated_avx2_cpu`` runs the int8
models again under ``qemu-x86_64 -cpu Haswell`` (AVX2 without VNNI, Debian's qemu-user:
``bash scripts/install_qemu.sh``) and compares them with this CPU's answers, so a suite run on a
VNNI machine also sees what an AVX2-only one computes.

Models whose card records no exact scheme (made before ``facemotion quantize`` had schemes, with
full-range weights) are expected to fail on a CPU without VNNI: they are marked xfail (not
strict), naming themselves, until they are re-quantized with the default scheme
(``python scripts/ship_model.py --int8 MODEL``).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from facemotion.classify import load_classifier
from facemotion.cpu import cpu_info, cpu_summary
from facemotion.zoo import shipped_models

FACES, SEED, BUDGET = 1500, 0, 0.005  # PrivateTest faces, their seed, accuracy an int8 model may lose (500 faces: +-0.6 points of noise)
ENSEMBLE_FACES = 300                 # the ensemble: top-1 agreement (see the test)
EMULATED_FACES = 100                  # under qemu: ~50x slower
EMULATED_ENSEMBLE_FACES = 40          # an ensemble under qemu: eight network passes a face

ROOT = Path(__file__).resolve().parents[2]
INT8 = {n: e for n, e in shipped_models().items() if n.endswith("_int8")}
NOT_EXACT = sorted(n for n, e in INT8.items() if not (e.card.quantization or {}).get("exact_across_cpus"))
REQUANTIZE = pytest.mark.xfail(
    strict=False, reason=f"{', '.join(NOT_EXACT)}: quantized with full-range int8 weights before schemes were "
                         "recorded; they drift on x86 CPUs without VNNI until re-quantized with the default "
                         "scheme (python scripts/ship_model.py --int8 MODEL)")


def params():
    return [pytest.param(n, marks=REQUANTIZE) if n in NOT_EXACT else n for n in INT8]


@pytest.fixture(scope="module")
def private_subset(fer_zip):
    """FACES PrivateTest faces drawn with SEED (the split is sorted by class: a prefix would be one emotion)."""
    from facemotion.datasets import load_splits

    test = load_splits(fer_zip, ("test",))["test"]
    pick = np.sort(np.random.default_rng(SEED).permutation(len(test))[:FACES])
    return test.images[pick], test.labels[pick]


@pytest.mark.parametrize("name", params())
def test_int8_within_half_a_point_of_float_on_this_cpu(name, private_subset):
    """Accuracy on the FACES faces, at most BUDGET below the float model's. The ensemble's
    members are the architectures the single models test already: it is held to top-1
    agreement with its float graph (drift made 16% of faces disagree) on ENSEMBLE_FACES of
    them, as all 1,500 take it 90 s."""
    faces, labels = private_subset
    base = name[:-len("_int8")]
    if len(INT8[name].card.members or []) > 1:
        faces = faces[:ENSEMBLE_FACES]
        p = {base: _float_ensemble_top1(INT8[name], faces), name: load_classifier(name).classify_faces(faces).argmax(1)}
        agree = float((p[base] == p[name]).mean())
        assert agree >= 0.98, f"{name}: top-1 agrees with {base} on {agree:.1%} of {len(faces)} faces on {cpu_summary()}"
        return
    acc = {n: float((load_classifier(n).classify_faces(faces).argmax(1) == labels).mean()) for n in (base, name)}
    assert acc[name] >= acc[base] - BUDGET, (
        f"{name}: {acc[name]:.2%} against {base}'s {acc[base]:.2%} on {FACES} PrivateTest faces (seed {SEED}), "
        f"more than {BUDGET * 100:.1f} points lost on {cpu_summary()}")
    q = INT8[name].card.quantization
    assert q and q.get("exact_across_cpus") is True, f"{name}: its card records no exact quantization scheme ({q})"


def _float_ensemble_top1(entry, faces) -> np.ndarray:
    """An ensemble shipped as int8 only: its float answers made again from its members'
    checkpoints in models/, as its graph computes them (each member flip-averaged, their softmax
    outputs averaged; the temperature moves no top-1 answer)."""
    pytest.importorskip("torch")
    from facemotion.training.evaluate import ensemble_probs, model_logits

    members = [ROOT / "models" / m["source"] for m in entry.card.members]
    if missing := [p.name for p in members if not p.exists()]:
        pytest.skip(f"{entry.name}: members not in models/: {', '.join(missing)}")
    return ensemble_probs([model_logits(m, faces, tta="flip") for m in members]).argmax(1)


EMULATED = textwrap.dedent("""
    import sys
    import numpy as np
    from facemotion.classify import load_classifier
    faces = np.load(sys.argv[1])
    share = [a.rsplit(":", 1) for a in sys.argv[3:]]  # NAME:FACES
    np.savez(sys.argv[2], **{n: load_classifier(n, threads=1).classify_faces(faces[:int(k)]) for n, k in share})
""")


def _qemu_x86():
    qemu = shutil.which("qemu-x86_64")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"emulating an AVX2-only x86 CPU needs an x86_64 machine, not {platform.machine()}")
    if qemu is None:
        pytest.skip("qemu-x86_64 not installed (Debian's qemu-user: bash scripts/install_qemu.sh)")
    return qemu


def _emulated_faces(name: str) -> int:
    """How many of the EMULATED_FACES an int8 model runs under emulation: fewer for an ensemble,
    whose members are the architectures the single models check already."""
    return EMULATED_ENSEMBLE_FACES if len(INT8[name].card.members or []) > 1 else EMULATED_FACES


def _avx2_only() -> bool:
    f = cpu_info().flags or {}
    return bool(f.get("avx2")) and not any(f.get(k) for k in ("avx512f", "avx512_vnni", "avx_vnni"))


def _shares(names, k: int) -> list[list[str]]:
    """``names`` in ``k`` groups of about equal work, by parameter count (the largest first, each
    to the lightest group): under emulation the int8 convolutions, not the start-up, take the time."""
    groups = [[] for _ in range(k)]
    load = [0] * k
    for n in sorted(names, key=lambda n: -(INT8[n].card.parameters or 0)):
        i = load.index(min(load))
        groups[i].append(n)
        load[i] += INT8[n].card.parameters or 0
    return [g for g in groups if g]


@pytest.fixture(scope="module")
def emulated(private_subset, tmp_path_factory):
    """Every shipped int8 model's probabilities under ``qemu-x86_64 -cpu Haswell``: one emulated
    process per core (the suite itself runs on one), each with a share of the models."""
    qemu = _qemu_x86()
    if _avx2_only() and not os.environ.get("FACEMOTION_EMULATE_AVX2"):
        pytest.skip(f"this CPU is AVX2-only itself ({cpu_summary()}): the test above measured what an "
                    "AVX2-only CPU computes (FACEMOTION_EMULATE_AVX2=1 emulates one all the same)")
    tmp = tmp_path_factory.mktemp("emulated")
    faces = private_subset[0][:EMULATED_FACES]
    np.save(tmp / "faces.npy", faces)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    shares = _shares(list(INT8), max(1, min(2, os.cpu_count() or 1)))

    def emulate(i_share):
        i, share = i_share
        r = subprocess.run([qemu, "-cpu", "Haswell", sys.executable, "-c", EMULATED, str(tmp / "faces.npy"),
                            str(tmp / f"emulated{i}.npz"), *(f"{n}:{_emulated_faces(n)}" for n in share)],
                           capture_output=True, text=True, env=env,
                           timeout=1800)
        if r.returncode != 0:
            tail = [line for line in r.stderr.splitlines() if "TCG doesn't support" not in line][-3:]
            pytest.fail(f"the int8 models {share} under qemu-x86_64 -cpu Haswell failed: {tail}")
        return dict(np.load(tmp / f"emulated{i}.npz"))

    answers = {}
    with ThreadPoolExecutor(len(shares)) as pool:  # the threads only wait on their qemu processes
        for part in pool.map(emulate, enumerate(shares)):
            answers.update(part)
    return faces, answers


@pytest.mark.parametrize("name", params())
def test_int8_same_on_an_emulated_avx2_cpu(name, emulated):
    """The int8 model under ``qemu-x86_64 -cpu Haswell`` (AVX2 and FMA, no AVX-512, no VNNI)
    gives this CPU's answers: same top emotion on at least 99% of the faces (float rounding
    may differ between kernels), probabilities within 0.05. Where the CPU running the suite
    is AVX2-only itself, the test above has measured that already, and this one skips."""
    faces, answers = emulated
    emulated = answers[name]
    faces = faces[:len(emulated)]
    here = load_classifier(name, threads=1).classify_faces(faces)
    agree = float((emulated.argmax(1) == here.argmax(1)).mean())
    dp = float(np.abs(emulated - here).max())
    assert agree >= 0.99 and dp <= 0.05, (
        f"{name}: under an emulated AVX2-only CPU the top emotion agrees with {cpu_summary()} on {agree:.1%} "
        f"of {len(faces)} PrivateTest faces, probabilities differ by up to {dp:.3f}")
