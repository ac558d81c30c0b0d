"""The knobs of an LLM program: Float, Int and Categorical, in Optuna's vocabulary.

Variables are frozen pydantic models with a ``kind`` discriminator so a whole
:class:`~stacktune.space.Space` survives a JSON round-trip. Categorical choices may be
arbitrary objects; each gets a stable *key* (the value itself for short primitives, a
label otherwise) because Optuna's storages hold only primitives and a study's choices
may never change.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, TypeAlias, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_serializer,
    model_validator,
)

from stacktune.errors import InvalidConfiguration, InvalidVariable

#: What Optuna can store as a parameter value, and so what a configuration holds.
Primitive: TypeAlias = Union[None, bool, int, float, str]

_MAX_PRIMITIVE_KEY_LENGTH = 64


def _is_primitive(value: object) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _same_primitive(a: object, b: object) -> bool:
    """Equality that does not confuse True with 1 or 1 with 1.0."""
    return type(a) is type(b) and a == b


def _normalize_when(value: object) -> dict[str, tuple[Primitive, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"`when` must be a mapping of parent name to allowed value(s), got {value!r}")
    normalized: dict[str, tuple[Primitive, ...]] = {}
    for parent, allowed in value.items():
        values = tuple(allowed) if isinstance(allowed, (list, tuple, set, frozenset)) else (allowed,)
        if not values:
            raise ValueError(f"`when` for parent {parent!r} allows no value at all")
        for item in values:
            if not _is_primitive(item):
                raise TypeError(
                    f"`when` values must be choice keys (None/bool/int/float/str), got {item!r} for parent {parent!r}"
                )
        normalized[str(parent)] = values
    return normalized


class _VariableBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    when: dict[str, tuple[Primitive, ...]] | None = None
    description: str | None = None

    @field_validator("when", mode="before")
    @classmethod
    def _check_when(cls, value: object) -> dict[str, tuple[Primitive, ...]] | None:
        return _normalize_when(value)

    def is_active(self, configuration: Mapping[str, object]) -> bool:
        """True when every parent named in ``when`` is present with an allowed value."""
        if not self.when:
            return True
        for parent, allowed in self.when.items():
            if parent not in configuration:
                return False
            if not any(_same_primitive(configuration[parent], a) for a in allowed):
                return False
        return True

    def check(self, value: object) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def _with_positionals(data: dict[str, Any], **positionals: object) -> dict[str, Any]:
    """``Float("t", 0.0, 2.0)`` reads like ``trial.suggest_float("t", 0.0, 2.0)``."""
    return {**data, **{key: value for key, value in positionals.items() if value is not None}}


class Float(_VariableBase):
    """A real-valued knob, sampled like ``trial.suggest_float``."""

    kind: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None
    default: float | None = None

    def __init__(
        self, name: str | None = None, low: float | None = None, high: float | None = None, /, **data: Any
    ) -> None:
        super().__init__(**_with_positionals(data, name=name, low=low, high=high))

    @model_validator(mode="after")
    def _optuna_invariants(self) -> Float:
        _check_numeric_bounds(self.low, self.high, self.log, self.step, is_int=False)
        _check_default(self)
        return self

    def check(self, value: object) -> None:
        """Raise InvalidConfiguration unless ``value`` is a number within bounds (bools and NaN are refused)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidConfiguration(self.name, value, f"a float in [{self.low}, {self.high}]", reason="wrong type")
        if math.isnan(value) or not self.low <= value <= self.high:
            raise InvalidConfiguration(self.name, value, f"a float in [{self.low}, {self.high}]", reason="out of range")

    def suggest(self, trial: Any) -> float:
        """This variable's value for an Optuna trial (define-by-run sampling)."""
        return float(trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step))


