"""Instruction proposals: cleaning, grounding, the study's proposer step, storage, resume, cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna
import pytest

from stacktune import (
    Bootstrap,
    Budget,
    Categorical,
    Evaluation,
    Float,
    InstructionSite,
    Int,
    Metric,
    Proposals,
    Proposer,
    ResultCallback,
    Space,
    StacktuneError,
    Usage,
    create_plugin_manager,
    create_study,
    evaluate_examples,
    hookimpl,
    load_study,
    record_usage,
)
from stacktune.proposals import ATTR_PROPOSALS, SiteProposals, clean_candidate, proposal_prompt, summarize_examples
from stacktune.study._ledger import StudyLedger
from stacktune.testing import ScriptedLM

optuna.logging.set_verbosity(optuna.logging.WARNING)

SITE = InstructionSite(
    name="instructions",
    current="Label the review.",
    inputs=("text",),
    outputs=("label",),
    role="the only step: a sentiment classifier",
)
TEMPLATE_SITE = InstructionSite(
    name="prompt.human", current="Review: {text}", inputs=("text",), placeholders=("text",), template=True
)
CALL_USAGE = Usage(calls=1, input_tokens=200, output_tokens=30, cost_usd=0.002)


class Instructed:
    """A program whose instruction decides its answers: right only when it says "carefully"."""

    def __init__(self, instructions: str = "Label the review.", candidates: Sequence[str] = ()) -> None:
        self.instructions = instructions
        self.candidates = tuple(candidates)

    def _instruction(self) -> Categorical:
        return Categorical.with_current("instructions", list(self.candidates), self.instructions)

    def extract_variables(self) -> Space:
        variables: list[Any] = [Float("temperature", 0.0, 1.0, default=0.5)]
        if len(self._instruction().keys) > 1:
            variables.insert(0, self._instruction())
        return Space(variables)

    def apply_configuration(self, configuration: Mapping[str, object]) -> Instructed:
        space = self.extract_variables()
        chosen = space.resolve(space.validate_configuration(configuration))
        return Instructed(str(chosen.get("instructions", self.instructions)), self.candidates)

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        def run(example: Any) -> str:
            record_usage(Usage(calls=1, input_tokens=10, output_tokens=2, cost_usd=1e-4))
            return str(example["label"]) if "carefully" in self.instructions else "neutral"

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)

    def instruction_sites(self) -> list[InstructionSite]:
        return [SITE.model_copy(update={"current": self.instructions})]

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> Instructed:
        return Instructed(self.instructions, (*self.candidates, *candidates.get("instructions", ())))


class NoSites(Instructed):
    """An Optimizable that cannot take proposals (no instruction_sites)."""

    instruction_sites = None  # type: ignore[assignment]


def reviews(n: int = 6) -> list[dict[str, str]]:
    return [{"text": f"review {i}: it was fine", "label": "positive"} for i in range(n)]


def accuracy(example: dict[str, str], prediction: object) -> bool:
    return prediction == example["label"]


REPLIES = [
    "Read the review carefully, then label it.",
    "```\nInstruction: Label the sentiment carefully as positive or negative.\n```",
    "Read the review carefully, then label it.",  # a repeat: dropped
    "label the review.",  # the current text: dropped
    "",  # empty: dropped
    '"Decide the label of the review."',
]


# -- cleaning and grounding -----------------------------------------------------------------------------
class TestClean:
    def test_fences_labels_and_quotes_are_stripped(self) -> None:
        assert clean_candidate("```text\nInstruction: Be brief.\n```", SITE) == "Be brief."
        assert clean_candidate('  "Say positive or negative."  ', SITE) == "Say positive or negative."
        assert clean_candidate("New instruction: Label it.", SITE) == "Label it."

    def test_empty_and_too_long_texts_are_refused(self) -> None:
        assert clean_candidate("   ", SITE) is None
        assert clean_candidate("x" * 50, SITE, max_chars=40) is None

    def test_a_template_keeps_its_placeholders_and_no_other_braces(self) -> None:
        assert clean_candidate("Here is a review: {text}", TEMPLATE_SITE) == "Here is a review: {text}"
        assert clean_candidate("Here is a review.", TEMPLATE_SITE) is None  # {text} dropped
        assert clean_candidate("Review {text} of {product}", TEMPLATE_SITE) is None  # an unknown field
        assert clean_candidate("Review {text} }", TEMPLATE_SITE) is None  # a stray brace

    def test_braces_are_fine_in_a_plain_text(self) -> None:
        assert clean_candidate('Answer as JSON: {"label": ...}', SITE) == 'Answer as JSON: {"label": ...}'


class TestGrounding:
    def test_the_prompt_holds_the_sites_structure_the_data_and_the_tip(self) -> None:
        summary = summarize_examples(reviews(2))
        prompt = proposal_prompt(SITE, summary, "Keep it short.", number=2, of=8)
        for part in (
            "sentiment classifier",
            "Inputs it reads: text",
            "Outputs it must produce: label",
            "Label the review.",
            "review 1: it was fine",
            "Tip: Keep it short.",
            "proposal 2 of 8",
        ):
            assert part in prompt

    def test_a_templates_placeholders_are_demanded(self) -> None:
        prompt = proposal_prompt(TEMPLATE_SITE, "", "tip")
        assert "it must contain {text} exactly as written" in prompt
        assert "use no other curly braces" in prompt

    def test_examples_of_any_shape_are_summarized(self) -> None:
        text = summarize_examples([{"q": "2+2", "a": "4"}, "a plain string", 17])
        assert "Example 1:\n  q: 2+2\n  a: 4" in text
        assert "Example 2: a plain string" in text and "Example 3: 17" in text


class TestProposer:
    def test_n_clean_distinct_candidates_the_current_text_never_new(self) -> None:
        lm = ScriptedLM(REPLIES, usage=CALL_USAGE)
        found = Proposer(lm=lm, n=3).propose(SITE, reviews())
        assert found == [
            "Read the review carefully, then label it.",
            "Label the sentiment carefully as positive or negative.",
            "Decide the label of the review.",
        ]
        assert lm.calls == 6  # until 3 were found
        assert "Tip: " + Proposer(lm=lm).tips[0] in lm.prompts[0]
        assert "Tip: " + Proposer(lm=lm).tips[1] in lm.prompts[1]  # a different tip each call

    def test_calls_are_capped(self) -> None:
        lm = ScriptedLM(["same text"], cycle=True)
        assert Proposer(lm=lm, n=4, max_calls=5).propose(SITE, reviews()) == ["same text"]
        assert lm.calls == 5

    def test_a_failing_call_is_skipped_and_remembered(self) -> None:
        lm = ScriptedLM([RuntimeError("server down"), "Be careful."])
        proposer = Proposer(lm=lm, n=1)
        assert proposer.propose(SITE, reviews()) == ["Be careful."]
        assert proposer.failures == ["instructions: RuntimeError: server down"]

    def test_grounding_examples_are_a_seeded_sample(self) -> None:
        data = reviews(20)
        assert Proposer(lm=ScriptedLM(["x"]), n_examples=3, seed=1).grounding(data) == Proposer(
            lm=ScriptedLM(["x"]), n_examples=3, seed=1
        ).grounding(data)
        assert len(Proposer(lm=ScriptedLM(["x"]), n_examples=3).grounding(data)) == 3

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"lm": "not callable"}, "must be callable"),
            ({"n": 0}, r"n=\.\.\.\) must be a whole number >= 1"),
            ({"tips": "one string"}, r"tips=\.\.\.\) must be a non-empty list"),
            ({"max_calls": 0}, "max_calls"),
        ],
    )
    def test_bad_settings_name_the_culprit(self, kwargs: dict[str, Any], message: str) -> None:
        settings: dict[str, Any] = {"lm": ScriptedLM(["x"]), **kwargs}
        with pytest.raises((TypeError, ValueError), match=message):
            Proposer(**settings)


# -- the study's proposer step --------------------------------------------------------------------------
def file_storage(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/study.db"


class TestStudyProposals:
    def test_candidates_become_choices_stored_with_their_cost(self) -> None:
        lm = ScriptedLM(REPLIES, usage=CALL_USAGE)
        study = create_study(study_name="p", storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(Instructed(), reviews(), accuracy, n_trials=8, propose=Proposer(lm=lm, n=3))
        proposals = study.proposals
        assert proposals is not None
        assert list(proposals.sites["instructions"].candidates) == [
            "Read the review carefully, then label it.",
            "Label the sentiment carefully as positive or negative.",
            "Decide the label of the review.",
        ]
        assert proposals.usage.calls == 6 and proposals.usage.cost_usd == pytest.approx(6 * 0.002)
        assert proposals.proposer["n"] == 3 and proposals.proposer["lm"] == "scripted"
        stored_space = study.optuna_study.user_attrs["stacktune:space"]
        instructions = next(v for v in stored_space["variables"] if v["name"] == "instructions")
        assert instructions["values"][0] == "Label the review."  # the current text stays, as the default
        assert len(instructions["keys"]) == 4
        chosen = {t.configuration.get("instructions") for t in study.trials}
        assert chosen <= set(instructions["keys"]) and len(chosen) > 1
        assert study.best.values["score"] == 1.0  # a proposal ("carefully") is what answers right
        applied = study.best.apply_to(Instructed())  # the target as it was: the stored candidates are given to it
        assert isinstance(applied, Instructed) and "carefully" in applied.instructions
        (held_out,) = study.verify(Instructed(), reviews(3), accuracy)
        assert held_out.heldout["score"] == 1.0
        trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
        assert study.spent.calls == trial_calls + 6  # the proposer's calls are the study's spend
        assert study.spent.usd == pytest.approx(sum(t.spent.spent_cost_usd for t in study.trials if t.spent) + 0.012)

    def test_a_resumed_study_reuses_them_and_never_calls_the_proposer(self, tmp_path: Path) -> None:
        storage = file_storage(tmp_path)
        first = create_study(study_name="p", storage=storage, seed=0)
        first.optimize(Instructed(), reviews(), accuracy, n_trials=3, propose=Proposer(lm=ScriptedLM(REPLIES), n=3))
        space_before = first.optuna_study.user_attrs["stacktune:space"]
        again = ScriptedLM(["Something else entirely."], cycle=True)
        resumed = load_study("p", storage=storage)
        resumed.optimize(Instructed(), reviews(), accuracy, n_trials=3, propose=Proposer(lm=again, n=5))
        assert again.calls == 0
        assert resumed.optuna_study.user_attrs["stacktune:space"] == space_before
        assert len(resumed.trials) == 6
        # without propose= too: the stored choices are the study's
        load_study("p", storage=storage).optimize(Instructed(), reviews(), accuracy, n_trials=2)
        assert len(load_study("p", storage=storage).trials) == 8

    def test_the_proposers_cost_counts_toward_the_budget(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        lm = ScriptedLM(REPLIES, usage=CALL_USAGE)
        study.optimize(
            Instructed(), reviews(), accuracy, n_trials=5, budget=Budget(calls=6), propose=Proposer(lm=lm, n=3)
        )
        assert lm.calls == 6
        assert study.spent.calls == 6
        assert not study.trials  # the proposals spent the whole budget: no trial started
        assert "call budget 6 spent" in (study.last_stop_reason or "")

    def test_a_usd_budget_sees_the_proposers_dollars(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        lm = ScriptedLM(REPLIES, usage=Usage(calls=1, input_tokens=10, output_tokens=10, cost_usd=0.5))
        study.optimize(
            Instructed(), reviews(), accuracy, n_trials=5, budget=Budget(usd=1.0), propose=Proposer(lm=lm, n=3)
        )
        assert study.spent.usd == pytest.approx(3.0)
        assert not study.trials

    def test_a_study_run_without_proposals_refuses_them_before_calling_anything(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(Instructed(), reviews(), accuracy, n_trials=1)
        lm = ScriptedLM(REPLIES)
        with pytest.raises(StacktuneError, match="was run without proposals"):
            study.optimize(Instructed(), reviews(), accuracy, n_trials=1, propose=Proposer(lm=lm))
        assert lm.calls == 0

    def test_an_adapter_without_sites_is_named(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage())
        with pytest.raises(TypeError, match="NoSites has no instruction_sites"):
            study.optimize(NoSites(), reviews(), accuracy, n_trials=1, propose=Proposer(lm=ScriptedLM(REPLIES)))

    def test_a_proposer_that_only_fails_leaves_the_study_running(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        lm = ScriptedLM([ConnectionError("refused")], cycle=True)
        study.optimize(Instructed(), reviews(), accuracy, n_trials=2, propose=Proposer(lm=lm, n=2))
        proposals = study.proposals
        assert proposals is not None and proposals.candidates == {}
        assert len(proposals.failures) == 4 and "ConnectionError: refused" in proposals.failures[0]
        assert len(study.trials) == 2

    def test_plugins_offer_candidates_through_the_hook(self) -> None:
        seen: list[InstructionSite] = []

        class HouseStyle:
            @hookimpl
            def stacktune_propose(self, site: InstructionSite, examples: Sequence[object], n: int) -> list[str]:
                seen.append(site)
                return ["Answer carefully, in house style.", "Read the review carefully, then label it."]

        study = create_study(
            storage=optuna.storages.InMemoryStorage(), plugin_manager=create_plugin_manager(plugins=[HouseStyle()])
        )
        study.optimize(Instructed(), reviews(), accuracy, n_trials=1, propose=Proposer(lm=ScriptedLM(REPLIES), n=1))
        assert seen == [SITE]
        proposals = study.proposals
        assert proposals is not None
        assert proposals.candidates == {
            "instructions": ["Read the review carefully, then label it.", "Answer carefully, in house style."]
        }

    def test_a_worker_waits_for_the_proposals_of_the_process_that_claimed_them(self, tmp_path: Path) -> None:
        storage = file_storage(tmp_path)
        study = create_study(study_name="w", storage=storage, seed=0)
        assert StudyLedger(study.shared_state, study.optuna_study, immediate=True).first("proposals")  # another worker

        def other_worker_stores() -> None:
            time.sleep(0.5)
            other = load_study("w", storage=storage)
            Proposals(
                sites={"instructions": SiteProposals(current="Label the review.", candidates=("Work carefully.",))},
                usage=Usage(calls=2),
            ).store(other.optuna_study)

        thread = threading.Thread(target=other_worker_stores)
        thread.start()
        lm = ScriptedLM(REPLIES)
        study.optimize(Instructed(), reviews(), accuracy, n_trials=2, propose=Proposer(lm=lm, n=3))
        thread.join()
        assert lm.calls == 0
        keys = next(
            v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"] if v["name"] == "instructions"
        )
        assert keys["values"] == ["Label the review.", "Work carefully."]

    def test_stored_proposals_for_another_program_are_refused(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage())
        study.optuna_study.set_user_attr(
            ATTR_PROPOSALS,
            Proposals(sites={"other.instructions": SiteProposals(current="x", candidates=("y",))}).model_dump(
                mode="json"
            ),
        )
        with pytest.raises(StacktuneError, match="'other.instructions', which this program does not have"):
            study.optimize(Instructed(), reviews(), accuracy, n_trials=1)

    def test_the_report_shows_what_proposing_cost(self) -> None:
        from stacktune.report._data import spend_rows

        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        lm = ScriptedLM(REPLIES, usage=CALL_USAGE)
        study.optimize(Instructed(), reviews(), accuracy, n_trials=2, propose=Proposer(lm=lm, n=3))
        rows = dict(spend_rows(study))
        assert rows["instruction proposals"].startswith("3 candidates for 1 sites: 6 calls, 1380 tokens, 0.012 USD")
        from stacktune.report._data import report_data

        summary = " ".join(report_data(study).summary)
        assert "Instruction candidates written by a proposer LM: 3 for 1 sites (6 calls, 0.012 USD)" in summary


# -- the command line -----------------------------------------------------------------------------------
TASK_FILE = """
from stacktune import Task, TaskSetup
from stacktune.testing import ScriptedLM
from test_proposals import Instructed, accuracy, reviews, REPLIES


