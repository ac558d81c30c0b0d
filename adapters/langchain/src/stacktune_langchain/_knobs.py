"""The knob map of a runnable: its Space and how each variable reaches the tree.

Built once per original runnable (configured copies share it): declared knobs from
``config_specs``, undeclared ones from a walk of the tree, the user's candidates and
overrides on top.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from stacktune import (
    Categorical,
    Constraint,
    Float,
    Int,
    InvalidConfiguration,
    InvalidVariable,
    Space,
    Variable,
    register_secrets_of,
)
from stacktune.knobs import leaves_unset
from stacktune.space import ConstraintCheck
from stacktune_langchain._bounds import numeric_kind, numeric_variable
from stacktune_langchain._declared import DeclaredKnob, KnobCandidates, bound_configurable, declared_knobs
from stacktune_langchain._demos import DemoKnobs, DemoPool, demo_variables
from stacktune_langchain._tree import Found, ModelSite, TextSite, walk

#: The sampling parameters exposed on every chat model by default (when the model has them).
DEFAULT_SAMPLING_PARAMS = ("temperature", "top_p", "max_tokens")

PromptCandidates = Mapping[str, KnobCandidates] | Sequence[str]
ModelCandidates = (
    Mapping[str, Sequence[BaseChatModel] | Mapping[str, BaseChatModel]]
    | Sequence[BaseChatModel]
    | Mapping[str, BaseChatModel]
)


@dataclass(frozen=True)
class ModelKnobs:
    """The variables of one chat model site: the model choice (if offered) and its parameters."""

    site: ModelSite
    choice: str | None
    params: Mapping[str, str]  # variable name -> parameter name


@dataclass(frozen=True)
class KnobMap:
    """A runnable's space and how each of its variables reaches the tree (shared by configured copies)."""

    space: Space
    declared: tuple[DeclaredKnob, ...]
    models: tuple[ModelKnobs, ...]
    texts: Mapping[str, TextSite]
    skipped: Mapping[str, str] = field(default_factory=dict)
    stand_ins: Mapping[str, Any] = field(default_factory=dict)
    """Knobs the runnable leaves None, with their stand-in default: configuring it keeps them None."""
    chats: tuple[str, ...] = ()
    """The paths of the chat prompts that can take demos (and are traced)."""
    demos: tuple[DemoKnobs, ...] = ()

    def is_unset(self, name: str, value: Any) -> bool:
        return leaves_unset(self.stand_ins.get(name), value)


@dataclass(frozen=True)
class TuningOptions:
    """What the user adds to or changes in the extracted space (see LangChainAdapter)."""

    prompts: PromptCandidates | None = None
    models: ModelCandidates | None = None
    candidates: Mapping[str, KnobCandidates] = field(default_factory=dict)
    bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    variables: Sequence[Variable] = ()
    exclude: Sequence[str] = ()
    sampling_params: Sequence[str] = DEFAULT_SAMPLING_PARAMS
    undeclared: bool = True
    runtime_keys: frozenset[str] = frozenset()
    constraints: Sequence[Constraint | ConstraintCheck] = ()
    demos: Mapping[str, DemoPool] = field(default_factory=dict)
    """Bootstrapped demo pools by chat prompt path (``LangChainAdapter.with_bootstrapped_demos``)."""


def _unknown(kind: str, name: str, known: Iterable[str]) -> InvalidConfiguration:
    return InvalidConfiguration(name, name, f"one of the {kind} {sorted(known)}", reason=f"unknown {kind[:-1]}")


def _by_site(given: object, sites: Sequence[str], kind: str, is_item: type | tuple[type, ...]) -> dict[str, Any]:
    """``{site: candidates}`` from a mapping by site name or from the shorthand for a single site."""
    if given is None:
        return {}
    shorthand = (isinstance(given, Mapping) and given and all(isinstance(v, is_item) for v in given.values())) or (
        isinstance(given, Sequence) and not isinstance(given, (str, bytes))
    )
    if shorthand:
        if len(sites) != 1:
            raise InvalidConfiguration(
                kind,
                "candidates without a name",
                f"a mapping from one of {sorted(sites)} to candidates",
                reason=f"the chain has {len(sites)} {kind} sites; say which one gets the candidates",
            )
        return {sites[0]: given}
    if not isinstance(given, Mapping):
        raise TypeError(f"{kind} must be a mapping of name to candidates or a list of candidates, got {given!r}")
    for name in given:
        if name not in sites:
            raise _unknown(f"{kind} sites", name, sites)
    return dict(given)


