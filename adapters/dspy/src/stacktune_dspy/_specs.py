"""LM choices as specs (a model string and keyword arguments), never as live objects.

A study stores a choice by key, and every trial builds its own ``dspy.LM`` from the
spec, so no two configurations share an LM's history or callbacks and nothing of
the user's LM object is ever changed. Secrets stay out of reprs (which is what a
study's storage records of a choice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dspy

from stacktune import redact, register_secrets_in

# What dspy.LM takes as named parameters besides the request kwargs it keeps in ``lm.kwargs``.
# (with dspy.LM's defaults, which a spec leaves out).
_LM_ATTRIBUTES: dict[str, Any] = {
    "model_type": "chat",
    "cache": True,
    "num_retries": 3,
    "use_developer_role": False,
    "finetuning_model": None,
}


@dataclass(frozen=True, eq=False, repr=False)
class LMSpec:
    """How to build a ``dspy.LM``: ``dspy.LM(model, **kwargs)``. ``name`` is its key in a space."""

    model: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"LMSpec.model must be a non-empty model string, got {self.model!r}")
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        if self.name is None:
            object.__setattr__(self, "name", self.model)
        register_secrets_in(self.kwargs)  # api_key, extra_headers={"X-Api-Key": ...}: masked wherever stored or printed

    __hash__ = None  # type: ignore[assignment]

    def build(self) -> dspy.LM:
        """A fresh ``dspy.LM`` (never shared with another configuration)."""
        return dspy.LM(self.model, **dict(self.kwargs))

    def public(self) -> dict[str, Any]:
        """The spec without secrets, JSON-friendly where the values are."""
        return {"model": self.model, "kwargs": redact(dict(self.kwargs))}

    def same_as(self, other: LMSpec) -> bool:
        """Same model and settings (the name, unset values and dspy.LM's defaults do not matter)."""
        return self.model == other.model and _normalized(self.kwargs) == _normalized(other.kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LMSpec) and self.name == other.name and self.same_as(other)

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in redact(dict(self.kwargs)).items())
        return f"LMSpec({self.name!r}: {self.model!r}{', ' + parts if parts else ''})"

    @classmethod
    def from_lm(cls, lm: Any, name: str | None = None) -> LMSpec:
        """The spec that rebuilds a plain ``dspy.LM`` (not subclasses: their constructors differ)."""
        if type(lm) is not dspy.LM:
            raise TypeError(
                f"cannot turn a {type(lm).__qualname__} into an LM spec: give an LMSpec, a model string, "
                f"a dict of dspy.LM arguments or a plain dspy.LM"
            )
        kwargs: dict[str, Any] = {k: v for k, v in lm.kwargs.items() if v is not None}
        for attribute, default in _LM_ATTRIBUTES.items():
            value = getattr(lm, attribute, default)
            if not _is_default(value, default):
                kwargs[attribute] = value
        engine = getattr(lm, "engine", "auto")
        if engine != "auto":
            kwargs["engine"] = engine
            if getattr(lm, "_async_engine_spec", None) is not None:
                kwargs["async_engine"] = lm._async_engine_spec
        # Reasoning models keep max_tokens as max_completion_tokens; dspy.LM takes max_tokens.
        if "max_completion_tokens" in kwargs and "max_tokens" not in kwargs:
            kwargs["max_tokens"] = kwargs.pop("max_completion_tokens")
        return cls(lm.model, kwargs, name=name)


def _is_default(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def _normalized(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    defaults = {**_LM_ATTRIBUTES, "engine": "auto"}
    return {k: v for k, v in kwargs.items() if v is not None and not (k in defaults and _is_default(v, defaults[k]))}


def as_spec(value: object, name: str | None = None) -> LMSpec:
    """An LMSpec from what users naturally pass: a spec, a model string, a dict, a ``dspy.LM``."""
    if isinstance(value, LMSpec):
        return value if name is None or name == value.name else LMSpec(value.model, value.kwargs, name=name)
    if isinstance(value, str):
        return LMSpec(value, name=name)
    if isinstance(value, Mapping):
        data = dict(value)
        model = data.pop("model", None)
        if not isinstance(model, str):
            raise ValueError(f"an LM spec dict needs a 'model' string, got {value!r}")
        return LMSpec(model, data, name=name)
    return LMSpec.from_lm(value, name=name)


def spec_choices(lms: Sequence[object] | Mapping[str, object]) -> dict[str, LMSpec]:
    """``{key: LMSpec}`` in order; keys are the mapping's keys or the specs' names (made unique)."""
    items: list[tuple[str | None, object]] = (
        [(str(k), v) for k, v in lms.items()] if isinstance(lms, Mapping) else [(None, v) for v in lms]
    )
    choices: dict[str, LMSpec] = {}
    for index, (key, value) in enumerate(items):
        spec = as_spec(value, key)
        label = spec.name or spec.model
        if label in choices or label == "current":
            label = f"{label}#{index}"
        choices[label] = spec if spec.name == label else LMSpec(spec.model, spec.kwargs, name=label)
    return choices


def spec_of_current(lm: object) -> LMSpec | None:
    """The spec of an LM a predictor holds now, when it is a plain ``dspy.LM``."""
    try:
        return LMSpec.from_lm(lm)
    except TypeError:
        return None


__all__ = ["LMSpec", "as_spec", "spec_choices", "spec_of_current"]
