from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest

import stacktune
from stacktune import (
    Budget,
    Categorical,
    Evaluation,
    Objective,
    Space,
    StacktuneError,
    Usage,
    create_study,
    load_study,
)
from stacktune.testing import OPTIMUM, ToyProgram, toy_dataset, toy_metric

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def storage() -> optuna.storages.BaseStorage:
    """Fast in-memory storage; tests of persistence use ``file_storage``."""
    return optuna.storages.InMemoryStorage()


@pytest.fixture
def file_storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/study.db"


def shuffled(n: int, seed: int = 0) -> list[float]:
    data = toy_dataset(n)
    random.Random(seed).shuffle(data)
    return data


class TestSearch:
    def test_the_known_optimum_is_found_within_60_trials(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, seed=3)
        study.optimize(ToyProgram(), toy_dataset(20), toy_metric, n_trials=60)
        best = study.best
        assert best.values["score"] == pytest.approx(0.95)
        for name in ("strategy", "steps", "style"):
            assert best.configuration[name] == OPTIMUM[name]
        assert abs(best.configuration["temperature"] - OPTIMUM["temperature"]) < 0.2

    def test_conditional_variables_are_absent_when_inactive(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=25)
        for trial in study.completed_trials():
            assert ("steps" in trial.configuration) == (trial.configuration["strategy"] == "cot")

    def test_everything_about_a_trial_is_stored(self, file_storage: str) -> None:
        study = create_study(storage=file_storage, study_name="stored", seed=0)
        study.optimize(ToyProgram(), toy_dataset(5), toy_metric, n_trials=2)
        reloaded = load_study("stored", storage=file_storage)
        trial = reloaded.completed_trials()[0]
        assert trial.state == "complete"
        assert set(trial.configuration) >= {"strategy", "temperature", "style"}
        assert trial.evaluation.n_examples == 5
        assert trial.evaluation.calls == 5
        assert trial.evaluation.total_tokens > 0
        assert len(trial.scores) == 5
        assert trial.values["score"] == pytest.approx(sum(s for s in trial.scores if s is not None) / 5)

    def test_parallel_trials(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram()
        study = create_study(storage=storage)
        study.optimize(program, toy_dataset(6), toy_metric, n_trials=8, n_jobs=2, max_concurrency=2)
        assert len(study.completed_trials()) == 8
        assert program.counter.count == 48

    def test_the_original_target_is_never_changed(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram()
        before = program.extract_variables()
        create_study(storage=storage).optimize(program, toy_dataset(4), toy_metric, n_trials=5)
        assert program.extract_variables() == before

    def test_a_given_space_restricts_the_search(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram()
        space = program.extract_variables().fix(strategy="direct").drop("steps")
        study = create_study(storage=storage)
        study.optimize(program, toy_dataset(4), toy_metric, space=space, n_trials=6)
        assert {t.configuration["strategy"] for t in study.completed_trials()} == {"direct"}


class TestConstraints:
    def test_configurations_breaking_a_constraint_are_never_evaluated(
        self, storage: optuna.storages.BaseStorage
    ) -> None:
        program = ToyProgram()
        study = create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=1))
        study.optimize(program, toy_dataset(3), toy_metric, n_trials=30)
        rejected = [t for t in study.trials if t.rejected_by]
        assert rejected, "the random sampler should have proposed cot + rambling at least once"
        assert all(t.state == "pruned" and t.examples_evaluated == 0 for t in rejected)
        assert all("rambling" in (t.rejected_by or "") for t in rejected)
        complete = study.completed_trials()
        assert len(complete) == 30, "rejected configurations do not count as trials"
        assert program.counter.count == 30 * 3, "no example ran for a rejected configuration"
        assert not any(
            t.configuration["strategy"] == "cot" and t.configuration["style"] == "rambling" for t in complete
        )

    def test_a_space_that_rejects_everything_stops_with_a_reason(self, storage: optuna.storages.BaseStorage) -> None:
        space = (
            ToyProgram()
            .extract_variables()
            .add(constraints=[stacktune.Constraint(name="never", check=lambda c: "nothing is allowed")])
        )
        study = create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(ToyProgram(), toy_dataset(3), toy_metric, space=space, n_trials=3)
        assert not study.completed_trials()
        assert study.last_stop_reason is not None and "broke the constraints" in study.last_stop_reason


class TestPruning:
    @pytest.mark.parametrize(
        ("pruner", "n", "trials"),
        [
            (optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=8), 40, 25),
            # scipy's exact test takes tens of milliseconds per check: keep this one small
            (optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=6), 16, 10),
            (optuna.pruners.SuccessiveHalvingPruner(min_resource=8), 40, 25),
        ],
        ids=["median", "wilcoxon", "successive-halving"],
    )
    def test_pruning_saves_examples(
        self, storage: optuna.storages.BaseStorage, pruner: optuna.pruners.BasePruner, n: int, trials: int
    ) -> None:
        program = ToyProgram()
        study = create_study(storage=storage, pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=2))
        study.optimize(program, shuffled(n), toy_metric, n_trials=trials)
        pruned = [t for t in study.trials if t.state == "pruned" and t.examples_evaluated]
        assert pruned, "some bad configurations should be pruned"
        assert study.examples_saved > 0
        assert program.counter.count == trials * n - study.examples_saved
        assert all(t.examples_evaluated + t.examples_saved == n for t in pruned)

    def test_pruning_needs_a_single_objective(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "tokens"), pruner=optuna.pruners.MedianPruner())
        with pytest.raises(ValueError, match="single-objective"):
            study.optimize(ToyProgram(), toy_dataset(3), toy_metric, n_trials=1)