class Int(_VariableBase):
    """An integer knob, sampled like ``trial.suggest_int``."""

    kind: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = 1
    default: int | None = None

    def __init__(
        self, name: str | None = None, low: int | None = None, high: int | None = None, /, **data: Any
    ) -> None:
        super().__init__(**_with_positionals(data, name=name, low=low, high=high))

    @model_validator(mode="after")
    def _optuna_invariants(self) -> Int:
        _check_numeric_bounds(self.low, self.high, self.log, self.step, is_int=True)
        _check_default(self)
        return self

    def check(self, value: object) -> None:
        """Raise InvalidConfiguration unless ``value`` is an int on the step grid (a whole float such as 3.0 passes)."""
        allowed = f"an int in [{self.low}, {self.high}]" + (f" with step {self.step}" if self.step != 1 else "")
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise InvalidConfiguration(self.name, value, allowed, reason="wrong type")
        if not self.low <= value <= self.high or (value - self.low) % self.step:
            raise InvalidConfiguration(self.name, value, allowed, reason="out of range")

    def suggest(self, trial: Any) -> int:
        """This variable's value for an Optuna trial (define-by-run sampling)."""
        return int(trial.suggest_int(self.name, self.low, self.high, log=self.log, step=self.step))


def _check_numeric_bounds(low: float, high: float, log: bool, step: float | None, *, is_int: bool) -> None:
    # The wording follows optuna.distributions so Optuna users recognise it.
    if low > high:
        raise InvalidVariable(
            f"The `low` value must be smaller than or equal to the `high` value (low={low}, high={high})."
        )
    if log and low <= 0:
        raise InvalidVariable(f"The `low` value must be larger than 0 for a log distribution (low={low}, high={high}).")
    if is_int:
        if step is None or step <= 0:
            raise InvalidVariable(f"`step` must be a positive integer, but step={step}.")
        if log and step != 1:
            raise InvalidVariable(
                "Samplers and other components in Optuna only accept step is 1 when `log` argument is True."
            )
        if (high - low) % step:
            # Optuna would warn and quietly move `high`; a knob's range should mean what it says.
            raise InvalidVariable(
                f"The range (high - low = {high - low}) must be divisible by `step` "
                f"(step={step}, low={low}, high={high}); use high={high - (high - low) % step}."
            )
    elif step is not None:
        if log:
            raise InvalidVariable("The parameter `step` is not supported when `log` is true.")
        if step <= 0:
            raise InvalidVariable(f"`step` must be a positive number, but step={step}.")


def _check_default(variable: Float | Int) -> None:
    if variable.default is None:
        return
    try:
        variable.check(variable.default)
    except InvalidConfiguration as exc:
        message = f"variable {variable.name!r}: default {variable.default!r} is not {exc.allowed}"
        raise InvalidVariable(message) from None


class OpaqueChoice(BaseModel):
    """Stands in for a choice object that JSON cannot hold, after a round-trip.

    The label survives, so stored configurations stay meaningful; the adapter that
    extracted the space supplies the real object again.
    """

    model_config = ConfigDict(frozen=True)
    label: str
    type_name: str
    summary: str


def _jsonable(value: object) -> bool:
    try:
        return bool(json.loads(json.dumps(value)) == value)
    except (TypeError, ValueError):
        return False


def _slug(text: str, limit: int = 24) -> str:
    words = re.sub(r"\s+", " ", text).strip()
    return words[:limit].rstrip() + ("…" if len(words) > limit else "")


def _digest(value: object) -> str:
    try:
        payload = json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):
        payload = repr(value)
    return hashlib.sha1(payload.encode()).hexdigest()[:8]


def choice_key(value: object, index: int) -> Primitive:
    """The stable key Optuna stores for one choice.

    Short primitives are their own key. Long texts get a readable slug plus a content
    hash (stable across processes); classes and functions their qualified name; other
    objects a ``name`` attribute if they have one, else their position.
    """
    if isinstance(value, str):
        if len(value) <= _MAX_PRIMITIVE_KEY_LENGTH and "\n" not in value:
            return value
        return f"{_slug(value)}#{_digest(value)}"
    if _is_primitive(value):
        return value  # type: ignore[return-value]
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    name = getattr(value, "name", None)
    if isinstance(name, str) and name:
        return name
    if _jsonable(value):
        return f"{type(value).__name__}#{_digest(value)}"
    return f"{type(value).__name__}#{index}"


