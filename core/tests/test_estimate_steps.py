"""study.estimate with propose= and bootstrap=: what the steps before the search would spend, never calling them."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest
from click.testing import CliRunner

from stacktune import (
    Bootstrap,
    Categorical,
    Evaluation,
    Float,
    InstructionSite,
    Int,
    Metric,
    Price,
    Proposer,
    ResultCallback,
    Space,
    StacktuneError,
    Study,
    Usage,
    create_study,
    evaluate_examples,
    record_usage,
)
from stacktune.cli import cli
from stacktune.proposals import proposal_prompt, summarize_examples
from stacktune.study.estimate import CHARS_PER_TOKEN, Spend
from stacktune.testing import ScriptedLM

optuna.logging.set_verbosity(optuna.logging.WARNING)

PRICE = Price(input_per_mtok=1.0, output_per_mtok=4.0)
REPLIES = ["Read the review carefully, then label it.", "Label it carefully.", "Say the label, carefully."]


class Program:
    """One call per example (10 input tokens, 2 output, $0.001); takes proposals and bootstrapped demos."""

    def __init__(self, candidates: Sequence[str] = (), pool: Sequence[object] = (), max_demos: int = 0) -> None:
        self.candidates = tuple(candidates)
        self.pool = tuple(pool)
        self.max_demos = max_demos

    def extract_variables(self) -> Space:
        variables: list[Any] = [Float("temperature", 0.0, 1.0, default=0.5)]
        if self.candidates:
            variables.append(Categorical.with_current("instructions", list(self.candidates), "Label the review."))
        if self.max_demos:
            variables.append(Int("n_demos", 0, self.max_demos, default=0))
        return Space(variables)

    def apply_configuration(self, configuration: Mapping[str, object]) -> Program:
        self.extract_variables().validate_configuration(configuration)
        return self

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        def run(example: Any) -> str:
            record_usage(Usage(calls=1, input_tokens=10, output_tokens=2, cost_usd=0.001))
            return str(example["label"]) if example["easy"] else "neutral"

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)

    def instruction_sites(self) -> list[InstructionSite]:
        return [InstructionSite(name="instructions", current="Label the review.", inputs=("text",), outputs=("label",))]

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> Program:
        return Program((*self.candidates, *candidates.get("instructions", ())), self.pool, self.max_demos)

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> Program:
        pool = (*self.pool, *demos)
        return Program(self.candidates, pool, min(max_demos, len(pool)))


class Plain(Program):
    """A program that takes neither proposals nor demos."""

    instruction_sites = None  # type: ignore[assignment]
    with_bootstrapped_demos = None  # type: ignore[assignment]


def reviews(n: int = 6) -> list[dict[str, Any]]:
    return [{"text": f"review {i}: it was fine", "label": "positive", "easy": i % 2 == 0} for i in range(n)]


def accuracy(example: dict[str, Any], prediction: object) -> bool:
    return prediction == example["label"]


class SizedLM(ScriptedLM):
    """A scripted proposer LM that says what a real one's client knows: its answers' cap and its price."""

    def __init__(self, max_tokens: int = 50, price: Price | None = PRICE) -> None:
        super().__init__(REPLIES, usage=Usage(calls=1, input_tokens=100, output_tokens=20, cost_usd=0.01), cycle=True)
        self.max_tokens = max_tokens
        self.price = price


def memory_study() -> Study:
    return create_study(storage=optuna.storages.InMemoryStorage())


def prompt_tokens(proposer: Proposer, site: InstructionSite, dataset: list[Any], calls: int) -> list[int]:
    """The tokens of the prompts the proposer would send, as the estimate counts them."""
    summary = summarize_examples(proposer.grounding(dataset))
    prompts = [
        proposal_prompt(site, summary, proposer.tips[k % len(proposer.tips)], number=k + 1, of=proposer.n)
        for k in range(calls)
    ]
    return [math.ceil(len(p) / CHARS_PER_TOKEN) for p in prompts]


class TestProposals:
    def test_n_calls_per_site_expected_max_calls_at_worst_each_its_prompt_and_the_lms_cap(self) -> None:
        lm = SizedLM(max_tokens=50)
        proposer = Proposer(lm=lm, n=3)
        dataset = reviews(6)
        estimate = memory_study().estimate(Program(), dataset, accuracy, 4, propose=proposer)
        step = estimate.proposals
        assert step is not None and not step.stored
        sizes = prompt_tokens(proposer, Program().instruction_sites()[0], dataset, 6)
        assert step.expected.calls == 3 and step.worst.calls == 6  # n, then max_calls (2 x n)
        assert step.expected.tokens == sum(sizes[:3]) + 3 * 50
        assert step.worst.tokens == sum(sizes) + 6 * 50
        assert step.expected.usd == pytest.approx(sum(PRICE.cost(i, 50) for i in sizes[:3]))
        assert step.worst.usd == pytest.approx(sum(PRICE.cost(i, 50) for i in sizes))
        assert lm.calls == 0  # the proposer LM is never called

    def test_max_calls_bounds_the_worst_case(self) -> None:
        estimate = memory_study().estimate(
            Program(), reviews(6), accuracy, 4, propose=Proposer(lm=SizedLM(), n=3, max_calls=4)
        )
        assert estimate.proposals is not None and estimate.proposals.worst.calls == 4

    def test_the_totals_include_the_steps_and_the_trials_worst_case_the_longer_instructions(self) -> None:
        without = memory_study().estimate(Program(), reviews(6), accuracy, 4)
        estimate = memory_study().estimate(Program(), reviews(6), accuracy, 4, propose=Proposer(lm=SizedLM(), n=3))
        step = estimate.proposals
        assert step is not None
        assert estimate.expected == without.expected  # the trials' own line is the program as probed
        assert estimate.total_expected.calls == estimate.expected.calls + step.expected.calls
        assert estimate.total_worst.tokens == estimate.worst.tokens + step.worst.tokens
        assert estimate.total_expected.usd == pytest.approx(estimate.expected.usd + step.expected.usd)  # type: ignore[operator]
        # one site, whose proposed text may be up to the proposer's 50 tokens, in every call
        assert estimate.worst_input_per_call == without.worst_input_per_call + 50
        assert without.total_expected == without.expected and without.steps == ()

    def test_an_lm_that_says_no_cap_and_no_price_is_counted_at_max_chars_usd_unknown_and_said(self) -> None:
        lm = ScriptedLM(REPLIES)
        estimate = memory_study().estimate(Program(), reviews(6), accuracy, 4, propose=Proposer(lm=lm, n=2))
        step = estimate.proposals
        assert step is not None
        sizes = prompt_tokens(Proposer(lm=lm, n=2), Program().instruction_sites()[0], reviews(6), 2)
        assert step.expected.tokens == sum(sizes) + 2 * (2000 // CHARS_PER_TOKEN)
        assert step.expected.usd is None and estimate.total_expected.usd is None
        said = " ".join(step.assumptions)
        assert "says no max_tokens" in said and "USD unknown" in said and f"{CHARS_PER_TOKEN} characters" in said

    def test_a_proposer_that_is_not_a_stacktune_proposer_is_said_not_counted(self) -> None:
        class Own:
            def propose(self, site: InstructionSite, examples: Any) -> list[str]:
                raise AssertionError("an estimate never proposes")

        estimate = memory_study().estimate(Program(), reviews(6), accuracy, 4, propose=Own())  # type: ignore[arg-type]
        step = estimate.proposals
        assert step is not None and step.expected.calls == 0 and step.expected.usd is None
        assert "Own is not a stacktune.Proposer" in step.how
        assert any("does not count proposed texts: this proposer's cap is not known" in n for n in estimate.notes)

    def test_an_adapter_without_instruction_sites_fails_before_the_probe(self) -> None:
        with pytest.raises(TypeError, match="Plain has no instruction_sites"):
            memory_study().estimate(Plain(), reviews(6), accuracy, 4, propose=Proposer(lm=SizedLM()))

    def test_a_propose_that_cannot_propose_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="propose= must be a stacktune.Proposer"):
            memory_study().estimate(Program(), reviews(6), accuracy, 4, propose="yes")  # type: ignore[arg-type]

    def test_a_study_that_stores_them_spends_nothing_on_them_and_probes_its_candidates(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path / 's.db'}"
        study = create_study(study_name="p", storage=storage, seed=0)
        study.optimize(Program(), reviews(6), accuracy, n_trials=2, propose=Proposer(lm=SizedLM(), n=3))
        again = SizedLM()
        estimate = study.estimate(Program(), reviews(6), accuracy, 4, propose=Proposer(lm=again, n=3))
        step = estimate.proposals
        assert step is not None and step.stored and step.expected == Spend() and step.worst == Spend()
        assert again.calls == 0
        heaviest = {run.role: run.configuration for run in estimate.probe_runs}["heaviest input"]
        assert "instructions" in heaviest  # the stored candidates are choices, as optimize would search them
        assert "stores its instruction candidates: nothing to spend" in estimate.render()
        # without propose= too: the study's stored proposals are what optimize would use
        assert study.estimate(Program(), reviews(6), accuracy, 4).proposals == step


class TestBootstrap:
    def test_max_examples_runs_of_the_program_as_it_is(self) -> None:
        estimate = memory_study().estimate(
            Program(), reviews(20), accuracy, 5, bootstrap=Bootstrap(max_examples=8, max_demos=2)
        )
        step = estimate.bootstrap
        assert step is not None and not step.stored
        assert (step.expected.calls, step.expected.tokens) == (8, 8 * 12)
        assert step.expected.usd == pytest.approx(8 * 0.001)
        assert step.worst.calls == 8 and step.worst.tokens == 8 * 12  # one call of 10 + 2 tokens per example
        assert "8 example(s) run on the program as it is" in step.how
        assert estimate.total_expected.calls == estimate.expected.calls + 8

    def test_a_dataset_smaller_than_max_examples_runs_each_example_once(self) -> None:
        estimate = memory_study().estimate(Program(), reviews(6), accuracy, 5, bootstrap=Bootstrap(max_examples=16))
        assert estimate.bootstrap is not None and estimate.bootstrap.expected.calls == 6

    def test_the_trials_worst_case_counts_the_demos_it_may_show(self) -> None:
        dataset = reviews(20)
        without = memory_study().estimate(Program(), dataset, accuracy, 5)
        estimate = memory_study().estimate(Program(), dataset, accuracy, 5, bootstrap=Bootstrap(max_demos=3))
        longest = max(math.ceil(len(str(example)) / CHARS_PER_TOKEN) for example in dataset)
        assert estimate.worst_input_per_call == without.worst_input_per_call + 3 * longest
        assert any("3 bootstrapped demos" in note for note in estimate.notes)

    def test_an_adapter_that_takes_no_demos_fails_before_the_probe(self) -> None:
        with pytest.raises(TypeError, match="bootstrap= needs an adapter that takes demos; Plain"):
            memory_study().estimate(Plain(), reviews(6), accuracy, 4, bootstrap=Bootstrap())

    def test_a_study_that_stores_them_spends_nothing_on_them(self, tmp_path: Path) -> None:
        storage = f"sqlite:///{tmp_path / 's.db'}"
        study = create_study(study_name="b", storage=storage, seed=0)
        study.optimize(Program(), reviews(6), accuracy, n_trials=2, bootstrap=Bootstrap(max_examples=6))
        estimate = study.estimate(Program(), reviews(6), accuracy, 4, bootstrap=Bootstrap(max_examples=6))
        assert estimate.bootstrap is not None and estimate.bootstrap.stored
        assert estimate.total_expected == estimate.expected
        assert "n_demos" in estimate.probe_runs[0].configuration  # the stored demos are the program's, as optimize's


def test_the_text_shows_each_steps_lines_and_fits_80_columns() -> None:
    estimate = memory_study().estimate(Program(), reviews(40), accuracy, 10_000, bootstrap=Bootstrap(max_examples=16))
    text = estimate.render()
    for label in ("trials, expected", "bootstrap, worst case", "total, expected", "total, worst case"):
        assert label in text
    assert "bootstrap: 16 example(s)" in text
    assert max(len(line) for line in text.splitlines()) <= 80


# -- the command line -----------------------------------------------------------------------------------
TASK_FILE = """
from pathlib import Path

