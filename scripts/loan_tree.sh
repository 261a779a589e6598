#!/usr/bin/env bash
# The working tree a GPU loan's one call carries (DEVELOPERS.md, "GPU runs"): at most 64 MiB travel,
# and the call needs the shipped inference graphs, the shared media and the training data at once.
#
#   bash scripts/loan_tree.sh slim      # gpu/ made (media + FER2013 Training/PublicTest), what no call
#                                       # reads untracked for the call; prints the MiB that will travel
#   LOAN_DATA=0 bash scripts/loan_tree.sh slim   # the same without the training data, with py-spy's
#                                       # wheel (benchmarks/studies/gpu_batch_threads.sh profiles with it)
#   bash scripts/loan_tree.sh restore   # everything tracked again, as before (run it before any commit)
#
# Untracked for the call (nothing on the machine reads them): models/ (the slim checkpoints),
# docs/, benchmarks/results/, and the two shipped graphs neither the GPU tests nor benchmarks/gpu.py
# load (fer2013_vgg_s, quad_ensemble_int8). Untracked paths are listed in .git/info/exclude between
# two marker lines, so `restore` removes exactly what `slim` added.
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
MEDIA=${MEDIA:-../shared/media}
PATHS=(models docs benchmarks/results src/facemotion/weights/fer2013_vgg_s.onnx
       src/facemotion/weights/quad_ensemble_int8.onnx)
EXCLUDE=.git/info/exclude
BEGIN="# loan_tree.sh: untracked for a GPU call"
END="# loan_tree.sh: end"
LIMIT_MIB=64

travelling_mib() {  # tracked + untracked-not-ignored files, plus the carried gpu/
  { git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1
    du -sb gpu | cut -f1; } | awk '{s += $1} END {printf "%.1f", s / 2^20}'
}

case "${1:-}" in
  slim)
    if grep -qxF "$BEGIN" "$EXCLUDE" 2>/dev/null; then echo "loan_tree.sh: already slim (run restore first)" >&2; exit 2; fi
    git diff --quiet && git diff --cached --quiet || { echo "loan_tree.sh: commit or stash first: the tree has changes" >&2; exit 2; }
    mkdir -p gpu
    [ -d gpu/media ] || cp -r "$MEDIA" gpu/media
    if [ "${LOAN_DATA:-1}" = 0 ]; then  # no training in the call: room for py-spy instead
      rm -f gpu/fer2013_trainval.tar.gz
      ls gpu/py_spy*.whl >/dev/null 2>&1 || ${PY:-.venv/bin/python} -m pip download -q py-spy==0.4.3 --no-deps \
        --only-binary=:all: --platform manylinux2014_x86_64 -d gpu
      # the dependencies the lent machine lacks (Python 3.12 there; gpu_run.sh unpacks them where
      # the import fails): PyAV for video's MP4, simplejpeg for the JPEGs both devices decode
      for dep in av simplejpeg; do
        ls gpu/$dep-*.whl >/dev/null 2>&1 || ${PY:-.venv/bin/python} -m pip download -q "$dep" --no-deps \
          --only-binary=:all: --python-version 3.12 --platform manylinux_2_28_x86_64 \
          --platform manylinux_2_17_x86_64 -d gpu
      done
    else
      [ -f gpu/fer2013_trainval.tar.gz ] || PYTHONPATH=src ${PY:-.venv/bin/python} -m facemotion data subset "$FER" \
        --to gpu/fer2013_trainval.tar.gz
    fi
    git rm -r -q --cached "${PATHS[@]}"
    mkdir -p .git/info
    { echo "$BEGIN"; for p in "${PATHS[@]}"; do echo "/$p"; done; echo "$END"; } >> "$EXCLUDE"
    mib=$(travelling_mib)
    echo "loan_tree.sh: $mib MiB will travel (limit $LIMIT_MIB), carry [\"gpu\"]; restore before committing"
    awk -v m="$mib" -v l="$LIMIT_MIB" 'BEGIN {exit !(m <= l)}' || { echo "loan_tree.sh: over the limit" >&2; exit 1; }
    ;;
  restore)
    git reset -q -- "${PATHS[@]}"
    if [ -f "$EXCLUDE" ]; then
      sed -i "/^$BEGIN\$/,/^$END\$/d" "$EXCLUDE"
    fi
    git status --short | head -5
    echo "loan_tree.sh: restored"
    ;;
  *) echo "usage: bash scripts/loan_tree.sh slim|restore" >&2; exit 2 ;;
esac
