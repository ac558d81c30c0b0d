"""What a study stores for people to look at: predictions, inputs, partial spend, dashboard fields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
import pytest

from stacktune import (
    Evaluation,
    Metric,
    OptunaSearch,
    StacktuneError,
    aevaluate_examples,
    create_study,
    evaluate_examples,
)
from stacktune.evaluation import PREDICTION_CHARS, PREDICTION_SAMPLE
from stacktune.records import ATTR_DATASET, DASHBOARD_FIELDS, INPUT_CHARS, DatasetSample, dataset_fingerprint
from stacktune.study import dataset_fingerprint as public_fingerprint
from stacktune.testing import ToyProgram, ToyPrompt, toy_dataset, toy_label_metric, toy_metric, toy_reviews
from stacktune.texts import stored_text

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestStoredText:
    def test_strings_stay_and_whitespace_becomes_one_space(self) -> None:
        assert stored_text("a\n\n  b\tc", 50) == "a b c"

    def test_long_texts_are_cut_with_an_ellipsis(self) -> None:
        text = stored_text("x" * 10_000, 20)
        assert len(text) == 20 and text.endswith("…")

    def test_json_values_are_compact_json_and_others_their_repr(self) -> None:
        assert stored_text({"label": "positive", "n": 2}, 80) == '{"label": "positive", "n": 2}'
        assert stored_text(0.25, 80) == "0.25"
        assert stored_text(object(), 80).startswith("<object object at")

    def test_a_limit_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
            stored_text("x", 0)


class TestPredictionsInTheEvaluation:
    def test_the_first_examples_predictions_are_kept_short_in_dataset_order(self) -> None:
        dataset = list(range(PREDICTION_SAMPLE + 30))
        evaluation = evaluate_examples(dataset, lambda i: f"answer {i} " + "long " * 200, lambda e, p: 1.0)
        assert len(evaluation.predictions) == PREDICTION_SAMPLE
        assert evaluation.predictions[3] is not None and evaluation.predictions[3].startswith("answer 3 long")
        assert all(p is not None and len(p) <= PREDICTION_CHARS for p in evaluation.predictions)

    def test_threads_keep_the_dataset_order(self) -> None:
        evaluation = evaluate_examples(list(range(8)), lambda i: i * 10, lambda e, p: 1.0, max_concurrency=4)
        assert evaluation.predictions == tuple(str(i * 10) for i in range(8))

    def test_an_example_that_raises_has_no_prediction_one_whose_metric_raises_keeps_it(self) -> None:
        def run(example: int) -> str:
            if example == 1:
                raise RuntimeError("boom")
            return f"p{example}"

        def metric(example: int, prediction: str) -> float:
            if example == 2:
                raise ValueError("bad metric")
            return 1.0

        evaluation = evaluate_examples([0, 1, 2], run, metric)
        assert evaluation.predictions == ("p0", None, "p2")
        assert [f.index for f in evaluation.failures] == [1, 2]

    def test_the_asyncio_runner_keeps_them_too(self) -> None:
        async def run(example: int) -> str:
            await asyncio.sleep(0)
            return f"async {example}"

        evaluation = asyncio.run(aevaluate_examples([0, 1, 2], run, lambda e, p: 1.0, max_concurrency=2))
        assert evaluation.predictions == ("async 0", "async 1", "async 2")

    def test_an_evaluation_built_from_scores_has_none(self) -> None:
        assert Evaluation.from_scores([1.0, 0.0]).predictions == ()


class TestWhatATrialStores:
    def test_a_complete_trial_stores_its_predictions_bounded(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), search=OptunaSearch())
        study.optimize(ToyPrompt(), toy_reviews(PREDICTION_SAMPLE + 10), toy_label_metric, n_trials=2)
        for trial in study.completed_trials():
            assert len(trial.predictions) == PREDICTION_SAMPLE
            assert set(trial.predictions) <= {"positive", "neutral"}
        baseline = study.baseline
        assert baseline is not None and baseline.predictions[:2] == ("positive", "neutral")

    def test_a_trial_of_huge_predictions_stays_small_in_storage(self) -> None:
        """50 predictions of at most 100 characters: a 1,000-trial study holds at most about 5 MB of them."""

        class Verbose(ToyProgram):
            def apply_configuration(self, configuration: Mapping[str, object]) -> Verbose:
                return self

            def evaluate(self, dataset: Sequence[object], metric: Metric, **kwargs: Any) -> Evaluation:  # type: ignore[override]
                return evaluate_examples(dataset, lambda e: "very long answer " * 1000, metric, **kwargs)

        study = create_study(storage=optuna.storages.InMemoryStorage(), search=OptunaSearch())
        study.optimize(Verbose(), toy_dataset(1000), lambda e, p: 1.0, n_trials=1)
        stored = study.optuna_study.trials[0].user_attrs["stacktune"]["predictions"]
        assert len(stored) == PREDICTION_SAMPLE
        assert all(text.startswith("very long answer") and text.endswith("…") for text in stored)
        assert len(json.dumps(stored)) <= PREDICTION_SAMPLE * (PREDICTION_CHARS + 10)  # quotes, comma, escaped …

    def test_a_trial_the_race_stopped_stores_what_it_ran_and_spent(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), toy_dataset(40), toy_metric, n_trials=12)
        raced = [t for t in study.trials if t.estimated_score is not None]
        assert raced, "the toy study races some trials out"
        for trial in raced:
            assert trial.evaluation is None and trial.partial is not None
            assert trial.partial.n_examples == trial.examples_evaluated
            assert trial.partial.calls == trial.examples_evaluated  # the toy makes one call per example
            assert trial.spent is trial.partial
        complete = study.completed_trials()[0]
        assert complete.partial is None and complete.spent is complete.evaluation


class TestTheDatasetSample:
    def test_the_study_stores_the_fingerprint_and_the_first_inputs_once(self) -> None:
        dataset = toy_reviews(PREDICTION_SAMPLE + 5)
        study = create_study(storage=optuna.storages.InMemoryStorage(), search=OptunaSearch())
        study.optimize(ToyPrompt(), dataset, toy_label_metric, n_trials=1)
        sample = DatasetSample.stored_in(study.optuna_study)
        assert sample is not None
        assert sample.fingerprint == dataset_fingerprint(dataset) == public_fingerprint(dataset)
        assert sample.n_examples == len(dataset)
        assert len(sample.inputs) == PREDICTION_SAMPLE
        assert sample.inputs[0].startswith('{"id": 0, "text": "review number 0 words')
        assert all(len(text) <= INPUT_CHARS for text in sample.inputs)

    def test_another_dataset_is_refused_and_a_new_race_replaces_the_sample(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), search=OptunaSearch())
        study.optimize(ToyPrompt(), toy_reviews(4), toy_label_metric, n_trials=1)
        first = study.optuna_study.user_attrs[ATTR_DATASET]
        with pytest.raises(StacktuneError, match=first["fingerprint"]):
            study.optimize(ToyPrompt(), toy_reviews(6), toy_label_metric, n_trials=1)
        assert study.optuna_study.user_attrs[ATTR_DATASET] == first
        study.optimize(ToyPrompt(), toy_reviews(6), toy_label_metric, n_trials=1, new_dataset=True)
        assert study.optuna_study.user_attrs[ATTR_DATASET]["n_examples"] == 6

    def test_a_study_of_another_tool_has_none(self) -> None:
        assert DatasetSample.stored_in(optuna.create_study()) is None


class TestDashboardFields:
    def test_each_trial_has_its_configuration_in_words_and_sortable_numbers(self) -> None:
        study = create_study(
            storage=optuna.storages.InMemoryStorage(), search=OptunaSearch(optuna.samplers.RandomSampler(seed=1))
        )
        study.optimize(ToyPrompt(), toy_reviews(6), toy_label_metric, n_trials=4)
        for trial in study.optuna_study.trials:
            attrs = trial.user_attrs
            text = attrs["configuration"]
            assert text.startswith("instructions=You are a careful reviewer") or text.startswith(
                "instructions=Classify the sentiment of the review"
            )
            assert "#" not in text.split(" · ")[0], "the text is shown, not its key"
            assert " · temperature=" in text
            assert attrs["calls"] == 6 and attrs["examples_evaluated"] == 6 and attrs["failed_examples"] == 0
            assert attrs["tokens"] == 72 and attrs["cost_usd"] == pytest.approx(6e-5)
            assert isinstance(attrs["latency_s"], float)
            assert set(attrs) - {"stacktune", "stacktune:baseline"} == set(DASHBOARD_FIELDS)

    def test_trials_stopped_or_rejected_keep_numbers_numeric(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(ToyProgram(), toy_dataset(40), toy_metric, n_trials=12)
        for trial in study.optuna_study.trials:
            for key in ("calls", "tokens", "cost_usd", "failed_examples", "examples_evaluated", "latency_s"):
                if key in trial.user_attrs:
                    assert isinstance(trial.user_attrs[key], (int, float)), (trial.number, key)
        rejected = [t for t in study.trials if t.rejected_by]
        raced = [t for t in study.trials if t.estimated_score is not None]
        assert rejected and raced
        attrs = study.optuna_study.trials[rejected[0].number].user_attrs
        assert attrs["examples_evaluated"] == 0 and "calls" not in attrs
        attrs = study.optuna_study.trials[raced[0].number].user_attrs
        assert attrs["calls"] == raced[0].examples_evaluated and "latency_s" not in attrs
