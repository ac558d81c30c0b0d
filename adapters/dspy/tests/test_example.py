"""The example in examples/dspy_qa runs end to end offline (a scripted LM) and finds every kind of knob."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dspy_qa" / "run.py"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="the repository's examples are not next to this package")
def test_example_runs_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("dspy_qa_run", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved_path = list(sys.path)
    try:
        spec.loader.exec_module(module)
        module.main(["--offline", "--trials", "3", "--concurrency", "2", "--out", str(tmp_path / "best.json")])
    finally:
        sys.path[:] = saved_path
        sys.modules.pop("program", None)
    out = capsys.readouterr().out
    for name in ("adapter", "lm", "answer.module", "answer.predict.instructions", "answer.predict.reasoning",
                 "answer.predict.demos", "answer.predict.n_demos", "answer.predict.demo_seed",
                 "answer.predict.temperature", "answer.predict.max_tokens", "answer.predict.top_p"):
        assert f"  {name} " in out
    assert "11 variables on CapitalQA" in out and "as written: accuracy 1.00" in out
    assert (tmp_path / "best.json").exists() and (tmp_path / "best.stacktune.json").exists()
