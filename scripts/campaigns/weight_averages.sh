#!/usr/bin/env bash
# The weight-average lever: averages of the real-photo fine-tunes of ferplus_resnet_s, no new
# training. Writes each candidate (facemotion interpolate: every tensor, BatchNorm statistics
# included) and scores it where the rule chooses (scripts/score_candidates.sh). docs/training-log.md ("Weight
# averages of the real-photo fine-tunes") holds the rule, written before the candidates were scored.
#   bash scripts/campaigns/weight_averages.sh   (MUX=/data/muxspace SOF=/data/sof by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
FM=${FM:-.venv/bin/facemotion}
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
bash scripts/score_candidates.sh "$OUT" "$OUT"/line_a0.25.pt "$OUT"/line_a0.5.pt "$OUT"/line_a0.75.pt "$OUT"/uniform3.pt
