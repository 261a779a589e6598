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
    from facemotion.detect import DETECTORS

    blocks = python_blocks((README.parent / doc).read_text())
    assert blocks, f"{doc} has no ```python block"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(DETECTORS, "_items", dict(DETECTORS._items))  # what a snippet registers goes with it
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(blocks, 1):
        exec(compile(block, f"{doc} python block {i}", "exec"), namespace)


def test_readme_is_for_users():
    text = README.read_text()
    assert len(text.splitlines()) <= 160
    assert not re.search(r"\b(sessions?|this task)\b", text, flags=re.I)


def test_the_readme_has_one_model_table_and_it_is_the_indexs():
    """The table users choose a model from is `facemotion models`' (zoo.guide_table, from the
    index that scripts/zoo_table.py measures), at most five rows, and the README has no other
    table of models."""
    from facemotion import zoo

    text = README.read_text()
    table = zoo.guide_table(markdown=True)
    assert table in text, "README.md's model table is not the index's (python scripts/zoo_table.py --check)"
    assert len(table.splitlines()) - 2 == len(zoo.shipped_models()) <= 5
    heads = [line for line in text.splitlines() if line.startswith("| ") and "`" not in line and "model" in line]
    assert len(heads) == 1, heads
