"""One catalogue of LLM call knobs, so the same knob has the same space in every framework.

Each :class:`SamplingKnob` says how a knob is searched: its kind, one default range, its
scale and step, and one *unset rule*: the value that stands for the knob when the program
leaves it unset (the provider's default applies), chosen so that applying exactly that
stand-in leaves the knob unset again. :func:`knob_variable` turns a knob of a program
into a stacktune variable by these rules; adapters call it instead of writing ranges.

The ranges, and why:

- ``temperature`` 0.0-1.5, step 0.05: 0 is greedy; above about 1.5 most models drift
  into noise (OpenAI accepts up to 2, Anthropic only 1). Unset stands for 1.0, the
  default of the major APIs.
- ``top_p`` 0.1-1.0, step 0.05: below 0.1 nucleus sampling is all but greedy, which
  temperature 0 already covers. Unset stands for 1.0 (no truncation), every API's default.
- ``max_tokens`` 16-4096, log-scaled: halving the limit matters as much at 32 as at
  2048; 16 still holds a short sentence or one formatted field (label-only tasks give
  lower bounds), 4096 is the usual output cap of current chat models (a model's own
  cap lowers it). Unset stands for the top of the range: no limit but the model's.
  Also known as ``max_completion_tokens``, ``max_output_tokens``, ``num_predict``,
  ``max_new_tokens``.
- ``top_k`` 1-100, log-scaled: 1 against 2 candidates matters, 90 against 95 does not;
  past 100 top-k hardly truncates. Unset stands for the top (no truncation).
- ``frequency_penalty`` and ``presence_penalty`` 0.0-1.0, step 0.05: OpenAI accepts
  -2..2 but calls 0..1 the useful span against repetition; negative values invite
  loops. Unset stands for 0.0, the default.
- ``seed`` (int) is not searched unless you give bounds (``bounds=(0, 4)``: one trial per
  seed shows how much answers vary); it is no quality knob. Unset stands for the low bound.
- ``stop`` is a list of texts, not a number: it is searched only when you offer
  candidates, as a ``Categorical.with_current(name, candidates, current)``.

Demo knobs are in this catalogue too (:func:`demo_variables`): ``n_demos`` (how many of a pool's
demos are shown) and ``demo_order`` (which: the first ``n_demos`` of one of ``DEMO_ORDERS``
orderings, the pool's own and seeded shuffles), the same space wherever demos come from a pool.

The range rule: without user bounds, the default range widens to hold the program's
current value, so the program as it is stays a point of its own space; a target's own
limits (``cap``: a model profile's max output tokens; ``floor``; a field's annotated
bounds) narrow it first. User bounds are taken as they are: a current value outside them
makes the nearest bound the default.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from stacktune.errors import InvalidVariable
from stacktune.variables import Categorical, Float, Int, Variable

KnobKind = Literal["float", "int", "choice"]


class SamplingKnob(BaseModel):
    """How one LLM call knob is searched when a program has it (see the module's docstring for why)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    kind: KnobKind
    range: tuple[float, float] | None = Field(default=None, description="the default range; None: only if asked")
    log: bool = False
    step: float | None = None
    unset: float | Literal["low", "high"] = Field(
        default="low", description="what stands for the knob when it is unset: a value, or a bound of the range"
    )
    aliases: tuple[str, ...] = Field(default=(), description="other names providers give the same knob")

    def stand_in(self, low: float, high: float) -> float:
        """The value standing for "unset" in a range [low, high] (kept inside it)."""
        if self.unset == "low":
            return low
        if self.unset == "high":
            return high
        return min(max(self.unset, low), high)


def _knob(
    name: str, kind: KnobKind, low: float | None = None, high: float | None = None, **rest: object
) -> SamplingKnob:
    return SamplingKnob.model_validate(
        {"name": name, "kind": kind, "range": None if low is None or high is None else (low, high), **rest}
    )


#: The catalogue, by knob name. Adapters read it through :func:`find_knob` and :func:`knob_variable`.
SAMPLING_KNOBS: Mapping[str, SamplingKnob] = {
    knob.name: knob
    for knob in (
        _knob("temperature", "float", 0.0, 1.5, step=0.05, unset=1.0),
        _knob("top_p", "float", 0.1, 1.0, step=0.05, unset=1.0),
        _knob(
            "max_tokens",
            "int",
            16,
            4096,
            log=True,
            unset="high",
            aliases=("max_completion_tokens", "max_output_tokens", "num_predict", "max_new_tokens"),
        ),
        _knob("top_k", "int", 1, 100, log=True, unset="high"),
        _knob("frequency_penalty", "float", 0.0, 1.0, step=0.05, unset=0.0),
        _knob("presence_penalty", "float", 0.0, 1.0, step=0.05, unset=0.0),
        _knob("seed", "int"),
        _knob("stop", "choice"),
    )
}

_BY_ALIAS: dict[str, SamplingKnob] = {alias: knob for knob in SAMPLING_KNOBS.values() for alias in knob.aliases}


def find_knob(name: str) -> SamplingKnob | None:
    """The catalogue's knob for a parameter name (``max_completion_tokens`` is ``max_tokens``), or None."""
    return SAMPLING_KNOBS.get(name) or _BY_ALIAS.get(name)


def knob_variable(
    name: str,
    knob: str | SamplingKnob,
    current: float | None,
    *,
    bounds: tuple[float, float] | None = None,
    cap: float | None = None,
    floor: float | None = None,
    description: str | None = None,
) -> Float | Int:
    """The stacktune variable ``name`` for one knob of a program, by the catalogue's rules.

    ``knob`` is a catalogue name or alias, or a :class:`SamplingKnob` of the adapter's own
    (a field the catalogue does not know, with its annotated range). ``current`` is the
    program's value, None when it leaves the knob unset: the default is then the knob's
    stand-in, which an adapter must apply as "leave it unset" (see :func:`leaves_unset`).
    ``bounds`` are the user's, taken as they are (the knob's own default range counts as
    none given, so adapters may show it as their default). ``cap`` and ``floor`` are what
    the target accepts (a model profile's max output tokens); they narrow the default range.
    Without bounds, the range widens to hold ``current``.
    """
    spec = _spec(knob)
    low, high = _range(spec, bounds, cap, floor)
    unset = current is None
    if (
        isinstance(current, bool)
        or not isinstance(current, (int, float))
        or (isinstance(current, float) and math.isnan(current))
    ):
        if not unset:
            raise InvalidVariable(f"knob {name!r} ({spec.name}): the program's value {current!r} is not a number")
        current = spec.stand_in(low, high)
    given = bounds is not None and tuple(bounds) != spec.range
    if not given:
        low, high = min(low, current), max(high, current)
    default = min(max(current, low), high)
    if unset:
        note = f"unset now: {default:g} stands for the provider's default"
        description = f"{description} ({note})" if description else note
    if spec.kind == "int":
        ilow, ihigh = math.ceil(low), math.floor(high)
        if ilow > ihigh:
            raise InvalidVariable(f"knob {name!r} ({spec.name}): no integer in [{low}, {high}]")
        return Int(
            name,
            ilow,
            ihigh,
            log=spec.log and ilow > 0,
            description=description,
            default=min(max(round(default), ilow), ihigh),
        )
    step = spec.step
    if step is not None and not _whole_steps(low, high, step):
        step = None  # a range that is not a whole number of steps (a widened one): search it continuously
    return Float(
        name,
        float(low),
        float(high),
        log=spec.log and low > 0,
        step=step,
        description=description,
        default=float(default),
    )


def leaves_unset(stand_in: object, value: object) -> bool:
    """True when a configured ``value`` is exactly a knob's unset stand-in: apply it as "leave unset".

    Exact means same type and value, so a user's explicit 1 for a stand-in 1.0 is applied.
    """
    return stand_in is not None and type(stand_in) is type(value) and stand_in == value


def _spec(knob: str | SamplingKnob) -> SamplingKnob:
    if isinstance(knob, SamplingKnob):
        return knob
    found = find_knob(knob)
    if found is None:
        known = sorted([*SAMPLING_KNOBS, *_BY_ALIAS])
        raise InvalidVariable(f"unknown LLM knob {knob!r}; the catalogue has {known}")
    return found


def _range(
    spec: SamplingKnob, bounds: tuple[float, float] | None, cap: float | None, floor: float | None
) -> tuple[float, float]:
    if spec.kind == "choice":
        raise InvalidVariable(
            f"knob {spec.name!r} is a choice, not a range: offer candidates with "
            f"Categorical.with_current(name, candidates, current)"
        )
    if bounds is not None:
        if len(bounds) != 2 or not bounds[0] <= bounds[1]:
            raise InvalidVariable(
                f"bounds for knob {spec.name!r} must be a (low, high) pair with low <= high, got {bounds!r}"
            )
        return float(bounds[0]), float(bounds[1])
    if spec.range is None:
        raise InvalidVariable(f"knob {spec.name!r} is searched only over bounds you give, e.g. (0, 4); got none")
    low, high = spec.range
    limit_low = low if floor is None else max(low, floor)
    limit_high = high if cap is None else min(high, cap)
    if limit_low > limit_high:  # the target's limits and the catalogue's range do not meet: the target's win
        return (floor if floor is not None else limit_high), (cap if cap is not None else limit_low)
    return limit_low, limit_high


def _whole_steps(low: float, high: float, step: float) -> bool:
    count = (high - low) / step
    return abs(count - round(count)) < 1e-6


# -- demo knobs ------------------------------------------------------------------------------------------
#: How many orderings a demo knob offers: the pool's own order, then seeded shuffles.
DEMO_ORDERS = 6


def demo_ordering(size: int, order: int) -> list[int]:
    """Pool indices in an ordering: 0 is the pool's own order, k > 0 a shuffle seeded by k (the same everywhere)."""
    indices = list(range(size))
    if order:
        random.Random(order).shuffle(indices)
    return indices


def demo_pool_digest(pool: object) -> str:
    """A short hash of a demo pool (JSON, keys sorted): part of every ordering's key, so a changed pool is noticed."""
    return hashlib.sha1(json.dumps(pool, sort_keys=True, default=repr).encode()).hexdigest()[:8]


def demo_order_key(order: int, digest: str) -> str:
    """The stable label of an ordering of the pool with this digest (``given@<hash>``, ``shuffle-2@<hash>``)."""
    return f"{'given' if order == 0 else f'shuffle-{order}'}@{digest}"


def demo_variables(
    prefix: str,
    *,
    limit: int,
    pool_size: int,
    digest: str,
    n_demos: int = 0,
    order: int = 0,
    orders: int = DEMO_ORDERS,
    low: int = 0,
    when: Mapping[str, Any] | None = None,
    where: str = "",
) -> list[Variable]:
    """The demo knobs of one demo pool, the same in every adapter that shows demos from a pool.

    ``<prefix>.n_demos`` (``n_demos`` without a prefix): how many demos are shown, ``low`` (0,
    or 1 where another knob already says "no demos") to ``limit``, default the program's own
    ``n_demos``; and, when there are orderings to choose
    from, ``<prefix>.demo_order``: which demos, as the first ``n_demos`` of one of ``orders``
    orderings (:func:`demo_ordering`), active only when demos are shown (and only for a pool of
    two or more: one demo has one order). The orderings' keys
    carry the pool's ``digest``: a study stored with another pool refuses to load, since a
    study's choices may never change. ``where`` names the pool in the descriptions.
    """
    if limit < 1:
        raise ValueError(f"demo knobs need a pool to show from: limit must be >= 1, got {limit}")
    if not 0 <= low <= limit:
        raise ValueError(f"the fewest demos shown (low={low}) must be in 0..{limit} (limit)")
    if not low <= n_demos <= limit:
        raise ValueError(f"n_demos={n_demos} is outside {low}..{limit}")
    if orders < 1 or not 0 <= order < orders:
        raise ValueError(f"demo_order={order} must be in 0..{orders - 1} (orders)")
    count = f"{prefix}.n_demos" if prefix else "n_demos"
    at = f" by {where}" if where else ""
    variables: list[Variable] = [
        Int(
            name=count,
            low=low,
            high=limit,
            default=n_demos,
            when=dict(when) if when else None,
            description=f"demos shown{at}",
        )
    ]
    if orders > 1 and pool_size > 1:
        variables.append(
            Categorical(
                f"{prefix}.demo_order" if prefix else "demo_order",
                {demo_order_key(k, digest): k for k in range(orders)},
                default=demo_order_key(order, digest),
                when={**(when or {}), count: list(range(max(1, low), limit + 1))},
                description=f"which demos{at} (the first n_demos of an ordering)",
            )
        )
    return variables


__all__ = [
    "DEMO_ORDERS",
    "SAMPLING_KNOBS",
    "KnobKind",
    "SamplingKnob",
    "demo_order_key",
    "demo_ordering",
    "demo_pool_digest",
    "demo_variables",
    "find_knob",
    "knob_variable",
    "leaves_unset",
]
