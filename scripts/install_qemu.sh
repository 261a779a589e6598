#!/usr/bin/env bash
# Installs Debian's qemu-user, whose qemu-x86_64 runs the suite's Python on an emulated
# AVX2-only x86 CPU (-cpu Haswell: no AVX-512, no VNNI) for tests/core/test_int8_drift.py.
# scripts/test.sh does not need it: without it that test skips and says so.
set -euo pipefail
if command -v qemu-x86_64 >/dev/null 2>&1; then
  qemu-x86_64 --version | head -1
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q qemu-user
qemu-x86_64 --version | head -1
