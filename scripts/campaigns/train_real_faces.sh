#!/usr/bin/env bash
# The real-faces models: each FER+ model fine-tuned once more on FER+'s votes plus the train
# parts of muxspace (split by image id) and Specs on Faces (split by person), cropped as the
# recognizer crops faces. Resumable: re-running continues every unfinished run from its last.pt.
# docs/training-log.md ("Real faces") holds the choice rule, written before these runs.
#   MUXSPACE=/data/muxspace SOF=/data/sof bash scripts/campaigns/train_real_faces.sh
source "$(dirname "$0")/../real_faces_recipe.sh"
: "${MUXSPACE:?set MUXSPACE to your clone of muxspace/facial_expressions}"
: "${SOF:?set SOF to your clone of oogre/ESA-LG-M1}"
$PY benchmarks/public_sets.py crops --set muxspace --root "$MUXSPACE" --part train --cap 1500 --out "$CROPS/muxspace_train"
$PY benchmarks/public_sets.py crops --set sof --root "$SOF" --part train --out "$CROPS/sof_train"
extra=(--extra-data "$CROPS/muxspace_train" "$CROPS/sof_train")
$FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/real_resnet_fer_s "${RECIPE[@]}" "${extra[@]}"
$FM train --arch vgg_fer_s --init models/ferplus_vgg_s.pt --out runs/real_vgg_fer_s "${RECIPE[@]}" "${extra[@]}"
$FM train --arch mini_xception --init models/ferplus_mini.pt --out runs/real_mini_xception "${RECIPE[@]}" "${extra[@]}"
