"""The repository README's quickstart runs as written, on the real local model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[3] / "README.md"


def quickstart() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks, "the README has a python quickstart"
    return blocks[0]


def test_quickstart_is_short() -> None:
    assert len(quickstart().strip().splitlines()) <= 22


@pytest.mark.integration
def test_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(quickstart(), str(README), "exec"), namespace)
    study = namespace["study"]
    assert len(study.completed_trials()) == 8  # type: ignore[attr-defined]
    assert (tmp_path / "stacktune.db").exists()
    assert "score" in capsys.readouterr().out
    from stacktune_prompt import Prompt

    assert isinstance(namespace["best_prompt"], Prompt)
