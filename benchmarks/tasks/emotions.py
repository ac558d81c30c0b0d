"""The emotions task: which emotion does a sentence express (joy, anger, sadness, fear)?

The benchmark's held-out task: its table was recorded after stacktune's racing defaults
were chosen on the other two, so the comparison on it shows whether they carry over. The
data (emotions.jsonl) was written for this project: 64 sentences, 16 per emotion, split into
train (16, the demo pool), dev (40, what the table scores) and test (8, spare).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stacktune_prompt import OutputFormat, Prompt
from tasks import classification

HERE = Path(__file__).resolve().parent
LABELS = ("joy", "anger", "sadness", "fear")

INSTRUCTIONS = [
    "Classify the emotion of the sentence: joy, anger, sadness or fear.",
    "Which emotion does the writer feel? Choose joy, anger, sadness or fear.",
    "You are a psychologist. Name the feeling behind the sentence: joy, anger, sadness or fear.",
    "Read the sentence and describe how the writer feels.",
    "You are a helpful assistant.",
]

_SYNONYMS = {
    "joy": "joy",
    "happy": "joy",
    "happiness": "joy",
    "joyful": "joy",
    "anger": "anger",
    "angry": "anger",
    "furious": "anger",
    "sadness": "sadness",
    "sad": "sadness",
    "grief": "sadness",
    "fear": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fearful": "fear",
}
_LABEL = re.compile(r"\b(" + "|".join(sorted(_SYNONYMS, key=len, reverse=True)) + r")\b", re.IGNORECASE)


def parse_emotion(text: str) -> str | None:
    """The first emotion word (or a close synonym) in the answer, or None (scored wrong)."""
    found = _LABEL.search(text)
    return _SYNONYMS[found.group(1).lower()] if found else None


FORMATS = {
    "word": OutputFormat(
        parse_emotion, instructions="Answer with one word: joy, anger, sadness or fear.", answer="{label}"
    ),
    "sentence": OutputFormat(
        parse_emotion,
        instructions="Answer with one sentence: The emotion is <emotion>.",
        answer="The emotion is {label}.",
    ),
}


accuracy = classification.accuracy  # what the table scores: the predicted label is the example's


def load(split: str | None = None) -> list[dict[str, Any]]:
    """The labelled sentences, optionally one split."""
    return classification.read_split(HERE / "emotions.jsonl", split)


def make_prompt(model: Any, *, cache: Any = False) -> Prompt:
    """The prompt whose knobs the benchmark grid sweeps."""
    return classification.make_prompt(
        model, instructions=INSTRUCTIONS, parsers=FORMATS, template="Sentence: {text}", demos=load("train"), cache=cache
    )
