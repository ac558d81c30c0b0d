"""A real study on SmolLM2-135M through llama.cpp's OpenAI-compatible server (``local_server`` fixture).

The model is tiny: these tests assert that every trial completes with real calls and token counts,
that the knobs reach the server and that the result saves and loads, not that answers are good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dspy
import pytest

import stacktune
import stacktune_dspy
from stacktune_conformance.caching import check_a_repeated_study_pays_nothing
from stacktune_dspy import DSPyAdapter, LMSpec

pytestmark = pytest.mark.integration

CAPITALS = {
    "France": "Paris",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Japan": "Tokyo",
    "Germany": "Berlin",
    "England": "London",
    "Egypt": "Cairo",
    "Greece": "Athens",
}
TRAIN = {"Portugal": "Lisbon", "Austria": "Vienna", "Poland": "Warsaw", "Norway": "Oslo", "Peru": "Lima"}


def examples(pairs: dict[str, str]) -> list[dspy.Example]:
    return [
        dspy.Example(question=f"What is the capital of {country}?", answer=city).with_inputs("question")
        for country, city in pairs.items()
    ]


def names_the_city(example: Any, prediction: Any, trace: Any = None) -> float:
    return 1.0 if example.answer.lower() in str(prediction.answer).lower() else 0.0


def local_spec(server: Any, name: str, **kwargs: Any) -> LMSpec:
    return LMSpec(
        f"openai/{server.model}",
        {"api_base": server.base_url, "api_key": "local", "cache": False, "num_retries": 0, **kwargs},
        name=name,
    )


def test_study_of_ten_trials_on_the_local_model(local_server: Any, tmp_path: Path) -> None:
    greedy = local_spec(local_server, "greedy", temperature=0.0, max_tokens=32)
    adapter = DSPyAdapter(
        dspy.Predict("question -> answer"),
        lm=greedy,
        lms={"greedy": greedy, "warm": local_spec(local_server, "warm", temperature=0.7, max_tokens=32)},
        trainset=examples(TRAIN),
        instructions={"*": ["Answer with the name of the city only."]},
        adapters=("json", "chat"),
        max_tokens=(8, 32),
        top_p=None,
        swap_modules=False,
        max_demos=3,
    )
    kinds = {v.name: v.kind for v in adapter.extract_variables().variables}
    assert kinds == {
        "adapter": "categorical",
        "lm": "categorical",
        "self.instructions": "categorical",
        "self.demos": "categorical",
        "self.n_demos": "int",
        "self.demo_order": "categorical",
        "self.temperature": "float",
        "self.max_tokens": "int",
    }
    dataset = examples(CAPITALS)
    study = stacktune.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", objectives=("score", "tokens"), seed=0)
    # SmolLM2 rarely writes the JSON adapter's format: a trial where every answer fails to parse is a
    # failed trial (with the parse error), and the study goes on
    study.optimize(adapter, dataset, names_the_city, n_trials=10, max_concurrency=2, failed_trials_in_a_row=10)

    assert len(study.trials) == 10
    failed = [t for t in study.trials if t.state == "fail"]
    assert all("AdapterParseError" in (t.error or "") and t.configuration["adapter"] == "json" for t in failed)
    trials = study.completed_trials()
    assert trials, [t.error for t in failed]
    for trial in trials:
        evaluation = trial.evaluation
        assert evaluation is not None
        assert evaluation.n_examples == len(dataset)
        assert evaluation.calls >= len(dataset) - evaluation.n_failures
        assert evaluation.input_tokens > 20 * evaluation.calls > 0
        assert 0 < evaluation.output_tokens <= 32 * evaluation.calls
        assert evaluation.unpriced_calls == evaluation.calls  # no price is known for a local model
        per_example = (evaluation.input_tokens + evaluation.output_tokens) / len(dataset)
        assert trial.values["tokens"] == pytest.approx(per_example)
    assert len({t.values["tokens"] for t in trials}) > 1  # the knobs changed what was sent

    best = study.pareto_front()[0]
    native = best.export(adapter)
    path = tmp_path / "best.json"
    stacktune_dspy.save(native, path)
    loaded = stacktune_dspy.load(
        dspy.Predict("question -> answer"), path, allow_unsafe_lm_state=True, lm_kwargs={"api_key": "local"}
    )
    again = DSPyAdapter(loaded).evaluate(dataset[:2], names_the_city)
    assert again.usage.calls >= 2 - again.n_failures and again.usage.input_tokens > 0
    assert stacktune_dspy.context(loaded) is not None


def test_max_tokens_and_adapter_reach_the_server(local_server: Any) -> None:
    program = dspy.ChainOfThought("question -> answer")
    adapter = DSPyAdapter(program, lm=local_spec(local_server, "greedy", temperature=0.0), max_tokens=(8, 64))
    short = adapter.apply_configuration({"predict.max_tokens": 8, "adapter": "json"})
    evaluation = short.evaluate(examples({"France": "Paris"}), names_the_city)
    assert evaluation.usage.calls >= 1
    assert evaluation.usage.output_tokens <= 8 * evaluation.usage.calls
    predict = adapter.apply_configuration({"self.module": "predict", "predict.max_tokens": 24, "adapter": "json"})
    outcome = predict.evaluate(examples({"Italy": "Rome", "Japan": "Tokyo"}), names_the_city, max_concurrency=2)
    assert outcome.n_examples == 2 and outcome.usage.input_tokens > 0
    assert type(predict.program) is dspy.Predict


def test_a_repeated_study_on_the_local_model_pays_zero_calls(local_server: Any, tmp_path: Path) -> None:
    """The study's response cache through DSPy's cache hook, with real HTTP answers (DSPy's lm15 records)."""
    spec = local_spec(local_server, "greedy", temperature=0.0, max_tokens=16, cache=True)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    dataset = examples(dict(list(CAPITALS.items())[:3]))

    def run(name: str) -> stacktune.Study:
        adapter = DSPyAdapter(dspy.Predict("question -> answer"), lm=spec, adapters=("chat",), top_p=None)
        study = stacktune.create_study(study_name=name, storage=storage, seed=0)
        study.optimize(adapter, dataset, names_the_city, n_trials=3)
        return study

    check_a_repeated_study_pays_nothing(run)


def test_a_tiny_bootstrap_on_the_local_model_stores_traces_and_costs_real_calls(
    local_server: Any, tmp_path: Path
) -> None:
    """The program as it is runs on two examples before the search: real calls, stored traces, counted spend."""
    adapter = DSPyAdapter(
        dspy.Predict("question -> answer"),
        lm=local_spec(local_server, "greedy", temperature=0.0, max_tokens=32),
        adapters=(),
        swap_modules=False,
        temperature=None,
        max_tokens=None,
        top_p=None,
    )
    study = stacktune.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", seed=0)

    def answered(example: Any, prediction: Any, trace: Any = None) -> bool:
        return True  # SmolLM2's answers are weak: the test is of the mechanism, not of quality

    dataset = examples(dict(list(CAPITALS.items())[:2]))
    study.optimize(adapter, dataset, answered, n_trials=0, bootstrap=stacktune.Bootstrap(max_examples=2, max_demos=2))

    stored = study.bootstrapped_demos
    assert stored is not None and stored.traced and stored.tried == (0, 1)
    assert stored.passed and stored.examples and len(stored.examples) == len(stored.passed)
    assert stored.usage.calls >= len(stored.passed) and stored.usage.input_tokens > 20 * stored.usage.calls
    assert stored.usage.output_tokens > 0
    for index, trace in zip(stored.passed, stored.examples):
        [call] = trace["self"]
        assert call["question"] == dataset[index].question and isinstance(call["answer"], str)
    assert study.spent.calls == stored.usage.calls  # the study's spend counts the bootstrap
    demoed = adapter.with_bootstrapped_demos(stored.examples, stored.max_demos)
    assert demoed.extract_variables()["self.demos"].resolve("pool") == "pool"
