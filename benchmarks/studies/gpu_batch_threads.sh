#!/usr/bin/env bash
# How `facemotion batch` scales with its detect workers on each device, and where its threads
# spend their time (docs/gpu.md, "The batch engine's threads"): the photos/s at each worker count,
# then py-spy's samples of the worker threads over one run per device, summed by function
# (--gil: only while a thread holds the GIL; all: every thread's wall time, waiting included).
#
#   bash benchmarks/studies/gpu_batch_threads.sh            # cuda and cpu; workers 1 4 8 16
#   DEVICES=cuda WORKERS="4 16" PROFILE=all N=1000 OUT=/tmp/t bash benchmarks/studies/gpu_batch_threads.sh
#
# py-spy comes from $PYSPY_WHEEL (a wheel file, installed to /tmp/pyspy) or the PATH; without it,
# the rates alone. The photos are the shared media's, repeated N times (benchmarks/_common.py's photo_list).
set -u
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu_batch_threads}; mkdir -p "$OUT"
N=${N:-1000}; DEVICES=${DEVICES:-cuda cpu}; WORKERS=${WORKERS:-1 4 8 16}; PROFILE=${PROFILE:-gil all}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
[ -n "${FACEMOTION_SHARED:-}" ] || [ -d ../shared/media ] || export FACEMOTION_SHARED="$PWD/gpu"
SPY=$(command -v py-spy || true)
if [ -z "$SPY" ] && [ -n "${PYSPY_WHEEL:-}" ]; then
  "$PY" -m pip install -q --no-index --no-deps --upgrade --target /tmp/pyspy "$PYSPY_WHEEL" && SPY=/tmp/pyspy/bin/py-spy
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# the photos benchmarks/gpu.py's batch section reads (_common.photo_list: the shared photos, repeated)
"$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path; from _common import photo_list
photo_list($N, Path(sys.argv[1]))" "$tmp"
batch() { timeout 300 "$@" -m facemotion batch "$tmp/photos.txt" --to "$tmp/out.csv" --no-progress --overwrite "${args[@]}" 2>&1; }
{
  echo "# N=$N DEVICES='$DEVICES' WORKERS='$WORKERS' PROFILE='$PROFILE' bash benchmarks/studies/gpu_batch_threads.sh"
  "$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from _common import machine; print('# host:', machine())"
  "$PY" -c "import torch; print('# GPU:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')" 2>/dev/null
  echo "| device | detect workers | photos/s (the command's) |"
  echo "|--------|----------------|--------------------------|"
  for dev in $DEVICES; do for w in $WORKERS; do
    args=(--device "$dev" --detect-workers "$w")
    rate=$(batch "$PY" | grep -o "processed ([0-9.]*/s)" | grep -o "[0-9.]*")
    echo "| $dev | $w | ${rate:-failed} |"
  done; done
} | tee "$OUT/gpu_batch_threads.txt"
[ -n "$SPY" ] || { echo "(py-spy not found: no profiles)"; exit 0; }
for dev in $DEVICES; do for kind in $PROFILE; do
  args=(--device "$dev")
  flag=--gil; [ "$kind" = all ] && flag=--idle
  batch "$SPY" record $flag -r 100 -f raw -o "$tmp/$dev-$kind.txt" -- "$PY" | grep -o "processed ([0-9.]*/s)"
  # the worker threads' stacks only (start-up's imports are not the engine), summed by function
  "$PY" - "$tmp/$dev-$kind.txt" "$dev" "$kind" <<'EOF' | tee -a "$OUT/gpu_batch_threads.txt"
import collections, sys
what = "holding the GIL" if sys.argv[3] == "gil" else "wall time, waiting included"
# the per-picture engine's workers, the batched engine's device thread and its decoding threads
for name, mark in (("the detect workers", "run_local.<locals>.work"), ("the batched path's thread", "_run_batched"),
                   ("the decoding threads", "read_item")):
    own, inside, total = collections.Counter(), collections.Counter(), 0
    for line in open(sys.argv[1]):
        stack, n = line.rstrip().rsplit(" ", 1)
        frames = stack.split(";")
        if mark in stack and not (mark == "read_item" and "_run_batched" in stack):
            own[frames[-1]] += int(n)
            inside.update({f: int(n) for f in set(frames[[i for i, f in enumerate(frames) if mark in f][0]:])})
            total += int(n)
    if not total:
        continue
    print(f"\n--device {sys.argv[2]}, {name}' samples ({what}): {total}; the top functions, own time")
    for f, n in own.most_common(12):
        print(f"{n / total:6.1%}  {f}")
    print("... and with what they call (inclusive)")
    for f, n in inside.most_common(25):
        print(f"{n / total:6.1%}  {f}")
EOF
done; done
