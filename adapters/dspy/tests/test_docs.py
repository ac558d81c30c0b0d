"""The offline examples of docs/dspy-adapter.md run and print what the page says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "dspy-adapter.md"


def _block_after(heading: str) -> str:
    if not DOC.exists():
        pytest.skip(f"{DOC} is not there (installed outside the monorepo)")
    section = DOC.read_text().split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match is not None, f"no python block after {heading!r}"
    return match.group(1)


def test_the_tune_example_runs_and_prints_what_the_page_says(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _block_after("## As a DSPy optimizer: `Tune`")
    exec(compile(code, str(DOC), "exec"), {})  # our own docs
    printed = capsys.readouterr().out.splitlines()
    expected = [line.removeprefix("# ") for line in code.splitlines() if line.startswith("# ")]
    assert printed == expected


def test_the_bootstrap_example_runs_and_prints_what_the_page_says(capsys: pytest.CaptureFixture[str]) -> None:
    code = _block_after("## Bootstrapped demos")
    exec(compile(code, str(DOC), "exec"), {})  # our own docs
    printed = capsys.readouterr().out.splitlines()
    expected = [line.removeprefix("# ") for line in code.splitlines() if line.startswith("# ")]
    assert printed == expected
