"""Proposals for a DSPy program: each predictor's instructions as a site, candidates in the space, a study."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dspy
import optuna
import pytest

from stacktune import InvalidConfiguration, Proposer, Usage, create_study, load_study
from stacktune.testing import ScriptedLM
from stacktune_dspy import DSPyAdapter
from stacktune_dspy.testing import ScriptedEngine

optuna.logging.set_verbosity(optuna.logging.WARNING)

PROPOSED = [
    "Turn the question into a short search query.",
    "Answer with the capital city's name only.",
    "Rewrite the question as keywords.",
    "Give the capital, one word.",
]


def test_each_predictor_is_a_site_with_its_fields_and_place(program: Any, lm: dspy.LM) -> None:
    rewrite, answer = DSPyAdapter(program, lm=lm).instruction_sites()
    assert rewrite.name == "rewrite.instructions"
    assert rewrite.current == program.rewrite.signature.instructions
    assert (rewrite.inputs, rewrite.outputs) == (("question",), ("query",))
    assert "step 1 of 2 of the DSPy program QA: predictor 'rewrite' (a Predict at 'rewrite')" == rewrite.role
    assert answer.name == "answer.predict.instructions"
    assert (answer.inputs, answer.outputs) == (("question", "query"), ("reasoning", "answer"))
    assert "(a ChainOfThought at 'answer')" in answer.role


def test_candidates_reach_the_space_and_apply(program: Any, lm: dspy.LM, engine: ScriptedEngine) -> None:
    adapter = DSPyAdapter(program, lm=lm, swap_modules=False, instructions={"rewrite": ["Be brief."]})
    proposed = adapter.with_instruction_candidates(
        {"rewrite.instructions": PROPOSED[:1], "answer.predict.instructions": PROPOSED[1:2]}
    )
    space = proposed.extract_variables()
    rewrite = space["rewrite.instructions"]
    assert list(rewrite.choices.values()) == [program.rewrite.signature.instructions, "Be brief.", PROPOSED[0]]
    assert rewrite.resolve(rewrite.default) == program.rewrite.signature.instructions  # the current text stays
    answer = space["answer.predict.instructions"]
    applied = proposed.apply_configuration({"answer.predict.instructions": answer.key_for(PROPOSED[1])})
    assert applied.program.answer.predict.signature.instructions == PROPOSED[1]
    assert program.answer.predict.signature.instructions != PROPOSED[1]  # the original is untouched
    with pytest.raises(InvalidConfiguration, match="'nope.instructions': unknown site"):
        adapter.with_instruction_candidates({"nope.instructions": ["x"]})


def test_a_configured_copy_keeps_its_configuration(program: Any, lm: dspy.LM) -> None:
    adapter = DSPyAdapter(program, lm=lm, swap_modules=False)
    configured = adapter.apply_configuration({"rewrite.temperature": 0.3})
    proposed = configured.with_instruction_candidates({"rewrite.instructions": PROPOSED[:1]})
    assert proposed.configuration["rewrite.temperature"] == 0.3


def test_a_study_proposes_stores_and_reuses(
    program: Any, lm: dspy.LM, engine: ScriptedEngine, dataset: list[Any], metric: Any, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    adapter = DSPyAdapter(
        program, lm=lm, swap_modules=False, adapters=(), temperature=None, max_tokens=None, top_p=None
    )
    assert "rewrite.instructions" not in adapter.extract_variables()  # no candidates of its own: no knob yet
    proposer_lm = ScriptedLM(PROPOSED, usage=Usage(calls=1, input_tokens=500, output_tokens=40, cost_usd=0.003))
    study = create_study(study_name="qa", storage=storage, seed=0)
    study.optimize(adapter, dataset, metric, n_trials=6, propose=Proposer(lm=proposer_lm, n=2))
    assert proposer_lm.calls == 4
    assert "Examples of the task's data" in proposer_lm.prompts[0] and "Italy" in "".join(proposer_lm.prompts)
    assert "Inputs it reads: question, query" in proposer_lm.prompts[2]
    proposals = study.proposals
    assert proposals is not None
    assert proposals.candidates == {
        "rewrite.instructions": PROPOSED[:2],
        "answer.predict.instructions": PROPOSED[2:],
    }
    assert proposals.usage.cost_usd == pytest.approx(0.012)
    stored = {v["name"]: v for v in study.optuna_study.user_attrs["stacktune:space"]["variables"]}
    assert len(stored["rewrite.instructions"]["keys"]) == 3 and len(stored["answer.predict.instructions"]["keys"]) == 3
    systems = " ".join(call.system for call in engine.calls)
    assert any(text in systems for text in PROPOSED)  # some trial ran a proposed instruction
    again = ScriptedLM(["unused"], cycle=True)
    load_study("qa", storage=storage).optimize(adapter, dataset, metric, n_trials=1, propose=Proposer(lm=again))
    assert again.calls == 0