class Categorical(_VariableBase):
    """A choice among objects: texts, demo sets, modules, model specs...

    ``choices`` is a sequence (keys are derived with :func:`choice_key`) or a
    ``{key: object}`` mapping. Configurations hold keys; :meth:`resolve` gives the object.
    """

    kind: Literal["categorical"] = "categorical"
    keys: tuple[Primitive, ...]
    default: Primitive = None
    _values: dict[Any, Any] = PrivateAttr(default_factory=dict)

    def __init__(
        self, name: str | None = None, choices: Sequence[object] | Mapping[Any, object] | None = None, /, **data: Any
    ) -> None:
        if name is not None:
            data["name"] = name
        if choices is not None:
            data["choices"] = choices
        super().__init__(**data)

    @model_validator(mode="wrap")
    @classmethod
    def _from_choices(cls, data: Any, handler: Any) -> Categorical:
        if isinstance(data, Categorical):  # an existing instance (e.g. inside a Space): keep its choices
            validated: Categorical = handler(data)
            return validated
        values: dict[Any, Any] = {}
        if isinstance(data, Mapping):
            data = dict(data)
            name = str(data.get("name", "?"))
            if "choices" in data:
                if "keys" in data:
                    raise InvalidVariable(f"Categorical {name!r}: give either `choices` or `keys`, not both")
                values = _keyed_choices(name, data.pop("choices"))
                data["keys"] = tuple(values)
                default = data.get("default")
                if default is not None and not any(_same_primitive(default, k) for k in values):
                    try:
                        data["default"] = _key_of(values, default, name)
                    except InvalidConfiguration:
                        raise InvalidVariable(
                            f"Categorical {name!r}: default {default!r} is not one of {list(values)!r}"
                        ) from None
            elif "values" in data:
                raw = data.pop("values")
                keys = data.get("keys", ())
                if len(raw) != len(keys):
                    raise InvalidVariable(f"Categorical {name!r}: {len(keys)} keys but {len(raw)} values")
                values = {
                    k: OpaqueChoice.model_validate(v["$opaque"]) if isinstance(v, dict) and "$opaque" in v else v
                    for k, v in zip(keys, raw)
                }
        model: Categorical = handler(data)
        model._values = values or {k: k for k in model.keys}
        return model

    @model_validator(mode="after")
    def _check_keys(self) -> Categorical:
        if not self.keys:
            raise InvalidVariable(f"Categorical {self.name!r} needs at least one choice.")
        seen: list[Primitive] = []
        for key in self.keys:
            if not _is_primitive(key):
                raise InvalidVariable(
                    f"Categorical {self.name!r}: choice keys must be None/bool/int/float/str, got {key!r}"
                )
            if any(_same_primitive(key, other) for other in seen):
                raise InvalidVariable(f"Categorical {self.name!r}: duplicate choice key {key!r}")
            seen.append(key)
        if self.default is not None and not any(_same_primitive(self.default, k) for k in self.keys):
            raise InvalidVariable(
                f"Categorical {self.name!r}: default {self.default!r} is not one of {list(self.keys)!r}"
            )
        return self

    @classmethod
    def with_current(
        cls,
        name: str,
        candidates: Sequence[object] | Mapping[Any, object],
        current: object,
        *,
        current_key: str = "current",
        description: str | None = None,
    ) -> Categorical:
        """The candidates plus the program's current value, which is the default.

        The program as it is must stay a point of its own space, so a current value that
        is not among the candidates joins them first (under ``current_key`` when the
        candidates are a ``{key: choice}`` mapping). A current value already among them
        leaves their order alone, so a configured copy, whose current value is one of the
        candidates, gets the same choices in the same order (a study's choices may never
        change). Repeated candidates in a sequence are dropped (the first is kept).
        ``current=None`` means there is no current value: the candidates alone.
        """
        if isinstance(candidates, Mapping):
            given: Sequence[object] | Mapping[Any, object] = dict(candidates)
        elif isinstance(candidates, (str, bytes)):
            raise InvalidVariable(f"Categorical {name!r}: candidates must be a sequence or mapping, not a string")
        else:
            unique: list[object] = []
            for candidate in candidates:
                if not any(_equal(candidate, seen) for seen in unique):
                    unique.append(candidate)
            given = unique
        plain = cls(name, given, description=description) if len(given) else None
        if current is None and plain is not None:
            return plain
        if plain is not None:
            try:
                return cls(name, plain.choices, default=plain.key_for(current), description=description)
            except InvalidConfiguration:
                pass  # not among the candidates: it joins them, first
        if isinstance(given, Mapping):
            if current_key in given:
                raise InvalidVariable(
                    f"Categorical {name!r}: the candidate key {current_key!r} is reserved for "
                    f"the current value, which is not that candidate; use another key"
                )
            return cls(name, {current_key: current, **given}, default=current_key, description=description)
        joined = cls(name, [current, *given], description=description)
        return cls(name, joined.choices, default=joined.keys[0], description=description)

    @property
    def choices(self) -> dict[Primitive, object]:
        """``{key: object}`` in order."""
        return dict(self._values)

    def resolve(self, key: object) -> object:
        """The object behind a key (the configuration value)."""
        self.check(key)
        for k, v in self._values.items():
            if _same_primitive(k, key):
                return v
        raise AssertionError("unreachable: check() passed")  # pragma: no cover

    def key_for(self, value: object) -> Primitive:
        """The key of a choice object (by identity, then equality)."""
        return _key_of(self._values, value, self.name)

    def check(self, value: object) -> None:
        """Raise InvalidConfiguration unless ``value`` is one of the choice keys (keys, not the objects behind them)."""
        if not any(_same_primitive(value, k) for k in self.keys):
            shown = ", ".join(repr(k) for k in self.keys[:10]) + (", …" if len(self.keys) > 10 else "")
            reason = "wrong type" if not _is_primitive(value) else "unknown choice"
            raise InvalidConfiguration(self.name, value, f"one of [{shown}]", reason=reason)

    def suggest(self, trial: Any) -> Primitive:
        """A choice key for an Optuna trial: storages hold keys, :meth:`resolve` gives the object."""
        return trial.suggest_categorical(self.name, list(self.keys))  # type: ignore[no-any-return]

    @model_serializer(mode="wrap")
    def _serialize(self, handler: Any) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        data["values"] = [
            v if _jsonable(v) else {"$opaque": _opaque(k, v).model_dump()} for k, v in self._values.items()
        ]
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Categorical):
            return NotImplemented
        return super().__eq__(other) and list(self._values.items()) == list(other._values.items())

    __hash__ = None  # type: ignore[assignment]


