"""The GPU campaign (docs/training-log.md, "GPU campaign 2"): one loan of a GPU machine, in
calls of at most 10 minutes, back to back.

    python3 scripts/campaigns/gpu_campaign.py call SECONDS [--deadline-in S] [--final]

Run on the device machine from the repository root, carrying ``gpu/`` (the
``facemotion data subset`` file and the shipped ensemble's soft targets made here by
``facemotion teacher-targets``; neither holds a PrivateTest image). Each call is idempotent:

1. the first call measures training throughput (``benchmarks/train_speed.py --device cuda``,
   the GPU otherwise idle), then picks, in :data:`PLAN`'s order of priority, the runs whose
   cost at the measured images/s fits before the deadline, and starts them;
2. every call (re)starts what is planned but not running -- from its ``last.pt`` -- in its
   own process session, so training goes on between calls while the machine is held;
3. it waits until ``SECONDS`` are nearly spent (or every run is done, or every unfinished run has
   failed its launches: the minutes left go to mending it), then packs the finished
   runs not yet sent (EMA weights in float16 with their whole history, via
   ``scripts/device_transfer.py``) as ``$OUT/bundle.NN`` parts, at most ~60 MiB a call;
   ``--final`` packs the unfinished runs' best.pt too, marked PARTIAL.

Here, after each call: ``cat <files_at>/bundle.* | tar xf - -C runs/gpu2`` then
``python scripts/device_transfer.py unpack runs/gpu2/ship/NAME -o runs/gpu2/NAME/best.pt``.

``--plan ferplus`` is the FER+ campaign (docs/training-log.md, "GPU campaign 3"): the crowd's
votes as targets, the real photos' train crops with their rare emotions shown oftener, and
``quad_ensemble``'s answers on FER2013's faces. Its files are made here first, on the CPU:

    python3 scripts/campaigns/gpu_campaign.py pack --muxspace /data/muxspace --sof /data/sof --utk /data/utk \
        [--fer ZIP] [--crops runs/crops] [--gender runs/gender/gender.csv]

from the crops the CPU recipe trained on (the default's; scripts/campaigns/train_real_faces.sh makes the
same: muxspace capped at 1,500 faces an emotion, Specs on Faces whole) and fer_gender.py's
reading, each made first where it is missing (about 15 minutes on 2 cores), by these commands::

    python benchmarks/public_sets.py crops --set muxspace --root /data/muxspace --part train --cap 1500 --out runs/crops/muxspace_train
    python benchmarks/public_sets.py crops --set sof --root /data/sof --part train --out runs/crops/sof_train
    python benchmarks/public_sets.py unlabelled --root /data/utk --out runs/crops/utk_unlabelled
    python scripts/fer_gender.py --utk-crops runs/crops/utk_unlabelled --out runs/gender

writes ``gpu/``: the FER+-labelled Training + PublicTest faces, the crops as lossless WebP (the
same pixels in two thirds of the bytes), the reweighing file, the teacher's targets for exactly
those faces in that order, and ``gpu/ferplus.json`` naming them; it prints what the device call
will carry against its 64 MiB. Calls then add ``--plan ferplus`` (``--no-bench`` uses the
throughput campaign 2 measured, in :data:`MEASURED_RATE`, instead of five minutes of benchmark).
Here, each run is unpacked as ``runs/gpu3/NAME.pt`` (``unpack runs/gpu3/ship/NAME -o
runs/gpu3/NAME.pt``), the names ``scripts/score_candidates.sh`` reports them by.

``--plan intent`` is the clear-expressions campaign (docs/training-log.md, "Reading both label
sets"): networks trained from scratch on both label sets at once, each face's target its FER+
vote distribution mixed with its own FER2013 label (``train --labels ferplus --intent-weight W``),
larger and longer than a CPU can train. It reads only ``gpu/fer2013_trainval.tar.gz`` (FER2013's
own layout, which keeps each face's FER2013 label; the votes ship with the package), made here by
``facemotion data subset ../shared/datasets/fer2013.zip --to gpu/fer2013_trainval.tar.gz``.
Unpacked here as ``runs/gpu4/NAME.pt`` and scored by the training log's rule
(``scripts/score_candidates.sh``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = ROOT / "runs"
BENCHMARKS = ROOT / "benchmarks"  # public_sets.py: the crops and what made them
STATE = RUNS / "campaign.json"
DATA = "gpu/fer2013_trainval.tar.gz"
TARGETS = "gpu/ensemble_t4.pt"  # the shipped ensemble's flip-averaged soft targets at T = 4
N_TRAIN = 28709
N_TRAIN_OF: dict[str, int] = {}  # a run's training images an epoch where they are not N_TRAIN

# the from-scratch recipe of the published FER2013 results (SGD, long cosine, mixup, erasing),
# the batch of 512 at sqrt-scaled learning rate (0.1 at 128)
# (--select acc: in these runs the PublicTest loss is lowest near epoch 110 while the accuracy
# still rises to epoch 300; best.pt keeps the most accurate epoch)
SCRATCH = ["--opt", "sgd", "--lr", "0.2", "--weight-decay", "5e-4", "--erase", "0.5", "--mixup", "0.2",
           "--ema", "0.999", "--warmup-epochs", "5", "--select", "acc"]
# the CPU-tuned distillation recipe of the shipped models (AdamW 2e-3 at 128 -> 4e-3 at 512),
# from the shipped ensemble's targets, with the longer run's extra regularisation
DISTIL = ["--opt", "adamw", "--lr", "4e-3", "--weight-decay", "0.05", "--erase", "0.4", "--mixup", "0.2",
          "--ema", "0.999", "--warmup-epochs", "5", "--teacher-targets", TARGETS, "--kd-alpha", "0.7",
          "--kd-temp", "4", "--select", "acc"]

# the FER+ campaign: the distillation recipe above from quad_ensemble's targets (named by
# gpu/ferplus.json), with what the default's CPU recipe has besides -- the vote distribution as
# the target (no smoothing: the crowd already spreads it), the corruption training, the crops
# learning their own labels (a teacher that never saw such faces would pull them to neutral)
FERPLUS_SPEC = "gpu/ferplus.json"
FERPLUS_DISTIL = ["--opt", "adamw", "--lr", "4e-3", "--weight-decay", "0.05", "--erase", "0.4", "--mixup", "0.2",
                  "--ema", "0.999", "--warmup-epochs", "5", "--kd-alpha", "0.7", "--kd-temp", "4",
                  "--kd-skip-extra", "--corrupt", "0.6", "--select", "acc"]
# (name, architecture, epochs, recipe + seed, crop mix): x9 is the CPU recipe's mix (the crops
# three times an epoch, their rare emotions six times more); over 200 epochs a rare crop is then
# seen 1,800 times, so the second three runs see the crops once and their rare emotions three
# times (the same 3:1 between the rare and the other crops, a third of the repeats).
# The order is the runs a CPU cannot give: a loan of 15 minutes holds one call, in which about
# two 200-epoch runs fit, and f_vggs has run its 200 epochs on the CPU (docs/training-log.md)
FERPLUS_PLAN = [
    ("f_vggm", "vgg_fer_m", 200, FERPLUS_DISTIL + ["--seed", "33"], "x9"),     # for the ensemble (~17 h on 2 CPU cores)
    ("f_ress", "resnet_fer_s", 200, FERPLUS_DISTIL + ["--seed", "32"], "x9"),  # the default's network
    ("f_vggs", "vgg_fer_s", 200, FERPLUS_DISTIL + ["--seed", "31"], "x9"),     # the default's size (<= 1M)
    ("f_vggs3", "vgg_fer_s", 200, FERPLUS_DISTIL + ["--seed", "34"], "x3"),
    ("f_ress3", "resnet_fer_s", 200, FERPLUS_DISTIL + ["--seed", "35"], "x3"),
    ("f_vggm3", "vgg_fer_m", 200, FERPLUS_DISTIL + ["--seed", "36"], "x3"),
]
# the clear-expressions campaign (--plan intent): from scratch on the crowd's votes mixed with each
# face's FER2013 label, the published FER2013 recipe (SCRATCH) with the default's corruption
# training. A fine-tune of the crowd-trained default moved along one frontier (W = 0.3 / 0.5 / 0.7:
# FER+ 84.4 / 80.2 / 75.1 against FER2013 61.9 / 64.2 / 66.3 on PublicTest), and no blend of the
# networks there are crosses it (benchmarks/results/label_blends*.txt): the lever left is capacity
# and length. The default's size comes first: it can ship as it is, and its 300 epochs are the
# full-length run the GPU issue asks for; a loan of 15 minutes holds about one such run. The
# larger networks follow as teachers (their answers distilled into it on the CPU).
INTENT = ["--labels", "ferplus", "--vote-scheme", "probability", "--label-smoothing", "0", "--corrupt", "0.6",
          "--eval-every", "5"]  # validation every 5th epoch: on the GPU it is a large share of one
INTENT_PLAN = [
    ("i_ress_w5", "resnet_fer_s", 300, SCRATCH + INTENT + ["--intent-weight", "0.5", "--seed", "42"]),  # shippable size
    ("i_r18_w5", "resnet18_fer", 200, SCRATCH + INTENT + ["--intent-weight", "0.5", "--seed", "41"]),
    ("i_vggm_w5", "vgg_fer_m", 300, SCRATCH + INTENT + ["--intent-weight", "0.5", "--seed", "43"]),
    ("i_r18_w3", "resnet18_fer", 200, SCRATCH + INTENT + ["--intent-weight", "0.3", "--seed", "44"]),
    ("i_ress_w3", "resnet_fer_s", 300, SCRATCH + INTENT + ["--intent-weight", "0.3", "--seed", "45"]),
]
MIXES = {"x9": (3, 6), "x3": (1, 2)}  # (copies of every crop, extra copies of the rare ones)
# the real photos' train crops (benchmarks/public_sets.py) and the emotions shown oftener
CROP_SETS = ("muxspace_train", "sof_train")
RARE = ("angry", "disgust", "fear", "sad", "surprise")
RARE_DIR = "runs/rare"  # made from gpu/crops on both machines (runs/ is not carried)

# (name, architecture, epochs, recipe + seed): in order of priority
PLAN = [
    ("d_vggs", "vgg_fer_s", 300, DISTIL + ["--seed", "21"]),          # the default's network, long
    ("s_t", "repvgg_fer_t", 300, DISTIL + ["--seed", "22"]),          # students of <= 50 MFLOPs
    ("s_xt", "repvgg_fer_xt", 300, DISTIL + ["--seed", "23"]),
    ("d_repvggs", "repvgg_fer_s", 300, DISTIL + ["--seed", "24"]),    # the default's network, RepVGG-trained
    ("t_vggm_s1", "vgg_fer_m", 300, SCRATCH + ["--seed", "1"]),       # teachers from scratch
    ("d_vggm", "vgg_fer_m", 300, DISTIL + ["--seed", "25"]),
    ("a_cbams", "resnet_cbam_fer_s", 300, DISTIL + ["--seed", "26"]),  # attention at full length
    ("d_ress", "resnet_fer_s", 300, DISTIL + ["--seed", "27"]),       # ... and its plain twin
    ("t_vggm_s2", "vgg_fer_m", 300, SCRATCH + ["--seed", "2"]),
    ("t_r18_s1", "resnet18_fer", 300, SCRATCH + ["--seed", "1"]),
    ("t_vggm_s3", "vgg_fer_m", 300, SCRATCH + ["--seed", "3"]),
    ("t_cbam18_s1", "resnet18_cbam_fer", 300, SCRATCH + ["--seed", "1"]),
]
BATCH = 512
DRY = False  # --dry-run: the whole procedure on this CPU, two tiny runs (checks the script, not the GPU)
# images/s of each network alone on the H100 at batch 512 (campaign 2's benchmark,
# benchmarks/results/train_speed_gpu.txt): the plan's costs with --no-bench
MEASURED_RATE = {"repvgg_fer_s": 35830, "repvgg_fer_t": 41626, "repvgg_fer_xt": 44664, "resnet18_cbam_fer": 11232,
                 "resnet18_fer": 24871, "resnet_cbam_fer_s": 23506, "resnet_fer_s": 48465, "vgg_fer_m": 60183,
                 "vgg_fer_s": 67078}
# images/s assumed for an architecture the benchmark could not measure (a guess on the low side)
FALLBACK_RATE = {"repvgg_fer_xt": 20000, "repvgg_fer_t": 15000, "vgg_fer_s": 10000, "repvgg_fer_s": 8000,
                 "vgg_fer_m": 6000, "resnet_fer_s": 8000, "resnet_cbam_fer_s": 4000, "resnet18_fer": 3000,
                 "resnet18_cbam_fer": 1500}
# images/s of GPU time a FER+ campaign run took on its first loan (two runs at once with the GPU 99%
# busy, so each run's ~10,600 doubled): the x9 mix, corruption, mixup and EMA leave well under half
# the bare benchmark's rate, and planning from the benchmark promised two runs where one fitted.
# An architecture not measured so is costed at MEASURED_RATE times the lower of the two ratios.
FERPLUS_RATE = {"resnet_fer_s": 21200, "vgg_fer_m": 22400}
RECIPE_RATE: dict[str, float] = {}  # set by use_ferplus()/use_intent(): the recipe's rates, for a bare benchmark's
COMPILE_FAMILY = ("vgg_fer", "repvgg_fer")  # compiled when the benchmark shows it pays for vgg_fer_m
# the intent campaign's benchmark times its own recipe (corruptions included) and only the plan's
# networks, in its order, within BENCH_QUICK_S: the loan's seconds go to the runs
QUICK_BENCH = False
BENCH_QUICK_S = 120


def say(*a):
    print(*a, flush=True)


def load_state():
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def save_state(st):
    STATE.write_text(json.dumps(st, indent=2))


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (our child, exited) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def bench(st):
    archs = sorted({a for _, a, _, _ in PLAN})
    out = RUNS / "train_speed.json"
    cmd = [sys.executable, "benchmarks/train_speed.py", "--device", "cuda", "--data", DATA, "--models", *archs,
           "--batch-sizes", str(BATCH), "--compile-models", "vgg_fer_s", "vgg_fer_m",
           "--baseline-models", "vgg_fer_s", "vgg_fer_m", "--json", str(out)]
    timeout = 330
    if QUICK_BENCH:  # the plan's networks in priority order, its recipe, nothing else
        archs = list(dict.fromkeys(a for _, a, _, _ in PLAN))
        # (and at twice the batch: whether the batch is a lever on the GPU, for a later plan)
        cmd = [sys.executable, "benchmarks/train_speed.py", "--device", "cuda", "--data", DATA, "--models", *archs,
               "--batch-sizes", str(BATCH), str(2 * BATCH), "--compile-models", "--baseline-models", "--corrupt",
               "0.6", "--json", str(out)]
        timeout = BENCH_QUICK_S
    if DRY:
        cmd = [sys.executable, "benchmarks/train_speed.py", "--device", "cpu", "--whole-epochs", "--data", DATA,
               "--models", *archs, "--batch-sizes", "64", "--compile-models", "--baseline-models", "--limit", "256",
               "--json", str(out)]
    say("$", " ".join(cmd))
    with open(RUNS / "train_speed.txt", "w") as log:
        try:
            text = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                                  env={**os.environ, "PYTHONPATH": "src"}).stdout
        except subprocess.TimeoutExpired as e:  # keep what it measured (it writes the JSON as it goes)
            text = (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or "") + f"\n[stopped at {timeout} s]"
        log.write(text)
    say(text[-6000:])
    st["bench"] = json.loads(out.read_text()) if out.exists() else {"models": {}}
    st["bench"]["recipe"] = QUICK_BENCH  # measured with the plan's own recipe: planned at that rate


def plan(st, deadline):
    """Runs in priority order whose summed GPU-seconds (at the throughput measured alone) fit."""
    models = st["bench"].get("models", {})
    m = models.get("vgg_fer_m", {})
    use_compile = bool(m.get(f"bs{BATCH}_compile") and m[f"bs{BATCH}_compile"] > 1.15 * m.get(f"bs{BATCH}", 1e9))
    budget = deadline - time.time()
    chosen, used = [], 0.0
    for name, arch, epochs, recipe in PLAN:
        epochs = 1 if DRY else epochs
        comp = use_compile and arch.startswith(COMPILE_FAMILY)
        r = models.get(arch, {})
        rate = r.get(f"bs{BATCH}_compile" if comp and f"bs{BATCH}_compile" in r else f"bs{BATCH}")
        if not rate:
            rate = FALLBACK_RATE.get(arch, 2000)
            say(f"plan: no throughput measured for {arch}; assuming {rate} img/s")
        if RECIPE_RATE and not st["bench"].get("recipe"):  # a bare benchmark's rate, scaled to the recipe's
            rate = RECIPE_RATE.get(arch, rate * min(RECIPE_RATE[a] / MEASURED_RATE[a] for a in RECIPE_RATE))
        cost = epochs * N_TRAIN_OF.get(name, N_TRAIN) / rate * 1.08 + epochs * 0.15 + (60 if comp else 10)  # + eval, saves, start
        if used + cost > budget and chosen:
            say(f"plan: {name} ({arch}, {epochs} epochs, ~{cost:.0f} GPU-s) does not fit ({used:.0f} of {budget:.0f} s used)")
            continue
        if used + cost > budget:  # the first run always starts: a later call of the loan may finish it
            say(f"plan: {name} (~{cost:.0f} GPU-s) needs more than the {budget:.0f} s planned: it starts anyway and "
                "comes back PARTIAL unless a later call finishes it")
        used += cost
        chosen.append({"name": name, "arch": arch, "epochs": epochs, "recipe": recipe, "compile": comp,
                       "est_s": round(cost), "launches": 0})
    st["plan"], st["deadline"] = chosen, deadline
    say(f"plan: {len(chosen)} runs, ~{used:.0f} GPU-s of {budget:.0f} s; compile {'on' if use_compile else 'off'} "
        f"for the VGG family")


def command(run):
    if DRY:
        return [sys.executable, "-m", "facemotion", "train", "--data", DATA, "--arch", run["arch"], "--epochs", "1",
                "--batch-size", "64", "--out", str(RUNS / run["name"]), "--resume", "--no-progress", "--threads", "1",
                "--no-epoch-files", *run["recipe"]]
    cmd = [sys.executable, "-m", "facemotion", "train", "--data", DATA, "--device", "cuda", "--amp", "bf16",
           "--arch", run["arch"], "--epochs", str(run["epochs"]), "--batch-size", str(BATCH), "--out",
           str(RUNS / run["name"]), "--resume", "--no-progress", "--eval-tta", "--threads", "2",
           "--checkpoint-every", "10", "--no-epoch-files", *run["recipe"]]
    return cmd + (["--compile"] if run["compile"] else [])


def epochs_done(name):
    log = RUNS / name / "log.csv"
    return max(0, sum(1 for _ in open(log)) - 1) if log.exists() else 0


MAX_LAUNCHES = 4


def given_up(st) -> bool:
    """Every unfinished run has stopped after its last launch: nothing will train this call.
    The call then ships at once rather than waiting out its length, so a loan of one call keeps
    the minutes to mend the cause and call again."""
    unfinished = [r for r in st["plan"] if not (RUNS / r["name"] / "DONE").exists()]
    return bool(unfinished) and all(r["launches"] >= MAX_LAUNCHES and not (r.get("pid") and alive(r["pid"]))
                                    for r in unfinished)


def launch(st):
    for run in st["plan"]:
        d = RUNS / run["name"]
        if (d / "DONE").exists() or (run.get("pid") and alive(run["pid"])):
            continue
        if run["launches"] >= MAX_LAUNCHES:  # given up (or stopped on purpose: launches set high)
            continue
        if run["launches"]:
            tail = (d / "train.log").read_text()[-1500:] if (d / "train.log").exists() else ""
            say(f"{run['name']}: not running after launch {run['launches']}; log ends:\n{tail}")
            if run["compile"] and epochs_done(run["name"]) == 0:
                run["compile"] = False  # a compile that fails must not cost the run
                say(f"{run['name']}: relaunching without --compile")
        d.mkdir(parents=True, exist_ok=True)
        log = open(d / "train.log", "a")
        shell = " ".join(map(_q, command(run))) + f" && touch {_q(str(d / 'DONE'))}"
        p = subprocess.Popen(["bash", "-c", shell], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                             start_new_session=True,  # outlives this call while the machine is held
                             env={**os.environ, "PYTHONPATH": "src", "PYTHONUNBUFFERED": "1",
                                  "OMP_NUM_THREADS": "2"})
        run["pid"], run["launches"] = p.pid, run["launches"] + 1
        say(f"launched {run['name']} (pid {p.pid}): {' '.join(command(run))}")
    save_state(st)


def signal_runs(sig, what: str) -> None:
    """``sig`` to every planned run still running (each leads its own process session)."""
    st = load_state()
    for run in st.get("plan", []):
        if run.get("pid") and alive(run["pid"]):
            os.killpg(run["pid"], sig)
            say(f"{what}: {run['name']} (pid {run['pid']})")


def _q(s):
    return s if all(c.isalnum() or c in "-_./=:" for c in s) else "'" + s.replace("'", "'\\''") + "'"


def status(st):
    say(f"{'run':<12} {'arch':<18} {'epoch':>9} {'img/s':>7} {'val acc':>8} {'best':>8}  state")
    for run in st["plan"]:
        d = RUNS / run["name"]
        last = {}
        if (d / "log.csv").exists():
            rows = (d / "log.csv").read_text().splitlines()
            if len(rows) > 1:
                last = dict(zip(rows[0].split(","), rows[-1].split(",")))
        best = ""
        if (d / "summary.json").exists():
            best = f"{json.loads((d / 'summary.json').read_text())['best']['val_acc']:.4f}"
        state = "done" if (d / "DONE").exists() else ("running" if run.get("pid") and alive(run["pid"]) else "stopped")
        if (d / "SHIPPED").exists():
            state += ", shipped"
        say(f"{run['name']:<12} {run['arch']:<18} {last.get('epoch', 0):>4}/{run['epochs']:<4} "
            f"{float(last.get('img_per_s', 0)):>7.0f} {float(last.get('val_acc', 0)):>8.4f} {best:>8}  {state}")
    if not DRY:
        say(subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader"],
                           capture_output=True, text=True).stdout.strip())


def ship(st, final, max_mib=60):
    out = Path(os.environ.get("OUT", "out"))
    out.mkdir(parents=True, exist_ok=True)
    stage = RUNS / "ship"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    total = 0.0
    for run in st["plan"]:
        n, d = run["name"], RUNS / run["name"]
        done = (d / "DONE").exists()
        # what a ship holds: a finished run once, an unfinished one again whenever it has trained on
        # since (a later call of the same loan brings back the newer best.pt, not nothing)
        mark = "done" if done else f"epoch {epochs_done(n)}"
        sent = (d / "SHIPPED").read_text().strip() if (d / "SHIPPED").exists() else None
        if sent == mark or not (d / "best.pt").exists() or not (done or final):
            continue
        r = subprocess.run([sys.executable, "scripts/device_transfer.py", "pack", str(d / "best.pt"),
                            str(stage / n), "--half", "--part-mib", "64"], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": "src"})
        if r.returncode:
            say(f"ship {n}: pack failed: {r.stderr.strip()[-500:]}")
            continue
        for f in ("log.csv", "train.log"):
            if (d / f).exists():
                shutil.copy(d / f, stage / n / f)
        if not done:
            (stage / n / "PARTIAL").write_text(f"stopped at epoch {epochs_done(n)} of {run['epochs']}\n")
        size = sum(f.stat().st_size for f in (stage / n).iterdir()) / 2**20
        if total + size > max_mib:
            shutil.rmtree(stage / n)
            say(f"ship {n}: {size:.1f} MiB does not fit this call")
            continue
        total += size
        (d / "SHIPPED").write_text(mark + "\n")
        say(f"ship {n}: {size:.1f} MiB{'' if done else ' (PARTIAL)'}")
    for f in ("campaign.json", "train_speed.txt", "train_speed.json"):
        if (RUNS / f).exists():
            shutil.copy(RUNS / f, stage / f)
    with tarfile.open(RUNS / "ship.tar", "w") as tar:
        tar.add(stage, arcname="ship")
    data = (RUNS / "ship.tar").read_bytes()
    part = 15 * 2**20
    for i in range(0, len(data), part):
        (out / f"bundle.{i // part:02d}").write_bytes(data[i:i + part])
    say(f"shipped {total:.1f} MiB in {(len(data) + part - 1) // part} parts")


def make_rare(crops: Path) -> list[str]:
    """The rare emotions' crops of each set, a folder each under RARE_DIR (copied from ``crops``,
    the same on both machines); their paths."""
    out = []
    for name in CROP_SETS:
        dst = ROOT / RARE_DIR / name
        if not (dst / ".done").exists():
            shutil.rmtree(dst, ignore_errors=True)
            for c in RARE:
                if (crops / name / c).is_dir():
                    shutil.copytree(crops / name / c, dst / c)
            (dst / ".done").touch()
        out.append(f"{RARE_DIR}/{name}")
    return out


def _facemotion(*args):
    _run([sys.executable, "-m", "facemotion", *args])


def webp_crops(src: Path, dst: Path) -> int:
    """``src``'s <emotion>/<crop> images as lossless WebP under ``dst`` (checked pixel for pixel:
    the faces, and so the teacher targets' digest, are the same on both machines)."""
    import cv2
    import numpy as np

    from facemotion.inputs import IMAGE_SUFFIXES

    n = 0
    for f in sorted(src.glob("*/*")):
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        out = dst / f.parent.name / (f.stem + ".webp")
        if not out.exists():
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                sys.exit(f"gpu_campaign.py: {f}: OpenCV cannot read this crop")
            out.parent.mkdir(parents=True, exist_ok=True)
            ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, 101])  # > 100: lossless
            if not ok or not np.array_equal(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), img):
                sys.exit(f"gpu_campaign.py: {f}: lossless WebP does not give back its pixels")
            out.write_bytes(buf.tobytes())
        n += 1
    return n