class TestMultiObjective:
    def test_pareto_front_is_non_dominated(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(
            storage=storage, objectives=("score", "tokens"), sampler=optuna.samplers.RandomSampler(seed=4)
        )
        study.optimize(ToyProgram(), toy_dataset(10), toy_metric, n_trials=40)
        front = study.pareto_front()
        assert len(front) >= 2, "score and tokens trade off on the toy program"

        def dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
            at_least = a["score"] >= b["score"] and a["tokens"] <= b["tokens"]
            return at_least and (a["score"] > b["score"] or a["tokens"] < b["tokens"])

        for a in front:
            assert not any(dominates(b.values, a.values) for b in front)
        front_numbers = {t.number for t in front}
        for trial in study.completed_trials():
            if trial.number not in front_numbers:
                assert any(dominates(f.values, trial.values) or f.values == trial.values for f in front)

    def test_best_is_for_single_objective_studies(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "latency"))
        study.optimize(ToyProgram(), toy_dataset(3), toy_metric, n_trials=2)
        with pytest.raises(ValueError, match="use pareto_front"):
            study.best

    def test_custom_objective(self, storage: optuna.storages.BaseStorage) -> None:
        failures = Objective("failures", "minimize", lambda e: float(e.n_failures))
        study = create_study(storage=storage, study_name="custom", objectives=("score", failures))
        study.optimize(ToyProgram(), [0.1, "broken", 0.9], toy_metric, n_trials=3)
        assert all(t.values["failures"] == 1.0 for t in study.completed_trials())
        with pytest.raises(StacktuneError, match="custom objective 'failures'"):
            load_study("custom", storage=storage)
        assert load_study("custom", storage=storage, objectives=[failures]).objective_names == ("score", "failures")

    def test_unknown_objective_names_are_listed(self, storage: optuna.storages.BaseStorage) -> None:
        with pytest.raises(ValueError, match=r"unknown objective 'quality'.*'cost', 'latency', 'score', 'tokens'"):
            create_study(storage=storage, objectives=("quality",))

    def test_trials_dataframe_names_the_objectives(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "tokens"))
        program = ToyProgram()
        study.optimize(
            program, toy_dataset(3), toy_metric, n_trials=2, space=program.extract_variables().fix(style="terse")
        )
        frame = study.trials_dataframe()
        assert {"values_score", "values_tokens", "params_temperature"} <= set(frame.columns)
        assert len(frame) == 2


