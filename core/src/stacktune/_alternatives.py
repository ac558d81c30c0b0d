"""One study across frameworks: programs written in different frameworks as alternatives.

(A private module: its public names are ``stacktune``'s, and ``stacktune.alternatives`` is the
function, which a submodule of the same name would shadow once imported.)

``stacktune.alternatives({"dspy": program, "langchain": chain, "prompt": prompt})`` (or a plain
mapping handed to ``study.optimize``) is one Optimizable. Its space starts with a categorical
``program`` whose choices are the alternatives' names; each alternative's knobs follow,
namespaced (``dspy/answer.predict.temperature``) and active only when ``program`` names it, so
Optuna's TPE (``group=True``, the default search) models each framework's knobs apart.

**The example convention.** The dataset holds plain mappings (``{"question": ..., "answer":
...}``) and the metric is ``metric(mapping, value)``. Each alternative turns a mapping into its
framework's input with ``to_input`` and its prediction into a plain value with ``from_output``.
Both default to the adapter's own (:class:`SupportsPlainExamples`): DSPy builds a
``dspy.Example`` with the program's inputs and reads back its one output field; LangChain hands
a runnable the mapping as a dict and reads a message's text; a Prompt takes the mapping and
returns its parsed answer. An adapter without them gets the example and the prediction as
they are. Give your own with :class:`Alternative`.

The first example is checked against every alternative before anything is spent
(:meth:`Alternatives.check_examples`): a mapping that lacks a field a program needs raises a
:class:`~stacktune.errors.WiringError` naming the alternative and the field.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from stacktune.errors import InvalidConfiguration, NoAdapterFound, WiringError
from stacktune.evaluation import Evaluation, Metric, ResultCallback
from stacktune.exportcheck import ModelCall, SupportsExportCheck
from stacktune.proposals import InstructionSite, SupportsInstructionProposals
from stacktune.protocol import Optimizable, SupportsExport
from stacktune.space import Configuration, Constraint, Space
from stacktune.variables import Categorical, Primitive, Variable

if TYPE_CHECKING:
    import pluggy

#: The name of the top-level choice between alternatives.
PROGRAM = "program"
#: Between an alternative's name and the name of one of its knobs.
SEPARATOR = "/"


@runtime_checkable
class SupportsPlainExamples(Protocol):
    """An adapter that knows its framework's form of a plain-mapping example and of its prediction."""

    def to_input(self, example: Mapping[str, Any]) -> object:
        """The framework's example for one plain mapping (what this adapter's ``evaluate`` takes)."""
        ...

    def from_output(self, prediction: object) -> object:
        """A plain value (text, number, mapping) for one of this adapter's predictions."""
        ...


@dataclass(frozen=True)
class Alternative:
    """One program among alternatives, with how the shared examples reach it and come back.

    ``target`` is anything an installed adapter accepts (or an Optimizable, e.g. a configured
    ``DSPyAdapter(program, lm=...)``); ``to_input`` and ``from_output`` replace the adapter's
    defaults (see the module docstring).
    """

    target: object
    to_input: Callable[[Any], Any] | None = None
    from_output: Callable[[Any], Any] | None = None


def _same(example: Any) -> Any:
    return example


@dataclass(frozen=True)
class _Member:
    """One alternative, resolved: its name, its Optimizable and its two conversions."""

    name: str
    program: Optimizable
    to_input: Callable[[Any], Any]
    from_output: Callable[[Any], Any]

    @property
    def prefix(self) -> str:
        return self.name + SEPARATOR

    def check_input(self, example: Any, index: int) -> Any:
        """The framework's input for one example, checked by the adapter when it can (``check_input``)."""
        try:
            converted = self.to_input(example)
        except KeyError as exc:
            field = str(exc.args[0]) if exc.args else None
            raise WiringError(
                self.name, f"example #{index}: to_input found no field {field!r} in {_fields(example)}", field=field
            ) from exc
        except Exception as exc:
            raise WiringError(self.name, f"example #{index}: to_input failed: {exc}") from exc
        check = getattr(self.program, "check_input", None)
        if callable(check):
            try:
                check(converted)
            except WiringError:
                raise
            except KeyError as exc:
                field = str(exc.args[0]) if exc.args else None
                raise WiringError(
                    self.name,
                    f"example #{index} has no field {field!r}, which its program needs (it has {_fields(example)}); "
                    f"add it to the dataset or give Alternative(..., to_input=...)",
                    field=field,
                ) from exc
            except Exception as exc:
                raise WiringError(self.name, f"example #{index} does not fit its program: {exc}") from exc
        return converted


def _fields(example: Any) -> str:
    return repr(sorted(map(str, example))) if isinstance(example, Mapping) else type(example).__name__


