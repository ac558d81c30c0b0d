"""A check every adapter's response cache should pass on its real framework: a repeated study pays nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def check_a_repeated_study_pays_nothing(run: Callable[[str], Any]) -> tuple[Any, Any]:
    """Run the same study twice (``run(study_name) -> stacktune.Study``, same storage): the repeat pays 0 calls.

    Asserts the first spent calls; the repeat spent none, ran as many trials, and answered every
    complete trial from the cache (hits = calls > 0) with the stored answers' input tokens.
    Returns both studies for the caller's own checks.
    """
    first = run("first")
    assert first.spent.calls > 0, "the first study made no call: nothing to repeat"
    again = run("again")
    assert again.spent.calls == 0 and len(again.trials) == len(first.trials), (
        f"the repeat paid {again.spent.calls} calls over {len(again.trials)} trials (first: {len(first.trials)})"
    )
    for trial in again.trials:
        if trial.evaluation is not None:
            assert trial.evaluation.cache_hits == trial.evaluation.calls > 0, f"trial {trial.number}: not all hits"
            assert trial.evaluation.input_tokens > 0, f"trial {trial.number}: the stored answers' tokens are lost"
    return first, again


__all__ = ["check_a_repeated_study_pays_nothing"]
