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
