"""A Space: the ordered variables of a program, fixed values, and constraints."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from stacktune.errors import InvalidConfiguration, InvalidVariable
from stacktune.variables import Categorical, Float, Int, Primitive, Variable

Configuration = dict[str, Primitive]
"""A configuration maps variable names to values (Categorical: the choice key)."""

ConstraintCheck = Callable[[Mapping[str, Primitive]], "str | None"]


class Constraint(BaseModel):
    """A rule over a whole configuration; ``check`` returns a message when it is broken.

    Constraints are code, so JSON keeps only their names; pass them again to
    :meth:`Space.from_json`.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    check: ConstraintCheck = Field(exclude=True)

    @classmethod
    def of(cls, rule: Constraint | ConstraintCheck, index: int = 0) -> Constraint:
        """A Constraint from what users pass: a Constraint, or a function named after itself.

        A function without a ``__name__`` (a ``functools.partial``) is ``constraint<index>``.
        """
        if isinstance(rule, Constraint):
            return rule
        if callable(rule):
            return cls(name=getattr(rule, "__name__", f"constraint{index}"), check=rule)
        raise TypeError(f"constraint #{index} must be a Constraint or a callable, got {rule!r}")

    def __call__(self, configuration: Mapping[str, Primitive]) -> str | None:
        """The broken rule's message, or None when ``configuration`` satisfies it."""
        return self.check(configuration)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Constraint) and self.name == other.name

    def __hash__(self) -> int:
        return hash(self.name)


def constraint(name: str) -> Callable[[ConstraintCheck], Constraint]:
    """Decorator: turn a function of a configuration into a named Constraint."""

    def wrap(check: ConstraintCheck) -> Constraint:
        return Constraint(name=name, check=check)

    return wrap


