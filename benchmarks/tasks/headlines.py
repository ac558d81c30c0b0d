"""The headlines task: which topic is a news headline about (sports, technology, food, politics)?

The benchmark's second task, next to the sentiment example. The data (headlines.jsonl) was
written for this project: 64 one-line headlines, 16 per topic, split into train (16, the demo
pool), dev (40, what the benchmark tables score) and test (8, spare). Four classes make
chance 25 %, and SmolLM2-135M's accuracy moves a lot with the instructions, the demos and
the answer format.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from stacktune_prompt import OutputFormat, Prompt, SearchRanges

HERE = Path(__file__).resolve().parent
LABELS = ("sports", "technology", "food", "politics")

INSTRUCTIONS = [
    "Classify the news headline into one topic: sports, technology, food or politics.",
    "What is this headline about? Choose sports, technology, food or politics.",
    "You are a news editor. Put the headline in the right section of the paper: sports, technology, food "
    "or politics.",
    "Read the headline and name its topic.",
    "You are a helpful assistant.",
]

_SYNONYMS = {
    "sport": "sports", "sports": "sports", "technology": "technology", "tech": "technology",
    "food": "food", "cooking": "food", "politics": "politics", "political": "politics",
}
_LABEL = re.compile(r"\b(" + "|".join(sorted(_SYNONYMS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def parse_topic(text: str) -> str | None:
    """The first topic word (or a close synonym) in the answer, or None (scored wrong)."""
    found = _LABEL.search(text)
    return _SYNONYMS[found.group(1).lower()] if found else None


def parse_letter(text: str) -> str | None:
    """A letter answer: A sports, B technology, C food, D politics; else a topic word."""
    found = re.search(r"\b([ABCD])\b", text)
    if found:
        return LABELS["ABCD".index(found.group(1))]
    return parse_topic(text)


FORMATS = {
    "word": OutputFormat(parse_topic, instructions="Answer with one word: sports, technology, food or politics.",
                         answer="{label}"),
    "sentence": OutputFormat(parse_topic, instructions="Answer with one sentence: The topic is <topic>.",
                             answer="The topic is {label}."),
    "letter": OutputFormat(parse_letter, instructions="Answer with one letter: A for sports, B for technology, "
                                                      "C for food, D for politics.",
                           answer="{letter}"),
}


def load(split: str | None = None) -> list[dict[str, Any]]:
    """The labelled headlines (with the letter of their label), optionally one split."""
    with (HERE / "headlines.jsonl").open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    for row in rows:
        row["letter"] = "ABCD"[LABELS.index(row["label"])]
    return [row for row in rows if split is None or row["split"] == split]


def accuracy(example: dict[str, Any], prediction: object) -> bool:
    return bool(prediction == example["label"])


def make_prompt(model: Any, *, cache: Any = False) -> Prompt:
    """The prompt whose knobs the benchmark grid sweeps."""
    return Prompt(
        instructions=INSTRUCTIONS[0],
        instruction_candidates=INSTRUCTIONS,
        template="Headline: {text}",
        model=model,
        parsers=FORMATS,
        parser="word",
        demos=load("train"),
        n_demos=0,
        max_demos=8,
        demo_orders=2,
        temperature=0.0,
        top_p=1.0,
        max_tokens=8,
        seed=0,
        ranges=SearchRanges(temperature=(0.0, 1.5), top_p=None, max_tokens=None, step=None),
        cache=cache,
    )
