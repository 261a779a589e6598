#!/usr/bin/env bash
# Three levers on top of the default's recipe (scripts/train_pseudo_labels.sh), one run each:
#   class-weights  the loss weighted by sqrt inverse class frequency
#   consistency    FixMatch-style consistency on unlabelled UTKFace train faces
#   real-x3        the muxspace and Specs on Faces train crops shown three times an epoch
# docs/training-log.md ("Class weights and consistency") holds the choice rule, written before
# the runs. Resumable: re-running continues an unfinished run from its last.pt.
#   UTK=/data/utk bash scripts/train_levers.sh class-weights|consistency|real-x3
# (after scripts/train_pseudo_labels.sh, whose crops both runs reuse)
source "$(dirname "$0")/real_faces_recipe.sh"
lever=${1:?name the lever: class-weights, consistency or real-x3}
extra=(--extra-data "$CROPS/muxspace_train" "$CROPS/sof_train" "$CROPS/utk_pseudo")
for d in "${extra[@]:1}"; do
  [ -d "$d" ] || { echo "train_levers.sh: $d is missing: run scripts/train_pseudo_labels.sh first" >&2; exit 2; }
done
case "$lever" in
  class-weights)
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/cw_resnet_fer_s "${RECIPE[@]}" \
      "${extra[@]}" --class-weights sqrt ;;
  consistency)
    : "${UTK:?set UTK to your clone of delonyohan/deeplearn-agepred (at b06607bf)}"
    if [ ! -f "$CROPS/utk_unlabelled/.done" ]; then
      $PY benchmarks/public_sets.py unlabelled --root "$UTK" --out "$CROPS/utk_unlabelled"
      touch "$CROPS/utk_unlabelled/.done"
    fi
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/fixmatch_resnet_fer_s "${RECIPE[@]}" \
      "${extra[@]}" --unlabelled "$CROPS/utk_unlabelled" --unlabelled-weight 1 --unlabelled-threshold 0.8 ;;
  real-x3)  # a folder named again is appended again: three copies of each human-labelled real photo
    real=("$CROPS/muxspace_train" "$CROPS/sof_train")
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/realx3_resnet_fer_s "${RECIPE[@]}" \
      --extra-data "${real[@]}" "${real[@]}" "${real[@]}" "$CROPS/utk_pseudo" ;;
  *) echo "train_levers.sh: unknown lever '$lever' (class-weights, consistency or real-x3)" >&2; exit 2 ;;
esac
