#!/usr/bin/env bash
# The wheel as a user gets it: built from this tree, installed with its core dependencies into a
# fresh virtual environment (no torch, no extras), then run from a folder outside the repository:
# `facemotion --version`, `facemotion models`, `facemotion demo`, one `facemotion image` call on
# the bundled sample, a retired model's one-line error, the Python API and its types (mypy --strict
# on tests/typed/). Downloads are made impossible while it runs (a dead proxy): everything it
# needs must be inside the wheel.
#   bash scripts/check_wheel.sh            (PYTHON=python3.12 for another interpreter; MAX_MB=20)
# .ci/run runs it after the tests; it takes about a minute where pip's cache holds the dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
MAX_MB=${MAX_MB:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/facemotion-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "check_wheel.sh: $*" >&2; exit 1; }

# 1. build from a copy of what the wheel is made of (no stale build/ folder), as pip builds it for
#    a user: in isolation, with the build requirements pyproject.toml names (a fresh venv's own
#    setuptools may be older than they are)
BUILD_PY=$PY
[ -x .venv/bin/python ] && BUILD_PY=.venv/bin/python
mkdir -p "$WORK/src"
tar -c --exclude=__pycache__ --exclude='*.egg-info' pyproject.toml README.md LICENSE src | tar -x -C "$WORK/src"
"$BUILD_PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src" >/dev/null
WHEEL=$(ls "$WORK"/dist/facemotion-*.whl)
BYTES=$(stat -c %s "$WHEEL")
echo "wheel: $(basename "$WHEEL"), $((BYTES / 1000000)).$(((BYTES % 1000000) / 100000)) MB"
[ "$BYTES" -le $((MAX_MB * 1000000)) ] || fail "the wheel is over $MAX_MB MB"
"$BUILD_PY" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
onnx = sorted(n.rsplit("/", 1)[1] for n in names if n.endswith(".onnx"))
print("models in the wheel:", ", ".join(onnx))
assert "facemotion/weights/models.json" in names and "facemotion/assets/astronaut.jpg" in names, "index or sample missing"
# every file of the package that is not Python is in it (package-data lists them by pattern)
import pathlib
here = pathlib.Path("src")
data = sorted(str(p.relative_to(here)) for p in (here / "facemotion").rglob("*")
              if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts and not p.name.endswith(".pyc"))
assert not [d for d in data if d not in names], f"package files left out of the wheel: {[d for d in data if d not in names]}"
assert not [n for n in names if n.startswith(("models/", "benchmarks/", "tests/", "docs/"))], "repository folders in the wheel"
EOF

# 2. a fresh environment with the core dependencies only
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check "$WHEEL" 2>&1 | { grep -v "^WARNING: Location" || true; }
if "$WORK/venv/bin/python" -c "import torch" 2>/dev/null; then fail "torch was installed with the core wheel"; fi

# 3. run it from outside the repository, with every download refused
mkdir -p "$WORK/user"
cd "$WORK/user"
export HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9
export PIP_NO_INDEX=1 FACEMOTION_CACHE="$WORK/cache"
FM="$WORK/venv/bin/facemotion"
"$FM" --version > version.txt
head -1 version.txt | grep -qx "facemotion $(grep -m1 '^version' "$ROOT/pyproject.toml" | cut -d'"' -f2)" \
  || fail "facemotion --version does not print pyproject.toml's version"
"$FM" models > models.txt
rows=$(awk '/^\|-/ {t = 1; next} t && /^\| / {n++} END {print n + 0}' models.txt)
[ "$rows" -ge 1 ] && [ "$rows" -le 5 ] || fail "facemotion models lists $rows models (1-5 expected)"
"$FM" demo > demo.txt
[ -s facemotion-demo/astronaut.json ] || ls facemotion-demo/*.json >/dev/null 2>&1 || fail "facemotion demo wrote no JSON"
SAMPLE=$("$WORK/venv/bin/python" -c "import facemotion; print(facemotion.SAMPLE_IMAGE)")
case "$SAMPLE" in "$ROOT"/*) fail "the sample photo comes from the repository ($SAMPLE), not the wheel";; esac
"$FM" image "$SAMPLE" --json > image.json
"$WORK/venv/bin/python" - <<'EOF'
import json, sys
import facemotion
r = json.loads(open("image.json").read().splitlines()[0])
assert r["faces"] and r["faces"][0]["dominant_emotion"] == "happy", r
faces = facemotion.detect_emotions(facemotion.SAMPLE_IMAGE)
assert faces and faces[0]["dominant_emotion"] == "happy", faces
assert "torch" not in sys.modules, "the core imported torch"
print(f"image: {len(r['faces'])} face, {r['faces'][0]['dominant_emotion']}; API: the same; torch not imported")
EOF
if "$FM" image "$SAMPLE" --model ensemble --json > retired.out 2> retired.err; then fail "a retired model ran"; fi
[ "$(wc -l < retired.err)" -eq 1 ] && grep -q "no longer shipped" retired.err || fail "a retired model's error: $(cat retired.err)"
# 4. typed (PEP 561): a user's code type-checks against the installed package with mypy --strict,
#    and misuse is caught, each line with its error (mypy from .venv's [dev] extra)
if "$ROOT/.venv/bin/python" -m mypy --version >/dev/null 2>&1; then
  cp "$ROOT/tests/typed/user_code.py" "$ROOT/tests/typed/misuse.py" .
  MYPY=("$ROOT/.venv/bin/python" -m mypy --strict --python-executable "$WORK/venv/bin/python" --cache-dir "$WORK/mypy")
  "${MYPY[@]}" user_code.py > typed.out 2>&1 || fail "a user's typed code fails mypy --strict: $(cat typed.out)"
  if "${MYPY[@]}" misuse.py > misuse.out 2>&1; then fail "mypy --strict finds nothing wrong in misuse.py"; fi
  "$WORK/venv/bin/python" - <<'PY' || fail "mypy's errors in misuse.py are not those marked: $(cat misuse.out)"
import re
marked = {str(i): m.group(1) for i, line in enumerate(open("misuse.py"), 1) if (m := re.search(r"  # ([a-z-]+)$", line))}
said = dict(re.findall(r"^misuse\.py:(\d+): error: .*\[([a-z-]+)\]$", open("misuse.out").read(), re.M))
assert said == marked, (said, marked)
PY
  echo "typed: tests/typed/user_code.py passes mypy --strict against the wheel; misuse.py's errors are those marked"
else
  echo "mypy not installed (.venv's [dev] extra): the typing check skipped"
fi
echo "check_wheel.sh: the wheel installs and runs outside the repository (demo, image, models, a retired name, types)"
