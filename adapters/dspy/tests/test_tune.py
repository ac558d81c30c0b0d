"""stacktune as a DSPy teleprompter: ``Tune(metric, ...).compile(program, trainset=..., valset=...)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import dspy
import optuna
import pytest
from dspy.teleprompt import BootstrapFewShot, Teleprompter
from dspy.utils import DummyLM

from stacktune import StacktuneError
from stacktune_dspy import Tune, candidates_from_programs
from stacktune_dspy.testing import scripted_lm

from .conftest import CAPITALS, answer_capitals, exact_answer, qa_example
from .test_dspy_optimizers import DUMMY_ANSWERS


class Capital(dspy.Module):
    """One predictor at site ``answer``: Predict as written, ChainOfThought as an alternative."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = dspy.Predict("question -> answer")

    def forward(self, question: str) -> dspy.Prediction:
        return self.answer(question=question)


def thinks_first(prompt: str, fields: Sequence[str]) -> Mapping[str, Any]:
    """Right only when asked for its reasoning first (a ChainOfThought), so the module type matters."""
    country = next((c for c in CAPITALS if c in prompt), "")
    answer = CAPITALS.get(country, "?") if "reasoning" in fields else "Atlantis"
    return {name: answer if name == "answer" else f"{country} is a country." for name in fields}


# Only the module type (and CoT's reasoning hint) is searched: a small space a few trials cover.
ONLY_MODULE = {"adapters": (), "temperature": None, "max_tokens": None, "top_p": None}


def tuner(**options: Any) -> Tune:
    options.setdefault("storage", optuna.storages.InMemoryStorage())
    return Tune(exact_answer, n_trials=options.pop("n_trials", 8), lm=scripted_lm(thinks_first), seed=0, **options)


@pytest.fixture
def train() -> list[dspy.Example]:
    return [qa_example(c) for c in ("France", "Italy", "Spain")]


@pytest.fixture
def val() -> list[dspy.Example]:
    return [qa_example(c) for c in ("Japan", "Peru")]


def test_tune_is_a_dspy_teleprompter_returning_a_tuned_module(train: list[dspy.Example]) -> None:
    student = Capital()
    tune = tuner(**ONLY_MODULE)
    assert isinstance(tune, Teleprompter)
    best = tune.compile(student, trainset=train)
    assert isinstance(best, dspy.Module) and best is not student
    assert type(best.answer) is dspy.ChainOfThought and best._compiled
    assert type(student.answer) is dspy.Predict  # the student is never changed
    study = tune.study
    assert study is not None and len(study.trials) == 8
    assert study.baseline is not None and study.baseline.values["score"] == 0.0  # the program as written
    assert tune.chosen is not None and tune.chosen.values["score"] == 1.0
    assert tune.chosen.configuration["answer.module"] == "cot"
    with dspy.context(lm=scripted_lm(thinks_first)):
        assert best(question="What is the capital of Spain?").answer == "Madrid"


def test_valset_verifies_the_best_trials_and_picks_on_held_out_figures(
    train: list[dspy.Example], val: list[dspy.Example]
) -> None:
    tune = tuner(verify_top=3, **ONLY_MODULE)
    tune.compile(Capital(), trainset=train, valset=val)
    assert tune.study is not None and tune.chosen is not None
    assert 1 <= len(tune.verifications) <= 3
    assert [v.number for v in tune.study.verified()] == sorted(v.number for v in tune.verifications)
    best_heldout = max(v.heldout["score"] for v in tune.verifications)
    assert best_heldout == 1.0
    chosen = next(v for v in tune.verifications if v.number == tune.chosen.number)
    assert chosen.heldout["score"] == best_heldout


def test_several_objectives_return_the_front_point_best_on_the_first(train: list[dspy.Example]) -> None:
    tune = tuner(objectives=("score", "tokens"), **ONLY_MODULE)
    best = tune.compile(Capital(), trainset=train)
    assert tune.study is not None and tune.study.is_multi_objective
    assert tune.chosen is not None and tune.chosen.number in {t.number for t in tune.study.pareto_front()}
    assert tune.chosen.values["score"] == max(t.values["score"] for t in tune.study.pareto_front())
    assert type(best.answer) is dspy.ChainOfThought


