"""The headlines task: which topic is a news headline about (sports, technology, food, politics)?

The benchmark's second task, next to the sentiment example. The data (headlines.jsonl) was
written for this project: 64 one-line headlines, 16 per topic, split into train (16, the demo
pool), dev (40, what the benchmark tables score) and test (8, spare). Four classes make
chance 25 %, and SmolLM2-135M's accuracy moves a lot with the instructions, the demos and
the answer format.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stacktune_prompt import OutputFormat, Prompt
from tasks import classification

HERE = Path(__file__).resolve().parent
LABELS = ("sports", "technology", "food", "politics")

INSTRUCTIONS = [
    "Classify the news headline into one topic: sports, technology, food or politics.",
    "What is this headline about? Choose sports, technology, food or politics.",
    "You are a news editor. Put the headline in the right section of the paper: sports, technology, food or politics.",
    "Read the headline and name its topic.",
    "You are a helpful assistant.",
]

_SYNONYMS = {
    "sport": "sports",
    "sports": "sports",
    "technology": "technology",
    "tech": "technology",
    "food": "food",
    "cooking": "food",
    "politics": "politics",
    "political": "politics",
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
    "word": OutputFormat(
        parse_topic, instructions="Answer with one word: sports, technology, food or politics.", answer="{label}"
    ),
    "sentence": OutputFormat(
        parse_topic, instructions="Answer with one sentence: The topic is <topic>.", answer="The topic is {label}."
    ),
    "letter": OutputFormat(
        parse_letter,
        instructions="Answer with one letter: A for sports, B for technology, C for food, D for politics.",
        answer="{letter}",
    ),
}


accuracy = classification.accuracy  # what the table scores: the predicted label is the example's


def load(split: str | None = None) -> list[dict[str, Any]]:
    """The labelled headlines (with the letter of their label), optionally one split."""
    rows = classification.read_split(HERE / "headlines.jsonl", split)
    for row in rows:
        row["letter"] = "ABCD"[LABELS.index(row["label"])]
    return rows


def make_prompt(model: Any, *, cache: Any = False) -> Prompt:
    """The prompt whose knobs the benchmark grid sweeps."""
    return classification.make_prompt(
        model, instructions=INSTRUCTIONS, parsers=FORMATS, template="Headline: {text}", demos=load("train"), cache=cache
    )
