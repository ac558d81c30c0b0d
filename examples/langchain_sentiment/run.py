"""Tune a plain LangChain chain with stacktune on the local SmolLM2 model.

    python examples/langchain_sentiment/run.py                 # starts the local model's server
    python examples/langchain_sentiment/run.py --base-url URL  # any OpenAI-compatible server

Prints the knobs stacktune found on the chain, runs a study (accuracy and tokens), and
deploys the best configuration as a plain runnable.
"""

from __future__ import annotations

import argparse
import time

import optuna

import stacktune
from stacktune import Categorical, Float, Int, Space
from stacktune_examples._shared import serving
from stacktune_examples.langchain_sentiment.chain import accuracy, build_chain
from stacktune_examples.langchain_sentiment.data import split
from stacktune_examples.langchain_sentiment.task import make_optimizable
from stacktune_langchain import LangChainAdapter


def describe(space: Space) -> None:
    for variable in space:
        if isinstance(variable, Categorical):
            detail = f"{len(variable.keys)} choice(s), default {variable.default!r}"
        elif isinstance(variable, (Float, Int)):
            detail = f"[{variable.low}, {variable.high}], default {variable.default}"
        else:  # pragma: no cover - every stacktune variable is one of the three
            detail = ""
        condition = f"  when {variable.when}" if variable.when else ""
        print(f"  {variable.name:<48} {variable.kind:<12} {detail}{condition}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: start the local model)")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--storage", help="an Optuna storage URL (default: in memory)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    _, dev = split()
    with serving(args.base_url) as url:
        adapter = make_optimizable(url)
        print("variables found on the example chain:")
        describe(LangChainAdapter(build_chain(url)).extract_variables())
        print("\nsearched:")
        describe(adapter.extract_variables())

        study = stacktune.create_study(
            storage=args.storage or optuna.storages.InMemoryStorage(), objectives=["score", "tokens"], seed=args.seed
        )
        start = time.perf_counter()
        study.optimize(adapter, dev, accuracy, n_trials=args.trials, max_concurrency=2)
        elapsed = time.perf_counter() - start

        print(f"\n{args.trials} trials on {len(dev)} reviews in {elapsed:.0f}s. Pareto front (accuracy vs tokens):")
        for trial in study.pareto_front():
            shown = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in trial.configuration.items()}
            print(
                f"  #{trial.number:<3} accuracy {trial.values['score']:.2f}  tokens {trial.values['tokens']:.0f}  "
                f"{shown}"
            )
        scores = [t.values["score"] for t in study.completed_trials()]
        print(f"worst accuracy {min(scores):.2f}, best {max(scores):.2f}")

        best = max(study.completed_trials(), key=lambda t: (t.values["score"], -t.values["tokens"]))
        deployed = best.export(adapter)  # a plain runnable, used like the original chain
        review = "The handle snapped off while I was cooking."
        print(f"\nbest configuration deployed: {review!r} -> {deployed.invoke({'text': review})!r}")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
