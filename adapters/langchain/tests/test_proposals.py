"""Proposals for a LangChain chain: its prompt texts as sites, candidates in the space, a study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable

from stacktune import InvalidConfiguration, Proposer, Usage, create_study, load_study
from stacktune.testing import ScriptedLM
from stacktune_langchain import LangChainAdapter
from stacktune_langchain.testing import QuizChatModel, quiz_dataset, quiz_metric

from .conftest import SYSTEM, quiz_prompt

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_system_and_human_messages_are_sites(simple_chain: Runnable[Any, Any]) -> None:
    system, human = LangChainAdapter(simple_chain).instruction_sites()
    assert (system.name, system.current, system.inputs) == ("step0.prompt.system", SYSTEM, ("question",))
    assert system.role == "prompt text 1 of 2 of a LangChain chain: the system message at 'step0.prompt.system'"
    assert system.template and system.placeholders == ()
    assert (human.name, human.current, human.placeholders) == ("step0.prompt.human", "{question}", ("question",))


def test_candidates_reach_the_space_and_apply(simple_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(simple_chain)
    proposed = adapter.with_instruction_candidates({"step0.prompt.system": ["Be careful: add the numbers."]})
    variable = proposed.extract_variables()["step0.prompt.system"]
    assert list(variable.choices.values()) == [SYSTEM, "Be careful: add the numbers."]
    assert variable.resolve(variable.default) == SYSTEM
    applied = proposed.apply_configuration(
        {"step0.prompt.system": variable.key_for("Be careful: add the numbers."), "step1.model.temperature": 0.0}
    )
    assert applied.evaluate(quiz_dataset(3), quiz_metric).score == 1.0  # the fake needs "careful"
    assert adapter.evaluate(quiz_dataset(3), quiz_metric).score == 0.0  # the original is untouched
    with pytest.raises(InvalidConfiguration, match="'step9.prompt': unknown site"):
        adapter.with_instruction_candidates({"step9.prompt": ["x"]})


def test_the_users_own_candidates_stay(simple_chain: Runnable[Any, Any]) -> None:
    adapter = LangChainAdapter(simple_chain, prompts={"step0.prompt.system": {"mine": "My own text."}})
    proposed = adapter.with_instruction_candidates({"step0.prompt.system": ["Proposed text."]})
    variable = proposed.extract_variables()["step0.prompt.system"]
    assert variable.choices["mine"] == "My own text." and variable.choices["proposed-1"] == "Proposed text."


def test_applied_values_survive_new_candidates(simple_chain: Runnable[Any, Any]) -> None:
    configured = LangChainAdapter(simple_chain).apply_configuration({"step1.model.temperature": 0.1})
    proposed = configured.with_instruction_candidates({"step0.prompt.system": ["Another text."]})
    assert proposed.configuration == {"step1.model.temperature": 0.1}


def test_a_study_proposes_stores_and_reuses(tmp_path: Path) -> None:
    chain = quiz_prompt() | QuizChatModel(temperature=0.2) | StrOutputParser()
    replies = [
        "Be careful: add the two numbers.",  # the system text the fake needs
        "You add numbers.",
        "Question: {question}. Be careful.",  # the human message keeps {question}
        "Please answer the sum.",  # drops {question}: refused for the human message
        "Answer {question} with {format}",  # a field the chain does not have: refused
        "Solve carefully: {question}",
    ]
    lm = ScriptedLM(replies, usage=Usage(calls=1, input_tokens=100, output_tokens=10, cost_usd=0.001))
    storage = f"sqlite:///{tmp_path}/s.db"
    study = create_study(study_name="quiz", storage=storage, seed=0)
    study.optimize(chain, quiz_dataset(4), quiz_metric, n_trials=8, propose=Proposer(lm=lm, n=2, max_calls=4))
    proposals = study.proposals
    assert proposals is not None
    assert proposals.candidates == {
        "step0.prompt.system": ["Be careful: add the two numbers.", "You add numbers."],
        "step0.prompt.human": ["Question: {question}. Be careful.", "Solve carefully: {question}"],
    }
    assert lm.calls == 6 and proposals.usage.calls == 6
    assert study.baseline is not None and study.baseline.values["score"] == 0.0
    assert study.best.values["score"] == 1.0  # only a proposed text says "careful"
    again = ScriptedLM(["unused"], cycle=True)
    load_study("quiz", storage=storage).optimize(
        chain, quiz_dataset(4), quiz_metric, n_trials=1, propose=Proposer(lm=again)
    )
    assert again.calls == 0
