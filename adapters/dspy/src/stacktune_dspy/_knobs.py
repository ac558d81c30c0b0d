"""The knobs of a DSPy program as a stacktune Space.

Names are ``<predictor path>.<knob>`` (``answer.predict.instructions``), ``<site>.module``
for a site (a swappable Predict/ChainOfThought), and ``adapter`` / ``lm`` for the whole program. Names never
change when a site is swapped: ``answer.predict.demos`` still means the demos of the
predictor at site ``answer`` after it became a plain ``Predict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import dspy

from stacktune import Categorical, Int, Space, knob_variable
from stacktune_dspy._discovery import PredictorInfo, predictor_at
from stacktune_dspy._options import SETTINGS, TuningOptions, adapter_key
from stacktune_dspy._specs import LMSpec, spec_choices, spec_of_current

CURRENT = "current"
NO_DEMOS = "none"
POOL = "pool"
REASONING = "reasoning"

Role = Literal["adapter", "lm", "module", "instructions", "reasoning", "demos", "n_demos", "demo_seed", "setting"]


@dataclass(frozen=True)
class Knob:
    """What a variable of the space controls (the variable of the same name holds its choices)."""

    name: str
    role: Role
    predictor: PredictorInfo | None = None
    setting: str | None = None
    stand_in: float | int | None = None  # the default standing for "unset" (stacktune.leaves_unset)


@dataclass
class KnobMap:
    """The space of a program plus what applying needs to honour it: the knob behind each variable."""

    space: Space
    knobs: tuple[Knob, ...]
    predictors: tuple[PredictorInfo, ...]
    pools: dict[str, list[Any]] = field(default_factory=dict)
    specs: dict[str, LMSpec] = field(default_factory=dict)


def _describe(info: PredictorInfo, what: str) -> str:
    where = f" ({'ChainOfThought' if info.kind == 'cot' else 'Predict'} at {info.site!r})" if info.site else ""
    flags = f"; {info.flags}" if info.flags else ""
    return f"{what} of predictor {info.path!r}{where}{flags}"


def _effective_lm(predictor: dspy.Predict, options: TuningOptions) -> Any:
    return predictor.lm or options.lm or dspy.settings.lm


def _declared_params(lm: Any) -> set[str] | None:
    """The request parameters an LM says it takes; None when it does not say."""
    try:
        params = set(getattr(lm, "supported_params", set()) or set())
    except Exception:  # noqa: BLE001 - capability lookups are advisory
        return None
    return params or None


def _demo_fits(example: Any, signature: type[dspy.Signature]) -> bool:
    """A pool example fits a predictor when it has all its inputs and at least one output."""
    try:
        keys = set(example.keys())
    except AttributeError:
        return False
    inputs = set(signature.input_fields)
    outputs = set(signature.output_fields) - {REASONING}
    return inputs <= keys and bool(outputs & keys)


def _of_which(bootstrapped: Sequence[Any]) -> str:
    return f" ({len(bootstrapped)} bootstrapped from the program's traces)" if bootstrapped else ""


class _Builder:
    def __init__(self, program: dspy.Module, infos: Sequence[PredictorInfo], options: TuningOptions) -> None:
        self.program = program
        self.infos = infos
        self.options = options
        self.variables: list[Any] = []
        self.knobs: list[Knob] = []
        self.pools: dict[str, list[Any]] = {}
        self.specs = spec_choices(options.lms)

    def add(self, variable: Any, knob: Knob) -> None:
        self.variables.append(variable)
        self.knobs.append(knob)

    def predictor(self, info: PredictorInfo) -> dspy.Predict:
        return predictor_at(self.program, info)

    @cached_property
    def spec_params(self) -> list[set[str]]:
        """The request parameters each LM choice declares (its dspy.LM built once per knob map, not per predictor)."""
        declared = (_declared_params(spec.build()) for spec in self.specs.values())
        return [params for params in declared if params is not None]

    # -- program-wide -------------------------------------------------------------
    def adapter(self) -> None:
        if not self.options.adapters:
            return
        variable = Categorical.with_current(
            "adapter",
            list(self.options.adapters),
            adapter_key(dspy.settings.adapter),
            description="the DSPy adapter (prompt format) for the whole program",
        )
        if len(variable.keys) > 1:  # what runs now stays a choice
            self.add(variable, Knob("adapter", "adapter"))

    def _lm_choices(self, lms: Sequence[Any]) -> tuple[dict[str, Any], str]:
        shared = lms[0] if lms and all(lm is lms[0] for lm in lms) else None
        spec = spec_of_current(shared) if shared is not None else None
        for key, candidate in self.specs.items():
            if spec is not None and spec.same_as(candidate):
                return dict(self.specs), key
        return {CURRENT: CURRENT, **self.specs}, CURRENT

    def program_lm(self) -> None:
        if not self.specs or self.options.lm_scope != "program":
            return
        lms = [_effective_lm(self.predictor(info), self.options) for info in self.infos]
        choices, default = self._lm_choices(lms)
        self.add(
            Categorical(
                "lm", choices, default=default, description="the LM of every predictor (a choice of dspy.LM specs)"
            ),
            Knob("lm", "lm"),
        )

    # -- per predictor -------------------------------------------------------------
    def module(self, info: PredictorInfo) -> None:
        if info.site is None or not self.options.swap_modules:
            return
        name = f"{info.site}.module"
        self.add(
            Categorical(
                name,
                ["predict", "cot"],
                default=info.kind,
                description=_describe(info, "module type (dspy.Predict or dspy.ChainOfThought, same signature)"),
            ),
            Knob(name, "module", info),
        )

    def instructions(self, info: PredictorInfo) -> None:
        predictor = self.predictor(info)
        candidates: list[str] = list(self.options.instructions.get(info.path, ()))
        candidates += list(self.options.instructions.get("*", ()))
        if self.options.instruction_proposer is not None:
            candidates += list(self.options.instruction_proposer(info.path, predictor))
        for text in candidates:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"instruction candidates for {info.path!r} must be non-empty strings, got {text!r}")
        name = f"{info.path}.instructions"
        variable = Categorical.with_current(
            name, candidates, predictor.signature.instructions, description=_describe(info, "instructions")
        )
        if len(variable.keys) > 1:
            self.add(variable, Knob(name, "instructions", info))

    def reasoning(self, info: PredictorInfo) -> None:
        if info.site is None:
            return
        kind_name = f"{info.site}.module"
        has_swap = self.options.swap_modules
        if not has_swap and info.kind != "cot":
            return
        predictor = self.predictor(info)
        field_info = predictor.signature.fields.get(REASONING)
        current = field_info.json_schema_extra.get("desc") if field_info is not None else None
        name = f"{info.path}.reasoning"
        variable = Categorical.with_current(
            name,
            list(self.options.reasoning_hints),
            current or self.options.reasoning_hints[0],
            description=_describe(info, "description of the reasoning field (ChainOfThought only)"),
        )
        if len(variable.keys) < 2:
            return
        when = {kind_name: ("cot",)} if has_swap else None
        self.add(variable.model_copy(update={"when": when}), Knob(name, "reasoning", info))

    def demos(self, info: PredictorInfo) -> None:
        predictor = self.predictor(info)
        choices: dict[str, Any] = {NO_DEMOS: []}
        for key, demos in self.options.demo_sets.get(info.path, {}).items():
            if key in (CURRENT, NO_DEMOS, POOL):
                raise ValueError(f"demo set key {key!r} for {info.path!r} is reserved; use another name")
            choices[key] = list(demos)
        pool = list(self.options.demo_pool.get(info.path, ()))
        if not pool:
            pool = [ex for ex in self.options.trainset if _demo_fits(ex, predictor.signature)]
        bootstrapped = self.options.bootstrapped.get(info.path, ())
        pool += [demo for demo in bootstrapped if demo not in pool]  # after the labelled ones, repeats left out
        if pool:
            choices[POOL] = POOL
            self.pools[info.path] = pool
        name = f"{info.path}.demos"
        variable = Categorical.with_current(
            name,
            choices,
            list(predictor.demos),
            current_key=CURRENT,
            description=_describe(info, "few-shot demos (current, none, named sets, or drawn from the pool)"),
        )
        if len(variable.keys) < 2:
            return
        self.add(variable, Knob(name, "demos", info))
        if pool:
            limit = max(self.options.max_demos, self.options.bootstrapped_max_demos if bootstrapped else 0)
            high = min(limit, len(pool))
            self.add(
                Int(
                    f"{info.path}.n_demos",
                    1,
                    high,
                    default=high,
                    when={name: POOL},
                    description=_describe(
                        info, f"how many demos to draw from a pool of {len(pool)}{_of_which(bootstrapped)}"
                    ),
                ),
                Knob(f"{info.path}.n_demos", "n_demos", info),
            )
            if self.options.demo_seeds > 1 and len(pool) > 1:
                self.add(
                    Int(
                        f"{info.path}.demo_seed",
                        0,
                        self.options.demo_seeds - 1,
                        default=0,
                        when={name: POOL},
                        description=_describe(info, "which random draw from the demo pool"),
                    ),
                    Knob(f"{info.path}.demo_seed", "demo_seed", info),
                )

    def predictor_lm(self, info: PredictorInfo) -> None:
        if not self.specs or self.options.lm_scope != "predictor":
            return
        choices, default = self._lm_choices([_effective_lm(self.predictor(info), self.options)])
        name = f"{info.path}.lm"
        self.add(
            Categorical(name, choices, default=default, description=_describe(info, "LM (a dspy.LM spec)")),
            Knob(name, "lm", info),
        )

    def settings(self, info: PredictorInfo) -> None:
        predictor = self.predictor(info)
        lm = _effective_lm(predictor, self.options)
        own = _declared_params(lm)
        known = ([own] if own is not None else []) + self.spec_params
        for setting in SETTINGS:
            bounds = getattr(self.options, setting)
            if bounds is None or (known and not any(setting in params for params in known)):
                continue
            current = predictor.config.get(setting, getattr(lm, "kwargs", {}).get(setting))
            name = f"{info.path}.{setting}"
            variable = knob_variable(
                name, setting, current, bounds=bounds, description=_describe(info, f"LM call setting {setting}")
            )
            # unset now: the provider decides, and applying exactly the stand-in default keeps it so
            self.add(
                variable,
                Knob(name, "setting", info, setting=setting, stand_in=variable.default if current is None else None),
            )


def build_knob_map(program: dspy.Module, infos: Sequence[PredictorInfo], options: TuningOptions) -> KnobMap:
    """Every knob of ``program`` with its current value as default."""
    builder = _Builder(program, infos, options)
    builder.adapter()
    builder.program_lm()
    for info in infos:
        builder.module(info)
        builder.instructions(info)
        builder.reasoning(info)
        builder.demos(info)
        builder.predictor_lm(info)
        builder.settings(info)
    knobs = tuple(builder.knobs)
    return KnobMap(Space(builder.variables), knobs, tuple(infos), builder.pools, builder.specs)


__all__ = ["CURRENT", "NO_DEMOS", "POOL", "Knob", "KnobMap", "build_knob_map"]