from stacktune import Task, TaskSetup
from test_estimate_steps import Program, accuracy, reviews


class Tattle:
    max_tokens = 40

    def __call__(self, prompt):
        Path("called").write_text(prompt)
        return "Label it carefully."


def build(**_):
    return TaskSetup(target=Program(), dataset=reviews(8), metric=accuracy, proposer_lm=Tattle())


task = Task(name="demoed", description="a program demos help", build=build, objectives=("score",))
"""


class TestCommandLine:
    @pytest.fixture
    def task_file(self, write_task_file: Callable[[str], str]) -> str:
        return write_task_file(TASK_FILE)

    def args(self, task_file: str, *more: str) -> list[str]:
        return ["optimize", task_file, "--trials", "3", "--no-progress", "--storage", "sqlite:///s.db", *more]

    def test_bootstrap_n_runs_n_examples_first_and_stores_the_demos(self, task_file: str) -> None:
        from stacktune import load_study

        result = CliRunner().invoke(cli, self.args(task_file, "--bootstrap", "4", "--bootstrap-demos", "2"))
        assert result.exit_code == 0, result.output
        demos = load_study("demoed", storage="sqlite:///s.db").bootstrapped_demos
        assert demos is not None and demos.tried == (0, 3, 6, 7) and demos.max_demos == 2

    def test_bad_values_name_the_option(self, task_file: str) -> None:
        for option in ("--bootstrap", "--bootstrap-demos"):
            result = CliRunner().invoke(cli, self.args(task_file, option, "0"))
            assert result.exit_code == 2 and f"'{option}'" in result.output
        result = CliRunner().invoke(cli, self.args(task_file, "--bootstrap-demos", "2"))
        assert result.exit_code == 2 and "--bootstrap-demos 2 needs --bootstrap N" in result.output

    def test_a_dry_run_shows_the_bootstraps_line_and_stores_nothing(self, task_file: str) -> None:
        result = CliRunner().invoke(cli, self.args(task_file, "--bootstrap", "4", "--dry-run"))
        assert result.exit_code == 0, result.output
        assert "bootstrap, expected" in result.output and "total, worst case" in result.output
        assert not Path("s.db").exists()

    def test_a_dry_run_of_a_stored_study_knows_its_bootstrap_is_done(self, task_file: str) -> None:
        assert CliRunner().invoke(cli, self.args(task_file, "--bootstrap", "4")).exit_code == 0
        result = CliRunner().invoke(cli, self.args(task_file, "--bootstrap", "4", "--dry-run"))
        assert result.exit_code == 0, result.output
        assert "stores its bootstrapped demos: nothing to spend" in result.output
        assert "bootstrap, expected" not in result.output

    def test_a_dry_run_counts_proposals_without_calling_the_proposer(self, task_file: str) -> None:
        more = ("--propose", "2", "--dry-run")
        result = CliRunner().invoke(cli, self.args(task_file, *more))
        assert result.exit_code == 0, result.output
        assert "proposals, worst case" in result.output and "1 instruction site(s) x 2 call(s)" in result.output
        assert "40 tokens each, the proposer LM's max_tokens" in result.output
        assert not Path("called").exists() and not Path("s.db").exists()

    def test_workers_are_told_to_bootstrap_too(self) -> None:
        from stacktune.cli import _worker_arguments, optimize_command

        context = optimize_command.make_context(
            "optimize", ["toy", "--bootstrap", "8", "--bootstrap-demos", "3", "--workers", "2"]
        )
        arguments = _worker_arguments(context.params, "s")
        assert arguments[arguments.index("--bootstrap") + 1] == "8"
        assert arguments[arguments.index("--bootstrap-demos") + 1] == "3"


def test_a_study_that_ran_without_them_is_refused_as_optimize_refuses_it(tmp_path: Path) -> None:
    study = create_study(study_name="plain", storage=f"sqlite:///{tmp_path / 's.db'}", seed=0)
    study.optimize(Program(), reviews(6), accuracy, n_trials=1)
    with pytest.raises(
        StacktuneError, match="'plain' was run without propose=: optimize\\(propose=...\\) would refuse"
    ):
        study.estimate(Program(), reviews(6), accuracy, 4, propose=Proposer(lm=SizedLM()))
    with pytest.raises(StacktuneError, match="'plain' was run without bootstrap="):
        study.estimate(Program(), reviews(6), accuracy, 4, bootstrap=Bootstrap())
    assert study.estimate(Program(), reviews(6), accuracy, 4).steps == ()
