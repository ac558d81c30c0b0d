"""study.estimate: what a run would spend, known before spending it (a probe, and the space's bounds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

from stacktune import (
    Categorical,
    Evaluation,
    Int,
    Metric,
    OptunaSearch,
    Price,
    Space,
    Study,
    Usage,
    call_cost,
    create_study,
    evaluate_examples,
    knob_variable,
    record_usage,
)
from stacktune.cli import cli
from stacktune.errors import StacktuneError
from stacktune.study.estimate import BENCHMARK_CALL_FRACTIONS, call_price_bound, heaviest_input
from stacktune.testing import CallCounter, ToyProgram, toy_dataset, toy_metric

SHORT = "Answer."  # 1 input token (a word is a token here)
LONG = "Read the review carefully and answer with one word only."  # 10 tokens
PRICES = {"fake-model": Price(input_per_mtok=2.0, output_per_mtok=10.0)}
ANSWER = 8  # output tokens an answer needs, when max_tokens allows them


class FakeLM:
    """Known tokens per call: two calls per example, each reading the instructions' words, 10 tokens per demo
    and the example (an int: its own token count), and answering ``min(max_tokens, 8)`` tokens at PRICES."""

    def __init__(
        self,
        instructions: str = SHORT,
        n_demos: int = 0,
        max_tokens: int = 16,
        *,
        model: str = "fake-model",
        fail: bool = False,
        counter: CallCounter | None = None,
    ) -> None:
        self.instructions = instructions
        self.n_demos = n_demos
        self.max_tokens = max_tokens
        self.model = model
        self.fail = fail
        self.counter = counter or CallCounter()

    def extract_variables(self) -> Space:
        return Space(
            [
                Categorical.with_current("instructions", [SHORT, LONG], self.instructions),
                Int("n_demos", 0, 4, default=self.n_demos),
                Int("max_tokens", 4, 64, default=self.max_tokens),
            ]
        )

    def apply_configuration(self, configuration: Mapping[str, object]) -> FakeLM:
        space = self.extract_variables()
        chosen = {
            "instructions": self.instructions,
            "n_demos": self.n_demos,
            "max_tokens": self.max_tokens,
            **space.resolve(space.validate_configuration(configuration)),
        }
        fail = self.fail and chosen["instructions"] == LONG
        return FakeLM(**chosen, model=self.model, fail=fail, counter=self.counter)  # type: ignore[arg-type]

    def input_tokens(self, example: int) -> int:
        return len(self.instructions.split()) + 10 * self.n_demos + example

    def evaluate(self, dataset: Sequence[object], metric: Metric, **options: Any) -> Evaluation:
        if self.fail:
            raise RuntimeError("this configuration is broken")

        def run(example: object) -> str:
            assert isinstance(example, int)
            for _ in range(2):
                self.counter.increment()
                inputs, outputs = self.input_tokens(example), min(self.max_tokens, ANSWER)
                cost = call_cost(self.model, inputs, outputs, prices=PRICES)
                record_usage(
                    Usage(
                        calls=1,
                        input_tokens=inputs,
                        output_tokens=outputs,
                        cost_usd=cost or 0.0,
                        unpriced_calls=int(cost is None),
                        unpriced_models=(self.model,) if cost is None else (),
                    )
                )
            return "positive"

        return evaluate_examples(dataset, run, metric, **options)


def same(example: object, prediction: object) -> bool:
    return prediction == "positive"


def memory_study(**kwargs: object) -> Study:
    return create_study(storage=optuna.storages.InMemoryStorage(), **kwargs)  # type: ignore[arg-type]


DATASET = [20] * 40  # 20 tokens each, all as long as one another


class TestArithmetic:
    def test_expected_is_the_probes_mean_per_example_times_every_example_of_every_trial(self) -> None:
        dataset = [10 + i for i in range(40)]  # two characters each: no longer example than the probed ones
        estimate = memory_study().estimate(FakeLM(), dataset, same, 10, probe_configurations=1, seed=3)
        probed = [dataset[i] for i in estimate.probe_examples]
        assert len(probed) == 3 and [r.role for r in estimate.probe_runs] == ["as it is"]
        mean_input = sum(1 + example for example in probed) / 3  # SHORT is one word, no demos
        per_call_usd = (mean_input * 2.0 + ANSWER * 10.0) / 1e6
        assert estimate.expected.calls == 10 * 40 * 2
        assert estimate.expected.tokens == round(10 * 40 * 2 * (mean_input + ANSWER))
        assert estimate.expected.usd == pytest.approx(10 * 40 * 2 * per_call_usd)

    def test_worst_case_takes_the_heaviest_input_the_space_allows_and_the_top_of_max_tokens(self) -> None:
        estimate = memory_study().estimate(FakeLM(), DATASET, same, 10, probe_configurations=2)
        roles = {run.role: run.configuration for run in estimate.probe_runs}
        assert roles["heaviest input"]["n_demos"] == 4
        assert "Read the review" in str(roles["heaviest input"]["instructions"])
        heaviest_input = 10 + 40 + 20  # LONG, four demos, the example
        assert estimate.worst_input_per_call == heaviest_input
        assert estimate.worst_output_per_call == 64  # max_tokens' upper bound, not the 8 tokens answered
        assert estimate.worst.calls == 10 * 40 * 2
        assert estimate.worst.tokens == 10 * 40 * 2 * (heaviest_input + 64)
        # one price explains every probed call, so the worst case is priced exactly
        assert estimate.worst.usd == pytest.approx(10 * 40 * 2 * (heaviest_input * 2.0 + 64 * 10.0) / 1e6)
        # the heaviest input shows the worst case; the expected stays the program as it is
        assert estimate.expected.tokens == 10 * 40 * 2 * (1 + 20 + ANSWER)
        assert estimate.expected.usd == pytest.approx(10 * 40 * 2 * (21 * 2.0 + ANSWER * 10.0) / 1e6)

    def test_the_probe_is_reported_as_what_it_cost(self) -> None:
        counter = CallCounter()
        estimate = memory_study().estimate(FakeLM(counter=counter), DATASET, same, 10, probe_configurations=2)
        assert counter.count == estimate.probe.calls == 2 * 3 * 2  # configurations x examples x calls
        as_is, heaviest = (3 * 2 * 21, 3 * 2 * 8), (3 * 2 * 70, 3 * 2 * 8)
        assert estimate.probe.tokens == sum(as_is) + sum(heaviest)
        assert estimate.probe.usd == pytest.approx((as_is[0] + heaviest[0]) * 2e-6 + (as_is[1] + heaviest[1]) * 1e-5)
        assert [run.cost.calls for run in estimate.probe_runs] == [6, 6]

    def test_a_longer_example_than_those_probed_scales_the_worst_input(self) -> None:
        dataset = [20] * 39 + [2000]  # "2000" has twice the characters of "20"
        estimate = memory_study().estimate(FakeLM(), dataset, same, 1, probe_configurations=1, seed=0)
        assert 39 not in estimate.probe_examples
        assert estimate.worst_input_per_call == 2 * 21
        assert any("longest example is 2x" in note for note in estimate.notes)

    def test_racing_is_a_range_from_the_benchmarks_fewest_calls_to_no_savings(self) -> None:
        estimate = memory_study().estimate(FakeLM(), DATASET, same, 10, probe_configurations=1)
        racing = estimate.racing
        assert racing is not None and racing.high == estimate.expected
        assert racing.fraction == BENCHMARK_CALL_FRACTIONS[0] == 0.36
        assert racing.low.calls == round(estimate.expected.calls * 0.36)
        assert racing.low.usd == pytest.approx(estimate.expected.usd * 0.36)  # type: ignore[operator]
        assert "not a promise" in estimate.render()

    def test_no_racing_range_when_the_search_does_not_race(self) -> None:
        optuna_search = memory_study(search=OptunaSearch()).estimate(FakeLM(), DATASET, same, 10)
        too_few = memory_study().estimate(FakeLM(), DATASET[:20], same, 10)  # racing needs 30 examples
        for estimate in (optuna_search, too_few):
            assert estimate.racing is None
            assert "does not race" in estimate.render() and "not a promise" not in estimate.render()


class TestPrices:
    def test_an_unpriced_model_makes_usd_unknown_never_zero_and_is_named(self) -> None:
        estimate = memory_study().estimate(FakeLM(model="mystery-model"), DATASET, same, 10)
        assert estimate.unpriced_models == ("mystery-model",)
        assert estimate.expected.usd is None and estimate.worst.usd is None and estimate.probe.usd is None
        assert estimate.racing is not None and estimate.racing.low.usd is None
        text = estimate.render()
        assert "'mystery-model'" in text and "unknown" in text and "$0" not in text
        assert estimate.expected.calls == 10 * 40 * 2  # calls and tokens are still known

    def test_unpriced_calls_of_an_unnamed_model_still_make_usd_unknown(self) -> None:
        class Unnamed(FakeLM):
            def evaluate(self, dataset: Sequence[object], metric: Metric, **_: object) -> Evaluation:
                return evaluate_examples(
                    dataset, lambda example: record_usage(Usage(calls=1, unpriced_calls=1)), metric
                )

            def apply_configuration(self, configuration: Mapping[str, object]) -> FakeLM:
                return self

        estimate = memory_study().estimate(Unnamed(), DATASET, same, 2, probe_configurations=1)
        assert estimate.unpriced_models == () and estimate.expected.usd is None and estimate.worst.usd is None
        assert "no price for a model" in estimate.render()

    def test_one_price_for_every_call_is_found_exactly(self) -> None:
        calls = [(100.0, 10.0, 100 * 2e-6 + 10 * 1e-5), (300.0, 5.0, 300 * 2e-6 + 5 * 1e-5)]
        bound, exact = call_price_bound(calls, 1000, 64)
        assert exact and bound == pytest.approx(1000 * 2e-6 + 64 * 1e-5)

    def test_calls_that_cannot_tell_input_from_output_prices_are_bounded_at_the_dearer(self) -> None:
        # every call 100 in, 10 out: the price may be all input or all output; the worst case assumes the dearer
        calls = [(100.0, 10.0, 100 * 2e-6 + 10 * 1e-5)] * 3
        bound, exact = call_price_bound(calls, 200, 64)
        assert not exact
        true_cost = 200 * 2e-6 + 64 * 1e-5
        assert bound == pytest.approx(64 * calls[0][2] / 10) and bound >= true_cost

    def test_toy_program_says_its_prices_were_bounded(self) -> None:
        estimate = memory_study().estimate(ToyProgram(), toy_dataset(40), toy_metric, 5)
        assert any("do not tell input from output prices" in note for note in estimate.notes)


class TestBounds:
    def test_what_could_not_be_bounded_is_said(self) -> None:
        estimate = memory_study().estimate(ToyProgram(), toy_dataset(40), toy_metric, 5)
        said = " ".join(estimate.unbounded)
        assert "no max_tokens-like knob" in said
        assert "calls per example" in said
        assert "no candidate texts or demo sets" in said
        assert "strategy, steps, style" in said and "temperature" not in said

    def test_a_max_tokens_top_that_stands_for_unset_is_flagged(self) -> None:
        class Unset(FakeLM):
            def extract_variables(self) -> Space:
                return (
                    super().extract_variables().drop("max_tokens").add(knob_variable("max_tokens", "max_tokens", None))
                )

            def apply_configuration(self, configuration: Mapping[str, object]) -> FakeLM:
                return FakeLM()

        estimate = memory_study().estimate(Unset(), DATASET, same, 1, probe_configurations=1)
        assert estimate.worst_output_per_call == 4096
        assert any("max_tokens: its top (4096) leaves it unset" in item for item in estimate.unbounded)

    def test_a_pool_of_demos_counts_the_most_demos_it_can_draw(self) -> None:
        space = Space(
            [
                Categorical("demos", {"current": ["a"], "none": [], "set": ["a", "b"], "pool": "pool"}),
                Int("n_demos", 1, 6, default=1, when={"demos": "pool"}),
            ]
        )
        assert heaviest_input(space)[0] == {"demos": "pool", "n_demos": 6}

    def test_the_heaviest_input_is_not_probed_when_the_program_is_it(self) -> None:
        estimate = memory_study().estimate(FakeLM(LONG, 4), DATASET, same, 1, probe_configurations=2)
        assert [run.role for run in estimate.probe_runs] == ["as it is", "sampled"]


class TestProbe:
    def test_nothing_is_stored(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path / 's.db'}"
        study = create_study("kept", storage=storage)
        attributes = dict(study.optuna_study.user_attrs)
        study.estimate(FakeLM(), DATASET, same, 10)
        again = optuna.load_study(study_name="kept", storage=storage)
        assert again.trials == [] and again.user_attrs == attributes
        assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["kept"]

    def test_a_failing_sampled_configuration_is_a_note(self) -> None:
        estimate = memory_study().estimate(FakeLM(fail=True), DATASET, same, 1, probe_configurations=2)
        heaviest = next(run for run in estimate.probe_runs if run.role == "heaviest input")
        assert heaviest.error == "RuntimeError: this configuration is broken"
        assert any("the heaviest input failed in the probe" in note for note in estimate.notes)
        assert estimate.worst_input_per_call == 21  # from what ran

    def test_a_program_that_fails_as_it_is_is_an_error(self) -> None:
        with pytest.raises(StacktuneError, match="could not evaluate the program as it is .RuntimeError"):
            memory_study().estimate(FakeLM(LONG, fail=True), DATASET, same, 1, probe_configurations=1)

    def test_arguments_are_checked_by_name(self) -> None:
        with pytest.raises(ValueError, match="n_trials must be a whole number >= 1"):
            memory_study().estimate(FakeLM(), DATASET, same, 0)
        with pytest.raises(ValueError, match="probe_examples"):
            memory_study().estimate(FakeLM(), DATASET, same, 1, probe_examples=0)

    def test_the_same_seed_probes_the_same_examples_and_configurations(self) -> None:
        first, second = (memory_study().estimate(ToyProgram(), toy_dataset(40), toy_metric, 5, seed=7) for _ in "ab")
        assert first == second

    def test_the_text_fits_80_columns(self) -> None:
        for estimate in (
            memory_study().estimate(FakeLM(), DATASET, same, 10_000),
            memory_study().estimate(FakeLM(model="a-model-with-a-rather-long-name"), DATASET, same, 3),
        ):
            assert max(len(line) for line in estimate.render().splitlines()) <= 80


def test_cli_dry_run_prints_the_estimate_and_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["optimize", "toy", "--trials", "12", "--no-progress", "--storage", "sqlite:///s.db", "--dry-run"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "expected" in result.output and "worst case" in result.output and "probe (nothing stored)" in result.output
    assert "12 trials x 20 examples" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert not Path("s.db").exists()