def test_options_go_to_the_study_the_run_and_the_adapter(train: list[dspy.Example]) -> None:
    tune = tuner(n_trials=3, baseline=False, instructions={"answer": ["Name the capital city only."]}, **ONLY_MODULE)
    tune.compile(Capital(), trainset=train)
    assert tune.study is not None and tune.program is not None
    assert tune.study.baseline is None  # optimize(baseline=False)
    assert "Name the capital city only." in tune.program.extract_variables()["answer.instructions"].choices.values()
    assert tune.get_params()["n_trials"] == 3  # DSPy's Teleprompter.get_params sees the settings


def test_a_named_study_in_a_storage_is_continued(train: list[dspy.Example]) -> None:
    storage = optuna.storages.InMemoryStorage()
    tuner(n_trials=2, storage=storage, study_name="capitals", **ONLY_MODULE).compile(Capital(), trainset=train)
    again = tuner(n_trials=2, storage=storage, study_name="capitals", **ONLY_MODULE)
    again.compile(Capital(), trainset=train)
    assert again.study is not None and len(again.study.trials) == 4
    assert sum(t.is_baseline for t in again.study.trials) == 1


def test_bad_options_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['n_trial'\]"):
        Tune(exact_answer, n_trial=3)
    with pytest.raises(TypeError, match="demo_pool"):
        Tune(exact_answer, trainset=[])
    with pytest.raises(TypeError, match="metric function"):
        Tune("exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="verify_top must be an int >= 1, got 0"):
        Tune(exact_answer, verify_top=0)
    with pytest.raises(TypeError, match="candidates_from_programs"):
        Tune(exact_answer, candidates={"answer": ["x"]})  # type: ignore[arg-type]


def test_compile_refuses_a_teacher_and_unknown_arguments(train: list[dspy.Example]) -> None:
    with pytest.raises(ValueError, match=r"does not use a teacher program: pass bootstrap=stacktune.Bootstrap"):
        tuner().compile(Capital(), trainset=train, teacher=Capital())
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['max_rounds'\]"):
        tuner().compile(Capital(), trainset=train, max_rounds=2)


def test_no_complete_trial_is_an_error_naming_the_study(train: list[dspy.Example]) -> None:
    def broken(prompt: str, fields: Sequence[str]) -> Mapping[str, Any]:
        raise RuntimeError("the LM is down")

    tune = Tune(
        exact_answer,
        n_trials=5,
        storage=optuna.storages.InMemoryStorage(),
        study_name="down",
        lm=scripted_lm(broken),
        **ONLY_MODULE,
    )
    with pytest.raises(StacktuneError, match="study 'down' has no complete trial to return"):
        tune.compile(Capital(), trainset=train)


# -- composing with DSPy's own optimizers -------------------------------------------


def test_tunes_the_output_of_bootstrap_few_shot(program: Any, trainset: list[Any], dataset: list[Any]) -> None:
    with dspy.context(lm=DummyLM(DUMMY_ANSWERS)):
        compiled = BootstrapFewShot(metric=exact_answer, max_bootstrapped_demos=2, max_labeled_demos=0).compile(
            program, trainset=trainset
        )
    tune = Tune(
        exact_answer, n_trials=4, storage=optuna.storages.InMemoryStorage(), lm=scripted_lm(answer_capitals), seed=1
    )
    best = tune.compile(compiled, trainset=dataset)
    assert tune.program is not None
    space = tune.program.extract_variables()
    assert space["answer.predict.demos"].default == "current"  # the bootstrapped demos stay a choice
    assert tune.chosen is not None and tune.chosen.values["score"] == 1.0
    demos = tune.chosen.configuration.get("answer.predict.demos", "current")
    expected = len(compiled.answer.predict.demos) if demos == "current" else 0
    assert len((best.answer.predict if hasattr(best.answer, "predict") else best.answer).demos) == expected


def test_optimizer_finds_come_in_as_candidates(program: Any, dataset: list[Any], lm: dspy.LM) -> None:
    proposed = program.deepcopy()
    proposed.rewrite.signature = proposed.rewrite.signature.with_instructions("Turn the question into a query.")
    found = candidates_from_programs([proposed])  # e.g. MIPROv2's candidate_programs
    tune = Tune(
        exact_answer,
        n_trials=2,
        storage=optuna.storages.InMemoryStorage(),
        lm=lm,
        candidates=found,
        instructions={"rewrite": ["Write a search query."]},
    )
    tune.compile(program, trainset=dataset)
    assert tune.program is not None
    texts = list(tune.program.extract_variables()["rewrite.instructions"].choices.values())
    assert "Write a search query." in texts and "Turn the question into a query." in texts
    assert len(texts) == len(set(texts))
