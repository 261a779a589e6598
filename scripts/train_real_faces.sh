#!/usr/bin/env bash
# The real-faces models: each FER+ model fine-tuned once more on FER+'s votes plus the train
# parts of muxspace (split by image id) and Specs on Faces (split by person), cropped as the
# recognizer crops faces. Resumable: re-running continues every unfinished run from its last.pt.
# docs/training-log.md ("Real faces") holds the choice rule, written before these runs.
#   MUXSPACE=/data/muxspace SOF=/data/sof bash scripts/train_real_faces.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
PY=${PY:-.venv/bin/python}
CROPS=${CROPS:-runs/crops}
: "${MUXSPACE:?set MUXSPACE to your clone of muxspace/facial_expressions}"
: "${SOF:?set SOF to your clone of oogre/ESA-LG-M1}"
$PY benchmarks/public_sets.py crops --set muxspace --root "$MUXSPACE" --part train --cap 1500 --out "$CROPS/muxspace_train"
$PY benchmarks/public_sets.py crops --set sof --root "$SOF" --part train --out "$CROPS/sof_train"
common=(--data "$FER" --labels ferplus --vote-scheme probability --label-smoothing 0 --opt adamw --weight-decay 1e-4
        --extra-data "$CROPS/muxspace_train" "$CROPS/sof_train"
        --corrupt 0.6 --ema 0.999 --eval-tta --warmup-epochs 0.5 --batch-size 128 --lr 5e-4
        --no-epoch-files --resume)
$FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --epochs 6 --out runs/real_resnet_fer_s "${common[@]}"
$FM train --arch vgg_fer_s --init models/ferplus_vgg_s.pt --epochs 6 --out runs/real_vgg_fer_s "${common[@]}"
$FM train --arch mini_xception --init models/ferplus_mini.pt --epochs 6 --out runs/real_mini_xception "${common[@]}"
