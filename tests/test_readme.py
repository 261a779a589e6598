"""README.md stays true: every ```python block runs as written, in order, in one namespace
(from a scratch folder, so what it writes goes nowhere), and it stays short enough to read."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("doc", ["README.md", "docs/usage.md", "docs/edge.md"])
def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, doc):
    blocks = python_blocks((README.parent / doc).read_text())
    assert blocks, f"{doc} has no ```python block"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"{doc} python block {i}", "exec"), namespace)


def test_readme_is_for_users():
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    assert not re.search(r"\b(sessions?|this task)\b", text, flags=re.I)