def _when(site_when: Sequence[tuple[str, str]], names: set[str]) -> dict[str, tuple[str]] | None:
    when = {parent: (key,) for parent, key in site_when if parent in names}
    return when or None


def _label(model: object) -> str:
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(model, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def _labelled(current: BaseChatModel, candidates: Any) -> Mapping[Any, object]:
    """Models keyed by the user's keys, or by their model name (the current model first)."""
    if isinstance(candidates, Mapping):
        return candidates
    labelled: dict[str, object] = {}
    for index, model in enumerate([current, *(m for m in candidates if m is not current)]):
        label = _label(model)
        labelled[label if label not in labelled else f"{label}#{index}"] = model
    return labelled


def _model_knobs(
    site: ModelSite, candidates: Any, options: TuningOptions, parents: set[str], unset: set[str]
) -> tuple[ModelKnobs, list[Variable], dict[str, str]]:
    when = _when(site.when, parents)
    variables: list[Variable] = []
    skipped: dict[str, str] = {}
    choice = None
    models = [site.model]
    if candidates is not None:
        variable = Categorical.with_current(
            site.name, _labelled(site.model, candidates), site.model, description="chat model"
        )
        variables.append(variable.model_copy(update={"when": when}) if when else variable)
        choice = site.name
        models += [m for m in variable.choices.values() if isinstance(m, BaseChatModel)]
        for model in models:
            register_secrets_of(model)
    params: dict[str, str] = {}
    for param in options.sampling_params:
        if param in site.declared:
            continue  # declared through configurable_fields: it is a declared knob already
        owner = next((m for m in models if param in type(m).model_fields), None)
        if owner is None and param not in site.kwargs:
            continue
        name = f"{site.name}.{param}"
        info = type(owner).model_fields[param] if owner is not None else None
        annotated = numeric_kind(info.annotation if info else None, info.metadata if info else ())
        made = numeric_variable(
            name,
            param,
            annotated,
            site.current(param),
            model=site.model,
            user_bounds=options.bounds.get(name),
            description=f"{param} of the chat model",
        )
        if isinstance(made, str):
            skipped[name] = made
            continue
        variables.append(made.model_copy(update={"when": when}) if when else made)
        params[name] = param
        if site.current(param) is None:
            unset.add(name)
    return ModelKnobs(site, choice, params), variables, skipped


def _text_variable(site: TextSite, candidates: KnobCandidates | None) -> Categorical:
    given = list(candidates.values()) if isinstance(candidates, Mapping) else list(candidates or ())
    for index, text in enumerate(given):
        if not isinstance(text, str):
            raise InvalidConfiguration(site.name, text, "prompt texts (str)", reason=f"candidate #{index} is no text")
        missing = site.variables_of(text) - site.available
        if missing:
            raise InvalidConfiguration(
                site.name,
                text,
                f"texts using only the prompt's inputs {sorted(site.available)}",
                reason=f"candidate #{index} uses {sorted(missing)}, which the chain's input does not provide",
            )
    return Categorical.with_current(site.name, candidates or [], site.text, description="prompt text")


def build_knob_map(runnable: Runnable[Any, Any], options: TuningOptions) -> KnobMap:
    """Every knob of ``runnable`` with the user's options applied."""
    found: Found = walk(runnable)
    knobs, skipped = declared_knobs(
        runnable.config_specs,
        found.fields,
        current=bound_configurable(runnable),
        candidates=options.candidates,
        bounds=options.bounds,
        runtime_keys=options.runtime_keys,
    )
    declared_ids = {spec.id for spec in runnable.config_specs}
    for name in options.candidates:
        if name not in declared_ids:
            raise _unknown("declared ids", name, declared_ids)
    variables: list[Variable] = [k.variable for k in knobs]
    unset = {k.variable.name for k in knobs if k.unset}
    parents = {v.name for v in variables if isinstance(v, Categorical)}
    model_knobs: list[ModelKnobs] = []
    texts: dict[str, TextSite] = {}
    if options.undeclared:
        offered_models = _by_site(options.models, [m.name for m in found.models], "model", BaseChatModel)
        offered_texts = _by_site(options.prompts, [t.name for t in found.texts], "prompt", str)
        for site in found.models:
            entry, made, missed = _model_knobs(site, offered_models.get(site.name), options, parents, unset)
            model_knobs.append(entry)
            variables += made
            skipped.update(missed)
        for text in found.texts:
            variable = _text_variable(text, offered_texts.get(text.name))
            when = _when(text.when, parents)
            variables.append(variable.model_copy(update={"when": when}) if when else variable)
            texts[text.name] = text
    elif options.models or options.prompts:
        raise ValueError("models= and prompts= need undeclared=True: they join the undeclared knobs")
    demo_knobs = _demo_knobs(found, options.demos, parents)
    variables += [v for _, made in demo_knobs for v in made]
    _check_collisions(variables, {k.variable.name for k in knobs})
    variables = _overridden(variables, options)
    stand_ins = {v.name: v.default for v in variables if v.name in unset and v.default is not None}
    space = Space(variables, constraints=options.constraints)
    chats = tuple(c.name for c in found.chats)
    return KnobMap(
        space, tuple(knobs), tuple(model_knobs), texts, skipped, stand_ins, chats, tuple(k for k, _ in demo_knobs)
    )


def _demo_knobs(
    found: Found, pools: Mapping[str, DemoPool], parents: set[str]
) -> list[tuple[DemoKnobs, list[Variable]]]:
    """The demo knobs of every chat prompt with a pool (in the chain's order); a pool for no prompt is an error."""
    chats = {c.name: c for c in found.chats}
    for name in pools:
        if name not in chats:
            raise _unknown("chat prompts", name, chats)
    return [demo_variables(name, pools[name], _when(chats[name].when, parents)) for name in chats if name in pools]


def _check_collisions(variables: Sequence[Variable], declared: set[str]) -> None:
    seen: set[str] = set()
    for variable in variables:
        if variable.name in seen:
            origin = "a declared config id" if variable.name in declared else "another node"
            raise InvalidVariable(
                f"knob {variable.name!r} of an undeclared node collides with {origin}; "
                f"rename the ConfigurableField id or pass undeclared=False"
            )
        seen.add(variable.name)


def _overridden(variables: list[Variable], options: TuningOptions) -> list[Variable]:
    names = [v.name for v in variables]
    for name in options.bounds:
        if name not in names:
            raise _unknown("variables", name, names)
        if not isinstance(variables[names.index(name)], (Float, Int)):
            raise InvalidConfiguration(
                name, options.bounds[name], "bounds only for Float/Int variables", reason="not numeric"
            )
    for replacement in options.variables:
        if replacement.name not in names:
            raise _unknown("variables", replacement.name, names)
        index = names.index(replacement.name)
        variables[index] = _keep_current(replacement, variables[index])
    dropped: set[str] = set()
    for pattern in options.exclude:
        matched = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        if not matched:
            raise _unknown("variables", pattern, names)
        dropped |= matched
    return [v for v in variables if v.name not in dropped and not (set(v.when or {}) & dropped)]


def _keep_current(replacement: Variable, original: Variable) -> Variable:
    """The user's variable, with the program's current value as default when it fits."""
    current = original.default
    if replacement.default is not None or current is None:
        return replacement
    if isinstance(original, Categorical) and not isinstance(replacement, Categorical):
        return replacement
    try:
        value = original.resolve(current) if isinstance(original, Categorical) else current
        key = replacement.key_for(value) if isinstance(replacement, Categorical) else value
        replacement.check(key)
    except InvalidConfiguration:
        return replacement
    return replacement.model_copy(update={"default": key})


__all__ = [
    "DEFAULT_SAMPLING_PARAMS",
    "KnobMap",
    "ModelCandidates",
    "ModelKnobs",
    "PromptCandidates",
    "TuningOptions",
    "build_knob_map",
]
