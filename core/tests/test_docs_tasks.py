"""The task file in docs/concepts.md loads by path and builds what the page says (no model is called)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacktune.tasks import find_task

CONCEPTS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"


def documented_task_file() -> str:
    section = CONCEPTS.read_text(encoding="utf-8").split("## Tasks: what `stacktune optimize` runs", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "docs/concepts.md: the Tasks section has no python block"
    return found.group(1)


def test_the_documented_task_file_loads_by_path_and_builds(tmp_path: Path) -> None:
    pytest.importorskip("stacktune_prompt")
    path = tmp_path / "my_task.py"
    path.write_text(documented_task_file(), encoding="utf-8")
    task = find_task(f"{path}:task")
    assert task.name == "sums" and task.objectives == ("score", "tokens")
    assert set(task.options) == {"base_url", "model"}
    setup = task.build(base_url="http://127.0.0.1:9/v1")
    assert len(setup.dataset) == 12 and len(setup.holdout) == 8
    assert setup.metric(setup.dataset[0], f"The answer is {setup.dataset[0]['answer']}.") is True
    assert type(setup.target).__name__ == "Prompt"
