#!/usr/bin/env bash
# The intent-mixing runs (docs/training-log.md, "Reading both label sets", whose rule was written
# before them): the default's checkpoint fine-tuned with the real-faces recipe on FER+ targets that
# mix in each face's FER2013 label, one run per weight. Resumable: a rerun continues each unfinished
# run from its last.pt and skips finished ones.
#   MUXSPACE=/data/muxspace SOF=/data/sof bash scripts/campaigns/train_intent.sh [W ...]   (default: 0.3 0.5 0.7 0)
# INIT=CHECKPOINT starts from another checkpoint than the default's, its runs named
# runs/intent_<INIT's name>_<W>_resnet_s. TEACHERS="A.pt B.pt ..." distils the teachers' average
# as well (offline, on FER2013's faces; the crops learn their own labels) and NAME=runs/X names the
# run (docs/training-log.md, "New faces, second round").
source "$(dirname "$0")/../real_faces_recipe.sh"
: "${MUXSPACE:?set MUXSPACE to your clone of muxspace/facial_expressions}"
: "${SOF:?set SOF to your clone of oogre/ESA-LG-M1}"
$PY benchmarks/public_sets.py crops --set muxspace --root "$MUXSPACE" --part train --cap 1500 --out "$CROPS/muxspace_train"
$PY benchmarks/public_sets.py crops --set sof --root "$SOF" --part train --out "$CROPS/sof_train"
weights=("$@")
[ ${#weights[@]} -gt 0 ] || weights=(0.3 0.5 0.7 0)
for w in "${weights[@]}"; do
  out=runs/intent_${w/./}_resnet_s
  [ -z "${INIT:-}" ] || out=runs/intent_$(basename "$INIT" .pt)_${w/./}_resnet_s
  [ -z "${NAME:-}" ] || out=$NAME
  kd=()
  # shellcheck disable=SC2206  # TEACHERS is a list of paths
  [ -z "${TEACHERS:-}" ] || kd=(--teacher $TEACHERS --kd-offline --kd-skip-extra --kd-alpha 0.7 --kd-temp 4)
  [ -f "$out/summary.json" ] && { echo "$out: finished"; continue; }
  $FM train --arch resnet_fer_s --init "${INIT:-models/wild_reweigh_resnet_s.pt}" \
    --out "$out" "${RECIPE[@]}" --intent-weight "$w" --extra-data "$CROPS/muxspace_train" "$CROPS/sof_train" \
    "${kd[@]}" --no-progress --threads 2
done
