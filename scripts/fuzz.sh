#!/usr/bin/env bash
# The long fuzz run: the same properties as tests/test_fuzz.py with thousands of examples each
# (CI runs 60). Takes a few minutes on 2 cores; run it after changing a reader or an option.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/test.sh -q tests/test_fuzz.py
HYPOTHESIS_PROFILE=long exec .venv/bin/python -m pytest -q -p no:logging tests/test_fuzz.py "$@"
