"""The GPU tests (tests/core/test_cuda.py, test_cuda_batched.py) where pytest may be missing (a lent
GPU machine's Python has torch, onnx and onnxruntime, not necessarily pytest): with pytest,
``pytest -rs`` on the modules; without, each of their tests run by a minimal stand-in
(parametrized cases expanded, the ``media`` fixture from FACEMOTION_SHARED), a line per test.
Exit status 1 if any failed.

    PYTHONPATH=src python3 scripts/gpu_checks.py [-k speed | -k "not speed"]

``-k`` picks tests as pytest's does, for the two forms the loan's script uses: a word in the
test's name, or ``not`` and a word (``scripts/gpu_run.sh`` runs the speed test apart, on a GPU
nothing else uses).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = [ROOT / "tests" / "core" / "test_cuda.py", ROOT / "tests" / "core" / "test_cuda_batched.py"]
MEDIA = Path(os.environ.get("FACEMOTION_SHARED", ROOT.parent / "shared")) / "media"


class Skipped(Exception):
    pass


def _stand_in() -> types.ModuleType:
    """What tests/core/test_cuda.py uses of pytest, no more."""
    pt = types.ModuleType("pytest")

    def importorskip(name, reason=None):
        try:
            return importlib.import_module(name)
        except ImportError:
            raise Skipped(reason or f"{name} is not installed") from None

    def skipif(cond, reason=""):
        return lambda fn: (setattr(fn, "skip_reason", reason) if cond else None) or fn

    def parametrize(names, values):
        def mark(fn):
            fn.cases = [dict(zip([n.strip() for n in names.split(",")], v if isinstance(v, tuple) else (v,)))
                        for v in values]
            return fn
        return mark

    @contextlib.contextmanager
    def raises(exc, match=None):
        try:
            yield
        except exc as e:
            if match and not re.search(match, str(e)):
                raise AssertionError(f"{e!r} does not match {match!r}") from None
        else:
            raise AssertionError(f"did not raise {exc.__name__}")

    def skip(reason):
        raise Skipped(reason)

    pt.importorskip, pt.raises, pt.skip = importorskip, raises, skip
    pt.mark = types.SimpleNamespace(skipif=skipif, parametrize=parametrize)
    pt.fixture = lambda fn=None, **_: fn if fn else (lambda f: f)
    return pt


def selected(label: str, k: str | None) -> bool:
    if not k:
        return True
    if k.startswith("not "):
        return k[4:].strip() not in label
    return k.strip() in label


def run_without_pytest(k: str | None = None) -> int:
    sys.modules["pytest"] = _stand_in()
    sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers (`from conftest import ...`), as pytest finds them
    failed = 0
    for path in MODULES:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        failed += _run_module(module, k)
    return 1 if failed else 0


def _run_module(module, k: str | None) -> int:
    failed = 0
    for name, fn in vars(module).items():
        if not name.startswith("test_") or not callable(fn):
            continue
        for case in getattr(fn, "cases", [{}]):
            label = f"{name}[{'-'.join(map(str, case.values()))}]" if case else name
            if not selected(label, k):
                continue
            try:
                if getattr(fn, "skip_reason", None):
                    raise Skipped(fn.skip_reason)
                kw = dict(case)
                if "media" in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
                    if not MEDIA.is_dir():
                        raise Skipped(f"real test media not found at {MEDIA}")
                    kw["media"] = MEDIA
                if "tmp_path" in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
                    import tempfile

                    kw["tmp_path"] = Path(tempfile.mkdtemp())
                for needs in ("capsys", "monkeypatch"):
                    if needs in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
                        raise Skipped(f"needs pytest's {needs}")
                fn(**kw)
                print(f"PASSED {label}", flush=True)
            except Skipped as e:
                print(f"SKIPPED {label}: {e}", flush=True)
            except Exception:  # noqa: BLE001 - a line per failed test, the run goes on
                failed += 1
                print(f"FAILED {label}\n{traceback.format_exc(limit=3)}", flush=True)
    return failed


def main() -> int:
    k = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv[1:-1] else None
    try:
        import pytest
    except ImportError:
        print("pytest is not installed: running the CUDA tests with a minimal stand-in", flush=True)
        return run_without_pytest(k)
    code = pytest.main(["-q", "-rs", "-p", "no:cacheprovider", *map(str, MODULES), *(["-k", k] if k else [])])
    return 0 if code == 5 else int(code)  # 5: no test was selected here, not a failure


if __name__ == "__main__":
    sys.exit(main())
