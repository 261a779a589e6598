#!/usr/bin/env bash
# Installs Debian's chromium, which the browser tests of the page drive headless
# (tests/apps/test_service_page.py). scripts/test.sh does not need it: without it those tests
# skip and say so. FACEMOTION_CHROMIUM may name another Chromium binary instead.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  chromium --version
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
chromium --version
