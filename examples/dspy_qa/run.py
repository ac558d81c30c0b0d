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
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no internet needed

import dspy
import optuna

import stacktune
import stacktune_dspy
from stacktune import Categorical, Space
from stacktune_dspy import DSPyAdapter, LMSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from program import DEV, INSTRUCTION_CANDIDATES, TRAIN, CapitalQA, examples, names_the_city


@contextlib.contextmanager
def endpoint(base_url: str | None, offline: bool) -> Iterator[str | None]:
    if offline or base_url:
        yield base_url
        return
    from stacktune_llamacpp import serve

    print("starting the local model's server (SmolLM2-135M through llama.cpp)...", flush=True)
    with serve() as server:
        yield server.base_url


def lm_choices(base_url: str | None, offline: bool) -> dict[str, LMSpec]:
    """The LMs to choose from, as specs. With one local model: greedy or sampled decoding."""
    endpoint_kwargs: dict[str, Any]
    if offline:
        from stacktune_dspy.testing import ScriptedEngine

        def respond(prompt: str, fields: Sequence[str]) -> dict[str, str]:
            city = next((c for country, c in {**DEV, **TRAIN}.items() if country in prompt), "unknown")
            return {name: (city if name == "answer" else "It is well known.") for name in fields}

        model, endpoint_kwargs = "scripted/capitals", {"engine": ScriptedEngine(respond)}
    else:
        model, endpoint_kwargs = "openai/smollm2", {"api_base": base_url, "api_key": "local"}
    common = {**endpoint_kwargs, "cache": False, "num_retries": 0}
    return {name: LMSpec(model, {**common, "temperature": temperature}, name=name)
            for name, temperature in (("greedy", 0.0), ("sampled", 0.7))}


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
        program = CapitalQA()
        tunable = DSPyAdapter(
            program, lm=lms["greedy"], lms=lms, trainset=examples(TRAIN), max_demos=3,
            instructions={"*": INSTRUCTION_CANDIDATES}, max_tokens=(16, 160),
        )
        space = tunable.extract_variables()
        print(f"{len(space)} variables on {type(program).__name__}:")
        describe(space)

        dataset = examples(DEV)
        baseline = tunable.evaluate(dataset, names_the_city, max_concurrency=args.concurrency)
        print(f"\nas written: accuracy {baseline.score:.2f}, {baseline.usage.total_tokens / len(dataset):.0f} "
              f"tokens/example, {baseline.n_failures} failures")

        study = stacktune.create_study(storage=args.storage or optuna.storages.InMemoryStorage(),
                                       objectives=("score", "tokens"), seed=0)
        start = time.perf_counter()
        study.optimize(tunable, dataset, names_the_city, n_trials=args.trials, max_concurrency=args.concurrency)
        print(f"\n{args.trials} trials in {time.perf_counter() - start:.0f}s; Pareto front (accuracy vs tokens):")
        front = sorted(study.pareto_front(), key=lambda t: -t.values["score"])
        defaults = space.defaults()
        for trial in front:
            changed = {k: round(v, 2) if isinstance(v, float) else v
                       for k, v in trial.configuration.items() if defaults.get(k) != v}
            print(f"  #{trial.number:<3} accuracy {trial.values['score']:.2f}  tokens {trial.values['tokens']:.0f}"
                  f"  {changed}")

        best = front[0].export(tunable)  # a plain DSPy program
        sidecar = stacktune_dspy.save(best, args.out)
        loaded = stacktune_dspy.load(CapitalQA(), args.out, allow_unsafe_lm_state=True,
                                     lm_kwargs={} if args.offline else {"api_key": "local"})
        print(f"\nsaved {args.out} (+ {sidecar.name}); loaded back: {type(loaded.answer).__name__}")
        with stacktune_dspy.context(loaded), dspy.context(lm=lms["greedy"].build()):
            try:
                print("  What is the capital of Italy? ->", loaded(question="What is the capital of Italy?").answer)
            except Exception as error:  # noqa: BLE001 - a tiny model may not follow the format
                print(f"  the model's answer could not be parsed: {type(error).__name__}")


if __name__ == "__main__":
    main()
