#!/usr/bin/env bash
# The one prepared device script of a GPU loan (DEVELOPERS.md, "GPU runs"; docs/gpu.md): run it
# from the repository root on the lent machine, whose python3 has torch with CUDA:
#
#   bash scripts/gpu_run.sh                    # nvidia-smi, the CUDA tests, training throughput
#                                              # (GPU_SPEED=0: not), benchmarks/gpu.py -> $OUT
#                                              # (GPU_SECTIONS=batch,video,startup: those sections alone)
#                                              # (GPU_TESTS=0: without the CUDA tests but the speed test)
#
# The batched path's loan (issue 83; DEVELOPERS.md, "GPU runs"): the CUDA tests (both modules), then
# benchmarks/gpu.py's batch (2,000 photos), video (test.mp4, default outputs) and start-up (one
# photo, 180 photos with cpu/cuda/auto) sections, about 5 minutes:
#   GPU_SPEED=0 GPU_SECTIONS=photos,batch,video,startup GPU_BUDGET_S=470 bash scripts/gpu_run.sh
#   GPU_TRAIN=intent bash scripts/gpu_run.sh   # ... and a training campaign in the same call:
#                                              # scripts/campaigns/gpu_campaign.py --plan intent (1: intent)
#
# Within GPU_BUDGET_S seconds (default 540, a 10-minute call with room to return). With GPU_TRAIN the
# campaign goes first, so its runs get the most of the call: its benchmark and the runs' start on an
# idle GPU; the CUDA tests that check answers run beside the training; the runs get every second but
# INFER_RESERVE_S (default 150) and are shipped to $OUT (an unfinished one as PARTIAL), then paused
# while the speed test and benchmarks/gpu.py have the GPU to themselves, and resumed at the end for a
# later call (`gpu_campaign.py call S --plan intent --final`) to finish and ship. The shared photos
# and clips come from $FACEMOTION_SHARED/media, ../shared/media, or gpu/media (carried with the call:
# `bash scripts/loan_tree.sh slim` puts them there). Without a CUDA GPU it says so and exits 3 at
# once. Exit status: 0 when the tests and the benchmark ran clean, 1 otherwise.
#
# GPU_RUN_DRY=1 runs the same steps on a machine without a GPU, to check the script itself: the
# campaign as its --dry-run (two one-epoch runs of the smallest network on the CPU), the CUDA tests
# skipping (the batched path's CPU tests running), benchmarks/gpu.py with torch's CPU device standing
# in for the GPU (FACEMOTION_CUDA_ON_CPU=1: the `--device cuda` commands run the GPU path's code;
# no figure of it is a GPU's), on GPU_PHOTOS photos, GPU_SMALL for the small job, GPU_FRAMES frames:
#   GPU_RUN_DRY=1 GPU_TRAIN=intent GPU_BUDGET_S=330 INFER_RESERVE_S=120 GPU_PHOTOS=40 OUT=/tmp/dry \
#     PYTHON=.venv/bin/python bash scripts/gpu_run.sh
#   GPU_RUN_DRY=1 GPU_SPEED=0 GPU_SECTIONS=photos,batch,video,startup GPU_PHOTOS=24 OUT=/tmp/dry \
#     PYTHON=.venv/bin/python bash scripts/gpu_run.sh          # the batched path's loan, dry (~6 minutes)
set -u
cd "$(dirname "$0")/.."
START=$(date +%s); BUDGET=${GPU_BUDGET_S:-540}
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
PY=${PYTHON:-python3}
OUT=${OUT:-out/gpu_run}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# the package's dependencies a lent machine lacks (it reaches no index): wheels carried in gpu/, unpacked
# (a wheel is a zip; no pip needed) where the import fails: PyAV writes the video's MP4 and its
# sound; simplejpeg decodes JPEGs without the GIL (without it Pillow decodes, on both devices)
for dep in av simplejpeg; do
  whl=$(ls gpu/$dep-*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] && ! "${PYTHON:-python3}" -c "import $dep" 2>/dev/null || continue
  "${PYTHON:-python3}" -m zipfile -e "$whl" /tmp/gpu_deps && export PYTHONPATH="$PYTHONPATH:/tmp/gpu_deps"