class TestBudget:
    @pytest.mark.parametrize("n_jobs", [1, 2])
    def test_budget_stops_within_one_example_per_worker(
        self, storage: optuna.storages.BaseStorage, n_jobs: int
    ) -> None:
        program = ToyProgram()
        study = create_study(storage=storage)
        study.optimize(program, toy_dataset(20), toy_metric, n_trials=100, budget=Budget(calls=50), n_jobs=n_jobs)
        assert 50 <= program.counter.count <= 50 + n_jobs
        assert study.last_stop_reason is not None and "call budget 50" in study.last_stop_reason
        assert sum(t.examples_evaluated for t in study.trials) == program.counter.count
        if n_jobs == 1:
            assert len(study.completed_trials()) == 2
        stopped = [t for t in study.trials if t.error and "budget" in t.error]
        assert stopped, "the trial cut short by the budget is stored with the reason"

    @pytest.mark.parametrize(("n_jobs", "max_concurrency"), [(1, 4), (2, 4), (1, 8)])
    def test_with_calls_in_flight_it_overshoots_by_at_most_one_call_per_slot(
        self, storage: optuna.storages.BaseStorage, n_jobs: int, max_concurrency: int
    ) -> None:
        program = ToyProgram()
        study = create_study(storage=storage, seed=0)
        study.optimize(
            program,
            toy_dataset(40),
            toy_metric,
            n_trials=100,
            budget=Budget(calls=100),
            n_jobs=n_jobs,
            max_concurrency=max_concurrency,
        )
        assert 100 <= program.counter.count <= 100 + n_jobs * max_concurrency
        assert sum(t.examples_evaluated for t in study.trials) == program.counter.count, "what was paid is stored"

    def test_token_and_usd_budgets(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram(style="terse")  # 20 tokens per example with strategy=direct
        study = create_study(storage=storage)
        space = program.extract_variables().fix(strategy="direct", style="terse")
        study.optimize(program, toy_dataset(10), toy_metric, space=space, n_trials=50, budget=Budget(tokens=500))
        assert program.counter.count == 25
        with pytest.raises(ValueError, match="Budget.usd"):
            Budget(usd=-1)


class FlakyProgram(ToyProgram):
    """Evaluation itself blows up for one style: an adapter bug or a crashed backend."""

    def apply_configuration(self, configuration: Mapping[str, object]) -> FlakyProgram:
        applied = super().apply_configuration(configuration)
        return FlakyProgram(applied.strategy, applied.steps, applied.temperature, applied.style, counter=self.counter)

    def evaluate(self, dataset: Sequence[object], metric: Any, **kwargs: Any) -> Evaluation:
        if self.style == "verbose":
            raise ConnectionError("backend unreachable")
        return super().evaluate(dataset, metric, **kwargs)


class TestFailuresAndInterruptions:
    def test_a_failing_trial_is_recorded_and_the_study_goes_on(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(FlakyProgram(), toy_dataset(3), toy_metric, n_trials=15, failed_trials_in_a_row=10)
        failed = [t for t in study.trials if t.state == "fail"]
        assert failed and all("ConnectionError: backend unreachable" in (t.error or "") for t in failed)
        assert study.completed_trials()
        assert len([t for t in study.trials if not t.rejected_by]) == 15, "the study went on"

    def test_failing_examples_are_counted_not_fatal(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage)
        study.optimize(ToyProgram(), [0.1, None, 0.2], toy_metric, n_trials=2)
        assert all(t.evaluation.n_failures == 1 for t in study.completed_trials())

    def test_ctrl_c_keeps_what_was_told_and_marks_the_running_trial(self, file_storage: str) -> None:
        calls = 0

        class Interrupting(ToyProgram):
            def evaluate(self, dataset: Sequence[object], metric: Any, **kwargs: Any) -> Evaluation:
                nonlocal calls
                calls += 1
                if calls == 4:
                    raise KeyboardInterrupt
                return super().evaluate(dataset, metric, **kwargs)

            def apply_configuration(self, configuration: Mapping[str, object]) -> Interrupting:
                return self

        study = create_study(storage=file_storage, study_name="interrupted")
        program = Interrupting()
        space = program.extract_variables().fix(style="terse")
        with pytest.raises(KeyboardInterrupt):
            study.optimize(program, toy_dataset(3), toy_metric, space=space, n_trials=10)
        stored = load_study("interrupted", storage=file_storage).trials
        assert [t.state for t in stored] == ["complete", "complete", "complete", "fail"]
        assert stored[-1].error == "interrupted"

    def test_a_configuration_refused_by_the_adapter_stops_the_study(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram()
        space = program.extract_variables().replace(Categorical("style", ["terse", "poetic"]))
        study = create_study(storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        with pytest.raises(stacktune.InvalidConfiguration, match="'style'"):
            study.optimize(program, toy_dataset(3), toy_metric, space=space, n_trials=20)
        assert study.trials[-1].state == "fail"
        assert "poetic" in (study.trials[-1].error or "")

    def test_evaluate_must_return_an_evaluation(self, storage: optuna.storages.BaseStorage) -> None:
        class Wrong(ToyProgram):
            def evaluate(self, *args: Any, **kwargs: Any) -> Any:
                return 0.5

            def apply_configuration(self, configuration: Mapping[str, object]) -> Wrong:
                return self

        study = create_study(storage=storage)
        study.optimize(Wrong(), toy_dataset(3), toy_metric, n_trials=1)
        failed = [t for t in study.trials if t.state == "fail"]
        assert len(failed) == 1
        assert "not a stacktune.Evaluation" in (failed[0].error or "")


class TestResume:
    def test_optimize_again_continues_the_same_study(self, file_storage: str) -> None:
        first = create_study(study_name="resumable", storage=file_storage)
        first.optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=5)
        again = create_study(study_name="resumable", storage=file_storage)
        again.optimize(ToyProgram(), toy_dataset(4), toy_metric, n_trials=4)
        complete = [t.number for t in again.completed_trials()]
        assert len(complete) == 9
        assert complete[:5] == [t.number for t in first.completed_trials()][:5]
        assert complete == sorted(complete)

    def test_a_changed_variable_is_named_before_anything_runs(self, storage: optuna.storages.BaseStorage) -> None:
        create_study(study_name="s", storage=storage).optimize(ToyProgram(), toy_dataset(2), toy_metric, n_trials=1)

        class Renamed(ToyProgram):
            def extract_variables(self) -> Space:
                return super().extract_variables().replace(Categorical("style", ["terse", "verbose", "poetic"]))

        program = Renamed()
        with pytest.raises(StacktuneError, match="different definition of variable 'style'"):
            create_study(study_name="s", storage=storage).optimize(program, toy_dataset(2), toy_metric, n_trials=1)
        assert program.counter.count == 0

    def test_objectives_of_an_existing_study_cannot_change(self, storage: optuna.storages.BaseStorage) -> None:
        create_study(study_name="s", storage=storage)
        with pytest.raises(StacktuneError, match="exists with objectives"):
            create_study(study_name="s", storage=storage, objectives=("score", "cost"))


class TestStopping:
    def test_zero_timeout_starts_nothing(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage)
        study.optimize(ToyProgram(), toy_dataset(3), toy_metric, timeout=0.0)
        assert study.trials == []
        assert study.last_stop_reason == "timeout reached"

    def test_callbacks_get_optuna_arguments_and_can_stop(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage)
        seen: list[int] = []

        def callback(optuna_study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            seen.append(trial.number)
            if len(seen) == 3:
                study.stop()

        program = ToyProgram()
        study.optimize(
            program,
            toy_dataset(3),
            toy_metric,
            callbacks=[callback],
            space=program.extract_variables().fix(style="terse"),
        )
        assert seen == [0, 1, 2]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [({"n_trials": -1}, "n_trials"), ({"n_jobs": 0}, "n_jobs")],
    )
    def test_bad_arguments(self, storage: optuna.storages.BaseStorage, kwargs: dict[str, Any], message: str) -> None:
        with pytest.raises(ValueError, match=message):
            create_study(storage=storage).optimize(ToyProgram(), toy_dataset(2), toy_metric, **kwargs)

    def test_empty_dataset(self, storage: optuna.storages.BaseStorage) -> None:
        with pytest.raises(ValueError, match="dataset is empty"):
            create_study(storage=storage).optimize(ToyProgram(), [], toy_metric, n_trials=1)


class TestResults:
    def test_apply_and_export_the_best(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage)
        study.optimize(ToyProgram(), toy_dataset(5), toy_metric, n_trials=5)
        best = study.best
        applied = best.apply_to(ToyProgram())
        assert isinstance(applied, ToyProgram)
        assert applied.temperature == best.configuration["temperature"]
        assert applied.evaluate(toy_dataset(5), toy_metric).score == best.values["score"]
        assert best.export(ToyProgram()).style == best.configuration["style"]  # type: ignore[attr-defined]

    def test_no_complete_trial(self, storage: optuna.storages.BaseStorage) -> None:
        with pytest.raises(ValueError, match="no complete trial"):
            create_study(storage=storage).best

    def test_default_storage_is_a_file_in_the_working_directory(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.chdir(tmp_path)
        study = create_study(study_name="here")
        program = ToyProgram()
        study.optimize(
            program, toy_dataset(2), toy_metric, n_trials=1, space=program.extract_variables().fix(style="terse")
        )
        assert (tmp_path / "stacktune.db").exists()
        assert optuna.load_study(study_name="here", storage="sqlite:///stacktune.db").trials[0].values

    def test_usage_objectives(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "cost", "latency", "tokens"))
        program = ToyProgram(style="terse")
        study.optimize(
            program,
            toy_dataset(4),
            toy_metric,
            space=program.extract_variables().fix(strategy="direct", style="terse"),
            n_trials=1,
        )
        values = study.trials[0].values
        assert values["tokens"] == 20.0
        assert values["cost"] == pytest.approx(20e-6)
        assert values["latency"] == pytest.approx(0.02)
        assert Usage().mean_latency == 0.0


class TestSearchObject:
    def test_the_default_search_is_racing_and_its_sampler_is_built_once(
        self, storage: optuna.storages.BaseStorage
    ) -> None:
        study = create_study(storage=storage, seed=0)
        assert isinstance(study.search, stacktune.Racing)
        sampler = study.optuna_study.sampler
        study.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=3)
        study.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=2, n_jobs=2)
        assert study.optuna_study.sampler is sampler, "optimize never rebuilds or re-wraps the sampler"

    def test_a_racing_policy_is_honoured(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram()
        never_stop = stacktune.RacingPolicy(delta=1e-9, same_prior=0.0)
        study = create_study(storage=storage, seed=0, search=stacktune.Racing(never_stop))
        study.optimize(program, shuffled(40), toy_metric, n_trials=8)
        eager = ToyProgram()
        create_study(storage=optuna.storages.InMemoryStorage(), seed=0).optimize(
            eager, shuffled(40), toy_metric, n_trials=8
        )
        assert program.counter.count > eager.counter.count, "a tiny delta stops fewer trials than the default"

    def test_a_sampler_or_pruner_is_optunas_own_search(self, storage: optuna.storages.BaseStorage) -> None:
        sampler = optuna.samplers.RandomSampler(seed=0)
        study = create_study(storage=storage, sampler=sampler)
        assert isinstance(study.search, stacktune.OptunaSearch) and study.optuna_study.sampler is sampler

    def test_search_and_sampler_together_is_an_error(self, storage: optuna.storages.BaseStorage) -> None:
        with pytest.raises(ValueError, match="either search= or sampler="):
            create_study(storage=storage, search=stacktune.Racing(), sampler=optuna.samplers.RandomSampler())
        with pytest.raises(TypeError, match="stacktune search"):
            create_study(storage=storage, search=optuna.samplers.RandomSampler())  # type: ignore[arg-type]


class AsyncToy(ToyProgram):
    """A toy whose framework is asynchronous: the study must use aevaluate."""

    awaited = 0

    def apply_configuration(self, configuration: Mapping[str, object]) -> AsyncToy:
        applied = super().apply_configuration(configuration)
        return AsyncToy(applied.strategy, applied.steps, applied.temperature, applied.style, counter=self.counter)

    def evaluate(self, *args: Any, **kwargs: Any) -> Evaluation:
        raise AssertionError("the study should call aevaluate")

    async def aevaluate(
        self, dataset: Sequence[object], metric: Any, *, on_result: Any = None, max_concurrency: int = 1
    ) -> Evaluation:
        AsyncToy.awaited += 1

        async def run(example: object) -> float:
            stacktune.record_usage(Usage(calls=1, input_tokens=3))
            return self.quality

        return await stacktune.aevaluate_examples(
            dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency
        )


class TestAsyncAdapters:
    def test_the_study_awaits_aevaluate_and_races_it(self, storage: optuna.storages.BaseStorage) -> None:
        AsyncToy.awaited = 0
        study = create_study(storage=storage, seed=0)
        study.optimize(
            AsyncToy(), shuffled(40), toy_metric, n_trials=10, max_concurrency=3, budget=Budget(calls=10_000)
        )
        assert AsyncToy.awaited == 10
        assert study.completed_trials() and all(
            t.evaluation and t.evaluation.calls == 40 for t in study.completed_trials()
        )
        assert any(t.estimated_score is not None for t in study.trials), "raced through aevaluate too"

    def test_the_budget_and_the_example_order_reach_the_async_evaluation(
        self, storage: optuna.storages.BaseStorage
    ) -> None:
        study = create_study(storage=storage, seed=0)
        study.optimize(AsyncToy(), shuffled(40), toy_metric, n_trials=10, budget=Budget(calls=15))
        trial = next(t for t in study.trials if not t.rejected_by)
        assert trial.state == "pruned" and "budget" in (trial.error or ""), "the meter saw the awaited calls"
        assert 15 <= trial.examples_evaluated <= 16
        first = study.search.race(n_examples=40, objectives=study.objectives)
        assert first is not None
        evaluated = [i for i, s in enumerate(trial.scores) if s is not None]
        assert set(evaluated) == set(first.order(trial.number)[: trial.examples_evaluated]), "in the trial's order"

    def test_it_works_from_inside_a_running_event_loop(self, storage: optuna.storages.BaseStorage) -> None:
        import asyncio

        study = create_study(storage=storage, seed=0)

        async def notebook_cell() -> None:  # asyncio.run() would refuse to start a second loop here
            study.optimize(AsyncToy(), shuffled(10), toy_metric, n_trials=2)

        asyncio.run(notebook_cell())
        assert [t.state for t in study.trials if not t.rejected_by] == ["complete", "complete"]


class TestRecords:
    def test_one_record_per_trial_read_back_typed(self, file_storage: str) -> None:
        from stacktune.records import ATTR_TRIAL, TrialRecord

        study = create_study(storage=file_storage, study_name="records", seed=0)
        study.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=12)
        for frozen in study.optuna_study.trials:
            record = TrialRecord.of(frozen)
            assert record is not None and record.configuration
            assert frozen.user_attrs[ATTR_TRIAL] == record.stored(), "written in one place, read in one place"
            if frozen.state == optuna.trial.TrialState.COMPLETE:
                assert record.evaluation is not None and record.evaluation.n_examples == 40
                assert record.scores == [s for s in record.scores if s is not None]

    def test_records_of_other_versions_are_read_leniently(self) -> None:
        from stacktune.records import TrialRecord

        trial = optuna.trial.create_trial(
            value=0.5,
            user_attrs={
                "stacktune": {
                    "configuration": {"x": 1},
                    "evaluation": {"score": 0.5, "n_examples": 2, "future_field": 1},
                    "scores": [0.0, 1.0],
                    "something_new": True,
                }
            },
        )
        record = TrialRecord.of(trial)
        assert record is not None and record.evaluation is not None and record.evaluation.n_examples == 2
        assert TrialRecord.of(optuna.trial.create_trial(value=0.5, user_attrs={"stacktune": "garbage"})) is None


class TestBaseline:
    def test_a_new_studys_first_trial_is_the_program_as_written(self, storage: optuna.storages.BaseStorage) -> None:
        program = ToyProgram(strategy="direct", temperature=0.7, style="verbose")
        study = create_study(storage=storage, seed=0)
        study.optimize(program, shuffled(40), toy_metric, n_trials=6)
        first = study.trials[0]
        assert first.is_baseline and first.configuration == program.extract_variables().defaults()
        assert first.state == "complete", "no incumbent to race yet: evaluated in full"
        assert study.baseline == first and sum(t.is_baseline for t in study.trials) == 1

    def test_resuming_adds_no_second_baseline_and_it_can_be_turned_off(self, file_storage: str) -> None:
        study = create_study(storage=file_storage, study_name="base", seed=0)
        study.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=2)
        study.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=2)
        assert sum(t.is_baseline for t in load_study("base", storage=file_storage).trials) == 1
        plain = create_study(storage=file_storage, study_name="plain", seed=0)
        plain.optimize(ToyProgram(), shuffled(40), toy_metric, n_trials=2, baseline=False)
        assert plain.baseline is None

    def test_nothing_is_queued_when_nothing_runs(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage)
        study.optimize(ToyProgram(), toy_dataset(3), toy_metric, timeout=0.0)
        assert study.optuna_study.trials == []


