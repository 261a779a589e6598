#!/usr/bin/env bash
# The one prepared device script of a GPU loan (DEVELOPERS.md, "GPU runs"; docs/gpu.md): run it
# from the repository root on the lent machine, whose python3 has torch with CUDA:
#
#   bash scripts/gpu_run.sh                 # nvidia-smi, the CUDA tests, benchmarks/gpu.py -> $OUT
#   GPU_TRAIN=intent bash scripts/gpu_run.sh   # ... then the seconds left to a training campaign:
#                                              # scripts/campaigns/gpu_campaign.py --plan intent (1: intent)
#
# Within GPU_BUDGET_S seconds (default 540, a 10-minute call with room to return). The shared photos
# and clips come from $FACEMOTION_SHARED/media, ../shared/media, or gpu/media (copied there and
# carried with the call: `mkdir -p gpu && cp -r ../shared/media gpu/`). Without a CUDA GPU it says
# so and exits 3 at once. Exit status: 0 when the tests and the benchmark ran clean, 1 otherwise.
set -u
cd "$(dirname "$0")/.."
START=$(date +%s); BUDGET=${GPU_BUDGET_S:-540}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu_run}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "gpu_run.sh: no CUDA GPU here (nvidia-smi missing, or $PY's torch sees no CUDA device); it is for a lent GPU machine" >&2
  exit 3
fi
mkdir -p "$OUT"
if [ -z "${FACEMOTION_SHARED:-}" ]; then
  if [ -d ../shared/media ]; then export FACEMOTION_SHARED="$PWD/../shared"
  elif [ -d gpu/media ]; then export FACEMOTION_SHARED="$PWD/gpu"; fi
fi
echo "== $(date -u +%FT%TZ) media: ${FACEMOTION_SHARED:-none}/media; budget ${BUDGET}s"
nvidia-smi | tee "$OUT/nvidia-smi.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"

echo "== the CUDA tests (tests/core/test_cuda.py)"
timeout $(( $(left) < 240 ? $(left) : 240 )) "$PY" scripts/gpu_checks.py 2>&1 | tee "$OUT/cuda_tests.txt"
tests=${PIPESTATUS[0]}

echo "== benchmarks/gpu.py ($(left)s left)"
timeout $(( $(left) - 20 )) "$PY" benchmarks/gpu.py --n "${GPU_PHOTOS:-2000}" --out "$OUT/gpu_inference" 2>&1 \
  | tee "$OUT/gpu_inference.log"
bench=${PIPESTATUS[0]}

if [ "${GPU_TRAIN:-0}" != 0 ] && [ "$(left)" -gt 60 ]; then
  plan=$GPU_TRAIN; [ "$plan" = 1 ] && plan=intent
  echo "== GPU_TRAIN=$GPU_TRAIN: scripts/campaigns/gpu_campaign.py call $(left) --plan $plan"
  OUT="$OUT" "$PY" scripts/campaigns/gpu_campaign.py call "$(left)" --plan "$plan" --no-bench 2>&1 | tee "$OUT/campaign.log"
fi
echo "== done in $(( $(date +%s) - START ))s: tests exit $tests, benchmark exit $bench; results under $OUT"
[ "$tests" = 0 ] && [ "$bench" = 0 ]