done
# the libraries whose arithmetic the CUDA tests compare with (OpenCV's resize and warp, the decoders)
VERSIONS=$("${PYTHON:-python3}" -c "import importlib, importlib.util as u, numpy, cv2, PIL
v = lambda d: getattr(importlib.import_module(d), '__version__', '?') if u.find_spec(d) else 'missing'
print(f'numpy {numpy.__version__}, OpenCV {cv2.__version__}, Pillow {PIL.__version__}, simplejpeg {v(\"simplejpeg\")}, PyAV {v(\"av\")}')" 2>&1)
echo "versions: $VERSIONS"

DRY=${GPU_RUN_DRY:-0}
dry=(); [ "$DRY" = 0 ] || dry=(--dry-run)
if [ "$DRY" = 0 ] && { ! command -v nvidia-smi >/dev/null 2>&1 || ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; }; then
  echo "gpu_run.sh: no CUDA GPU here (nvidia-smi missing, or $PY's torch sees no CUDA device); it is for a lent GPU machine" >&2
  exit 3
fi
mkdir -p "$OUT"
if [ -z "${FACEMOTION_SHARED:-}" ]; then
  if [ -d ../shared/media ]; then export FACEMOTION_SHARED="$PWD/../shared"
  elif [ -d gpu/media ]; then export FACEMOTION_SHARED="$PWD/gpu"; fi
fi
echo "== $(date -u +%FT%TZ) media: ${FACEMOTION_SHARED:-none}/media; budget ${BUDGET}s"
if [ "$DRY" = 0 ]; then
  nvidia-smi | tee "$OUT/nvidia-smi.txt"
  "$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.get_device_name(0))"
  # nvJPEG through torchvision would take the photos' decoding off the CPU (docs/gpu.md): is it here?
  "$PY" -c "import torchvision; print('torchvision', torchvision.__version__)" 2>/dev/null \
    || echo "torchvision: not installed (no nvJPEG decoding through it)"
fi

camp=""
if [ "${GPU_TRAIN:-0}" != 0 ]; then
  plan=$GPU_TRAIN; [ "$plan" = 1 ] && plan=intent
  RESERVE=${INFER_RESERVE_S:-150}
  echo "== GPU_TRAIN=$plan: the campaign's benchmark, plan and runs first ($(left)s left, ${RESERVE}s kept for inference)"
  OUT="$OUT" timeout 200 "$PY" scripts/campaigns/gpu_campaign.py call 1 --plan "$plan" --launch-only "${dry[@]}" \
    --deadline-in $(( $(left) - RESERVE - 60 )) 2>&1 | tee "$OUT/campaign.log"
  # waits for the runs (or the time), then ships them to $OUT; --final: an unfinished run as PARTIAL
  OUT="$OUT" "$PY" scripts/campaigns/gpu_campaign.py call $(( $(left) - RESERVE )) --plan "$plan" --final "${dry[@]}" \
    >> "$OUT/campaign.log" 2>&1 &
  camp=$!
fi

tests=0
if [ "${GPU_TESTS:-1}" != 0 ]; then  # GPU_TESTS=0: a later call of the same loan, the tests already run
  echo "== the CUDA tests (tests/core/test_cuda.py, test_cuda_batched.py) but the speed test$([ -n "$camp" ] && echo ', beside the training')"
  # every figure names its machine: the host's instruction sets head the file
  "$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from _common import machine; print('# host:', machine())" \
    > "$OUT/cuda_tests.txt" 2>&1
  echo "# versions: $VERSIONS" >> "$OUT/cuda_tests.txt"
  timeout $(( $(left) < 240 ? $(left) : 240 )) "$PY" scripts/gpu_checks.py -k "not speed" 2>&1 | tee -a "$OUT/cuda_tests.txt"
  tests=${PIPESTATUS[0]}
fi
if [ -n "$camp" ]; then
  echo "== waiting for the campaign ($(left)s left)"
  wait "$camp"
  tail -30 "$OUT/campaign.log"
  "$PY" scripts/campaigns/gpu_campaign.py pause "${dry[@]}"  # the GPU to the speed figures alone
fi
echo "== the speed test"
timeout 120 "$PY" scripts/gpu_checks.py -k speed 2>&1 | tee -a "$OUT/cuda_tests.txt"
[ "${PIPESTATUS[0]}" = 0 ] || tests=1

# Without a campaign: training throughput against the 100,000 img/s target (docs/gpu.md), at
# GPU_TRAIN_BS (default 2048; measured: compiling and dropping the corruptions change nothing,
# benchmarks/results/train_speed_gpu_compile.txt), and where its step's device time goes: the top
# kernels of 8 steps ($OUT/train_profile.txt)
if [ -z "$camp" ] && [ "${GPU_SPEED:-1}" != 0 ] && [ -f gpu/fer2013_trainval.tar.gz ]; then
  echo "== training throughput, resnet_fer_s ($(left)s left)"
  if [ "$DRY" = 0 ]; then
    timeout 120 "$PY" benchmarks/train_speed.py --device cuda --data gpu/fer2013_trainval.tar.gz --models resnet_fer_s \
      --batch-sizes ${GPU_TRAIN_BS:-2048} --corrupt 0.6 --profile "$OUT/train_profile.txt" --json "$OUT/train_speed.json" 2>&1 \
      | tee "$OUT/train_speed.txt"
  else
    echo "(dry run: skipped, it needs the GPU)"
  fi
fi

echo "== benchmarks/gpu.py ($(left)s left)"
# GPU_SECTIONS: which of benchmarks/gpu.py's sections (default all); GPU_BATCH_TIMEOUT: the GPU's batch run's seconds
small=(--small "${GPU_SMALL:-180}")
[ "$DRY" = 0 ] || small=(--small "${GPU_SMALL:-12}" --max-frames "${GPU_FRAMES:-24}")
# the dry run: torch's CPU device stands in for the GPU, so the `--device cuda` commands run the GPU path's code
[ "$DRY" = 0 ] || export FACEMOTION_CUDA_ON_CPU=1
timeout $(( $(left) - 20 )) "$PY" benchmarks/gpu.py --n "${GPU_PHOTOS:-2000}" --out "$OUT/gpu_inference" "${small[@]}" \
  --sections "${GPU_SECTIONS:-classifier,photos,batch,video,startup,precision}" \
  --batch-timeout "${GPU_BATCH_TIMEOUT:-240}" 2>&1 | tee "$OUT/gpu_inference.log"
bench=${PIPESTATUS[0]}
unset FACEMOTION_CUDA_ON_CPU
# GPU_THREADS="4 16": then `facemotion batch --device cuda` at those detect-worker counts, and where
# its threads spend their time (py-spy, from a wheel carried in gpu/; docs/gpu.md, "batch's threads")
if [ -n "${GPU_THREADS:-}" ] && [ "$(left)" -gt 40 ]; then
  echo "== batch's threads on the GPU ($(left)s left)"
  N=${GPU_THREADS_N:-600} DEVICES=cuda WORKERS="$GPU_THREADS" PROFILE=all PYSPY_WHEEL=$(ls gpu/py_spy*.whl 2>/dev/null | head -1) \
    OUT="$OUT" PYTHON="$PY" timeout $(( $(left) - 10 )) bash benchmarks/studies/gpu_batch_threads.sh
fi
[ -z "$camp" ] || "$PY" scripts/campaigns/gpu_campaign.py resume "${dry[@]}"
echo "== done in $(( $(date +%s) - START ))s: tests exit $tests, benchmark exit $bench; results under $OUT"
[ "$tests" = 0 ] && [ "$bench" = 0 ]