class Alternatives:
    """Several programs, maybe in different frameworks, as one Optimizable (see the module docstring).

    The space is ``program`` (a choice of the alternatives' names, the first being the default)
    then each alternative's knobs as ``<name>/<knob>``, active only under its choice; applying a
    configuration configures the chosen alternative, ``evaluate`` runs it, and :meth:`to_native`
    hands back its framework's object.
    """

    def __init__(
        self,
        alternatives: Mapping[str, object],
        *,
        manager: pluggy.PluginManager | None = None,
    ) -> None:
        from stacktune.plugins import optimizable

        if not isinstance(alternatives, Mapping) or not alternatives:
            raise TypeError(
                f"alternatives are a non-empty mapping of name to program ({{'dspy': program, ...}}), "
                f"got {alternatives!r}"
            )
        members = []
        for name, given in alternatives.items():
            if not isinstance(name, str) or not name or SEPARATOR in name or name == PROGRAM:
                raise ValueError(
                    f"alternative name {name!r}: use a non-empty text without {SEPARATOR!r}, and not {PROGRAM!r}"
                )
            spec = given if isinstance(given, Alternative) else Alternative(given)
            for what in ("to_input", "from_output"):
                if getattr(spec, what) is not None and not callable(getattr(spec, what)):
                    raise TypeError(f"alternative {name!r}: {what} must be callable, got {getattr(spec, what)!r}")
            try:
                program = optimizable(spec.target, manager=manager)
            except NoAdapterFound as exc:
                raise NoAdapterFound(f"alternative {name!r}: {exc}") from exc
            plain = program if isinstance(program, SupportsPlainExamples) else None
            members.append(
                _Member(
                    name,
                    program,
                    spec.to_input or (plain.to_input if plain is not None else _same),
                    spec.from_output or (plain.from_output if plain is not None else _same),
                )
            )
        self._members: tuple[_Member, ...] = tuple(members)
        self._chosen = members[0].name

    @classmethod
    def _configured(cls, members: tuple[_Member, ...], chosen: str) -> Alternatives:
        new = cls.__new__(cls)
        new._members = members
        new._chosen = chosen
        return new

    def __repr__(self) -> str:
        return f"Alternatives({[m.name for m in self._members]}, chosen={self._chosen!r})"

    # -- what it holds ------------------------------------------------------------------
    @property
    def names(self) -> tuple[str, ...]:
        """The alternatives' names, in the order given (the ``program`` choices)."""
        return tuple(m.name for m in self._members)

    @property
    def chosen(self) -> str:
        """The alternative this object runs: the first one, or the one a configuration chose."""
        return self._chosen

    def __getitem__(self, name: str) -> Optimizable:
        """The (configured) Optimizable of one alternative."""
        return self._member(name).program

    def _member(self, name: str) -> _Member:
        for member in self._members:
            if member.name == name:
                return member
        raise KeyError(f"no alternative {name!r}; known: {list(self.names)}")

    # -- the protocol -------------------------------------------------------------------
    def extract_variables(self) -> Space:
        """``program``, then each alternative's knobs namespaced and conditional on its choice."""
        variables: list[Variable] = [
            Categorical(PROGRAM, list(self.names), default=self._chosen, description="which alternative runs")
        ]
        fixed: dict[str, Primitive] = {}
        constraints: list[Constraint] = []
        for member in self._members:
            space = member.program.extract_variables()
            for variable in space.variables:
                when = {PROGRAM: (member.name,), **{member.prefix + k: v for k, v in (variable.when or {}).items()}}
                variables.append(variable.model_copy(update={"name": member.prefix + variable.name, "when": when}))
            fixed.update({member.prefix + k: v for k, v in space.fixed.items()})
            constraints.extend(_namespaced(member, rule) for rule in space.constraints)
        return Space(variables, fixed=fixed, constraints=constraints)

    def apply_configuration(self, configuration: Mapping[str, object]) -> Alternatives:
        """The chosen alternative configured with its (un-namespaced) knobs; the others stay as they are."""
        valid = self.extract_variables().validate_configuration(configuration)
        chosen = str(valid.get(PROGRAM, self._chosen))
        member = self._member(chosen)
        own = _own(valid, member)
        configured = member.program.apply_configuration(own) if own else member.program
        members = tuple(
            _Member(m.name, configured, m.to_input, m.from_output) if m.name == chosen else m for m in self._members
        )
        return Alternatives._configured(members, chosen)

    # -- proposals (stacktune.proposals) -----------------------------------------------------
    def instruction_sites(self) -> list[InstructionSite]:
        """Every alternative's instruction sites, named as their knobs are here (``<name>/<knob>``).

        So ``optimize(propose=...)`` writes candidates for each framework's instructions in one
        study. An alternative whose adapter cannot take proposals has none; if no alternative
        can, that is an error naming them.
        """
        sites: list[InstructionSite] = []
        able = [m for m in self._members if isinstance(m.program, SupportsInstructionProposals)]
        if not able:
            raise TypeError(
                f"optimize(propose=...) needs an alternative whose adapter describes its instructions; none of "
                f"{[f'{m.name}: {type(m.program).__name__}' for m in self._members]} has instruction_sites()"
            )
        for member in able:
            for site in member.program.instruction_sites():  # type: ignore[attr-defined]
                role = f"{site.role} (alternative {member.name!r})" if site.role else f"alternative {member.name!r}"
                sites.append(site.model_copy(update={"name": member.prefix + site.name, "role": role}))
        return sites

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> Alternatives:
        """Each alternative given the candidates of its own sites (``<name>/<knob>`` -> its ``<knob>``)."""
        for name in candidates:
            if not any(name.startswith(m.prefix) for m in self._members):
                raise InvalidConfiguration(
                    name,
                    list(candidates[name]),
                    f"an instruction site of an alternative: {[m.prefix + '...' for m in self._members]}",
                    reason="no alternative has it",
                )
        members = []
        for member in self._members:
            own = {k[len(member.prefix) :]: v for k, v in candidates.items() if k.startswith(member.prefix)}
            program = member.program
            if own:
                program = program.with_instruction_candidates(own)  # type: ignore[attr-defined]
            members.append(_Member(member.name, program, member.to_input, member.from_output))
        return Alternatives._configured(tuple(members), self._chosen)

    def check_examples(self, dataset: Sequence[Any]) -> None:
        """Raise a WiringError naming the alternative and the field when the first example does not fit one.

        Runs no program: called by the study before anything is spent.
        """
        if dataset:
            for member in self._members:
                member.check_input(dataset[0], 0)

    def evaluate(
        self,
        dataset: Sequence[Any],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """The chosen alternative's evaluation of the converted examples, scored on the plain ones.

        Every example is converted before the first runs (a WiringError then, nothing spent);
        ``metric`` gets the plain mapping and ``from_output`` of the prediction.
        """
        member = self._member(self._chosen)
        inputs = [member.check_input(example, index) for index, example in enumerate(dataset)]
        plain: dict[int, Any] = {}
        for index, (converted, example) in enumerate(zip(inputs, dataset)):
            earlier = plain.setdefault(id(converted), example)
            if earlier is not example:
                raise WiringError(
                    member.name,
                    f"to_input returned the same object for example #{index} as for an earlier, different one; "
                    f"return a new object per example",
                )

        def scored(example_input: Any, prediction: Any) -> float | bool:
            try:
                example = plain[id(example_input)]
            except KeyError:
                raise WiringError(
                    member.name, "its adapter handed the metric an example it was not given (a copy?)"
                ) from None
            return metric(example, member.from_output(prediction))

        _named_like(scored, metric)
        return member.program.evaluate(inputs, scored, on_result=on_result, max_concurrency=max_concurrency)

    # -- export -------------------------------------------------------------------------
    def model_calls(self, example: Any, native: object | None = None) -> list[ModelCall]:
        """The chosen alternative's model calls for one plain example (see :mod:`stacktune.exportcheck`)."""
        member = self._member(self._chosen)
        if not isinstance(member.program, SupportsExportCheck):
            raise TypeError(f"alternative {member.name!r} cannot check its export (no model_calls)")
        return member.program.model_calls(member.check_input(example, 0), native)

    def to_native(self) -> object:
        """The chosen alternative's native object (a DSPy module, a runnable, a Prompt), to ship."""
        program = self._member(self._chosen).program
        return program.to_native() if isinstance(program, SupportsExport) else program


def _own(configuration: Mapping[str, Primitive], member: _Member) -> Configuration:
    """One alternative's part of a configuration, without its namespace."""
    return {k[len(member.prefix) :]: v for k, v in configuration.items() if k.startswith(member.prefix)}


def _namespaced(member: _Member, rule: Constraint) -> Constraint:
    """An alternative's constraint over the whole space: it applies only when that alternative is chosen."""

    def check(configuration: Mapping[str, Primitive]) -> str | None:
        if configuration.get(PROGRAM) != member.name:
            return None
        return rule(_own(configuration, member))

    return Constraint(name=member.prefix + rule.name, check=check)


def _named_like(wrapper: Callable[..., Any], metric: Metric) -> None:
    """The wrapper reports errors under the user's metric's name."""
    try:
        functools.update_wrapper(wrapper, metric)
    except (AttributeError, TypeError):  # a callable object without __name__
        wrapper.__qualname__ = type(metric).__qualname__


def alternatives(programs: Mapping[str, object], *, manager: pluggy.PluginManager | None = None) -> Alternatives:
    """One Optimizable over several programs, maybe in different frameworks (see :class:`Alternatives`).

    ``programs`` maps a name to a program (anything an adapter accepts, an Optimizable, or an
    :class:`Alternative` with its own ``to_input``/``from_output``).
    """
    return Alternatives(programs, manager=manager)


__all__ = ["PROGRAM", "SEPARATOR", "Alternative", "Alternatives", "SupportsPlainExamples", "alternatives"]
