"""stacktune.study.idiom: routing an idiom's options and choosing the trial it hands back."""

from __future__ import annotations

import optuna
import pytest

from stacktune import StacktuneError, create_study
from stacktune.study.idiom import OPTIMIZE_OPTIONS, STUDY_OPTIONS, check_options, pick, search_and_choose
from stacktune.testing import ToyProgram, toy_dataset, toy_metric


def test_options_are_read_from_the_signatures() -> None:
    assert {"seed", "sampler", "search"} <= STUDY_OPTIONS and "study_name" not in STUDY_OPTIONS
    assert {"timeout", "budget", "max_concurrency"} <= OPTIMIZE_OPTIONS and "n_trials" not in OPTIMIZE_OPTIONS


def test_an_unknown_option_is_named_with_what_is_allowed() -> None:
    check_options({"seed": 1, "timeout": 2, "lm": None}, {"lm"}, caller="Tune", adapter="MyAdapter")
    with pytest.raises(TypeError, match=r"Tune got unknown option\(s\) \['n_trial'\].*of MyAdapter \['lm'\]"):
        check_options({"n_trial": 3}, {"lm"}, caller="Tune", adapter="MyAdapter")
    assert pick({"seed": 1, "timeout": 2}, STUDY_OPTIONS) == {"seed": 1}


def test_search_and_choose_verifies_on_the_valset_and_chooses() -> None:
    study = create_study(storage=optuna.storages.InMemoryStorage(), seed=0)
    chosen, verifications = search_and_choose(
        study, ToyProgram(), toy_dataset(8), toy_metric, n_trials=6, options={}, valset=toy_dataset(4), verify_top=2
    )
    assert len(verifications) == 2 and chosen.number in {v.number for v in verifications}
    assert chosen == study.choose(verifications)


def test_a_study_without_a_complete_trial_is_an_error_naming_it() -> None:
    study = create_study(study_name="empty", storage=optuna.storages.InMemoryStorage())
    with pytest.raises(StacktuneError, match="study 'empty' has no complete trial to return"):
        search_and_choose(study, ToyProgram(), toy_dataset(4), toy_metric, n_trials=0, options={})
