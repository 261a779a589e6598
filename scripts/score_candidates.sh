#!/usr/bin/env bash
# Scores candidate checkpoints where the default's choice rules read them (docs/training-log.md):
# each exported with flip averaging, then PublicTest (FER+ 7-class, OUT/NAME.public.txt and its report
# OUT/NAME.public/report.json) and the val parts of muxspace and Specs on Faces, every candidate in
# one run (OUT/val.txt).
#   bash scripts/score_candidates.sh OUT CANDIDATE.pt [CANDIDATE.pt ...]   (MUX=/data/muxspace SOF=/data/sof)
# (runs/NAME/best.pt is reported as NAME)
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
PY=${PY:-.venv/bin/python}
MUX=${MUX:-/data/muxspace}
SOF=${SOF:-/data/sof}
out=${1:?usage: score_candidates.sh OUT CANDIDATE.pt [CANDIDATE.pt ...]}; shift
[ $# -gt 0 ] || { echo "score_candidates.sh: name at least one candidate checkpoint" >&2; exit 2; }
# a candidate is reported by its file name, or by its run's folder for a run's best.pt/last.pt
name_of() {
  local c; c=$(basename "$1" .pt)
  case "$c" in best|last) basename "$(dirname "$1")" ;; *) echo "$c" ;; esac
}
declare -A seen=()
for pt in "$@"; do
  [ -f "$pt" ] || { echo "score_candidates.sh: $pt: no such checkpoint" >&2; exit 2; }
  c=$(name_of "$pt")
  [ -z "${seen[$c]:-}" ] || { echo "score_candidates.sh: $pt: named $c like ${seen[$c]}: rename one" >&2; exit 2; }
  seen[$c]=$pt
done
mkdir -p "$out"
onnx=()
for pt in "$@"; do
  c=$(name_of "$pt")
  $FM export "$pt" --to "$out/$c.onnx" --tta flip
  $FM evaluate "$out/$c.onnx" --data "$FER" --labels ferplus --split val -o "$out/$c.public" | tee "$out/$c.public.txt"
  onnx+=("$out/$c.onnx")
done
$PY benchmarks/cross_dataset.py --muxspace "$MUX" --sof "$SOF" --part val --no-fer --london '' --fer-data '' \
  --models "${onnx[@]}" --out "$out/val"
