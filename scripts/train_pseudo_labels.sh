#!/usr/bin/env bash
# The pseudo-label lever: the real-faces recipe plus UTKFace train faces labelled by
# wild_ensemble (only its sure answers, as many men as women in each emotion). Resumable.
# docs/training-log.md ("Unlabelled real faces") holds the choice rule, written before the run.
#   UTK=/data/utk bash scripts/train_pseudo_labels.sh   (after scripts/train_real_faces.sh's crops)
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
PY=${PY:-.venv/bin/python}
CROPS=${CROPS:-runs/crops}
: "${UTK:?set UTK to your clone of delonyohan/deeplearn-agepred (at b06607bf)}"
if [ ! -f "$CROPS/utk_pseudo/.done" ]; then
  rm -rf "$CROPS/utk_pseudo"
  $PY benchmarks/public_sets.py pseudo --root "$UTK" --teacher wild_ensemble --out "$CROPS/utk_pseudo"
  touch "$CROPS/utk_pseudo/.done"
fi
$FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --epochs 6 --out runs/pseudo_resnet_fer_s \
  --data "$FER" --labels ferplus --vote-scheme probability --label-smoothing 0 --opt adamw --weight-decay 1e-4 \
  --extra-data "$CROPS/muxspace_train" "$CROPS/sof_train" "$CROPS/utk_pseudo" \
  --corrupt 0.6 --ema 0.999 --eval-tta --warmup-epochs 0.5 --batch-size 128 --lr 5e-4 --no-epoch-files --resume
