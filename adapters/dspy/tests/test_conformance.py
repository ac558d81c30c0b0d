"""The stacktune conformance suite, on the QA program (Predict + ChainOfThought) with a scripted LM."""

from __future__ import annotations

from typing import Any

import dspy
import pytest

from stacktune_conformance import OptimizableTests
from stacktune_dspy import DSPyAdapter, LMSpec
from stacktune_dspy.testing import ScriptedEngine


class TestDSPyAdapter(OptimizableTests):
    @pytest.fixture
    def optimizable(self, program: Any, lm: dspy.LM, engine: ScriptedEngine, trainset: list[Any]) -> Any:
        other = LMSpec("scripted/other", {"engine": engine, "cache": False, "num_retries": 0})
        return DSPyAdapter(
            program,
            lm=lm,
            lms={"other": other},
            trainset=trainset,
            instructions={"*": ["Answer with the city name only."]},
        )

    @pytest.fixture
    def dataset(self, dataset: list[Any]) -> list[Any]:
        return dataset[:3]

    @pytest.fixture
    def metric(self, metric: Any) -> Any:
        return metric

    @pytest.fixture
    def at_fault_server(self, program: Any) -> Any:
        def at(base_url: str) -> DSPyAdapter:
            settings = {"api_base": base_url, "api_key": "sk-conformance-0000", "cache": False, "num_retries": 0}
            spec = LMSpec("openai/fault", {**settings, "timeout": 1.0}, name="fault")
            return DSPyAdapter(program, lm=spec, swap_modules=False)

        return at
