"""RateLimitCallback: every LM call of every trial waits its place on the study's shared pace."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import dspy
import pytest

from stacktune import RateLimit, create_study
from stacktune_dspy import RateLimitCallback
from stacktune_dspy.testing import ScriptedEngine, scripted_lm


def test_every_lm_call_of_every_trial_waits_its_place(
    tmp_path: Path, engine: ScriptedEngine, program: dspy.Module, dataset: list[Any], metric: Any
) -> None:
    key = f"pytest-{uuid.uuid4().hex[:8]}"
    callback = RateLimitCallback(RateLimit(requests_per_minute=60_000, burst=0.001), key=key)  # 1 ms a call
    slept: list[float] = []
    callback.limiter._clock = lambda: 1000.0  # time stands still: each call queues after the last
    callback.limiter._sleep = slept.append
    study = create_study(storage=f"sqlite:///{tmp_path}/s.db", study_name="paced", seed=0)
    with dspy.context(lm=scripted_lm(engine=engine, callbacks=[callback])):
        study.optimize(program, dataset[:4], metric, n_trials=2)
    calls = len(engine.calls)
    assert calls > 0 and len(slept) == calls - 1, "each call after the first waited"
    reserved = study.shared_state.values(f"ratelimit:{key}")["requests"]
    assert reserved == pytest.approx(1000.0 + calls * 0.001), "one place per call, beside the study's storage"
