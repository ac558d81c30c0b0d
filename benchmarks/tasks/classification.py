"""What the benchmark's classification tasks share: how their data is read, their metric, their prompt.

Each task (headlines, emotions) keeps its own labels, instructions, answer formats and data file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stacktune_prompt import OutputFormat, Prompt, SearchRanges


def read_split(path: Path, split: str | None = None) -> list[dict[str, Any]]:
    """The labelled rows of a JSON-lines file, optionally one split (train, dev or test)."""
    with path.open(encoding="utf-8") as lines:
        rows = [json.loads(line) for line in lines if line.strip()]
    return [row for row in rows if split is None or row["split"] == split]


def accuracy(example: dict[str, Any], prediction: object) -> bool:
    return bool(prediction == example["label"])


def make_prompt(
    model: Any,
    *,
    instructions: Sequence[str],
    parsers: Mapping[str, OutputFormat],
    template: str,
    demos: Sequence[Mapping[str, Any]],
    parser: str = "word",
    cache: Any = False,
) -> Prompt:
    """The prompt whose knobs the benchmark grid sweeps (it starts from the first instructions)."""
    return Prompt(
        instructions=instructions[0],
        instruction_candidates=list(instructions),
        template=template,
        model=model,
        parsers=dict(parsers),
        parser=parser,
        demos=list(demos),
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