class Space(BaseModel):
    """The variables of a program in sampling order, plus fixed values and constraints.

    A variable's parents (``when``) must come before it, so the space can be sampled
    define-by-run. Methods that change a space return a new one.
    """

    model_config = ConfigDict(frozen=True)

    variables: tuple[Variable, ...] = ()
    fixed: dict[str, Primitive] = Field(default_factory=dict)
    constraint_names: tuple[str, ...] = ()
    _constraints: tuple[Constraint, ...] = PrivateAttr(default=())

    def __init__(
        self,
        variables: Sequence[Variable] = (),
        /,
        *,
        constraints: Sequence[Constraint | ConstraintCheck] = (),
        **data: Any,
    ) -> None:
        data.setdefault("variables", tuple(variables))
        named = tuple(Constraint.of(c, i) for i, c in enumerate(constraints))
        if named and "constraint_names" not in data:
            data["constraint_names"] = tuple(c.name for c in named)
        super().__init__(**data)
        self._constraints = named

    @model_validator(mode="after")
    def _check_structure(self) -> Space:
        seen: dict[str, Variable] = {}
        for variable in self.variables:
            if variable.name in seen:
                raise InvalidVariable(f"duplicate variable name {variable.name!r} in space")
            for parent, allowed in (variable.when or {}).items():
                if parent not in seen:
                    raise InvalidVariable(
                        f"variable {variable.name!r} is conditional on {parent!r}, "
                        f"which is not defined before it in the space"
                    )
                parent_var = seen[parent]
                for value in allowed:
                    try:
                        parent_var.check(value)
                    except InvalidConfiguration as exc:
                        raise InvalidVariable(
                            f"variable {variable.name!r}: condition on {parent!r} uses {value!r}, "
                            f"but {parent!r} allows {exc.allowed}"
                        ) from None
            seen[variable.name] = variable
        for name, value in self.fixed.items():
            if name not in seen:
                raise InvalidVariable(f"fixed value for unknown variable {name!r}")
            seen[name].check(value)
        return self

    # -- access -------------------------------------------------------------------
    @property
    def constraints(self) -> tuple[Constraint, ...]:
        """The rules a configuration must satisfy (code, so not in the JSON: see :meth:`from_json`)."""
        return self._constraints

    @property
    def names(self) -> tuple[str, ...]:
        """The variable names, in sampling order."""
        return tuple(v.name for v in self.variables)

    def __iter__(self) -> Iterator[Variable]:  # type: ignore[override]
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __contains__(self, name: object) -> bool:
        return any(v.name == name for v in self.variables)

    def __getitem__(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"no variable {name!r} in space; known: {', '.join(self.names) or '(none)'}")

    @property
    def is_conditional(self) -> bool:
        """True when some variable is sampled only under a ``when`` condition."""
        return any(v.when for v in self.variables)

    @property
    def searched(self) -> tuple[Variable, ...]:
        """The variables that are sampled (not fixed)."""
        return tuple(v for v in self.variables if v.name not in self.fixed)

    # -- configurations ---------------------------------------------------------
    def _walk(self, value_of: Callable[[Variable], Primitive | _Absent]) -> Configuration:
        """Go through the variables in order, keeping active ones (fixed values win)."""
        config: Configuration = {}
        for variable in self.variables:
            if not variable.is_active(config):
                continue
            value = self.fixed[variable.name] if variable.name in self.fixed else value_of(variable)
            if not isinstance(value, _Absent):
                config[variable.name] = value
        return config

    def defaults(self) -> Configuration:
        """The configuration of defaults (fixed values win), active variables only."""

        def default_of(variable: Variable) -> Primitive | _Absent:
            if isinstance(variable, Categorical):
                if variable.default is None and not any(k is None for k in variable.keys):
                    return variable.keys[0]
                return variable.default
            return variable.default if variable.default is not None else _ABSENT

        return self._walk(default_of)

    def validate_configuration(self, configuration: Mapping[str, object], *, complete: bool = False) -> Configuration:
        """Check a configuration and return it as a plain dict.

        Raises :class:`InvalidConfiguration` naming the variable for an unknown name,
        a wrong type, a value out of range, an unknown choice, a variable given while its
        condition does not hold, a fixed variable given another value, or a broken
        constraint. Missing variables keep the program's current value unless
        ``complete`` is true.
        """
        if not isinstance(configuration, Mapping):
            raise InvalidConfiguration(
                "<configuration>", configuration, "a mapping of variable name to value", reason="wrong type"
            )
        known = set(self.names)
        for name in configuration:
            if name not in known:
                raise InvalidConfiguration(
                    str(name), configuration[name], f"one of the variables {sorted(known)}", reason="unknown variable"
                )
        effective: Configuration = {}
        defaults = self.defaults()
        for variable in self.variables:
            active = variable.is_active({**defaults, **effective} if not complete else effective)
            if variable.name in configuration:
                value = configuration[variable.name]
                if not active:
                    raise InvalidConfiguration(
                        variable.name,
                        value,
                        f"absent unless {_describe_when(variable.when)}",
                        reason="inactive variable",
                    )
                variable.check(value)
                if variable.name in self.fixed and not _same(self.fixed[variable.name], value):
                    raise InvalidConfiguration(
                        variable.name, value, f"{self.fixed[variable.name]!r} (fixed)", reason="fixed variable"
                    )
                effective[variable.name] = value  # type: ignore[assignment]
            elif active and complete and variable.name in self.fixed:
                effective[variable.name] = self.fixed[variable.name]
            elif active and complete:
                raise InvalidConfiguration(variable.name, None, "a value (variable is active)", reason="missing")
        self.check_constraints({**defaults, **effective} if not complete else effective, raise_error=True)
        return {name: effective[name] for name in configuration if name in effective} if not complete else effective

    def check_constraints(self, configuration: Mapping[str, Primitive], *, raise_error: bool = False) -> str | None:
        """The first broken constraint's message, or None."""
        for rule in self._constraints:
            message = rule(configuration)
            if message:
                if raise_error:
                    raise InvalidConfiguration(rule.name, dict(configuration), message, reason="constraint violated")
                return f"{rule.name}: {message}"
        return None

    def resolve(self, configuration: Mapping[str, object]) -> dict[str, object]:
        """The objects behind a configuration: a Categorical's key becomes its choice, numbers their kind.

        What an adapter applies. Each value is checked against its variable (an
        :class:`InvalidConfiguration` names the culprit, an unknown name included);
        conditions and constraints are :meth:`validate_configuration`'s job.
        """
        resolved: dict[str, object] = {}
        for name, value in configuration.items():
            if name not in self:
                raise InvalidConfiguration(
                    name, value, f"one of the variables {list(self.names)}", reason="unknown variable"
                )
            variable = self[name]
            variable.check(value)
            if isinstance(variable, Categorical):
                resolved[name] = variable.resolve(value)
            elif isinstance(variable, Float):
                resolved[name] = float(value)  # type: ignore[arg-type]
            else:
                resolved[name] = int(value)  # type: ignore[call-overload]
        return resolved

    def suggest(self, trial: Any) -> Configuration:
        """Sample a configuration define-by-run on an Optuna trial; fixed values are copied."""
        return self._walk(lambda variable: variable.suggest(trial))

    # -- derived spaces ---------------------------------------------------------
    def fix(self, **values: Primitive) -> Space:
        """A space where the given variables keep one value and are no longer searched."""
        for name, value in values.items():
            if name not in self:
                raise InvalidConfiguration(
                    name, value, f"one of the variables {list(self.names)}", reason="unknown variable"
                )
            self[name].check(value)
        return self._derive(fixed={**self.fixed, **values})

    def drop(self, *names: str) -> Space:
        """A space without these variables (the program keeps its current value for them)."""
        for name in names:
            if name not in self:
                raise KeyError(f"no variable {name!r} in space; known: {', '.join(self.names)}")
        for variable in self.variables:
            if variable.name not in names:
                for parent in variable.when or {}:
                    if parent in names:
                        raise InvalidVariable(
                            f"cannot drop {parent!r}: {variable.name!r} is conditional on it (drop both)"
                        )
        kept = tuple(v for v in self.variables if v.name not in names)
        return self._derive(variables=kept, fixed={k: v for k, v in self.fixed.items() if k not in names})

    def add(self, *variables: Variable, constraints: Sequence[Constraint] = ()) -> Space:
        """A space with more variables (appended) and constraints."""
        return self._derive(variables=self.variables + tuple(variables), extra_constraints=tuple(constraints))

    def with_defaults(self, values: Mapping[str, object]) -> Space:
        """The same space whose defaults are ``values`` (what a configured program holds now).

        Adapters use it so a configured copy shows its own values as defaults. Numbers
        take their variable's kind (an Int's 3.0 becomes 3); each value must be one its
        variable accepts, else :class:`InvalidConfiguration` names it.
        """
        variables = []
        for variable in self.variables:
            if variable.name not in values:
                variables.append(variable)
                continue
            value = values[variable.name]
            variable.check(value)
            if isinstance(variable, Float):
                value = float(value)  # type: ignore[arg-type]
            elif isinstance(variable, Int):
                value = int(value)  # type: ignore[call-overload]
            variables.append(variable.model_copy(update={"default": value}))
        unknown = [name for name in values if name not in self]
        if unknown:
            raise InvalidConfiguration(
                unknown[0], values[unknown[0]], f"one of the variables {list(self.names)}", reason="unknown variable"
            )
        return self._derive(variables=tuple(variables))

    def replace(self, variable: Variable) -> Space:
        """A space where the variable of the same name is swapped for this one."""
        self[variable.name]
        return self._derive(variables=tuple(variable if v.name == variable.name else v for v in self.variables))

    def _derive(
        self,
        *,
        variables: tuple[Variable, ...] | None = None,
        fixed: dict[str, Primitive] | None = None,
        extra_constraints: tuple[Constraint, ...] = (),
    ) -> Space:
        constraints = self._constraints + extra_constraints
        return Space(
            self.variables if variables is None else variables,
            fixed=self.fixed if fixed is None else fixed,
            constraints=constraints,
        )

    # -- JSON ---------------------------------------------------------------------
    def to_json(self, **kwargs: Any) -> str:
        """The space as JSON, constraints by name only; keyword arguments go to ``model_dump_json``."""
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, text: str | bytes, *, constraints: Sequence[Constraint] = ()) -> Space:
        """Load a space; constraints are code, so give them again (matched by name)."""
        data = json.loads(text)
        by_name = {c.name: c for c in constraints}
        missing = [n for n in data.get("constraint_names", ()) if n not in by_name]
        if missing:
            raise InvalidVariable(f"the stored space has constraints {missing} that were not given again")
        data.pop("constraint_names", None)
        return cls(
            tuple(_VARIABLE_ADAPTER.validate_python(v) for v in data.get("variables", ())),
            fixed=data.get("fixed", {}),
            constraints=[by_name[n] for n in json.loads(text).get("constraint_names", ())],
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Space):
            return NotImplemented
        return (
            list(self.variables) == list(other.variables)
            and self.fixed == other.fixed
            and self.constraint_names == other.constraint_names
        )

    __hash__ = None  # type: ignore[assignment]


class _Absent:
    """Marks a variable with no value to put in a configuration (no default)."""


_ABSENT = _Absent()


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _describe_when(when: Mapping[str, tuple[Primitive, ...]] | None) -> str:
    return " and ".join(
        f"{parent} is {allowed[0]!r}" if len(allowed) == 1 else f"{parent} in {list(allowed)!r}"
        for parent, allowed in (when or {}).items()
    )


from pydantic import TypeAdapter  # noqa: E402

_VARIABLE_ADAPTER: TypeAdapter[Variable] = TypeAdapter(Variable)

__all__ = ["Categorical", "Configuration", "Constraint", "Float", "Int", "Space", "constraint"]
