"""The trivia task: short factual questions, scored by token F1 (a graded metric, not 0/1).

The benchmark's graded task, next to the 0/1 classification tables. The data (trivia.jsonl)
was written for this project: 58 short factual questions ("Who wrote Romeo and Juliet?")
with short reference answers ("William Shakespeare"), split into train (12, the demo pool),
dev (40, what the benchmark table scores) and test (6, spare). The score of an answer is
the token-level F1 between it and the closest reference (SQuAD's normalization: lower case,
no punctuation, no articles), so "Shakespeare" scores 0.67 and "The author is William
Shakespeare." 0.67 too: SmolLM2-135M is often partly right, and how much depends on the
instructions, the demos and how many tokens it may write.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stacktune_prompt import OutputFormat, Prompt, SearchRanges
from tasks import classification

HERE = Path(__file__).resolve().parent

INSTRUCTIONS = [
    "Answer the question with a short phrase.",
    "You are a quiz champion. Give only the answer, in as few words as possible.",
    "Answer the question.",
    "You are a helpful assistant.",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)
_PREFIX = re.compile(r"^\s*(answer|a)\s*:\s*", re.IGNORECASE)


def normalize(text: str) -> list[str]:
    """The answer's tokens as SQuAD compares them: lower case, no punctuation, no articles."""
    return _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION)).split()


def token_f1(prediction: str, reference: str) -> float:
    """Token-level F1 between two answers (1.0 when both are empty after normalization)."""
    predicted, expected = normalize(prediction), normalize(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_f1(prediction: str, references: Sequence[str]) -> float:
    """The F1 against the closest reference answer."""
    return max(token_f1(prediction, reference) for reference in references)


def f1(example: dict[str, Any], prediction: object) -> float:
    """What the table scores: the token F1 of the predicted answer (0 when there is none)."""
    if not isinstance(prediction, str):
        return 0.0
    return best_f1(prediction, example["answers"])


def parse_answer(text: str) -> str:
    """The answer: the first non-empty line, without an "Answer:" prefix."""
    for line in text.splitlines():
        if line.strip():
            return _PREFIX.sub("", line).strip()
    return ""


FORMATS = {
    "phrase": OutputFormat(parse_answer, instructions="Reply with the answer only.", answer="{answer}"),
}


def load(split: str | None = None) -> list[dict[str, Any]]:
    """The questions with their reference answers (``answer``: the first, shown in demos), optionally one split."""
    rows = classification.read_split(HERE / "trivia.jsonl", split)
    for row in rows:
        row["answer"] = row["answers"][0]
    return rows


def make_prompt(model: Any, *, cache: Any = False) -> Prompt:
    """The prompt whose knobs the benchmark grid sweeps (max_tokens among them)."""
    return Prompt(
        instructions=INSTRUCTIONS[0],
        instruction_candidates=list(INSTRUCTIONS),
        template="Question: {question}",
        model=model,
        parsers=dict(FORMATS),
        parser="phrase",
        demos=load("train"),
        n_demos=0,
        max_demos=8,
        demo_orders=2,
        temperature=0.0,
        top_p=1.0,
        max_tokens=16,
        seed=0,
        ranges=SearchRanges(temperature=(0.0, 1.5), top_p=None, max_tokens=(4, 64), step=None),
        cache=cache,
    )
