#!/bin/bash
# The GPU campaign of docs/training-log.md ("GPU runs"). One device call: train what is
# unfinished (teachers first, then students distilled from them), then ship the finished runs
# (float16 packs, tarred and split into 15 MiB files) under $OUT.
#
# Run it on the device machine as `bash scripts/campaigns/gpu_campaign.sh SECONDS`, carrying gpu/ (made
# by `facemotion data subset`; see DEVELOPERS.md), call after call while the machine stays warm:
# every run resumes from its last.pt and a finished one is skipped. It ran as 540 (the teachers),
# 540 (the two resnet18_cbam_fer teachers had been dropped: at 1,350 img/s each they could not
# finish 80 epochs), 585, then `MINLEFT=0 FINISH_ONLY=1 bash scripts/campaigns/gpu_campaign.sh 105` to
# finish the two students that stopped one epoch short.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=src
BUDGET=${1:-540}; START=$(date +%s)
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
D=gpu/fer2013_trainval.tar.gz
TR="python3 -m facemotion train --data $D --device cuda --amp bf16 --resume --no-progress --eval-tta"
TEACH="--opt sgd --lr 0.1 --weight-decay 5e-4 --epochs ${TEPOCHS:-80} --erase 0.5 --mixup 0.2 --ema 0.999 --batch-size 128"
mkdir -p runs logs
run() { # name, args...  (skips a finished run)
  local n=$1; shift
  [ -f runs/$n/DONE ] && return 0
  timeout $(( $(left) - 45 )) $TR --out runs/$n "$@" >> logs/$n.log 2>&1 && touch runs/$n/DONE
  tail -2 logs/$n.log | sed "s/^/[$n] /"
}
nvidia-smi --query-gpu=name,memory.used --format=csv,noheader
run t_r18_s1 --arch resnet18_fer --seed 1 $TEACH &
run t_r18_s2 --arch resnet18_fer --seed 2 $TEACH &
run t_vggm_s1 --arch vgg_fer_m --seed 1 $TEACH &
wait
if ls runs/t_*/DONE >/dev/null 2>&1 && [ -f runs/t_r18_s1/DONE ] && [ -f runs/t_r18_s2/DONE ] && [ -f runs/t_vggm_s1/DONE ] && [ $(left) -gt ${MINLEFT:-120} ]; then
  TS="runs/t_r18_s1/best.pt runs/t_r18_s2/best.pt runs/t_vggm_s1/best.pt"
  KD="--teacher $TS --kd-alpha 0.9 --kd-temp 4 --epochs ${SEPOCHS:-60} --erase 0.25 --ema 0.999 --seed 1"
  [ -z "${FINISH_ONLY:-}" ] && run s_mob050 --arch mobile_fer --model-kwargs '{"width": 0.5}' $KD &
  run s_mob075 --arch mobile_fer --model-kwargs '{"width": 0.75}' $KD &
  run s_mob100 --arch mobile_fer --model-kwargs '{"width": 1.0}' $KD &
  run s_vggs --arch vgg_fer_s $KD &
  [ -z "${FINISH_ONLY:-}" ] && run s_cbams --arch resnet_cbam_fer_s $KD &
  wait
fi
# ship finished runs not yet shipped, students first, up to ~60 MiB per call
mkdir -p ship; rm -rf ship/*
total=0
for d in runs/s_* runs/t_*; do
  [ -f $d/DONE ] && [ ! -f $d/SHIPPED ] || continue
  n=$(basename $d)
  python3 scripts/device_transfer.py pack $d/best.pt ship/$n --half --part-mib 64 >/dev/null || continue
  sz=$(du -sm ship/$n | cut -f1)
  if [ $(( total + sz )) -gt 60 ]; then rm -rf ship/$n; continue; fi
  total=$(( total + sz )); touch $d/SHIPPED; cp logs/$n.log ship/$n/
done
tar cf - ship | split -b 15M -d - $OUT/bundle.
ls ship; cat logs/*.log | grep -E "epoch +[0-9]+ " | tail -3; for f in logs/*.log; do echo "$f: $(grep -cE 'epoch +[0-9]+ ' $f) epochs; $(grep -E 'epoch' $f | tail -1)"; done
echo "left $(left) s"
