"""The README's API tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_api_tour_runs():
    text = README.read_text()
    section = text[text.index("<!-- api:start -->") : text.index("<!-- api:end -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README has no python block in the API tour"
    namespace: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    assert 0.0 <= namespace["run"].final["test_acc"] <= 1.0
    assert namespace["run"].history[-1]["epoch"] == 2


def test_your_own_model_block_runs():
    """A plain nn.Sequential through fit (MILS; center loss with a layer hook) and through a
    hand-written loop with SLF."""
    text = README.read_text()
    section = text[text.index("<!-- api:start -->") : text.index("<!-- api:end -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    own = [b for b in blocks if "nn.Sequential" in b and "features=" in b]
    assert len(own) == 1, "README lost its 'your own model' block"
    namespace: dict = {}
    exec(compile(own[0], "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["mils"].final["test_acc"] > 0.8  # digits with an MLP: easy
    assert namespace["mils"].history[-1]["mils_attempts"] > 0
    assert namespace["centre"].final["test_acc"] > 0.5


def test_your_own_data_section_runs():
    """The "Your own data" examples: a dict-sample Dataset (MILS), a DataLoader with 2 workers,
    a one-logit binary model (UniLoss AP) — and whatever else the section shows."""
    text = README.read_text()
    section = text[text.index("<!-- data:start -->") : text.index("<!-- data:end -->")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "README lost its 'Your own data' examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    assert namespace["mils"].final["test_acc"] > 0.8  # quadrants: an MLP learns them
    assert namespace["mils"].history[-1]["mils_attempts"] > 0
    assert namespace["plain"].final["test_acc"] > 0.8
    assert namespace["binary"].task == "binary" and namespace["binary"].final["test_ap"] > 0.8