class TestVerify:
    def test_the_best_trials_are_evaluated_in_full_on_held_out_examples_and_stored(self, file_storage: str) -> None:
        program = ToyProgram()
        study = create_study(storage=file_storage, study_name="verified", seed=0)
        study.optimize(program, shuffled(40), toy_metric, n_trials=15)
        before = program.counter.count
        heldout = shuffled(60, seed=1)
        results = study.verify(program, heldout, toy_metric, top=2)
        assert len(results) == 2 and program.counter.count - before == 2 * 60, "in full, no racing"
        best = study.best
        assert results[0].number == best.number and results[0].search == best.values
        expected = program.apply_configuration(best.configuration).evaluate(heldout, toy_metric).score
        assert results[0].heldout["score"] == pytest.approx(expected)
        assert results[0].gap["score"] == pytest.approx(expected - best.values["score"])
        assert results[0].evaluation.n_examples == 60
        reloaded = load_study("verified", storage=file_storage).verified()
        assert [v.number for v in reloaded] == sorted(r.number for r in results)
        assert {v.dataset for v in reloaded} == {stacktune.study.dataset_fingerprint(heldout)}

    def test_a_multi_objective_study_verifies_its_front(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "tokens"), seed=0)
        study.optimize(ToyProgram(), toy_dataset(10), toy_metric, n_trials=12)
        front = {json_key(t.configuration) for t in study.pareto_front()}
        results = study.verify(ToyProgram(), toy_dataset(20), toy_metric)
        assert {json_key(r.configuration) for r in results} == front
        assert all(set(r.heldout) == {"score", "tokens"} for r in results)

    def test_choose_takes_the_best_held_out_else_the_search_best(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, objectives=("score", "tokens"), seed=0)
        study.optimize(ToyProgram(), toy_dataset(10), toy_metric, n_trials=12)
        front = study.pareto_front()
        by_search = study.choose()
        assert by_search.values["score"] == max(t.values["score"] for t in front)
        results = study.verify(ToyProgram(), toy_dataset(20), toy_metric)
        # Pretend the held-out set favours the front's worst-scoring point: choose follows the held-out figures.
        worst = min(results, key=lambda r: (r.heldout["score"], r.number))
        favoured = [r.model_copy(update={"heldout": {**r.heldout, "score": 2.0}}) if r is worst else r for r in results]
        assert study.choose(favoured).number == worst.number
        with pytest.raises(ValueError, match="has no complete trial yet"):
            create_study(storage=optuna.storages.InMemoryStorage(), study_name="empty").choose()


