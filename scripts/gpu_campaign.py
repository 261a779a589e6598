"""The GPU campaign (docs/training-log.md, "GPU campaign 2"): one loan of a GPU machine, in
calls of at most 10 minutes, back to back.

    python3 scripts/gpu_campaign.py call SECONDS [--deadline-in S] [--final]

Run on the device machine from the repository root, carrying ``gpu/`` (the
``facemotion data subset`` file and the shipped ensemble's soft targets made here by
``facemotion teacher-targets``; neither holds a PrivateTest image). Each call is idempotent:

1. the first call measures training throughput (``benchmarks/train_speed.py --device cuda``,
   the GPU otherwise idle), then picks, in :data:`PLAN`'s order of priority, the runs whose
   cost at the measured images/s fits before the deadline, and starts them;
2. every call (re)starts what is planned but not running -- from its ``last.pt`` -- in its
   own process session, so training goes on between calls while the machine is held;
3. it waits until ``SECONDS`` are nearly spent (or every run is done), then packs the finished
   runs not yet sent (EMA weights in float16 with their whole history, via
   ``scripts/device_transfer.py``) as ``$OUT/bundle.NN`` parts, at most ~60 MiB a call;
   ``--final`` packs the unfinished runs' best.pt too, marked PARTIAL.

Here, after each call: ``cat <files_at>/bundle.* | tar xf - -C runs/gpu2`` then
``python scripts/device_transfer.py unpack runs/gpu2/ship/NAME -o runs/gpu2/NAME/best.pt``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"
STATE = RUNS / "campaign.json"
DATA = "gpu/fer2013_trainval.tar.gz"
TARGETS = "gpu/ensemble_t4.pt"  # the shipped ensemble's flip-averaged soft targets at T = 4
N_TRAIN = 28709

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
# images/s assumed for an architecture the benchmark could not measure (a guess on the low side)
FALLBACK_RATE = {"repvgg_fer_xt": 20000, "repvgg_fer_t": 15000, "vgg_fer_s": 10000, "repvgg_fer_s": 8000,
                 "vgg_fer_m": 6000, "resnet_fer_s": 8000, "resnet_cbam_fer_s": 4000, "resnet18_fer": 3000,
                 "resnet18_cbam_fer": 1500}
COMPILE_FAMILY = ("vgg_fer", "repvgg_fer")  # compiled when the benchmark shows it pays for vgg_fer_m


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
    if DRY:
        cmd = [sys.executable, "benchmarks/train_speed.py", "--device", "cpu", "--whole-epochs", "--data", DATA,
               "--models", *archs, "--batch-sizes", "64", "--compile-models", "--baseline-models", "--limit", "256",
               "--json", str(out)]
    say("$", " ".join(cmd))
    with open(RUNS / "train_speed.txt", "w") as log:
        try:
            text = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=330,
                                  env={**os.environ, "PYTHONPATH": "src"}).stdout
        except subprocess.TimeoutExpired as e:  # keep what it measured (it writes the JSON as it goes)
            text = (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or "") + "\n[stopped at 330 s]"
        log.write(text)
    say(text[-6000:])
    st["bench"] = json.loads(out.read_text()) if out.exists() else {"models": {}}


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
        cost = epochs * N_TRAIN / rate * 1.08 + epochs * 0.15 + (60 if comp else 10)  # + eval, saves, start
        if used + cost > budget:
            say(f"plan: {name} ({arch}, {epochs} epochs, ~{cost:.0f} GPU-s) does not fit ({used:.0f} of {budget:.0f} s used)")
            continue
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


def launch(st):
    for run in st["plan"]:
        d = RUNS / run["name"]
        if (d / "DONE").exists() or (run.get("pid") and alive(run["pid"])):
            continue
        if run["launches"] >= 4:  # given up (or stopped on purpose: launches set high)
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
        if (d / "SHIPPED").exists() or not (d / "best.pt").exists() or not (done or final):
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
        (d / "SHIPPED").touch()
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["call"])
    p.add_argument("seconds", type=float, help="this call's length; packing starts ~40 s before it ends")
    p.add_argument("--deadline-in", type=float, default=1500,
                   help="first call: seconds from now by which every planned run must be done")
    p.add_argument("--final", action="store_true", help="also ship unfinished runs (their best.pt, marked PARTIAL)")
    p.add_argument("--dry-run", action="store_true", help="check the procedure on this CPU: two tiny runs")
    a = p.parse_args()
    global DRY, PLAN, RUNS, STATE, BATCH
    if a.dry_run:
        DRY, PLAN, BATCH = True, PLAN[1:3], 64
        RUNS = ROOT / "runs" / "campaign-dry"
        STATE = RUNS / "campaign.json"
    t0 = time.time()
    RUNS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    st = load_state()
    if "plan" not in st:
        if not DRY:
            say(subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout)
        bench(st)
        plan(st, t0 + a.deadline_in)
        save_state(st)
    launch(st)
    end = t0 + a.seconds - (60 if a.final else 40)
    while time.time() < end:
        if all((RUNS / r["name"] / "DONE").exists() for r in st["plan"]):
            break
        time.sleep(min(20, max(1, end - time.time())))
        launch(st)  # a run that died restarts from its last.pt
    status(st)
    ship(st, a.final)
    status(st)
    say(f"call took {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
