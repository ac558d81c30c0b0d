"""Configurations in words, from the space a study stores."""

from __future__ import annotations

import json

from stacktune import Categorical, Float, Int, Space
from stacktune.readable import LINE_CHARS, ReadableSpace
from stacktune.testing import LONG_INSTRUCTIONS

DEMOS = [{"text": "Great.", "label": "positive"}]


class Seed:
    name = "seed-1"


def readable() -> ReadableSpace:
    space = Space(
        [
            Categorical("instructions", list(LONG_INSTRUCTIONS)),
            Categorical("order", {"shuffle-1@ab": 1, "given@ab": 0}),
            Categorical("demos", {"two": DEMOS, "none": []}),
            Categorical("component", [Seed()]),
            Float("temperature", 0.0, 1.5, description="sampling temperature"),
            Int("max_tokens", 1, 64),
        ]
    )
    return ReadableSpace(json.loads(space.to_json()))  # what a study stores, read back


def test_a_long_text_is_shown_whole_not_its_key() -> None:
    key = Categorical("instructions", list(LONG_INSTRUCTIONS)).keys[1]
    assert "#" in str(key)
    assert readable().value("instructions", key) == LONG_INSTRUCTIONS[1]


def test_numbers_and_opaque_objects_behind_keys_are_shown_by_their_key() -> None:
    assert readable().value("order", "shuffle-1@ab") == "shuffle-1@ab"
    assert readable().value("component", "seed-1") == "seed-1"


def test_a_demo_set_is_shown_as_compact_json() -> None:
    assert readable().value("demos", "two") == '[{"text": "Great.", "label": "positive"}]'
    assert readable().value("demos", "none") == "[]"


def test_numbers_are_written_shortly_and_unknown_names_as_stored() -> None:
    assert readable().value("temperature", 0.123456789) == "0.1235"
    assert readable().value("max_tokens", 8) == "8"
    assert readable().value("not-in-the-space", "x") == "x"
    assert ReadableSpace(None).value("instructions", "key#1") == "key#1"


def test_labels_carry_the_description() -> None:
    assert readable().label("temperature") == "temperature: sampling temperature"
    assert readable().label("max_tokens") == "max_tokens"


def test_one_line_shortens_each_value_and_the_whole() -> None:
    key = Categorical("instructions", list(LONG_INSTRUCTIONS)).keys[0]
    line = readable().line({"instructions": key, "temperature": 0.5}, limit=30)
    assert line == "instructions=You are a careful reviewer. R… · temperature=0.5"
    many = readable().line({f"v{i}": "x" * 50 for i in range(40)})
    assert len(many) == LINE_CHARS and many.endswith("…")