def json_key(configuration: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(configuration), sort_keys=True)


class TestWhatPrunersHear:
    @pytest.mark.parametrize(
        ("pruner", "kind"),
        [
            (optuna.pruners.MedianPruner(n_startup_trials=100), "partial sum"),
            (optuna.pruners.SuccessiveHalvingPruner(min_resource=100), "partial sum"),
            (optuna.pruners.ThresholdPruner(lower=-1.0), "running mean"),
            (optuna.pruners.WilcoxonPruner(n_startup_steps=100), "per example"),
        ],
    )
    def test_each_pruner_hears_what_makes_its_rule_mean_what_it_says(
        self, storage: optuna.storages.BaseStorage, pruner: optuna.pruners.BasePruner, kind: str
    ) -> None:
        import warnings

        data = toy_dataset(8)
        program = ToyProgram(strategy="direct", temperature=0.2, style="terse")  # quality 0.55: half right
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = create_study(storage=storage, pruner=pruner)
            study.optimize(
                program,
                data,
                toy_metric,
                n_trials=1,
                space=program.extract_variables().fix(strategy="direct", temperature=0.2, style="terse"),
            )
        reported = study.optuna_study.trials[0].intermediate_values
        scores = [toy_metric(x, program.quality) for x in data]
        if kind == "per example":
            assert reported == dict(enumerate(scores))
        elif kind == "running mean":
            assert reported == {k: sum(scores[:k]) / k for k in range(1, 9)}
        else:
            assert reported == {k: sum(scores[:k]) / 8 for k in range(1, 9)}
            values = list(reported.values())
            assert values == sorted(values), "the partial sum only grows"