def build(proposer: str = "yes", **_):
    lm = ScriptedLM(REPLIES, name="task-lm") if proposer == "yes" else None
    return TaskSetup(target=Instructed(), dataset=reviews(), metric=accuracy, proposer_lm=lm)


task = Task(name="instructed", description="a program whose instruction matters", build=build, objectives=("score",))
"""


class TestCommandLine:
    @pytest.fixture
    def task_file(self, write_task_file: Callable[[str], str]) -> str:
        return write_task_file(TASK_FILE)

    def test_propose_n_writes_candidates_with_the_tasks_proposer_lm(self, task_file: str) -> None:
        from click.testing import CliRunner

        from stacktune.cli import cli

        args = ["optimize", task_file, "--trials", "3", "--no-progress", "--storage", "sqlite:///s.db"]
        result = CliRunner().invoke(cli, [*args, "--propose", "2"])
        assert result.exit_code == 0, result.output
        proposals = load_study("instructed", storage="sqlite:///s.db").proposals
        assert proposals is not None and proposals.proposer["lm"] == "task-lm"
        assert len(proposals.candidates["instructions"]) == 2

    def test_propose_without_a_proposer_lm_is_a_usage_error(self, task_file: str) -> None:
        from click.testing import CliRunner

        from stacktune.cli import cli

        args = ["optimize", task_file, "--trials", "1", "--no-progress", "--storage", "sqlite:///s.db"]
        result = CliRunner().invoke(cli, [*args, "--propose", "2", "--option", "proposer=no"])
        assert result.exit_code == 2
        assert "--propose needs a proposer LM, and task 'instructed' gives none" in result.output

    def test_workers_are_told_to_propose_too(self) -> None:
        from stacktune.cli import _worker_arguments, optimize_command

        context = optimize_command.make_context("optimize", ["toy", "--propose", "4", "--workers", "2"])
        assert "--propose" in _worker_arguments(context.params, "s")


# -- bootstrapped demos ---------------------------------------------------------------------------------
class Demoed:
    """Right on "easy" examples as it is; with demos shown (n_demos >= 1), right on every one."""

    def __init__(
        self, pool: Sequence[object] = (), n_demos: int = 0, max_demos: int = 0, runs: list[int] | None = None
    ):
        self.pool = tuple(pool)
        self.n_demos = n_demos
        self.max_demos = max_demos
        self.runs = runs if runs is not None else []

    def extract_variables(self) -> Space:
        if not self.max_demos:
            return Space([Float("temperature", 0.0, 1.0, default=0.5)])
        return Space([Float("temperature", 0.0, 1.0, default=0.5), Int("n_demos", 0, self.max_demos, default=0)])

    def apply_configuration(self, configuration: Mapping[str, object]) -> Demoed:
        chosen = self.extract_variables().validate_configuration(configuration)
        return Demoed(self.pool, int(chosen.get("n_demos", self.n_demos)), self.max_demos, self.runs)  # type: ignore[call-overload]

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        def run(example: Any) -> str:
            self.runs.append(1)
            record_usage(Usage(calls=1, input_tokens=10, output_tokens=2, cost_usd=0.001))
            return str(example["label"]) if example["easy"] or self.n_demos else "neutral"

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> Demoed:
        pool = (*self.pool, *demos)
        return Demoed(pool, self.n_demos, min(max_demos, len(pool)), self.runs)


class Traced(Demoed):
    """A Demoed whose demos are traces of its one step (none for example 2), as DSPy's and LangChain's are."""

    def __init__(self, pool: Sequence[object] = (), n_demos: int = 0, max_demos: int = 0, trace: object = None):
        super().__init__(pool, n_demos, max_demos)
        self.trace = trace

    def apply_configuration(self, configuration: Mapping[str, object]) -> Traced:
        chosen = self.extract_variables().validate_configuration(configuration)
        return Traced(self.pool, int(chosen.get("n_demos", self.n_demos)), self.max_demos)  # type: ignore[call-overload]

    def evaluate_with_traces(self, dataset: Sequence[object], metric: Metric) -> tuple[Evaluation, list[Any]]:
        evaluation = self.evaluate(dataset, metric)
        traces: list[Any] = []
        for i, example in enumerate(dataset):
            said = str(example["label"]) if example["easy"] else "neutral"  # type: ignore[index]
            trace = self.trace if self.trace is not None else {"step": {"saw": example["text"], "said": said}}  # type: ignore[index]
            traces.append(None if i == 2 else trace)
        return evaluation, traces

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> Traced:
        pool = (*self.pool, *demos)
        return Traced(pool, self.n_demos, min(max_demos, len(pool)))


def easy_reviews(n: int = 8) -> list[dict[str, Any]]:
    return [{"text": f"review {i}", "label": "positive", "easy": i % 2 == 0} for i in range(n)]


class TestBootstrap:
    def test_examples_the_program_gets_right_become_demos_stored_with_their_cost(self, tmp_path: Path) -> None:
        storage = file_storage(tmp_path)
        runs: list[int] = []
        study = create_study(study_name="b", storage=storage, seed=0)
        study.optimize(
            Demoed(runs=runs), easy_reviews(6), accuracy, n_trials=6, bootstrap=Bootstrap(max_examples=6, max_demos=2)
        )
        demos = study.bootstrapped_demos
        assert demos is not None
        assert demos.tried == (0, 1, 2, 3, 4, 5) and demos.passed == (0, 2, 4)
        assert demos.examples == [easy_reviews(6)[i] for i in (0, 2, 4)]
        assert demos.usage.calls == 6 and demos.usage.cost_usd == pytest.approx(0.006)
        stored = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
        assert (stored["n_demos"]["low"], stored["n_demos"]["high"]) == (0, 2)
        assert study.best.values["score"] == 1.0  # showing demos is what gets every example right
        applied = study.best.apply_to(Demoed())  # the target as written: the stored demos are given to it
        assert isinstance(applied, Demoed) and applied.pool == tuple(demos.examples) and applied.n_demos >= 1
        trial_calls = sum(t.spent.spent_calls for t in study.trials if t.spent is not None)
        assert study.spent.calls == trial_calls + 6
        from stacktune.report._data import spend_rows

        assert dict(spend_rows(study))["bootstrapped demos"].startswith("3 of 6 examples passed: 6 calls")
        before = len(runs)
        load_study("b", storage=storage).optimize(
            Demoed(runs=runs), easy_reviews(6), accuracy, n_trials=0, bootstrap=Bootstrap(max_examples=6)
        )
        assert len(runs) == before  # a resumed study never runs the bootstrap again

    def test_an_adapter_that_traces_gets_the_traces_of_passed_examples_as_its_demos(self, tmp_path: Path) -> None:
        storage = file_storage(tmp_path)
        study = create_study(study_name="t", storage=storage, seed=0)
        study.optimize(Traced(), easy_reviews(4), accuracy, n_trials=3, bootstrap=Bootstrap(max_examples=4))
        demos = study.bootstrapped_demos
        assert demos is not None and demos.traced
        # example 2 passed but made no trace: no demo from it
        assert demos.passed == (0,) and demos.examples == [{"step": {"saw": "review 0", "said": "positive"}}]
        applied = study.best.apply_to(Traced())
        assert isinstance(applied, Traced) and applied.pool == tuple(demos.examples)
        resumed = load_study("t", storage=storage)
        assert resumed.bootstrapped_demos == demos

    def test_traces_json_cannot_hold_are_an_error_naming_the_adapter(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage())
        with pytest.raises(StacktuneError, match="Traced.evaluate_with_traces.. returned traces JSON cannot hold"):
            study.optimize(Traced(trace=object()), easy_reviews(2), accuracy, n_trials=1, bootstrap=Bootstrap())

    def test_the_bootstrap_counts_toward_the_budget(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(
            Demoed(), easy_reviews(), accuracy, n_trials=3, budget=Budget(calls=4), bootstrap=Bootstrap(max_examples=4)
        )
        assert study.spent.calls == 4 and not study.trials

    def test_an_adapter_without_demos_is_named(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage())
        with pytest.raises(TypeError, match="Instructed has no with_bootstrapped_demos"):
            study.optimize(Instructed(), reviews(), accuracy, n_trials=1, bootstrap=Bootstrap())

    def test_bad_settings_are_named(self) -> None:
        with pytest.raises(ValueError, match=r"Bootstrap\(max_examples=...\) must be a whole number >= 1"):
            Bootstrap(max_examples=0)
