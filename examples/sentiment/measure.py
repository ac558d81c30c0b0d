"""Measure hand-picked configurations of the sentiment prompt on the real model.

    .venv/bin/python examples/sentiment/measure.py            # dev split, no cache
    .venv/bin/python examples/sentiment/measure.py --split test

Prints accuracy, mean latency and tokens per example for each configuration, so you can
see how much the knobs matter before running a study.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from task import INSTRUCTIONS, accuracy, load, make_model, make_prompt

from stacktune_prompt import PromptAdapter

CONFIGURATIONS: dict[str, dict[str, object]] = {
    "start (word, 2 demos, 8 tok)": {},
    "word, 0 demos": {"n_demos": 0},
    "sentence, 2 demos": {"parser": "sentence"},
    "sentence, 4 demos": {"parser": "sentence", "n_demos": 4},
    "sentence, 0 demos, 12 tok": {"parser": "sentence", "n_demos": 0, "max_tokens": 12},
    "sentence, 2 demos, 3 tok": {"parser": "sentence", "max_tokens": 3},
    "sentence, 2 demos, t=1.0": {"parser": "sentence", "temperature": 1.0},
    "assistant, 0 demos": {"instructions": 4, "n_demos": 0},
    "shop, sentence, 2 demos": {"instructions": 3, "parser": "sentence"},
    "decide, word, 3 demos (shuffle 1)": {"instructions": 2, "n_demos": 3, "demo_order": 1, "max_tokens": 4},
    "decide, word, 3 demos (given)": {"instructions": 2, "n_demos": 3, "max_tokens": 4},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="dev", choices=["train", "dev", "test"])
    parser.add_argument("--base-url", default=None)
    args = parser.parse_args()
    client = make_model(args.base_url)
    adapter = PromptAdapter(make_prompt(client, cache=False))
    space = adapter.extract_variables()
    print("variables:", ", ".join(f"{v.name}={v.default!r}" for v in space))
    examples = load(args.split)
    for name, changes in CONFIGURATIONS.items():
        configuration = dict(changes)
        if isinstance(configuration.get("instructions"), int):  # an index into INSTRUCTIONS
            text = INSTRUCTIONS[int(configuration["instructions"])]  # type: ignore[call-overload]
            configuration["instructions"] = space["instructions"].key_for(text)  # type: ignore[union-attr]
        if isinstance(configuration.get("demo_order"), int):  # an ordering number
            configuration["demo_order"] = adapter.prompt.demo_order_key(int(configuration["demo_order"]))  # type: ignore[call-overload]
        start = time.perf_counter()
        evaluation = adapter.apply_configuration(configuration).evaluate(examples, accuracy)
        usage = evaluation.usage
        print(
            f"{name:30s} accuracy {evaluation.score:.3f}  latency {usage.mean_latency:.3f}s/ex  "
            f"tokens {usage.total_tokens / len(examples):.0f}/ex  failures {evaluation.n_failures}  "
            f"({time.perf_counter() - start:.1f}s)",
            flush=True,
        )
    close = getattr(client, "close", None)
    if callable(close):
        close()  # free the weights before interpreter shutdown


if __name__ == "__main__":
    main()
