"""A Prompt among alternatives, its export checked against the tuned program, and its JSON round-trip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacktune import ExportMismatch, check_export
from stacktune_prompt import Prompt, PromptAdapter


def test_plain_examples_go_in_as_mappings_and_come_back_parsed(make_prompt: Callable[..., Prompt]) -> None:
    adapter = PromptAdapter(make_prompt())
    example = {"text": "great", "label": "positive"}
    converted = adapter.to_input(example)
    assert converted == example and converted is not example
    assert adapter.from_output("positive") == "positive"
    with pytest.raises(KeyError, match="text"):
        adapter.check_input({"review": "great"})


def test_the_export_sends_what_the_tuned_prompt_sends(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, Any]]
) -> None:
    tuned = PromptAdapter(make_prompt()).apply_configuration({"temperature": 0.0, "n_demos": 2, "max_tokens": 8})
    check_export(tuned, tuned.to_native(), examples[:2], {"temperature": 0.0, "n_demos": 2, "max_tokens": 8})


def test_an_export_that_lost_a_knob_is_caught_by_name(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, Any]]
) -> None:
    original = make_prompt()
    tuned = PromptAdapter(original).apply_configuration({"max_tokens": 8})
    with pytest.raises(ExportMismatch, match="'max_tokens'") as caught:
        check_export(tuned, original, examples[:1], {"max_tokens": 8})
    assert caught.value.knob == "max_tokens"


def test_a_tuned_prompt_round_trips_through_a_json_file(
    make_prompt: Callable[..., Prompt], examples: list[dict[str, Any]], tmp_path: Path
) -> None:
    space = PromptAdapter(make_prompt()).extract_variables()
    configuration = {"temperature": 0.0, "n_demos": 3, "max_tokens": 8, "parser": space["parser"].keys[-1]}  # type: ignore[union-attr]
    tuned = PromptAdapter(make_prompt()).apply_configuration(configuration)
    path = tuned.to_native().save(tmp_path / "prompt.json")
    loaded = Prompt.load(path, like=make_prompt())
    assert loaded.state() == tuned.to_native().state()
    check_export(tuned, loaded, examples[:2], configuration)


def test_loading_refuses_a_model_the_template_lacks(make_prompt: Callable[..., Prompt], tmp_path: Path) -> None:
    path = make_prompt().save(tmp_path / "prompt.json")
    path.write_text(path.read_text().replace('"model": "keyword-fake"', '"model": "gone"'))
    with pytest.raises(ValueError, match="'gone'"):
        Prompt.load(path, like=make_prompt())
