"""Turning a configuration into a new DSPy program, leaving the original untouched.

Everything happens on ``program.deepcopy()``. DSPy's deepcopy shares signature
*classes* with the original, so instructions and field descriptions are changed by
assigning a new signature (``with_instructions`` / ``with_updated_fields``), never by
mutating one; demos, configs and LMs get new objects too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, cast

import dspy

from stacktune import Categorical, leaves_unset
from stacktune.knobs import demo_ordering
from stacktune_dspy._discovery import ModuleKind, PredictorInfo, get_path, predictor_at, set_path, site_kind
from stacktune_dspy._knobs import CURRENT, POOL, REASONING, Knob, KnobMap
from stacktune_dspy._options import SETTINGS
from stacktune_dspy._specs import LMSpec


def _copy_state(source: dspy.Predict, target: dspy.Predict) -> None:
    target.demos = [_copy_demo(d) for d in source.demos]
    target.lm = source.lm
    target.config = dict(source.config)
    target.traces = list(source.traces)
    target.train = list(source.train)
    target.callbacks = list(source.callbacks)


def _copy_demo(demo: Any) -> Any:
    return demo.copy() if hasattr(demo, "copy") else copy.deepcopy(demo)


def swap(program: dspy.Module, site: str, kind: ModuleKind) -> dspy.Module:
    """Put a ``Predict`` or ``ChainOfThought`` with the same signature and state at ``site``."""
    current = get_path(program, site)
    if site_kind(program, site) == kind:
        return program
    replacement: dspy.Module
    if kind == "cot":
        old = cast(dspy.Predict, current)
        cot = dspy.ChainOfThought(old.signature)
        _copy_state(old, cot.predict)
        cot.predict.fields = copy.deepcopy(old.fields)
        replacement = cot
    else:
        inner = cast(dspy.ChainOfThought, current).predict
        plain = dspy.Predict(inner.signature.delete(REASONING))
        _copy_state(inner, plain)
        plain.fields = {k: v for k, v in copy.deepcopy(inner.fields).items() if k != REASONING}
        replacement = plain
    replacement._compiled = bool(getattr(current, "_compiled", False))
    return set_path(program, site, replacement)


def _draw(pool: list[Any], n: int, order: int) -> list[Any]:
    """Copies of the first ``n`` demos of the pool in one of the catalogue's orderings."""
    return [_copy_demo(pool[i]) for i in demo_ordering(len(pool), order)[:n]]


class _LMs:
    """One fresh dspy.LM per spec per built program."""

    def __init__(self, specs: Mapping[str, LMSpec]) -> None:
        self.specs = specs
        self.built: dict[str, dspy.LM] = {}

    def get(self, key: str) -> dspy.LM:
        if key not in self.built:
            self.built[key] = self.specs[key].build()
        return self.built[key]


#: Roles whose choice keys stand for objects (texts, demo lists, orderings); the others' keys are used as they are.
_RESOLVED_ROLES = ("instructions", "reasoning", "demos", "demo_order")


def _resolve(knob_map: KnobMap, knob: Knob, key: Any) -> Any:
    """The object behind ``key`` (through the space's Categorical) for roles whose choices are objects."""
    return cast(Categorical, knob_map.space[knob.name]).resolve(key) if knob.role in _RESOLVED_ROLES else key


def build_program(base: dspy.Module, knob_map: KnobMap, values: Mapping[str, Any]) -> dspy.Module:
    """A deep copy of ``base`` with ``values`` (a complete, validated configuration) applied."""
    program = base.deepcopy()
    for knob in knob_map.knobs:
        if knob.role == "module" and knob.name in values:
            site = cast(PredictorInfo, knob.predictor).site
            program = swap(program, cast(str, site), cast(ModuleKind, values[knob.name]))
    lms = _LMs(knob_map.specs)
    by_predictor: dict[str, list[Knob]] = {}
    for knob in knob_map.knobs:
        if knob.predictor is not None:
            by_predictor.setdefault(knob.predictor.path, []).append(knob)
        elif knob.role == "lm" and values.get(knob.name, CURRENT) != CURRENT:
            lm = lms.get(str(values[knob.name]))
            for info in knob_map.predictors:
                predictor_at(program, info).lm = lm
    for knobs in by_predictor.values():
        info = cast(PredictorInfo, knobs[0].predictor)
        predictor = predictor_at(program, info)
        given = {k.role if k.role != "setting" else cast(str, k.setting): k for k in knobs if k.name in values}
        resolved = {
            role: _resolve(knob_map, k, values[k.name])
            for role, k in given.items()
            if not leaves_unset(k.stand_in, values[k.name])
        }
        _apply_predictor(predictor, resolved, knob_map.pools.get(info.path, []), lms)
    return program


def _apply_predictor(predictor: dspy.Predict, resolved: Mapping[str, Any], pool: list[Any], lms: _LMs) -> None:
    if "instructions" in resolved and resolved["instructions"] != predictor.signature.instructions:
        predictor.signature = predictor.signature.with_instructions(resolved["instructions"])
    if "reasoning" in resolved and REASONING in predictor.signature.output_fields:
        desc = resolved["reasoning"]
        if predictor.signature.fields[REASONING].json_schema_extra.get("desc") != desc:
            predictor.signature = predictor.signature.with_updated_fields(REASONING, desc=desc)
    if "demos" in resolved:
        choice = resolved["demos"]
        if choice == POOL:
            predictor.demos = _draw(pool, int(resolved.get("n_demos", len(pool))), int(resolved.get("demo_order", 0)))
        else:
            predictor.demos = [_copy_demo(d) for d in choice]
    if "lm" in resolved and resolved["lm"] != CURRENT:
        predictor.lm = lms.get(str(resolved["lm"]))
    settings = {k: v for k, v in resolved.items() if k in SETTINGS and v is not None}
    if settings:
        predictor.config = {**predictor.config, **settings}


__all__ = ["build_program", "swap"]
