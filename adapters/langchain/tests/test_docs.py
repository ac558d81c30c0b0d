"""The offline example of docs/langchain-adapter.md runs and prints what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "langchain-adapter.md"


def test_the_first_example_of_the_docs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not there (installed outside the monorepo)")
    text = DOC.read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)[0]
    exec(compile(code, str(DOC), "exec"), {})  # our own docs
    printed = capsys.readouterr().out.splitlines()
    expected = [line.split("# ", 1)[1] for line in code.splitlines() if line.startswith("# ")]
    assert printed[0] == expected[0]
    assert printed[1:] == ["The answer is 42.", "The answer is 43."]


@pytest.mark.parametrize("heading", ["## A Runnable in, a Runnable out: `tune`", "## Bootstrapped demos"])
def test_a_section_example_runs_and_prints_what_the_page_says(heading: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not there (installed outside the monorepo)")
    section = DOC.read_text().split(heading, 1)[1]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    exec(compile(code, str(DOC), "exec"), {})  # our own docs
    printed = capsys.readouterr().out.splitlines()
    assert printed == [line.removeprefix("# ") for line in code.splitlines() if line.startswith("# ")]
