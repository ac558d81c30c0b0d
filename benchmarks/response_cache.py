"""What a repeated study pays with the study's response cache, measured side by side in one run.

    .venv/bin/python benchmarks/response_cache.py [--trials 20]

Two studies of the same Prompt (the offline ``KeywordSentimentModel``, which counts the calls
that reach it) with the same seed, in one SQLite storage in a temporary directory: the first
pays for its answers; the second, under ``Budget(calls=1)``, asks the same questions and finds
every answer in the study's cache (``stacktune_responses`` in the same database). It prints, for
each: the trials, the calls that reached the model, what the study spent and the cache hits.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import stacktune
from stacktune import Budget
from stacktune_prompt.testing import KeywordSentimentModel, label_in_answer, sentiment_examples, sentiment_prompt


def study(storage: str, name: str, trials: int, budget: Budget | None) -> str:
    """Run one study; a line of what it paid."""
    model = KeywordSentimentModel()
    prompt = sentiment_prompt(model)
    run = stacktune.create_study(study_name=name, storage=storage, seed=0)
    run.optimize(prompt, sentiment_examples(), label_in_answer, n_trials=trials, budget=budget)
    evaluated = [t.evaluation for t in run.trials if t.evaluation is not None]
    return (
        f"{name:>6}: {len(run.trials)} trials, {model.calls} calls reached the model, study.spent.calls="
        f"{run.spent.calls}, {sum(e.calls for e in evaluated)} calls in complete trials of which "
        f"{sum(e.cache_hits for e in evaluated)} cache hits"
    )


def main() -> None:
    """Both studies, one after the other, in a fresh directory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        os.chdir(directory)
        storage = f"sqlite:///{directory}/study.db"
        print(study(storage, "first", args.trials, None))
        print(study(storage, "repeat", args.trials, Budget(calls=1)))


if __name__ == "__main__":
    main()
