#!/usr/bin/env bash
# Installs facemotion with its test dependencies into .venv and runs the test suite.
# Real-data tests read ../shared (FACEMOTION_SHARED overrides) and skip, saying why, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# (re)create it when missing, or when an interrupted earlier run left it without pip: venv
# completes an existing folder in place, without touching what is installed there
if ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  "$PY" -m venv .venv
fi
# torch==2.13.0 is pinned in the [dev]/[train] extras, and its CPU wheel goes in first: PyPI's
# torch brings about 3 GB of CUDA packages. The wheel comes from where pip already finds it (a
# CI image's find-links), else from PyTorch's CPU index.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0+cpu" 2>/dev/null ||
    .venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0+cpu" \
      --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
# the browser files of the page's in-browser engine (onnxruntime-web, opencv.js: pinned npm
# tarballs, checked and cached once); without them the web-export tests skip and say why
.venv/bin/python -m facemotion.web.assets || echo "the browser files could not be fetched: the web-export tests will skip"
# npm's typescript (pinned, into .cache/) for the compile test of facemotion.d.ts; it skips without it
bash scripts/install_typescript.sh >/dev/null 2>&1 || echo "typescript could not be installed: the declarations' compile test will skip"
# SETUP_ONLY=1: the environment alone (.ci/run lints between set-up and tests)
[ "${SETUP_ONLY:-0}" = 1 ] && exit 0
# the suite starts a few hundred Python processes (`facemotion` commands, pytest's workers): where
# bytecode writing is off (PYTHONDONTWRITEBYTECODE), each would compile facemotion's modules and
# rewrite the tests' asserts again; their caches go to the checkout's ignored __pycache__ folders
unset PYTHONDONTWRITEBYTECODE
.venv/bin/python -m compileall -q -j 2 src/facemotion >/dev/null || true  # once, not by the first processes at once
# each worker's OpenMP (torch's, OpenBLAS's) on one thread: two workers with two threads each on
# two cores wait on each other's spinning threads (the suite ran 9:36 against 10:30 on 2 cores)
[ "${TEST_WORKERS:-2}" != 0 ] && export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# two processes (TEST_WORKERS; 0: this one), each taking whole files (--dist loadfile: a file's tests share one
# process, its fixtures and its order): on 2 cores the suite takes about two thirds of the time
exec .venv/bin/python -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadfile "$@"
