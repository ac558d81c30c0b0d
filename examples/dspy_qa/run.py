"""Tune a DSPy program with stacktune on the local SmolLM2 model.

    python examples/dspy_qa/run.py                  # starts SmolLM2-135M through llama.cpp
    python examples/dspy_qa/run.py --trials 30 --storage sqlite:///dspy_qa.db
    python examples/dspy_qa/run.py --base-url http://127.0.0.1:8080/v1
    python examples/dspy_qa/run.py --offline        # a scripted LM: checks the wiring in seconds

Prints every knob stacktune found on the program, scores the program as it is, runs a
study (accuracy and tokens per example), prints the Pareto front, then saves the best
configuration as a DSPy program (plus its stacktune sidecar) and loads it back.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Iterator, Sequence

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no internet needed

import dspy
import optuna

import stacktune
import stacktune_dspy
from stacktune import Categorical, Space
from stacktune_examples._shared import serving
from stacktune_examples.dspy_qa.program import DEV, CapitalQA, examples, names_the_city
from stacktune_examples.dspy_qa.task import lm_choices, make_optimizable


@contextlib.contextmanager
def endpoint(base_url: str | None, offline: bool) -> Iterator[str | None]:
    if offline:
        yield None
        return
    with serving(base_url) as url:
        yield url


def describe(space: Space) -> None:
    for variable in space:
        if isinstance(variable, Categorical):
            detail = f"{len(variable.keys)} choices, default {str(variable.default)[:30]!r}"
        else:
            detail = f"[{variable.low}, {variable.high}], default {variable.default}"
        condition = f"  when {dict(variable.when)}" if variable.when else ""
        print(f"  {variable.name:<28} {variable.kind:<12} {detail}{condition}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint serving 'smollm2'")
    parser.add_argument("--offline", action="store_true", help="use a scripted LM instead of a model")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--storage", default=None, help="an Optuna storage URL (default: in memory)")
    parser.add_argument("--concurrency", type=int, default=2, help="examples in flight per trial")
    parser.add_argument("--out", default="dspy_qa_best.json", help="where to save the best program")
    args = parser.parse_args(argv)

    with endpoint(args.base_url, args.offline) as base_url:
        lms = lm_choices(base_url, args.offline)
        tunable = make_optimizable(lms)
        space = tunable.extract_variables()
        print(f"{len(space)} variables on {type(tunable.program).__name__}:")
        describe(space)

        dataset = examples(DEV)
        baseline = tunable.evaluate(dataset, names_the_city, max_concurrency=args.concurrency)
        print(
            f"\nas written: accuracy {baseline.score:.2f}, {baseline.usage.total_tokens / len(dataset):.0f} "
            f"tokens/example, {baseline.n_failures} failures"
        )

        study = stacktune.create_study(
            storage=args.storage or optuna.storages.InMemoryStorage(), objectives=("score", "tokens"), seed=0
        )
        start = time.perf_counter()
        study.optimize(tunable, dataset, names_the_city, n_trials=args.trials, max_concurrency=args.concurrency)
        print(f"\n{args.trials} trials in {time.perf_counter() - start:.0f}s; Pareto front (accuracy vs tokens):")
        front = sorted(study.pareto_front(), key=lambda t: -t.values["score"])
        defaults = space.defaults()
        for trial in front:
            changed = {
                k: round(v, 2) if isinstance(v, float) else v
                for k, v in trial.configuration.items()
                if defaults.get(k) != v
            }
            print(
                f"  #{trial.number:<3} accuracy {trial.values['score']:.2f}  tokens {trial.values['tokens']:.0f}"
                f"  {changed}"
            )

        best = front[0].export(tunable)  # a plain DSPy program
        sidecar = stacktune_dspy.save(best, args.out)
        loaded = stacktune_dspy.load(
            CapitalQA(), args.out, allow_unsafe_lm_state=True, lm_kwargs={} if args.offline else {"api_key": "local"}
        )
        print(f"\nsaved {args.out} (+ {sidecar.name}); loaded back: {type(loaded.answer).__name__}")
        with stacktune_dspy.context(loaded), dspy.context(lm=lms["greedy"].build()):
            try:
                print("  What is the capital of Italy? ->", loaded(question="What is the capital of Italy?").answer)
            except Exception as error:  # noqa: BLE001 - a tiny model may not follow the format
                print(f"  the model's answer could not be parsed: {type(error).__name__}")


if __name__ == "__main__":
    main()
