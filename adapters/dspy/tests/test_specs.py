"""LM specs: rebuilt from a dspy.LM, compared by settings, never showing secrets."""

from __future__ import annotations

import dspy
import pytest

from stacktune_dspy import LMSpec
from stacktune_dspy._specs import as_spec, spec_choices


def test_spec_round_trips_through_a_built_lm() -> None:
    spec = LMSpec(
        "openai/local",
        {
            "api_base": "http://127.0.0.1:9/v1",
            "api_key": "k",
            "engine": "litellm",
            "cache": False,
            "num_retries": 0,
            "temperature": 0.0,
            "max_tokens": 32,
        },
    )
    lm = spec.build()
    assert isinstance(lm, dspy.LM) and lm is not spec.build()
    again = LMSpec.from_lm(lm)
    assert again.same_as(spec) and spec.same_as(again)
    assert not spec.same_as(LMSpec("openai/local", {**spec.kwargs, "temperature": 0.5}))


def test_defaults_and_unset_values_do_not_matter() -> None:
    assert LMSpec("openai/a", {"cache": True, "temperature": None}).same_as(LMSpec.from_lm(dspy.LM("openai/a")))


def test_secrets_stay_out_of_reprs_and_public_views() -> None:
    spec = LMSpec("openai/a", {"api_key": "sk-secret", "api_base": "http://x"}, name="a")
    assert "sk-secret" not in repr(spec) and "http://x" in repr(spec)
    assert spec.public() == {"model": "openai/a", "kwargs": {"api_key": "***", "api_base": "http://x"}}


def test_as_spec_accepts_what_users_pass() -> None:
    assert as_spec("openai/a").model == "openai/a"
    assert as_spec({"model": "openai/b", "temperature": 0.2}).kwargs == {"temperature": 0.2}
    assert as_spec(dspy.LM("openai/c", temperature=0.1)).kwargs["temperature"] == 0.1
    with pytest.raises(ValueError, match="'model' string"):
        as_spec({"temperature": 0.2})
    with pytest.raises(TypeError, match="DummyLM"):
        as_spec(dspy.utils.DummyLM([]))


def test_choice_keys_are_unique_and_never_current() -> None:
    choices = spec_choices(["openai/a", "openai/a", {"model": "openai/b"}])
    assert list(choices) == ["openai/a", "openai/a#1", "openai/b"]
    assert list(spec_choices({"current": "openai/a"})) == ["current#0"]
