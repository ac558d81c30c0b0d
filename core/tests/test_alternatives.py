"""Alternatives: several programs as one Optimizable (namespaced conditional space, delegation, wiring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
import pytest

import stacktune
from stacktune import Alternative, Alternatives, InvalidConfiguration, WiringError, create_study
from stacktune._alternatives import PROGRAM
from stacktune.testing import LONG_INSTRUCTIONS, ToyProgram, ToyPrompt


def plain_dataset(n: int = 8) -> list[dict[str, Any]]:
    """One plain-mapping dataset both toys can read: a difficulty for ToyProgram, id/text/label for ToyPrompt."""
    return [{"difficulty": (i + 0.5) / n, "id": i, "text": f"review {i}", "label": "positive"} for i in range(n)]


def plain_metric(example: Mapping[str, Any], value: object) -> float:
    """Right label for the prompt; quality reaching the difficulty for the toy program."""
    if isinstance(value, float):
        return 1.0 if value >= example["difficulty"] else 0.0
    return 1.0 if value == example["label"] else 0.0


def make() -> Alternatives:
    return stacktune.alternatives(
        {
            "toy": Alternative(ToyProgram(), to_input=lambda example: example["difficulty"]),
            "prompt": ToyPrompt(),
        }
    )


def test_space_has_a_program_choice_and_namespaced_conditional_knobs() -> None:
    space = make().extract_variables()
    assert space.names[0] == PROGRAM
    assert space[PROGRAM].keys == ("toy", "prompt")  # type: ignore[union-attr]
    assert "toy/temperature" in space and "prompt/temperature" in space
    assert space["toy/temperature"].when == {PROGRAM: ("toy",)}
    # a condition inside an alternative keeps its parent, namespaced
    assert space["toy/steps"].when == {PROGRAM: ("toy",), "toy/strategy": ("cot",)}
    assert space.defaults()[PROGRAM] == "toy"
    assert "prompt/temperature" not in space.defaults()  # inactive under the default choice


def test_apply_configures_the_chosen_alternative_only() -> None:
    chosen = make().apply_configuration({PROGRAM: "prompt", "prompt/temperature": 0.1})
    assert chosen.chosen == "prompt"
    assert isinstance(chosen["prompt"], ToyPrompt) and chosen["prompt"].temperature == 0.1
    assert chosen["toy"].extract_variables().defaults()["temperature"] == 0.7  # untouched
    assert chosen.extract_variables().defaults()["prompt/temperature"] == 0.1
    assert chosen.extract_variables()[PROGRAM].default == "prompt"  # type: ignore[union-attr]


def test_a_knob_of_another_alternative_is_refused_by_name() -> None:
    with pytest.raises(InvalidConfiguration, match="prompt/temperature"):
        make().apply_configuration({PROGRAM: "toy", "prompt/temperature": 0.1})


def test_constraints_of_an_alternative_apply_only_under_its_choice() -> None:
    space = make().extract_variables()
    with pytest.raises(InvalidConfiguration, match="toy/no_rambling_cot"):
        space.validate_configuration({PROGRAM: "toy", "toy/strategy": "cot", "toy/style": "rambling"})
    space.validate_configuration({PROGRAM: "prompt"})  # the toy's rule does not bind the prompt


def test_evaluate_delegates_and_scores_the_plain_examples() -> None:
    data = plain_dataset()
    toy = make().apply_configuration({PROGRAM: "toy", "toy/temperature": 0.2})
    direct = ToyProgram(temperature=0.2).evaluate([e["difficulty"] for e in data], lambda d, q: q >= d)
    assert toy.evaluate(data, plain_metric).scores == direct.scores
    program = make()
    key = program.extract_variables()["prompt/instructions"].key_for(LONG_INSTRUCTIONS[1])  # type: ignore[union-attr]
    prompt = program.apply_configuration({PROGRAM: "prompt", "prompt/instructions": key})
    evaluation = prompt.evaluate(data, plain_metric)
    assert evaluation.score == 1.0 and evaluation.usage.calls == len(data)


def test_from_output_turns_predictions_into_plain_values() -> None:
    seen: list[object] = []

    def metric(example: Mapping[str, Any], value: object) -> float:
        seen.append(value)
        return 1.0

    program = Alternatives({"prompt": Alternative(ToyPrompt(), from_output=str.upper)})
    program.evaluate(plain_dataset(2), metric)
    assert seen and all(isinstance(v, str) and v.isupper() for v in seen)


def test_bad_wiring_fails_before_anything_runs_naming_alternative_and_field() -> None:
    toy = ToyProgram()
    program = Alternatives({"toy": Alternative(toy, to_input=lambda example: example["difficulty"]), "p": ToyPrompt()})
    study = create_study(study_name="wiring", storage=optuna.storages.InMemoryStorage())
    with pytest.raises(WiringError, match="'toy'.*'difficulty'") as caught:
        study.optimize(program, [{"id": 0, "label": "positive"}], plain_metric, n_trials=1)
    assert caught.value.alternative == "toy" and caught.value.field == "difficulty"
    assert toy.counter.count == 0 and not study.optuna_study.trials


def test_to_input_must_give_each_example_its_own_object() -> None:
    shared = {"x": 1}
    program = Alternatives({"prompt": Alternative(ToyPrompt(), to_input=lambda example: shared)})
    with pytest.raises(WiringError, match="same object"):
        program.evaluate(plain_dataset(2), plain_metric)


@pytest.mark.parametrize("name", ["", "a/b", PROGRAM])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="alternative name"):
        Alternatives({name: ToyPrompt()})


def test_a_mapping_is_alternatives_for_optimizable_and_export() -> None:
    programs = {"toy": Alternative(ToyProgram(), to_input=lambda e: e["difficulty"]), "prompt": ToyPrompt()}
    assert isinstance(stacktune.optimizable(programs), Alternatives)
    study = create_study(
        study_name="mapping", storage=optuna.storages.InMemoryStorage(), objectives=["score", "cost"], seed=0
    )
    study.optimize(programs, plain_dataset(), plain_metric, n_trials=12)
    chosen = {t.configuration[PROGRAM] for t in study.trials}
    assert chosen == {"toy", "prompt"}
    best = study.pareto_front()[0]
    native = best.export(programs)
    assert isinstance(native, ToyPrompt if best.configuration[PROGRAM] == "prompt" else ToyProgram)


def test_the_default_sampler_groups_the_conditional_space() -> None:
    study = create_study(study_name="grouped", storage=optuna.storages.InMemoryStorage(), seed=1)
    sampler = study.optuna_study.sampler
    base = getattr(sampler, "base", sampler)
    assert isinstance(base, optuna.samplers.TPESampler)
    assert base._group and base._multivariate
    study.optimize(make(), plain_dataset(), plain_metric, n_trials=25)
    assert all(t.state in ("complete", "pruned") for t in study.trials)


@pytest.mark.parametrize("seed", [0, 2])
def test_a_much_worse_alternative_loses_its_share(seed: int) -> None:
    """After TPE's random start-up trials, the program that always fails is proposed far less."""
    programs = {"bad": Alternative(ToyPrompt(), from_output=lambda value: "wrong"), "good": ToyPrompt()}
    study = create_study(study_name="share", storage=optuna.storages.InMemoryStorage(), seed=seed)
    study.optimize(programs, plain_dataset(20), plain_metric, n_trials=40)
    chosen = [t.configuration[PROGRAM] for t in study.trials]
    start, later = chosen[:15], chosen[15:]
    assert later.count("bad") / len(later) < 0.25 < start.count("bad") / len(start)


