"""Bootstrapped demos for DSPy: per-predictor traces of the examples a program gets right, as BootstrapFewShot keeps them.

The program rewrites a question into a query, then answers from both. The scripted LM knows
the capitals of France and Italy only, unless it is shown demos (earlier turns of the chat):
then it knows them all. So the bootstrap passes France and Italy, and a search that shows the
answer step its bootstrapped demos gets every example right.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dspy
import numpy as np
import optuna
import pytest
from pydantic import BaseModel

import stacktune_dspy
from stacktune import Bootstrap, MetricError, create_study, load_study
from stacktune_dspy import DSPyAdapter, Tune
from stacktune_dspy._traces import plain
from stacktune_dspy.testing import ScriptedEngine, scripted_lm

optuna.logging.set_verbosity(optuna.logging.WARNING)

CAPITALS = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "Peru": "Lima"}
KNOWN = ("France", "Italy")


class Pipeline(dspy.Module):
    """Two predictors: the second reads what the first wrote."""

    def __init__(self) -> None:
        super().__init__()
        self.rewrite = dspy.Predict("question -> query")
        self.answer = dspy.Predict("question, query -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        return self.answer(question=question, query=self.rewrite(question=question).query)


class DemoAwareEngine(ScriptedEngine):
    """Knows more capitals when the request shows demos (messages before the last one)."""

    def __init__(self) -> None:
        super().__init__(self.reply)
        self.shown = False
        self.failing: set[str] = set()

    def complete(self, request: Any) -> Any:
        self.shown = len(request.messages) > 1
        return super().complete(request)

    def reply(self, prompt: str, fields: Sequence[str]) -> Mapping[str, Any]:
        country = next(c for c in CAPITALS if re.search(rf"\b{c}\b", prompt))
        if country in self.failing:
            raise RuntimeError(f"the LM is down for {country}")
        knows = country in KNOWN or self.shown
        said = {
            "reasoning": "Let me think.",
            "query": f"{country}? capital city",  # the first step's own words, in no dataset field
            "answer": CAPITALS[country] if knows else "unknown",
        }
        return {name: said[name] for name in fields}


def example(country: str) -> dspy.Example:
    return dspy.Example(question=f"What is the capital of {country}?", answer=CAPITALS[country]).with_inputs("question")


def right(example: Any, prediction: Any, trace: Any = None) -> bool:
    return bool(prediction.answer == example.answer)


def fields(country: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """What each predictor saw and said on ``country``."""
    question = f"What is the capital of {country}?"
    query = f"{country}? capital city"
    return {"question": question, "query": query}, {"question": question, "query": query, "answer": CAPITALS[country]}


@pytest.fixture
def engine() -> DemoAwareEngine:
    return DemoAwareEngine()


@pytest.fixture
def adapter(engine: DemoAwareEngine) -> DSPyAdapter:
    return DSPyAdapter(
        Pipeline(),
        lm=scripted_lm(engine=engine),
        swap_modules=False,
        adapters=(),
        temperature=None,
        max_tokens=None,
        top_p=None,
        demo_seeds=1,
    )


@pytest.fixture
def data() -> list[dspy.Example]:
    return [example(c) for c in ("France", "Italy", "Spain", "Japan")]


# -- traces -------------------------------------------------------------------------------------
def test_each_example_traces_what_each_predictor_saw_and_said_by_its_path(
    adapter: DSPyAdapter, data: list[dspy.Example], engine: DemoAwareEngine
) -> None:
    evaluation, traces = adapter.evaluate_with_traces(data, right)
    assert evaluation.scores == (1.0, 1.0, 0.0, 0.0)
    assert evaluation.usage.calls == 8 and len(engine.calls) == 8  # one runner: usage recorded as evaluate does
    rewrite, answer = fields("France")
    assert traces[0] == {"rewrite": [rewrite], "answer": [answer]}
    assert traces[2] == {"rewrite": [fields("Spain")[0]], "answer": [{**fields("Spain")[0], "answer": "unknown"}]}
    assert [t == json.loads(json.dumps(t)) for t in traces] == [True] * 4  # plain JSON
    plain_evaluation = adapter.evaluate(data, right)
    assert plain_evaluation.scores == evaluation.scores


def test_traces_are_keyed_by_the_knobs_paths_after_a_module_swap(engine: DemoAwareEngine) -> None:
    class QA(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rewrite = dspy.Predict("question -> query")
            self.answer = dspy.ChainOfThought("question, query -> answer")

        def forward(self, question: str) -> dspy.Prediction:
            return self.answer(question=question, query=self.rewrite(question=question).query)

    adapter = DSPyAdapter(QA(), lm=scripted_lm(engine=engine), adapters=())
    swapped = adapter.apply_configuration({"answer.module": "predict", "rewrite.module": "cot"})
    _, [trace] = swapped.evaluate_with_traces([example("France")], right)
    assert trace is not None and set(trace) == {"rewrite", "answer.predict"}  # the names the knobs use
    assert "reasoning" in trace["rewrite"][0] and "reasoning" not in trace["answer.predict"][0]


def test_an_example_that_raises_has_no_trace_and_threads_trace_alike(
    adapter: DSPyAdapter, data: list[dspy.Example], engine: DemoAwareEngine
) -> None:
    engine.failing = {"Italy"}
    evaluation, traces = adapter.evaluate_with_traces(data, right, max_concurrency=3)
    assert traces[1] is None and evaluation.failures[0].index == 1
    assert traces[0] == {"rewrite": [fields("France")[0]], "answer": [fields("France")[1]]}
    assert traces[3] is not None and traces[3]["answer"][0]["question"] == "What is the capital of Japan?"


def test_a_dspy_metric_gets_dspys_trace_as_bootstrap_few_shot_passes_it(
    adapter: DSPyAdapter, data: list[dspy.Example]
) -> None:
    seen: list[Any] = []

    def strict_when_bootstrapping(example: Any, prediction: Any, trace: Any = None) -> bool:
        if trace is None:
            return True
        seen.append([(type(predictor).__name__, sorted(inputs)) for predictor, inputs, _ in trace])
        return bool(prediction.answer == example.answer)

    assert adapter.evaluate(data, strict_when_bootstrapping).scores == (1.0,) * 4
    evaluation, _ = adapter.evaluate_with_traces(data, strict_when_bootstrapping)
    assert evaluation.scores == (1.0, 1.0, 0.0, 0.0)
    assert seen[0] == [("Predict", ["question"]), ("Predict", ["query", "question"])]


def test_a_metric_error_names_the_users_metric(adapter: DSPyAdapter, data: list[dspy.Example]) -> None:
    def graded(example: Any, prediction: Any) -> str:
        return "yes"

    evaluation, _ = adapter.evaluate_with_traces(data[:1], graded)
    assert evaluation.failures[0].error_type == MetricError.__name__
    assert "graded" in evaluation.failures[0].message


class Place(BaseModel):
    name: str
    population: int


class Opaque:
    def __str__(self) -> str:
        return "an opaque thing"


def test_values_json_cannot_hold_are_written_as_plain_json(engine: DemoAwareEngine) -> None:
    class Odd(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict("question, context -> answer")

        def forward(self, question: str) -> dspy.Prediction:
            context = {"place": Place(name="France", population=68), "tags": ("a", "b"), 3: Opaque(), "nan": math.nan}
            return self.answer(question=question, context=context)

    adapter = DSPyAdapter(Odd(), lm=scripted_lm(engine=engine), adapters=())
    _, [trace] = adapter.evaluate_with_traces([example("France")], right)
    assert trace is not None
    [call] = trace["answer"]
    assert call["context"] == {
        "place": {"name": "France", "population": 68},
        "tags": ["a", "b"],
        "3": "an opaque thing",
        "nan": "nan",
    }
    assert json.loads(json.dumps(trace, allow_nan=False)) == trace
    assert plain({"s": {2, 1}, "inf": -math.inf, "ok": [True, None, 1.5], "np": [np.int64(3), np.float32(0.5)]}) == {
        "s": [1, 2],
        "inf": "-inf",
        "ok": [True, None, 1.5],
        "np": [3, 0.5],
    }


# -- demos --------------------------------------------------------------------------------------
def test_traces_become_augmented_demos_in_each_predictors_pool(adapter: DSPyAdapter, data: list[dspy.Example]) -> None:
    _, traces = adapter.evaluate_with_traces(data, right)
    passed = traces[:2]
    demoed = adapter.with_bootstrapped_demos([*passed, None, passed[0]], max_demos=2)  # repeats left out
    space = demoed.extract_variables()
    assert space["answer.demos"].resolve("pool") == "pool"
    assert (space["answer.n_demos"].low, space["answer.n_demos"].high) == (1, 2)
    assert "2 bootstrapped from the program's traces" in (space["answer.n_demos"].description or "")
    applied = demoed.apply_configuration({"answer.demos": "pool", "answer.n_demos": 2, "rewrite.demos": "none"})
    demos = sorted(applied.program.answer.demos, key=lambda d: d.question)
    assert [d.toDict() for d in demos] == [{"augmented": True, **fields(c)[1]} for c in KNOWN]
    assert demos[0].query == "France? capital city"  # the first step's output is the second's demo input
    assert applied.program.rewrite.demos == [] and adapter.program.answer.demos == []  # the original unchanged
    again = adapter.with_bootstrapped_demos(passed, max_demos=2).extract_variables()
    assert again.model_dump() == space.model_dump()  # the same traces, the same space


def test_demos_join_the_labelled_pool_and_max_demos_widens_only_traced_predictors(
    engine: DemoAwareEngine, data: list[dspy.Example]
) -> None:
    labelled = [dspy.Example(question="Q?", query="q", answer="A")]
    adapter = DSPyAdapter(Pipeline(), lm=scripted_lm(engine=engine), trainset=labelled, max_demos=1, adapters=())
    answer = fields("France")[1]
    demoed = adapter.with_bootstrapped_demos([{"answer": [answer, {**answer, "answer": "Lyon"}]}], max_demos=3)
    space = demoed.extract_variables()
    assert space["answer.n_demos"].high == 3 and space["rewrite.n_demos"].high == 1  # rewrite had no trace
    applied = demoed.apply_configuration({"answer.demos": "pool", "answer.n_demos": 3, "answer.demo_seed": 0})
    assert labelled[0] in applied.program.answer.demos and len(applied.program.answer.demos) == 3


def test_frozen_predictors_keep_their_demos(engine: DemoAwareEngine) -> None:
    outer = dspy.Module()
    outer.inner = Pipeline()
    outer.inner._compiled = True
    outer.extra = dspy.Predict("question -> query")
    adapter = DSPyAdapter(outer, lm=scripted_lm(engine=engine), adapters=(), swap_modules=False)
    rewrite, answer = fields("France")
    demoed = adapter.with_bootstrapped_demos(
        [{"inner.rewrite": [rewrite], "inner.answer": [answer], "extra": [rewrite]}], max_demos=2
    )
    space = demoed.extract_variables()
    assert "inner.answer.demos" not in space and "inner.rewrite.demos" not in space
    assert space["extra.demos"].resolve("pool") == "pool"


def test_traces_of_another_program_or_shape_are_refused_by_name(adapter: DSPyAdapter) -> None:
    with pytest.raises(
        ValueError, match=r"trace 1 is of predictor 'summarize'.*its predictors: \['rewrite', 'answer'\]"
    ):
        adapter.with_bootstrapped_demos([{"answer": []}, {"summarize": []}], max_demos=2)
    with pytest.raises(TypeError, match="bootstrapped trace 0 must map predictor paths"):
        adapter.with_bootstrapped_demos(["France"], max_demos=2)
    with pytest.raises(TypeError, match="trace 0, predictor 'answer': a list of fields"):
        adapter.with_bootstrapped_demos([{"answer": "Paris"}], max_demos=2)
    with pytest.raises(TypeError, match="trace 0, predictor 'answer': fields by name"):
        adapter.with_bootstrapped_demos([{"answer": [["Paris"]]}], max_demos=2)
    with pytest.raises(ValueError, match="max_demos must be a whole number >= 1, got 0"):
        adapter.with_bootstrapped_demos([], max_demos=0)


def test_the_adapters_cache_option_and_configuration_carry_over(
    engine: DemoAwareEngine, tmp_path: Path, data: list[dspy.Example]
) -> None:
    adapter = DSPyAdapter(Pipeline(), lm=scripted_lm(engine=engine), cache=tmp_path / "cache", adapters=())
    configured = adapter.apply_configuration({"answer.temperature": 0.3})
    demoed = configured.with_bootstrapped_demos([{"answer": [fields("France")[1]]}], max_demos=1)
    assert demoed.configuration["answer.temperature"] == 0.3
    assert demoed._shared.cache is adapter._shared.cache is not None
    both = demoed.with_instruction_candidates({"answer.instructions": ["Name the city."]})  # as optimize does
    space = both.extract_variables()
    assert "pool" in space["answer.demos"].keys and "Name the city." in space["answer.instructions"].choices.values()
    assert both._shared.cache is adapter._shared.cache


# -- in a study -----------------------------------------------------------------------------------
def test_a_study_bootstraps_stores_the_passed_traces_and_searches_them(
    adapter: DSPyAdapter, engine: DemoAwareEngine, data: list[dspy.Example], tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    study = create_study(study_name="bs", storage=storage, seed=0)
    study.optimize(adapter, data, right, n_trials=8, bootstrap=Bootstrap(max_examples=4, max_demos=2))
    stored = study.bootstrapped_demos
    assert stored is not None and stored.traced
    assert stored.tried == (0, 1, 2, 3) and stored.passed == (0, 1)  # passed examples only
    assert stored.examples == [{"rewrite": [fields(c)[0]], "answer": [fields(c)[1]]} for c in KNOWN]
    assert stored.usage.calls == 8  # two predictors, four examples
    trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
    assert study.spent.calls == trial_calls + 8  # the study's spend counts the bootstrap's calls
    space = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
    assert (space["answer.n_demos"]["low"], space["answer.n_demos"]["high"]) == (1, 2)

    best = study.best
    assert study.baseline is not None and study.baseline.values["score"] == 0.5
    assert best.values["score"] == 1.0 and best.configuration["answer.demos"] == "pool"
    native = best.export(adapter, check=True, examples=data[2:3])  # the stored traces given to the target as written
    assert isinstance(native, dspy.Module)
    stacktune_dspy.save(native, tmp_path / "best.json")
    loaded = stacktune_dspy.load(Pipeline(), tmp_path / "best.json", allow_unsafe_lm_state=True)
    assert loaded.answer.demos == [d.toDict() for d in native.answer.demos]  # DSPy loads demos as dicts
    assert {d.query for d in native.answer.demos} <= {fields(c)[0]["query"] for c in KNOWN}
    assert all(d.augmented for d in native.answer.demos) and native.answer.demos
    as_written = best.apply_to(Pipeline())  # a bare module: the adapter's defaults, the same pool
    assert isinstance(as_written, DSPyAdapter)
    assert as_written.program.answer.demos == native.answer.demos
    [verified] = study.verify(adapter, [example("Spain"), example("Peru")], right, top=1)
    assert verified.heldout["score"] == 1.0

    calls = len(engine.calls)
    again = load_study("bs", storage=storage)
    again.optimize(adapter, data, right, n_trials=0, bootstrap=Bootstrap(max_examples=4, max_demos=2))
    assert len(engine.calls) == calls  # a resumed study never runs the bootstrap again
    assert again.bootstrapped_demos == stored


def test_tune_takes_bootstrap(engine: DemoAwareEngine, data: list[dspy.Example]) -> None:
    tuner = Tune(
        right,
        n_trials=8,
        storage=optuna.storages.InMemoryStorage(),
        seed=0,
        lm=scripted_lm(engine=engine),
        bootstrap=Bootstrap(max_examples=4, max_demos=2),
        swap_modules=False,
        adapters=(),
        temperature=None,
        max_tokens=None,
        top_p=None,
        demo_seeds=1,
    )
    best = tuner.compile(Pipeline(), trainset=data, valset=[example("Peru")])
    assert tuner.study is not None and tuner.study.bootstrapped_demos is not None
    assert tuner.study.bootstrapped_demos.passed == (0, 1)
    assert tuner.verifications[0].heldout["score"] == 1.0
    assert best.answer.demos and all(d.augmented for d in best.answer.demos)
