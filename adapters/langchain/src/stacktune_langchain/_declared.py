"""Declared knobs: a runnable's ``config_specs`` as stacktune variables.

``configurable_alternatives`` and option fields become Categoricals with their keys (a
multi-option field one on/off Categorical per option, named ``id[option]``); numeric
``configurable_fields`` become Float/Int with bounds from their annotation or from
what is known about the parameter; an alternative's prefixed keys
(``llm==big/temperature``) are conditional on that alternative being chosen. Runtime
keys (``session_id``, ``thread_id``...) are not hyperparameters and are left out.
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable
from langchain_core.runnables.base import RunnableBindingBase
from langchain_core.runnables.utils import ConfigurableFieldSpec

from stacktune import Categorical, Variable
from stacktune_langchain._bounds import choice_values, numeric_kind, numeric_variable
from stacktune_langchain._tree import DeclaredField

#: Configurable keys that identify a run rather than tune it.
RUNTIME_KEYS = frozenset(
    {
        "session_id",
        "thread_id",
        "user_id",
        "conversation_id",
        "checkpoint_id",
        "checkpoint_ns",
        "run_id",
        "message_history",
        "history",
    }
)

#: The candidates for one knob: a list, or a ``{key: object}`` mapping (``Categorical.with_current`` takes both).
KnobCandidates = Sequence[object] | Mapping[Any, object]


@dataclass(frozen=True)
class DeclaredKnob:
    """One variable and the ``configurable`` key it sets (``option`` for multi-option fields).

    LangChain gets the choice object behind a Categorical's key (the key itself for
    alternatives and options).
    """

    variable: Variable
    config_id: str
    option: str | None = None
    unset: bool = False  # the runnable leaves it None: its default is a stand-in


def bound_configurable(runnable: Runnable[Any, Any]) -> dict[str, Any]:
    """The ``configurable`` values already bound on the runnable (``chain.with_config(...)``)."""
    current: dict[str, Any] = {}
    node: Any = runnable
    while isinstance(node, RunnableBindingBase):
        current = {**dict(node.config.get("configurable", {}) or {}), **current}
        node = node.bound
    return current


def conditions_of(config_id: str) -> dict[str, str]:
    """``a==x/b==y/t`` is active when ``a`` is ``x`` and ``a==x/b`` is ``y``."""
    segments = config_id.split("/")
    when: dict[str, str] = {}
    for index, segment in enumerate(segments[:-1]):
        if "==" in segment:
            which, key = segment.split("==", 1)
            when["/".join([*segments[:index], which])] = key
    return when


def _multi_enum(annotation: Any) -> list[Any] | None:
    if typing.get_origin(annotation) in (Sequence, list, tuple):
        args = typing.get_args(annotation)
        if len(args) == 1:
            return choice_values(args[0])
    return None


def declared_knobs(
    specs: Sequence[ConfigurableFieldSpec],
    fields: Mapping[str, DeclaredField],
    *,
    current: Mapping[str, Any],
    candidates: Mapping[str, KnobCandidates],
    bounds: Mapping[str, tuple[float, float]],
    runtime_keys: frozenset[str],
) -> tuple[list[DeclaredKnob], dict[str, str]]:
    """The declared knobs in sampling order (parents first), and the ids skipped with the reason."""
    knobs: list[DeclaredKnob] = []
    skipped: dict[str, str] = {}
    for spec in specs:
        value = current.get(spec.id, spec.default)
        if spec.id in runtime_keys or spec.id.rsplit("/", 1)[-1] in runtime_keys:
            skipped[spec.id] = "runtime key, not a hyperparameter"
            continue
        if spec.id in candidates:
            variable = Categorical.with_current(spec.id, candidates[spec.id], value, description=spec.description)
            knobs.append(DeclaredKnob(variable, spec.id))
            continue
        options = _multi_enum(spec.annotation)
        if options is not None:
            chosen = set(value or ())
            knobs += [
                DeclaredKnob(
                    Categorical(
                        f"{spec.id}[{option}]", [False, True], default=option in chosen, description=spec.description
                    ),
                    spec.id,
                    option=str(option),
                )
                for option in options
            ]
            continue
        values = choice_values(spec.annotation)
        if values is not None:
            default = value.value if isinstance(value, enum.Enum) else value
            variable = Categorical(
                spec.id, values, default=default if default in values else None, description=spec.description
            )
            knobs.append(DeclaredKnob(variable, spec.id))
            continue
        made = _numeric(spec, fields.get(spec.id), value, bounds.get(spec.id))
        if isinstance(made, str):
            skipped[spec.id] = made
        else:
            knobs.append(DeclaredKnob(made, spec.id, unset=value is None))
    return _conditioned(knobs), skipped


def _numeric(
    spec: ConfigurableFieldSpec, declared: DeclaredField | None, value: object, user_bounds: tuple[float, float] | None
) -> Variable | str:
    metadata: list[Any] = []
    field_name = spec.id.rsplit("/", 1)[-1]
    model = None
    if declared is not None:
        info = declared.owner.model_fields.get(declared.field_name)
        metadata = list(info.metadata) if info is not None else []
        field_name, model = declared.field_name, declared.target
    made = numeric_variable(
        spec.id,
        field_name,
        numeric_kind(spec.annotation, metadata),
        value,
        model=model,
        user_bounds=user_bounds,
        description=spec.description,
    )
    if made == "not a number":
        return f"{spec.annotation!r} is neither a number nor a choice: give them with candidates={{id: [...]}}"
    return made


def _conditioned(knobs: list[DeclaredKnob]) -> list[DeclaredKnob]:
    names = {k.variable.name for k in knobs if isinstance(k.variable, Categorical)}
    result = []
    for knob in knobs:
        when = {parent: key for parent, key in conditions_of(knob.config_id).items() if parent in names}
        variable = (
            knob.variable.model_copy(update={"when": {p: (k,) for p, k in when.items()}}) if when else knob.variable
        )
        result.append(DeclaredKnob(variable, knob.config_id, knob.option, knob.unset))
    return sorted(result, key=lambda k: len(k.variable.when or {}))


__all__ = ["RUNTIME_KEYS", "DeclaredKnob", "bound_configurable", "conditions_of", "declared_knobs"]
