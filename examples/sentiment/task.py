"""The sentiment task: is a short product or movie review positive or negative?

``stacktune optimize sentiment`` tunes :data:`prompt` (instructions, demos, answer format,
sampling) on the dev split with SmolLM2-135M running in-process. With
``--option base_url=http://127.0.0.1:PORT/v1`` it talks to an OpenAI-compatible server
instead (``--option model=...``, ``--option api_key_env=...`` for a hosted one).

The data (reviews.jsonl) was written for this project: 160 one-sentence reviews, half
positive, split into train (16, the demo pool), dev (40, what a study scores) and test
(104, held out).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from stacktune import Task, TaskSetup
from stacktune_prompt import FREE, Endpoint, OutputFormat, Prompt, SearchRanges

HERE = Path(__file__).resolve().parent
LABELS = ("positive", "negative")

INSTRUCTIONS = [
    "Classify the sentiment of the review as positive or negative.",
    "Is the following review positive or negative?",
    "Decide if the review is positive or negative.",
    "You are a friendly shop assistant. Reply to the customer's review in one short sentence.",
    "You are a helpful assistant.",
]

_LABEL = re.compile(r"\b(positive|negative)\b", re.IGNORECASE)


def parse_label(text: str) -> str | None:
    """The first 'positive' or 'negative' in the answer, or None (scored wrong)."""
    found = _LABEL.search(text)
    return found.group(1).lower() if found else None


#: Two ways to ask for the answer; the demos are written in the chosen one.
FORMATS = {
    "word": OutputFormat(parse_label, instructions="Answer with one word: positive or negative.", answer="{label}"),
    "sentence": OutputFormat(
        parse_label,
        instructions="Answer with one sentence: The review is positive. or The review is negative.",
        answer="The review is {label}.",
    ),
}


def load(split: str | None = None) -> list[dict[str, Any]]:
    """The labelled reviews, optionally one split (train, dev or test)."""
    with (HERE / "reviews.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if split is None or row["split"] == split]


def accuracy(example: dict[str, Any], prediction: object) -> bool:
    return prediction == example["label"]


def make_model(
    base_url: str | None = None, model: str | None = None, api_key_env: str | None = None, threads: int | None = None
) -> Any:
    """An endpoint when a base URL is given, else SmolLM2 in this process.

    In-process, the model runs on one thread unless ``threads`` (or STACKTUNE_LOCAL_THREADS)
    says otherwise: llama.cpp's spinning threads collapse when another process wants the
    same cores (the demo measured ten times slower with two threads on a busy 2-core
    machine), and one thread of a 135M model is quick enough for the demo.
    """
    if base_url:
        local = base_url.startswith(("http://127.0.0.1", "http://localhost"))
        return Endpoint(base_url, model or "smollm2", api_key_env=api_key_env, price=FREE if local else None)
    from stacktune_llamacpp import LocalModel

    if threads is None and not os.environ.get("STACKTUNE_LOCAL_THREADS"):
        threads = 1
    return LocalModel(n_threads=threads)


def make_prompt(model: Any, *, cache: Any = True) -> Prompt:
    """The starting point: a plausible first guess that the study improves on."""
    return Prompt(
        instructions=INSTRUCTIONS[0],
        instruction_candidates=INSTRUCTIONS,
        template="Review: {text}",
        model=model,
        parsers=FORMATS,
        parser="word",
        demos=load("train"),
        n_demos=2,
        max_demos=4,
        demo_orders=4,
        temperature=0.0,
        top_p=1.0,
        max_tokens=8,
        seed=0,
        ranges=SearchRanges(temperature=(0.0, 1.0), top_p=(0.5, 1.0), max_tokens=(2, 12), step=0.1),
        cache=cache,
    )


def build(
    base_url: str | None = None,
    model: str | None = None,
    api_key_env: str | None = None,
    cache_dir: str | None = None,
    threads: str | None = None,
    **unknown: Any,
) -> TaskSetup:
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)} for the sentiment task; known: {', '.join(task.options)}"
        )
    if threads is not None and not threads.isdigit():
        raise ValueError(f"option threads={threads!r} must be a positive whole number")
    client = make_model(base_url, model, api_key_env, int(threads) if threads else None)
    prompt = make_prompt(client, cache=cache_dir or True)
    dev, test = load("dev"), load("test")
    prompt.check_examples(dev)
    return TaskSetup(target=prompt, dataset=dev, metric=accuracy, holdout=test)


task = Task(
    name="sentiment",
    description="positive/negative reviews with SmolLM2 (the stacktune-prompt example)",
    build=build,
    objectives=("score", "latency"),
    options={
        "base_url": "an OpenAI-compatible server (default: SmolLM2 in-process)",
        "model": "the model name at base_url (default: smollm2)",
        "api_key_env": "environment variable holding the API key",
        "cache_dir": "the response cache (default: .stacktune-cache/)",
        "threads": "CPU threads of the in-process model (default: 1, or STACKTUNE_LOCAL_THREADS)",
    },
)
