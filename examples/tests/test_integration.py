"""The sentiment example against the real SmolLM2-135M served by llama.cpp (marked integration).

Moved from adapters/prompt/tests/test_integration.py when the example left stacktune-prompt.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import stacktune
from stacktune_examples.sentiment import task as sentiment
from stacktune_prompt import FREE, Endpoint, PromptAdapter, RetryPolicy

pytestmark = pytest.mark.integration

QUICK = RetryPolicy(attempts=2, initial_wait=0.05, jitter=0.0)


class CountingTransport(httpx.HTTPTransport):
    """Counts the HTTP requests that really reach the server."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
        return super().handle_request(request)


@pytest.fixture(scope="module")
def example() -> Any:
    return sentiment


@pytest.fixture
def endpoint() -> Iterator[Callable[..., Endpoint]]:
    """Endpoints to a server; their connections are closed when the test ends."""
    made: list[Endpoint] = []

    def make(server: Any, transport: httpx.BaseTransport | None = None) -> Endpoint:
        made.append(Endpoint(server.base_url, server.model, price=FREE, timeout=60.0, transport=transport))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_a_real_study_finds_a_better_configuration_than_its_worst(
    example: Any, local_server: Any, tmp_path: Path, endpoint: Callable[..., Endpoint]
) -> None:
    prompt = example.make_prompt(endpoint(local_server), cache=tmp_path / "cache")
    dev = example.load("dev")[:12]
    study = stacktune.create_study("integration", storage=f"sqlite:///{tmp_path / 'study.db'}", seed=0)
    space = PromptAdapter(prompt).extract_variables()
    # Two known points among the sampled ones, so the contrast does not hang on 10 random draws.
    good = {**space.defaults(), "parser": "sentence", "n_demos": 2, "max_tokens": 8}
    bad = {**space.defaults(), "parser": "sentence", "n_demos": 2, "max_tokens": 3}
    study.optuna_study.enqueue_trial(good)
    study.optuna_study.enqueue_trial(bad)
    study.optimize(prompt, dev, example.accuracy, n_trials=10)
    trials = study.completed_trials()
    assert len(trials) == 10
    scores = sorted(t.values["score"] for t in trials)
    assert scores[-1] >= scores[0] + 0.25, scores
    best = study.best
    assert best.values["score"] > 0.5  # better than chance on a balanced dev split
    assert best.evaluation.input_tokens > 12 * 20 and best.evaluation.output_tokens >= 12
    assert best.evaluation.unpriced_calls == 0 and best.evaluation.cost_usd == 0.0


def test_usage_has_real_token_counts_and_the_cache_saves_every_call(
    example: Any, local_server: Any, tmp_path: Path, endpoint: Callable[..., Endpoint]
) -> None:
    transport = CountingTransport()
    prompt = example.make_prompt(endpoint(local_server, transport), cache=tmp_path / "cache")
    adapter = PromptAdapter(prompt).apply_configuration({"parser": "sentence", "max_tokens": 8})
    dev = example.load("dev")[:6]
    first = adapter.evaluate(dev, example.accuracy)
    assert transport.requests == len(dev) and first.n_failures == 0
    usage = first.usage
    assert usage.calls == len(dev) and usage.cache_hits == 0
    assert usage.input_tokens > 20 * len(dev) and 0 < usage.output_tokens <= 8 * len(dev)
    assert all(latency > 0 for latency in usage.latencies)
    again = (
        PromptAdapter(prompt)
        .apply_configuration({"parser": "sentence", "max_tokens": 8})
        .evaluate(dev, example.accuracy)
    )
    assert transport.requests == len(dev)  # zero new calls
    assert again.scores == first.scores
    assert again.usage.cache_hits == len(dev) and again.usage.spent_calls == 0
    assert again.usage.total_tokens == usage.total_tokens and again.usage.latencies == usage.latencies


def test_a_server_killed_mid_study_fails_examples_without_losing_the_study(
    example: Any, tmp_path: Path, endpoint: Callable[..., Endpoint]
) -> None:
    from stacktune_llamacpp import serve

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    dev = example.load("dev")[:4]
    scored = 0
    with serve() as server:
        prompt = dataclasses.replace(example.make_prompt(endpoint(server), cache=False), retry=QUICK)

        def metric(example_row: dict[str, Any], prediction: object) -> bool:
            nonlocal scored
            scored += 1
            if scored == 6:  # in the middle of the second trial
                server.kill()
            return bool(example.accuracy(example_row, prediction))

        study = stacktune.create_study("killed", storage=storage, seed=0)
        study.optimize(prompt, dev, metric, n_trials=3)
    stored = stacktune.load_study("killed", storage=storage)
    trials = stored.trials
    # a trial with some failed examples completes; one where every example failed is a failed trial
    assert [t.state for t in trials] == ["complete", "complete", "fail"]
    failures = [len(t.failures) for t in trials]
    assert failures == [0, 2, 4], failures
    assert (trials[2].error or "").startswith("every example failed (4 of 4); the first: ")
    assert server.base_url in (trials[2].error or ""), "the error names the dead server"
