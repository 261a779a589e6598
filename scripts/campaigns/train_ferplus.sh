#!/usr/bin/env bash
# The FER+ models: each shipped FER2013 network fine-tuned on the FER+ vote distributions
# (a new 8-class head, corruption training, EMA), one after another, resumable: re-running
# the script continues every unfinished run from its last.pt. docs/training-log.md records the
# choice rule (written before these runs) and the results.
#   bash scripts/campaigns/train_ferplus.sh            # FER=path/to/fer2013.zip to move the data
set -euo pipefail
cd "$(dirname "$0")/../.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
common=(--data "$FER" --labels ferplus --vote-scheme probability --label-smoothing 0 --opt adamw --weight-decay 1e-4
        --corrupt 0.6 --ema 0.999 --eval-tta --warmup-epochs 1 --batch-size 128 --no-epoch-files --resume)
$FM train --arch vgg_fer_s --init models/vgg_fer_s.pt --epochs 12 --lr 1e-3 --out runs/ferplus_vgg_fer_s "${common[@]}"
$FM train --arch resnet_fer_s --init models/resnet_fer_s.pt --epochs 10 --lr 1e-3 --out runs/ferplus_resnet_fer_s "${common[@]}"
$FM train --arch mini_xception --init models/mini_xception.pt --epochs 10 --lr 1e-3 --out runs/ferplus_mini_xception "${common[@]}"
# Two FER2013 checkpoints of other lineages, fine-tuned the same way as ensemble members
# (docs/training-log.md, "Ensemble of the FER+ checkpoints, third draw")
$FM train --arch vgg_fer_s --init models/vgg_fer_s_kd300.pt --epochs 12 --lr 1e-3 --out runs/ferplus_vgg_fer_s_kd300 "${common[@]}"
$FM train --arch vgg_fer_m --init models/vgg_fer_m_r4.pt --epochs 10 --lr 1e-3 --out runs/ferplus_vgg_fer_m_r4 "${common[@]}"