class TestOptunaIdioms:
    def test_best_params_value_and_trials_behave_as_optunas(self, storage: optuna.storages.BaseStorage) -> None:
        study = create_study(storage=storage, seed=0, sampler=optuna.samplers.RandomSampler(seed=0))
        study.optimize(ToyProgram(), toy_dataset(10), toy_metric, n_trials=8)
        assert study.best_params == study.optuna_study.best_params
        assert study.best_value == study.optuna_study.best_value
        assert [t.number for t in study.best_trials] == [t.number for t in study.optuna_study.best_trials]

    def test_optunas_own_callbacks_can_stop_the_study(self, storage: optuna.storages.BaseStorage) -> None:
        from optuna.study import MaxTrialsCallback
        from optuna.trial import TrialState

        study = create_study(storage=storage, seed=0)
        study.optimize(
            ToyProgram(),
            toy_dataset(10),
            toy_metric,
            n_trials=50,
            callbacks=[MaxTrialsCallback(4, states=(TrialState.COMPLETE,))],
        )
        assert len(study.completed_trials()) == 4
        assert study.last_stop_reason == "stop() was called"

    def test_optuna_visualization_works_on_the_optuna_study(self, storage: optuna.storages.BaseStorage) -> None:
        pytest.importorskip("plotly")
        study = create_study(storage=storage, seed=0)
        study.optimize(ToyProgram(), toy_dataset(10), toy_metric, n_trials=5)
        figure = optuna.visualization.plot_optimization_history(study.optuna_study)
        assert len(figure.data[0].x) == len([t for t in study.optuna_study.trials if t.values])

    def test_running_again_says_it_continues_the_study(
        self, file_storage: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        import logging

        program = ToyProgram()
        create_study(storage=file_storage, study_name="again").optimize(
            program, toy_dataset(4), toy_metric, n_trials=2, space=program.extract_variables().fix(style="terse")
        )
        with caplog.at_level(logging.INFO, logger="stacktune"):
            create_study(storage=file_storage, study_name="again")
        assert "continuing study 'again': 2 trials so far" in caplog.text