def _opaque(key: object, value: object) -> OpaqueChoice:
    if isinstance(value, OpaqueChoice):
        return value
    return OpaqueChoice(label=str(key), type_name=type(value).__qualname__, summary=_slug(repr(value), 80))


def _keyed_choices(name: str, choices: Sequence[object] | Mapping[Any, object]) -> dict[Any, Any]:
    if isinstance(choices, Mapping):
        return dict(choices)
    if isinstance(choices, (str, bytes)):
        raise InvalidVariable(f"Categorical {name!r}: choices must be a sequence or mapping, not a string")
    values: dict[Any, Any] = {}
    seen: list[object] = []
    for index, value in enumerate(choices):
        twice = next((i for i, earlier in enumerate(seen) if _equal(earlier, value)), None)
        if twice is not None:
            raise InvalidVariable(
                f"Categorical {name!r}: choice {_slug(repr(value), 60)} is given twice (positions "
                f"{twice} and {index}); give each choice once"
            )
        seen.append(value)
        key = choice_key(value, index)
        if any(_same_primitive(key, k) for k in values):
            key = f"{key}#{index}"
        if key in values:  # True == 1 == 1.0 in Python: one dict slot, two choices
            raise InvalidVariable(
                f"Categorical {name!r}: choices {key!r} and {next(k for k in values if k == key)!r} are equal "
                f"in Python; give explicit keys with a {{key: choice}} mapping"
            )
        values[key] = value
    return values


def _equal(a: object, b: object) -> bool:
    """Same object, or equal ones (True is not 1 here); objects that cannot compare are different."""
    if a is b:
        return True
    if _is_primitive(a) or _is_primitive(b):
        return _same_primitive(a, b)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - arbitrary objects may not compare
        return False


def _key_of(values: Mapping[Any, object], value: object, name: str) -> Primitive:
    for k, v in values.items():
        if v is value:
            return k  # type: ignore[no-any-return]
    for k, v in values.items():
        try:
            if v == value:
                return k  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001 - arbitrary objects may not compare
            continue
    raise InvalidConfiguration(name, value, f"one of {list(values)!r}", reason="unknown choice")


Variable = Annotated[Union[Float, Int, Categorical], Field(discriminator="kind")]
