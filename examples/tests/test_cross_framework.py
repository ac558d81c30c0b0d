"""The cross_framework example offline: three frameworks in one study, on the fake server of fake.py."""

from __future__ import annotations

import optuna
import pytest
from click.testing import CliRunner

import stacktune
from stacktune import Alternatives, WiringError
from stacktune.cli import alternatives_summary, cli
from stacktune_examples.cross_framework import fake, task
from stacktune_examples.cross_framework.programs import DEV, HOLDOUT, examples, names_the_city
from stacktune_prompt import Prompt


def _study(name: str) -> stacktune.Study:
    return stacktune.create_study(
        study_name=name, storage=optuna.storages.InMemoryStorage(), objectives=("score", "tokens"), seed=0
    )


def test_one_study_tunes_three_frameworks_and_the_cheapest_right_one_wins() -> None:
    with fake.capitals_server() as url:
        programs = task.alternatives(url)
        study = _study("cross")
        study.optimize(programs, examples(DEV), names_the_city, n_trials=30)
        tried = {t.configuration["program"] for t in study.trials}
        assert tried == {"dspy", "langchain", "prompt"}
        front = study.pareto_front()
        assert front and all(t.configuration["program"] == "prompt" for t in front)  # as right, fewest tokens
        assert front[0].values["score"] == 1.0
        native = front[0].export(programs, check=True, examples=examples(HOLDOUT)[:2])
        assert isinstance(native, Prompt) and native.temperature <= 0.5
        summary = alternatives_summary(study)
        assert summary[-1].startswith("won: prompt")
        checks = study.verify(programs, examples(HOLDOUT), names_the_city)
        assert checks and all(c.heldout["score"] == 1.0 for c in checks)


@pytest.mark.parametrize("name", ["dspy", "langchain"])
def test_each_frameworks_export_is_checked_against_its_tuned_program(name: str) -> None:
    with fake.capitals_server() as url:
        programs = Alternatives(task.alternatives(url))
        temperature = next(v for v in programs.extract_variables().names if v.startswith(name) and "temperature" in v)
        tuned = programs.apply_configuration({"program": name, temperature: 0.0})
        stacktune.check_export(tuned, tuned.to_native(), examples(HOLDOUT)[:2], {temperature: 0.0})


@pytest.mark.parametrize("name", ["dspy", "langchain", "prompt"])
def test_each_framework_is_verified_on_held_out_questions(name: str) -> None:
    """verify re-evaluates what the search chose, in full, on held-out data, whichever framework it is."""
    with fake.capitals_server() as url:
        programs = Alternatives(task.alternatives(url))
        temperature = next(v for v in programs.extract_variables().names if v.startswith(name) and "temperature" in v)
        space = programs.extract_variables().fix(program=name, **{temperature: 0.0})
        study = stacktune.create_study(study_name=name, storage=optuna.storages.InMemoryStorage(), seed=0)
        study.optimize(programs, examples(DEV), names_the_city, space=space, n_trials=2, baseline=False)
        [check] = study.verify(programs, examples(HOLDOUT), names_the_city)
        assert check.configuration["program"] == name and check.evaluation.n_examples == len(HOLDOUT)
        assert check.search["score"] == check.heldout["score"] == 1.0 and check.gap == {"score": 0.0}


def test_bad_wiring_fails_before_a_single_request() -> None:
    with fake.capitals_server() as url:
        before = fake.requests_answered()
        wrong = [{"query": q["question"], "answer": q["answer"]} for q in examples(DEV)]
        with pytest.raises(WiringError, match="'question'") as caught:
            _study("wiring").optimize(task.alternatives(url), wrong, names_the_city, n_trials=3)
        assert caught.value.alternative == "dspy" and caught.value.field == "question"
        assert fake.requests_answered() == before


def test_the_task_runs_from_the_command_line_and_says_which_won(tmp_path: object) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "optimize",
            "cross_framework",
            "--option",
            "offline=true",
            "--trials",
            "12",
            "--storage",
            "sqlite:///" + str(tmp_path) + "/cf.db",
            "--seed",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best of each alternative" in result.output and "won: " in result.output
    assert "held out (6 examples)" in result.output


@pytest.mark.integration
def test_the_three_frameworks_on_the_real_local_model(local_server: object) -> None:
    """SmolLM2-135M behind llama.cpp's server: a short study, its front checked on held-out questions."""
    programs = task.alternatives(str(local_server.base_url))  # type: ignore[attr-defined]
    study = _study("cross-real")
    study.optimize(programs, examples(DEV), names_the_city, n_trials=6)
    complete = study.completed_trials()
    assert len({t.configuration["program"] for t in study.trials}) >= 2
    assert all(t.evaluation is not None and t.evaluation.calls > 0 for t in complete)
    summary = alternatives_summary(study)
    assert summary[-1].startswith("won: ")
    checks = study.verify(programs, examples(HOLDOUT), names_the_city)
    assert checks and all(c.evaluation.n_examples == len(HOLDOUT) for c in checks)
    print("\n".join(summary))
    for check in checks:
        print(
            f"trial {check.number} ({check.configuration['program']}): search {check.search} held out {check.heldout}"
        )
