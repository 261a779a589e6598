#!/usr/bin/env bash
# The weight-average lever: averages of the real-photo fine-tunes of ferplus_resnet_s, no new
# training. Writes each candidate (facemotion interpolate: every tensor, BatchNorm statistics
# included), exports it with flip averaging and scores it where the rule chooses: PublicTest
# (FER+ 7-class) and the val parts of muxspace and Specs on Faces. docs/training-log.md ("Weight
# averages of the real-photo fine-tunes") holds the rule, written before the candidates were scored.
#   bash scripts/weight_averages.sh   (MUX=/data/muxspace SOF=/data/sof by default)
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
PY=${PY:-.venv/bin/python}
MUX=${MUX:-/data/muxspace}
SOF=${SOF:-/data/sof}
OUT=${OUT:-runs/soup}
mkdir -p "$OUT"
for a in 0.25 0.5 0.75; do  # the line from wild_pseudo_resnet_s (0) to wild_real3_resnet_s (1)
  $FM interpolate models/wild_pseudo_resnet_s.pt models/wild_real3_resnet_s.pt --alpha $a \
    --to "$OUT/line_a$a.pt" --name "soup_line_a$a"
done
# the uniform soup of the three: (wild_resnet_s + wild_pseudo_resnet_s) / 2, then 1/3 of wild_real3_resnet_s
$FM interpolate models/wild_resnet_s.pt models/wild_pseudo_resnet_s.pt --alpha 0.5 --to "$OUT/pair.pt"
$FM interpolate "$OUT/pair.pt" models/wild_real3_resnet_s.pt --alpha 0.3333333333 --to "$OUT/uniform3.pt" \
  --name soup_uniform3
names=(line_a0.25 line_a0.5 line_a0.75 uniform3)
for c in "${names[@]}"; do
  $FM export "$OUT/$c.pt" --to "$OUT/$c.onnx" --tta flip
  $FM evaluate "$OUT/$c.onnx" --data "$FER" --labels ferplus --split val | tee "$OUT/$c.public.txt"
done
onnx=()
for c in "${names[@]}"; do onnx+=("$OUT/$c.onnx"); done
$PY benchmarks/cross_dataset.py --muxspace "$MUX" --sof "$SOF" --part val --no-fer --london '' --fer-data '' \
  --models "${onnx[@]}" --out "$OUT/val"
