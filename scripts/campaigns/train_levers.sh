#!/usr/bin/env bash
# Levers on top of the default's recipe (scripts/campaigns/train_pseudo_labels.sh), one run each:
#   class-weights  the loss weighted by sqrt inverse class frequency
#   consistency    FixMatch-style consistency on unlabelled UTKFace train faces
#   real-x3        the muxspace and Specs on Faces train crops shown three times an epoch
#   real-x3-vgg    real-x3 from ferplus_vgg_s_kd300 instead of ferplus_resnet_s
#   rare-x9        real-x3, with their angry, disgust, fear, sad and surprise crops nine times
#   rare-x9-kd     rare-x9, distilling duo_ensemble on FER2013's faces (the crops keep their labels)
#   rare-x9-kd-vgg rare-x9-kd from ferplus_vgg_s_kd300 instead of ferplus_resnet_s
#   steady-rare-kd-vgg  wild_rare_kd_vgg_s fine-tuned towards its own answers on clean faces (the
#                  same data; every face, crops included, distilled from the start)
#   balance-gender real-x3 with FER2013's faces reweighed so that the faces read as men and as
#                  women have the same mix of emotions (scripts/fer_gender.py reads them)
#   balance-gender-all  the same with the muxspace and Specs on Faces crops read and reweighed too
#   rare-x9-kd-bal rare-x9-kd distilling quad_ensemble, FER2013's faces reweighed as in balance-gender
#   rare-x9-short  rare-x9-kd-bal as two epochs at 2e-4 from the default's weights (wild_reweigh_resnet_s)
#   crowd-disputes balance-gender with FER2013's label settling the happy/neutral disputes of the two
#                  labels of Training faces (scripts/campaigns/dispute_votes.py)
# docs/training-log.md holds each lever's choice rule, written before its run ("Class weights
# and consistency", "A third lever", "The rare emotions of the real photos, oversampled", "... with an ensemble's answers",
# "The rare emotions distilled, from the new FER+ network", "Men and women given the same emotions", "The rare emotions distilled from `quad_ensemble`", "The rare emotions as a short fine-tune", "FER2013's label settles the crowd's happy-neutral disputes").
# Resumable: re-running continues an unfinished run from its last.pt.
#   UTK=/data/utk bash scripts/campaigns/train_levers.sh LEVER   (one of the names above)
# (after scripts/campaigns/train_pseudo_labels.sh, whose crops both runs reuse)
source "$(dirname "$0")/../real_faces_recipe.sh"
levers=" class-weights consistency real-x3 real-x3-vgg rare-x9 rare-x9-kd rare-x9-kd-vgg steady-rare-kd-vgg balance-gender balance-gender-all rare-x9-kd-bal rare-x9-short crowd-disputes "
lever=${1:-}
[[ -n "$lever" && "$levers" == *" $lever "* ]] || { echo "train_levers.sh: unknown lever '$lever' (one of:$levers)" >&2; exit 2; }
extra=(--extra-data "$CROPS/muxspace_train" "$CROPS/sof_train" "$CROPS/utk_pseudo")
for d in "${extra[@]:1}"; do
  [ -d "$d" ] || { echo "train_levers.sh: $d is missing: run scripts/campaigns/train_pseudo_labels.sh first" >&2; exit 2; }