def carried_mib() -> tuple[float, float]:
    """(MiB of gpu/, MiB of the tracked tree without what the device call leaves behind)."""
    left = ("models/", "src/facemotion/weights/", "docs/", "benchmarks/results/")
    files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=ROOT).stdout.split("\n")
    tree = sum((ROOT / f).stat().st_size for f in files if f and not f.startswith(left) and (ROOT / f).is_file())
    gpu = sum(f.stat().st_size for f in (ROOT / "gpu").rglob("*") if f.is_file())
    return gpu / 2**20, tree / 2**20


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def pack_inputs(a):
    """The crops and the gender reading ``pack`` reads, made first where they are missing (the
    commands of the header), from the clones that --muxspace, --sof and --utk name. A crops
    folder counts as made once ``public_sets.py`` has finished it (its ``.done`` records with
    what); one left unfinished is completed from its clone, one made with other options refused."""
    sys.path.insert(0, str(BENCHMARKS))
    import public_sets

    crops = ROOT / a.crops
    steps = [  # (what it makes, the clone it reads, that clone's option, public_sets.py's arguments)
        (crops / "muxspace_train", a.muxspace, "--muxspace",
         ["crops", "--set", "muxspace", "--root", a.muxspace, "--part", "train", "--cap", "1500"]),
        (crops / "sof_train", a.sof, "--sof", ["crops", "--set", "sof", "--root", a.sof, "--part", "train"]),
    ]
    if a.gender:
        steps.append((crops / "utk_unlabelled", a.utk, "--utk", ["unlabelled", "--root", a.utk]))
    for made, clone, option, args in steps:
        args = [*args, "--out", str(made)]
        have, want = public_sets.made_with(made), public_sets.asked(public_sets.parser().parse_args(args))
        if have in ({}, want):  # finished ({}: the empty marker this script once wrote after the same command)
            continue
        if have is not None:
            sys.exit(f"gpu_campaign.py: {_rel(made)} holds crops made with {have}, not {want}: move it away "
                     "or name another --crops")
        if not clone:
            state = "unfinished (no .done)" if made.is_dir() and any(made.iterdir()) else "missing"
            sys.exit(f"gpu_campaign.py: {_rel(made)} is {state}: give {option} (the set's clone) to make it")
        _run([sys.executable, "benchmarks/public_sets.py", *args])
    if a.gender and not (ROOT / a.gender).is_file():  # fer_gender.py writes it atomically, last
        _run([sys.executable, "scripts/fer_gender.py", "--utk-crops", str(crops / "utk_unlabelled"), "--data", a.fer,
              "--out", str((ROOT / a.gender).parent)])


