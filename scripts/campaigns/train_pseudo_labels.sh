#!/usr/bin/env bash
# The pseudo-label lever: the real-faces recipe plus UTKFace train faces labelled by
# wild_ensemble (only its sure answers, as many men as women in each emotion). Resumable.
# docs/training-log.md ("Unlabelled real faces") holds the choice rule, written before the run.
#   UTK=/data/utk bash scripts/campaigns/train_pseudo_labels.sh   (after scripts/campaigns/train_real_faces.sh's crops)
source "$(dirname "$0")/../real_faces_recipe.sh"
: "${UTK:?set UTK to your clone of delonyohan/deeplearn-agepred (at b06607bf)}"
# the teacher: wild_ensemble, shipped when the labels were made (newer ensembles have replaced it
# since); its ONNX file comes out of the commit that shipped it
TEACHER=${TEACHER:-runs/wild_ensemble.onnx}
if [ ! -f "$TEACHER" ]; then
  mkdir -p "$(dirname "$TEACHER")"
  git show a9ccbc5:src/facemotion/weights/wild_ensemble.onnx > "$TEACHER"
fi
if [ ! -f "$CROPS/utk_pseudo/.done" ]; then
  rm -rf "$CROPS/utk_pseudo"
  $PY benchmarks/public_sets.py pseudo --root "$UTK" --teacher "$TEACHER" --out "$CROPS/utk_pseudo"
  touch "$CROPS/utk_pseudo/.done"
fi
$FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/pseudo_resnet_fer_s "${RECIPE[@]}" \
  --extra-data "$CROPS/muxspace_train" "$CROPS/sof_train" "$CROPS/utk_pseudo"