done
utk_unlabelled() {  # every UTKFace train face's crop, once
  : "${UTK:?set UTK to your clone of delonyohan/deeplearn-agepred (at b06607bf)}"
  if [ ! -f "$CROPS/utk_unlabelled/.done" ]; then
    $PY benchmarks/public_sets.py unlabelled --root "$UTK" --out "$CROPS/utk_unlabelled"
    touch "$CROPS/utk_unlabelled/.done"
  fi
}
gender_reading() {  # FILE [--extra-data ...]: scripts/fer_gender.py's reading, made once
  [ -f "$1" ] && return
  utk_unlabelled
  $PY scripts/fer_gender.py --utk-crops "$CROPS/utk_unlabelled" "${@:2}" --out "$(dirname "$1")"
}
case "$lever" in
  class-weights)
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/cw_resnet_fer_s "${RECIPE[@]}" \
      "${extra[@]}" --class-weights sqrt ;;
  consistency)
    utk_unlabelled
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out runs/fixmatch_resnet_fer_s "${RECIPE[@]}" \
      "${extra[@]}" --unlabelled "$CROPS/utk_unlabelled" --unlabelled-weight 1 --unlabelled-threshold 0.8 ;;
  real-x3|real-x3-vgg)  # a folder named again is appended again: three copies of each human-labelled real photo
    real=("$CROPS/muxspace_train" "$CROPS/sof_train")
    arch=resnet_fer_s init=models/ferplus_resnet_s.pt out=runs/realx3_resnet_fer_s
    # real-x3-vgg: the same, from the best FER+ network of at most 1M parameters
    [ "$lever" = real-x3-vgg ] && arch=vgg_fer_s init=models/ferplus_vgg_s_kd300.pt out=runs/realx3_vgg_fer_s_kd300
    $FM train --arch "$arch" --init "$init" --out "$out" "${RECIPE[@]}" \
      --extra-data "${real[@]}" "${real[@]}" "${real[@]}" "$CROPS/utk_pseudo" ;;
  rare-x9|rare-x9-kd|rare-x9-kd-vgg|steady-rare-kd-vgg|rare-x9-kd-bal|rare-x9-short)  # real-x3, and the real photos' rare emotions six times more: nine copies of each
    real=("$CROPS/muxspace_train" "$CROPS/sof_train")
    rare=("$CROPS/muxspace_train_rare" "$CROPS/sof_train_rare")
    for src in "${real[@]}"; do  # the rare classes' crops alone, a folder each set
      dst="${src}_rare"
      if [ ! -f "$dst/.done" ]; then
        rm -rf "$dst"; mkdir -p "$dst"
        for c in angry disgust fear sad surprise; do [ -d "$src/$c" ] && cp -r "$src/$c" "$dst/"; done
        touch "$dst/.done"
      fi
    done
    arch=resnet_fer_s init=models/ferplus_resnet_s.pt out=runs/rarex9_resnet_fer_s kd=()
    # rare-x9-kd: the ensemble's answers on FER2013's faces (targets once per image), none on the
    # crops, whose human labels a teacher that never saw their like would pull back to neutral
    # (the teacher, duo_ensemble, has left the package since: its file comes out of a commit that shipped it)
    if [ "$lever" = rare-x9-kd ] || [ "$lever" = rare-x9-kd-vgg ]; then
      teacher=${TEACHER:-runs/duo_ensemble.onnx}
      [ -f "$teacher" ] || git show 2e0d770:src/facemotion/weights/duo_ensemble.onnx > "$teacher"
      out=runs/rarex9kd_resnet_fer_s kd=(--teacher "$teacher" --kd-skip-extra)
    fi
    # rare-x9-kd-bal: the strongest shipped FER+ network as the teacher, and FER2013's faces weighted
    # by read gender and label (as balance-gender) so that the default's narrower gap is kept
    if [ "$lever" = rare-x9-kd-bal ] || [ "$lever" = rare-x9-short ]; then
      gender=${GENDER:-runs/gender/gender.csv}
      gender_reading "$gender"
      out=runs/rarex9kd_bal_resnet_fer_s kd=(--teacher quad_ensemble --kd-skip-extra --balance-groups "$gender")
    fi
    # rare-x9-short: the same from the default's weights, two epochs at a low rate, so that it starts
    # above the PublicTest floor and stays near it; the teacher's answers are rare-x9-kd-bal's (the
    # same faces, teacher and settings: its cache matches)
    if [ "$lever" = rare-x9-short ]; then
      init=models/wild_reweigh_resnet_s.pt out=runs/rarex9_short_resnet_s kd+=(--lr 2e-4 --epochs 2)
      mkdir -p "$out"
      [ -f "$out/teacher_targets.pt" ] || [ ! -f runs/rarex9kd_bal_resnet_fer_s/teacher_targets.pt ] ||
        cp runs/rarex9kd_bal_resnet_fer_s/teacher_targets.pt "$out/"
    fi
    # rare-x9-kd-vgg: the same, from the best FER+ network of at most 1M parameters
    [ "$lever" = rare-x9-kd-vgg ] && arch=vgg_fer_s init=models/ferplus_vgg_s_kd300.pt out=runs/rarex9kd_vgg_fer_s_kd300
    # steady-rare-kd-vgg: the rare-x9-kd-vgg run (shipped as wild_rare_kd_vgg_s) learns its own
    # flip-averaged answers on each clean face while it sees the augmented and corrupted views:
    # answers near a tie swing with a degree of turn or a pixel of shift, and a target that does
    # not move with the view pulls them together. Every face is distilled, the crops too, so the
    # rare emotions it learnt from them stay its targets; a low rate and three epochs keep it near
    # where it starts
    if [ "$lever" = steady-rare-kd-vgg ]; then
      arch=vgg_fer_s init=models/wild_rare_kd_vgg_s.pt out=runs/steady_rare_kd_vgg_s
      kd=(--teacher models/wild_rare_kd_vgg_s.pt --kd-offline --lr 2e-4 --epochs 3)
    fi
    $FM train --arch "$arch" --init "$init" --out "$out" "${RECIPE[@]}" "${kd[@]}" \
      --extra-data "${real[@]}" "${real[@]}" "${real[@]}" "${rare[@]}" "${rare[@]}" "${rare[@]}" \
        "${rare[@]}" "${rare[@]}" "${rare[@]}" "$CROPS/utk_pseudo" ;;
  balance-gender|balance-gender-all|crowd-disputes)  # real-x3, each face weighted by its read gender and label
    real=("$CROPS/muxspace_train" "$CROPS/sof_train")
    gender=${GENDER:-runs/gender/gender.csv} out=runs/balance_gender_resnet_fer_s read=() votes=()
    # crowd-disputes: the Training faces whose two labels dispute happy against neutral take FER2013's
    if [ "$lever" = crowd-disputes ]; then
      out=runs/crowd_disputes_resnet_fer_s votes=(--votes runs/votes_disputed.csv.gz)
      [ -f runs/votes_disputed.csv.gz ] || $PY scripts/campaigns/dispute_votes.py --out runs/votes_disputed.csv.gz
    fi
    # balance-gender-all: the real photos' crops are read too, and weighed with FER2013's faces
    [ "$lever" = balance-gender-all ] && gender=${GENDER:-runs/gender_extra/gender.csv} \
      out=runs/balance_gender_all_resnet_fer_s read=(--extra-data "${real[@]}")
    gender_reading "$gender" "${read[@]}"
    $FM train --arch resnet_fer_s --init models/ferplus_resnet_s.pt --out "$out" "${RECIPE[@]}" \
      --extra-data "${real[@]}" "${real[@]}" "${real[@]}" "$CROPS/utk_pseudo" --balance-groups "$gender" "${votes[@]}" ;;
esac
