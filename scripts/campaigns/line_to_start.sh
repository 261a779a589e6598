#!/usr/bin/env bash
# A fine-tune's line back to the checkpoint it started from (WiSE-FT): the weights at alpha 0.5
# and 0.75 of the way from START (0) to RUN (1) (facemotion interpolate: every tensor, BatchNorm
# statistics included), scored with RUN itself by scripts/score_candidates.sh. docs/training-log.md
# names the rule that reads them ("The rare emotions distilled, from the new FER+ network").
#   bash scripts/campaigns/line_to_start.sh START.pt RUN.pt OUT
#   bash scripts/campaigns/line_to_start.sh models/ferplus_vgg_s_kd300.pt runs/rarex9kd_vgg_fer_s_kd300/best.pt runs/rarex9kd_vgg_line
set -euo pipefail
cd "$(dirname "$0")/../.."
FM=${FM:-.venv/bin/facemotion}
start=${1:?usage: line_to_start.sh START.pt RUN.pt OUT} run=${2:?usage: line_to_start.sh START.pt RUN.pt OUT}
out=${3:?usage: line_to_start.sh START.pt RUN.pt OUT}
mkdir -p "$out"
cp "$run" "$out/a1.pt"
for a in 0.5 0.75; do
  $FM interpolate "$start" "$run" --alpha $a --to "$out/a$a.pt" --name "line_a$a"
done
bash scripts/score_candidates.sh "$out" "$out/a0.5.pt" "$out/a0.75.pt" "$out/a1.pt"
