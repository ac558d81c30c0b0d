"""Faults a study must survive and explain: dead servers, broken metrics, bad arguments, timeouts."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import optuna
import pytest

import stacktune
from stacktune import Budget, Categorical, Int, Usage, create_study, evaluate_examples, record_usage
from stacktune.testing import ToyProgram, toy_dataset, toy_metric

optuna.logging.set_verbosity(optuna.logging.WARNING)

URL = "http://127.0.0.1:9/v1/chat/completions"


def shuffled(n: int, seed: int = 0) -> list[float]:
    data = toy_dataset(n)
    random.Random(seed).shuffle(data)
    return data


class Backend(ToyProgram):
    """A toy whose 'server' fails on some examples: every one (dead) or from a given call on."""

    def __init__(
        self, *args: Any, fail_from: int = 0, fail_every: int = 1, calls: list[int] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fail_from = fail_from
        self.fail_every = fail_every
        self.calls = calls if calls is not None else [0]

    def apply_configuration(self, configuration: Mapping[str, object]) -> Backend:
        applied = super().apply_configuration(configuration)
        return Backend(
            applied.strategy,
            applied.steps,
            applied.temperature,
            applied.style,
            counter=self.counter,
            fail_from=self.fail_from,
            fail_every=self.fail_every,
            calls=self.calls,
        )

    def evaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> stacktune.Evaluation:
        def run(example: object) -> float:
            self.calls[0] += 1
            self.counter.increment()
            record_usage(Usage(calls=1, input_tokens=5))
            if self.calls[0] > self.fail_from and self.calls[0] % self.fail_every == 0:
                raise ConnectionError(f"cannot reach {URL}: connection refused")
            return self.quality

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


class TestDeadServers:
    def test_a_dead_server_fails_three_trials_then_stops_the_study_and_says_why(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        with caplog.at_level(logging.WARNING, logger="stacktune"):
            study.optimize(Backend(), shuffled(40), toy_metric, n_trials=20)
        trials = [t for t in study.trials if not t.rejected_by]
        assert [t.state for t in trials] == ["fail", "fail", "fail"], "stopped after three, not twenty"
        assert all(
            t.error
            and t.error.startswith(f"every example failed (40 of 40); the first: ConnectionError: cannot reach {URL}")
            for t in trials
        )
        assert study.last_stop_reason is not None and "3 trials in a row failed" in study.last_stop_reason
        assert URL in study.last_stop_reason
        first_failures = [
            r for r in caplog.records if "example" in r.getMessage() and "failed in trial" in r.getMessage()
        ]
        assert len(first_failures) == 1, "the first failure is logged once, the rest stored"

    def test_a_server_dying_mid_study_is_noticed_while_racing(self) -> None:
        program = Backend(fail_from=400)  # some good trials' worth of calls, then nothing answers
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(program, shuffled(40), toy_metric, n_trials=200)
        trials = [t for t in study.trials if not t.rejected_by]
        touched = [t for t in trials if t.failures]
        assert len(touched) <= 4, "three dead trials (and the one the server died in), then the study stopped"
        assert [t.state for t in trials[-3:]] == ["fail", "fail", "fail"] and len(trials) < 200
        assert all("every example failed" in (t.error or "") for t in trials[-3:])
        assert any(t.examples_evaluated < 40 for t in trials[-3:]), "raced trials count too"
        assert trials[-1].failures and trials[-1].failures[0].error_type == "ConnectionError"

    def test_many_failed_examples_are_said_in_the_trial(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(
            Backend(fail_every=3),
            shuffled(24),
            toy_metric,
            n_trials=2,  # too few examples to race
            space=Backend().extract_variables().fix(style="terse"),
        )
        from stacktune.records import TrialRecord

        for frozen in study.optuna_study.trials:
            record = TrialRecord.of(frozen)
            assert record is not None and frozen.state == optuna.trial.TrialState.COMPLETE
            assert record.warning and record.warning.startswith("8 of 24 examples failed (first: ConnectionError")

    def test_a_success_resets_the_count(self) -> None:
        # every other trial is dead: never three in a row, so the study goes on
        program = Backend()
        outcomes = iter([True, False] * 10)

        class Alternating(Backend):
            def evaluate(self, dataset: Sequence[object], metric: Any, **kwargs: Any) -> stacktune.Evaluation:
                if next(outcomes):
                    raise ConnectionError("down")
                return ToyProgram.evaluate(self, dataset, metric, **kwargs)

            def apply_configuration(self, configuration: Mapping[str, object]) -> Alternating:
                return self

        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(
            Alternating(), toy_dataset(4), toy_metric, n_trials=10, space=program.extract_variables().fix(style="terse")
        )
        assert len([t for t in study.trials if not t.rejected_by]) == 10


class TestBrokenMetrics:
    def test_a_metric_with_the_wrong_arity_is_refused_before_anything_is_spent(self) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage())

        def exact(prediction: object) -> bool:
            return bool(prediction)

        with pytest.raises(TypeError, match=r"metric .*exact\(prediction\) cannot be called as metric\(example, "):
            study.optimize(program, toy_dataset(3), exact, n_trials=2)  # type: ignore[arg-type]
        assert program.counter.count == 0 and not study.trials

    @pytest.mark.parametrize("value", [None, float("nan"), "yes"])
    def test_a_metric_returning_a_non_score_fails_the_trial_naming_the_metric(self, value: object) -> None:
        def label_match(example: object, prediction: object) -> object:
            return value

        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), toy_dataset(5), label_match, n_trials=5)  # type: ignore[arg-type]
        failed = [t for t in study.trials if t.state == "fail"]
        assert len(failed) == 3 and study.last_stop_reason
        assert "MetricError: metric " in (failed[0].error or "") and "label_match returned" in (failed[0].error or "")

    def test_numpy_scores_are_numbers(self) -> None:
        np = pytest.importorskip("numpy")
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), toy_dataset(5), lambda e, p: np.float32(toy_metric(e, p)), n_trials=3)
        study.optimize(ToyProgram(), toy_dataset(5), lambda e, p: np.bool_(p >= e), n_trials=3)
        assert all(t.state == "complete" for t in study.trials if not t.rejected_by)


def _generator() -> Iterator[float]:
    yield 0.5


class TestBadArgumentsSpendNothing:
    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"max_concurrency": 0}, "max_concurrency must be a whole number >= 1"),
            ({"max_concurrency": True}, "max_concurrency"),
            ({"timeout": -1}, "timeout must be a number of seconds >= 0"),
            ({"timeout": float("nan")}, "timeout"),
            ({"n_trials": 2.5}, "n_trials must be a whole number >= 0"),
            ({"n_trials": "3"}, "n_trials"),
            ({"n_trials": True}, "n_trials"),
            ({"n_jobs": 1.5}, "n_jobs"),
            ({"grace_period": -5}, "grace_period"),
            ({"failed_trials_in_a_row": 0}, "failed_trials_in_a_row"),
            ({"budget": {"calls": 3}}, "budget must be a stacktune.Budget"),
            ({"dataset": _generator()}, "materialize it with list"),
            ({"dataset": {"a": 0.5}}, "pass list\\(dataset.values\\(\\)\\)"),
            ({"dataset": "abc"}, "dataset must be a sequence"),
            ({"dataset": []}, "dataset is empty"),
        ],
    )
    def test_refused_up_front_with_the_argument_named(self, kwargs: dict[str, Any], message: str) -> None:
        program = ToyProgram()
        study = create_study(storage=optuna.storages.InMemoryStorage())
        arguments: dict[str, Any] = {"dataset": toy_dataset(3), "n_trials": 2, **kwargs}
        with pytest.raises((TypeError, ValueError), match=message):
            study.optimize(program, arguments.pop("dataset"), toy_metric, **arguments)
        assert program.counter.count == 0 and not study.trials

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"calls": float("nan")}, "Budget.calls must be a whole number >= 0"),
            ({"calls": True}, "Budget.calls"),
            ({"calls": 2.5}, "Budget.calls"),
            ({"tokens": -1}, "Budget.tokens"),
            ({"usd": float("inf")}, "Budget.usd must be a number of USD >= 0"),
        ],
    )
    def test_budgets_that_could_never_trip_are_refused(self, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            Budget(**kwargs)

    def test_duplicate_choices_and_a_step_that_does_not_divide_the_range(self) -> None:
        with pytest.raises(stacktune.InvalidVariable, match="choice 'a' is given twice \\(positions 0 and 2\\)"):
            Categorical("style", ["a", "b", "a"])
        with pytest.raises(stacktune.InvalidVariable, match="divisible by `step`.*use high=9"):
            Int("n", 0, 10, step=3)

    def test_a_variable_added_to_a_stored_study_is_refused_and_says_what_to_do(self) -> None:
        storage = optuna.storages.InMemoryStorage()
        program = ToyProgram()
        narrow = program.extract_variables().drop("temperature")
        study = create_study(storage=storage, study_name="grown")
        study.optimize(program, toy_dataset(3), toy_metric, space=narrow, n_trials=2)
        with pytest.raises(stacktune.StacktuneError, match="'temperature' is new.*new study name.*drop"):
            study.optimize(program, toy_dataset(3), toy_metric, n_trials=2)


class Slow(ToyProgram):
    def apply_configuration(self, configuration: Mapping[str, object]) -> Slow:
        return self

    def evaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> stacktune.Evaluation:
        def run(example: object) -> float:
            time.sleep(0.02)
            self.counter.increment()
            return self.quality

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


class TestTimeout:
    @pytest.mark.parametrize("max_concurrency", [1, 4])
    def test_the_timeout_stops_a_running_trial_and_keeps_it(self, max_concurrency: int) -> None:
        program = Slow()
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(
            program,
            toy_dataset(500),
            toy_metric,
            n_trials=3,
            timeout=0.2,
            max_concurrency=max_concurrency,
            space=program.extract_variables().fix(style="terse"),
        )
        trials = study.trials
        assert len(trials) == 1 and trials[0].state == "pruned"
        assert trials[0].error == "stopped: timeout reached"
        assert 0 < trials[0].examples_evaluated < 500 and program.counter.count < 500
        assert study.last_stop_reason == "timeout reached"


class Metered(ToyProgram):
    """A toy reporting each call as a real adapter would, with or without a price and token counts."""

    def __init__(self, *args: Any, usage: Usage, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.usage = usage

    def apply_configuration(self, configuration: Mapping[str, object]) -> Metered:
        return self

    def evaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> stacktune.Evaluation:
        def run(example: object) -> float:
            self.counter.increment()
            record_usage(self.usage)
            return self.quality

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


class TestBudgetsThatHold:
    def test_a_usd_budget_on_an_unpriced_model_is_an_error_naming_the_model(self) -> None:
        program = Metered(usage=Usage(calls=1, input_tokens=9, unpriced_calls=1, unpriced_models=("my-llm",)))
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        with pytest.raises(
            stacktune.BudgetError,
            match=r"Budget\(usd=0.001\) cannot hold: 1 call\(s\) went to "
            r"'my-llm'.*stacktune.Price",
        ):
            study.optimize(program, toy_dataset(50), toy_metric, n_trials=100, budget=Budget(usd=0.001))
        assert program.counter.count == 1, "stopped at the first unpriced call, not 2,000 calls later"
        assert [t.state for t in study.trials if not t.rejected_by] == ["fail"]

    def test_a_token_budget_without_token_counts_is_an_error(self) -> None:
        program = Metered(usage=Usage(calls=1))
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        with pytest.raises(stacktune.BudgetError, match="reported no token counts"):
            study.optimize(program, toy_dataset(50), toy_metric, n_trials=100, budget=Budget(tokens=1000))
        assert program.counter.count == 3

    def test_priced_calls_and_counted_tokens_are_budgeted_as_before(self) -> None:
        program = Metered(usage=Usage(calls=1, input_tokens=10, cost_usd=0.001))
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(program, toy_dataset(50), toy_metric, n_trials=100, budget=Budget(usd=0.02, tokens=10_000))
        assert study.last_stop_reason and study.last_stop_reason.startswith("USD budget 0.02 spent")
        assert 20 <= program.counter.count <= 21


def test_failed_calls_count_as_calls_but_never_make_a_token_budget_unenforceable() -> None:
    failing = Usage(calls=10, failed_calls=10)
    assert (failing + Usage(calls=1, input_tokens=5)).summary()["failed_calls"] == 10
    assert Budget(calls=10).exhausted_by(failing) == "call budget 10 spent (10)"
    Budget(tokens=100).check_enforceable(failing)  # a dead server says nothing about token counts
    with pytest.raises(stacktune.BudgetError, match="3 answers reported no token counts"):
        Budget(tokens=100).check_enforceable(Usage(calls=13, failed_calls=10))