class TestProposals:
    """``optimize(propose=...)`` on alternatives: each framework's instructions get candidates in one study."""

    def programs(self) -> dict[str, Any]:
        from core.tests.test_proposals import Instructed, NoSites

        return {"a": Instructed(), "b": Instructed("Say the label."), "c": NoSites()}

    def test_sites_are_namespaced_and_candidates_reach_each_alternative(self) -> None:
        together = Alternatives(self.programs())
        sites = together.instruction_sites()
        assert [s.name for s in sites] == ["a/instructions", "b/instructions"], "c takes no proposals"
        assert sites[1].current == "Say the label." and "alternative 'b'" in sites[1].role
        proposed = together.with_instruction_candidates({"b/instructions": ["Label it carefully."]})
        space = proposed.extract_variables()
        assert "b/instructions" in space and "a/instructions" not in space
        assert "Label it carefully." in space["b/instructions"].choices.values()

    def test_a_site_no_alternative_has_is_named(self) -> None:
        with pytest.raises(InvalidConfiguration, match="'z/instructions': no alternative has it"):
            Alternatives(self.programs()).with_instruction_candidates({"z/instructions": ["x"]})

    def test_alternatives_none_of_which_take_proposals_are_named(self) -> None:
        from core.tests.test_proposals import NoSites

        with pytest.raises(TypeError, match=r"none of \['x: NoSites'\] has instruction_sites"):
            Alternatives({"x": NoSites()}).instruction_sites()

    def test_a_study_proposes_for_every_alternative_and_finds_the_better_text(self) -> None:
        from core.tests.test_proposals import accuracy, reviews
        from stacktune.testing import ScriptedLM

        lm = ScriptedLM(["Label the review carefully."] * 2, usage=stacktune.Usage(calls=1, input_tokens=50))
        study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(self.programs(), reviews(), accuracy, n_trials=12, propose=stacktune.Proposer(lm=lm, n=1))
        proposals = study.proposals
        assert proposals is not None and set(proposals.sites) == {"a/instructions", "b/instructions"}
        assert study.best.values["score"] == 1.0
        best = study.best.configuration
        assert "carefully" in str(best[f"{best['program']}/instructions"])
        assert study.spent.calls >= 2 and lm.prompts and "alternative 'a'" in lm.prompts[0]
