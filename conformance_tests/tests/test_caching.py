"""check_a_repeated_study_pays_nothing: passes a cache that holds, names what a leaky one paid."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from stacktune_conformance.caching import check_a_repeated_study_pays_nothing


def study(calls: int, hits: int, input_tokens: int = 40) -> Any:
    evaluation = SimpleNamespace(calls=2, cache_hits=hits, input_tokens=input_tokens)
    trials = [SimpleNamespace(number=n, evaluation=evaluation) for n in range(3)]
    return SimpleNamespace(spent=SimpleNamespace(calls=calls), trials=trials)


def test_a_repeat_answered_from_the_cache_passes() -> None:
    runs = {"first": study(6, 0), "again": study(0, 2)}
    first, again = check_a_repeated_study_pays_nothing(runs.__getitem__)
    assert (first, again) == (runs["first"], runs["again"])


@pytest.mark.parametrize(
    ("runs", "culprit"),
    [
        ({"first": study(0, 0), "again": study(0, 2)}, "the first study made no call"),
        ({"first": study(6, 0), "again": study(3, 1)}, "the repeat paid 3 calls over 3 trials"),
        ({"first": study(6, 0), "again": study(0, 1)}, "trial 0: not all hits"),
        ({"first": study(6, 0), "again": study(0, 2, input_tokens=0)}, "trial 0: the stored answers' tokens are lost"),
    ],
)
def test_a_leaky_cache_is_named(runs: dict[str, Any], culprit: str) -> None:
    with pytest.raises(AssertionError, match=culprit):
        check_a_repeated_study_pays_nothing(runs.__getitem__)