def _run(cmd):
    say("$", " ".join(map(_q, cmd)))
    subprocess.run(cmd, check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


def pack(a):
    """Here, on the CPU: the FER+ campaign's files under gpu/ and gpu/ferplus.json (see the header)."""
    pack_inputs(a)
    gpu = ROOT / "gpu"
    data = "gpu/fer2013_ferplus_trainval.tar.xz"
    if not (ROOT / data).exists():  # Training + PublicTest, the faces FER+ labels; no PrivateTest image
        _facemotion("data", "subset", a.fer, "--labels", "ferplus", "--to", data)
    real = []
    for name in CROP_SETS:
        n = webp_crops(ROOT / a.crops / name, gpu / "crops" / name)
        say(f"{name}: {n} crops as lossless WebP")
        real.append(f"gpu/crops/{name}")
    rare = make_rare(gpu / "crops")
    groups = ""
    if a.gender:  # the training faces' groups alone, as train --balance-groups reads them (read_groups)
        from facemotion.training.groups import read_groups

        groups = "gpu/gender.csv"
        group_of = read_groups(ROOT / a.gender)
        with open(ROOT / a.gender, newline="") as f:
            train = [r["source"] for r in csv.DictReader(f) if r.get("split", "train") == "train"]
        (ROOT / groups).write_text("source,group\n" + "".join(f"{s},{group_of[s]}\n" for s in train))
    import torch

    mixes = {}
    for mix, (copies, more) in MIXES.items():
        # in the order of scripts/campaigns/train_levers.sh rare-x9; the targets are tied to the faces in this order
        extra = real * copies + rare * more
        targets = f"gpu/ferplus_targets_{mix}.pt"
        _facemotion("teacher-targets", "--data", data, "--labels", "ferplus", "--extra-data", *extra,
                    "--teacher", a.teacher, "--kd-temp", "4", "--to", targets)
        n = len(torch.load(ROOT / targets, weights_only=True)["targets"])
        mixes[mix] = {"extra_data": extra, "targets": targets, "n_train": n}
    spec = {"data": data, "groups": groups, "teacher": a.teacher, "mixes": mixes}
    (ROOT / FERPLUS_SPEC).write_text(json.dumps(spec, indent=2))
    g, t = carried_mib()
    say(f"wrote {FERPLUS_SPEC}: " + ", ".join(f"{m}: {v['n_train']:,} training faces an epoch" for m, v in mixes.items())
        + f"; a device call carries gpu/ ({g:.1f} MiB) + the tree without models/, weights, docs/ and results "
        f"({t:.1f} MiB) = {g + t:.1f} of 64 MiB")
    if g + t > 64:
        sys.exit("gpu_campaign.py: over the 64 MiB a device call carries")


def use_ferplus():
    """Point DATA and PLAN (and N_TRAIN_OF) at the FER+ campaign that ``pack`` described."""
    global DATA, PLAN
    RECIPE_RATE.update(FERPLUS_RATE)
    spec_path = ROOT / FERPLUS_SPEC
    if not spec_path.exists():
        sys.exit(f"gpu_campaign.py: {FERPLUS_SPEC} is missing: run `python3 scripts/campaigns/gpu_campaign.py pack` here first")
    spec = json.loads(spec_path.read_text())
    import cv2

    crops = ROOT / "gpu" / "crops"
    first = next(crops.glob("*/*/*.webp"), None)
    if first is None or cv2.imread(str(first), cv2.IMREAD_GRAYSCALE) is None:  # an OpenCV built without WebP
        sys.exit(f"gpu_campaign.py: {first or crops}: this OpenCV cannot read the WebP crops")
    make_rare(crops)
    common = ["--labels", "ferplus", "--vote-scheme", "probability", "--label-smoothing", "0"]
    if spec.get("groups"):
        common += ["--balance-groups", spec["groups"]]
    PLAN = []
    for name, arch, epochs, recipe, mix in FERPLUS_PLAN:
        m = spec["mixes"][mix]
        PLAN.append((name, arch, epochs, recipe + common + ["--teacher-targets", m["targets"], "--extra-data",
                                                            *m["extra_data"]]))
        N_TRAIN_OF[name] = m["n_train"]
    DATA = spec["data"]


def use_intent():
    """Point PLAN at the clear-expressions campaign (DATA stays FER2013's own subset)."""
    global PLAN, QUICK_BENCH
    # costed at the recipe's rate: measured in the call (QUICK_BENCH), else the FER+ campaign's,
    # whose recipe (corruptions, mixup, erasing, EMA) is the nearest measured
    QUICK_BENCH = True
    RECIPE_RATE.update(FERPLUS_RATE)
    if not (ROOT / DATA).exists():
        sys.exit(f"gpu_campaign.py: {DATA} is missing: make it here with `facemotion data subset "
                 f"../shared/datasets/fer2013.zip --to {DATA}` and carry gpu/")
    PLAN = list(INTENT_PLAN)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["call", "pack", "pause", "resume"],
                   help="pause/resume: stop and continue the running runs (SIGSTOP/SIGCONT), so that a "
                        "benchmark between them has the GPU to itself")
    p.add_argument("seconds", type=float, nargs="?", help="call: this call's length; packing starts ~40 s before it ends")
    p.add_argument("--plan", choices=["fer2013", "ferplus", "intent"], default="fer2013",
                   help="call: campaign 2 (FER2013 labels), the FER+ campaign (after `pack`) or the "
                        "clear-expressions campaign (both label sets from scratch)")
    p.add_argument("--no-bench", action="store_true",
                   help="first call: plan with the throughput measured before (MEASURED_RATE), not a new benchmark")
    p.add_argument("--deadline-in", type=float, default=1500,
                   help="first call: seconds from now by which every planned run must be done")
    p.add_argument("--final", action="store_true", help="also ship unfinished runs (their best.pt, marked PARTIAL)")
    p.add_argument("--launch-only", action="store_true",
                   help="call: measure, plan and start the runs, then return (a later call waits for them and ships)")
    p.add_argument("--dry-run", action="store_true", help="check the procedure on this CPU: two tiny runs")
    p.add_argument("--fer", default="../shared/datasets/fer2013.zip", help="pack: the FER2013 archive")
    p.add_argument("--crops", default="runs/crops", help="pack: benchmarks/public_sets.py's train crops")
    p.add_argument("--gender", default="runs/gender/gender.csv", help="pack: scripts/fer_gender.py's reading ('' = none)")
    p.add_argument("--teacher", default="quad_ensemble", help="pack: the model whose answers are distilled")
    for opt, repo in (("--muxspace", "muxspace/facial_expressions"), ("--sof", "oogre/ESA-LG-M1"),
                      ("--utk", "delonyohan/deeplearn-agepred at b06607bf")):
        p.add_argument(opt, default="", metavar="CLONE", help=f"pack: your clone of {repo}, read where --crops lacks its crops")
    a = p.parse_args()
    if a.action == "pack":
        return pack(a)
    if a.seconds is None and a.action == "call":
        p.error("call: give the call's length in seconds")
    global DRY, PLAN, RUNS, STATE, BATCH
    if a.plan == "ferplus":
        use_ferplus()
    elif a.plan == "intent":
        use_intent()
    if a.dry_run:
        # the FER+ plan's data is the check (a run of each crop mix), so its runs shrink to the smallest network
        DRY, BATCH = True, 64
        PLAN = PLAN[1:3] if a.plan == "fer2013" else [(n, "mini_xception", e, r) for n, _, e, r in (PLAN[0], PLAN[-1])]
        RUNS = ROOT / "runs" / "campaign-dry"
        STATE = RUNS / "campaign.json"
    if a.action in ("pause", "resume"):
        return signal_runs(signal.SIGSTOP if a.action == "pause" else signal.SIGCONT, a.action)
    t0 = time.time()
    RUNS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    st = load_state()
    if st.get("campaign", "fer2013") != a.plan and "plan" in st:
        sys.exit(f"gpu_campaign.py: {STATE} holds the {st.get('campaign', 'fer2013')} campaign, not --plan {a.plan}")
    if "plan" not in st:
        st["campaign"], st["data"] = a.plan, DATA
        if not DRY:
            say(subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout)
        if a.no_bench:
            st["bench"] = {"models": {m: {f"bs{BATCH}": r} for m, r in MEASURED_RATE.items()}}
        else:
            bench(st)
        plan(st, t0 + a.deadline_in)
        save_state(st)
    launch(st)
    if a.launch_only:
        say(f"launched; call took {time.time() - t0:.0f} s")
        return
    end = t0 + a.seconds - (60 if a.final else 40)
    while time.time() < end:
        if all((RUNS / r["name"] / "DONE").exists() for r in st["plan"]):
            break
        time.sleep(min(20, max(1, end - time.time())))
        launch(st)  # a run that died restarts from its last.pt
        if given_up(st):
            say(f"every unfinished run failed {MAX_LAUNCHES} launches: shipping what there is now")
            break
    status(st)
    ship(st, a.final)
    status(st)
    say(f"call took {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
