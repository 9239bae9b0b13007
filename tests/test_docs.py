"""Every ```python block in README.md and docs/*.md runs as written."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [
    pytest.param(code, id=f"{path.name}:{code_line}")
    for path in DOCUMENTS
    for match in BLOCK.finditer(path.read_text(encoding="utf-8"))
    for code, code_line in [
        (match.group(1), path.read_text(encoding="utf-8")[: match.start()].count("\n") + 1)
    ]
    if "# docs: no-run" not in match.group(1)
]


@pytest.mark.parametrize("code", BLOCKS)
def test_documented_example_runs(code: str) -> None:
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(code, "<docs>", "exec"), namespace)
