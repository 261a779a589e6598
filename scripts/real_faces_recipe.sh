# The real-faces recipe, sourced by train_real_faces.sh and train_pseudo_labels.sh so both
# runs train alike: the paths they read and the `train` options they share (each adds its own
# --extra-data folders). Not meant to run alone.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FER=${FER:-../shared/datasets/fer2013.zip}
FM=${FM:-.venv/bin/facemotion}
PY=${PY:-.venv/bin/python}
CROPS=${CROPS:-runs/crops}
# FER+ votes as targets, corruption training, EMA; six epochs from a FER+ checkpoint at 5e-4
RECIPE=(--data "$FER" --labels ferplus --vote-scheme probability --label-smoothing 0 --opt adamw --weight-decay 1e-4
        --corrupt 0.6 --ema 0.999 --eval-tta --warmup-epochs 0.5 --batch-size 128 --lr 5e-4 --epochs 6
        --no-epoch-files --resume)
