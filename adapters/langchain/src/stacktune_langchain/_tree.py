"""Walking a runnable tree and rebuilding it with copies.

A chain declares nothing by itself (``prompt | ChatOpenAI(...) | parser``), so the
adapter finds its knobs by walking the tree: sequences, parallels, bindings, branches,
fallbacks, routers and the configurable wrappers. Every chat model and every prompt
text becomes a *site* named by its path (``step1.model``, ``step0.prompt.system``),
so two models never collide. :func:`rebuild` makes a new tree with some sites
changed; untouched subtrees are shared, nothing is mutated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import BasePromptTemplate, ChatPromptTemplate, PromptTemplate
from langchain_core.prompts.chat import BaseChatPromptTemplate, ChatMessagePromptTemplate
from langchain_core.prompts.message import BaseMessagePromptTemplate
from langchain_core.prompts.string import get_template_variables
from langchain_core.runnables import (
    Runnable,
    RunnableBinding,
    RunnableBranch,
    RunnableParallel,
    RunnableSequence,
    RunnableWithFallbacks,
)
from langchain_core.runnables.base import RunnableBindingBase, RunnableEachBase
from langchain_core.runnables.configurable import (
    RunnableConfigurableAlternatives,
    RunnableConfigurableFields,
)
from langchain_core.runnables.passthrough import RunnableAssign
from langchain_core.runnables.router import RouterRunnable
from langchain_core.runnables.utils import ConfigurableField
from pydantic import BaseModel

from stacktune import register_secrets_in, register_secrets_of


@dataclass(frozen=True)
class Scope:
    """Where a node sits: its path, the alternatives it depends on, the declared id prefix."""

    segments: tuple[str, ...] = ()
    when: tuple[tuple[str, str], ...] = ()
    id_prefix: str = ""
    declared: frozenset[str] = frozenset()

    def prefix(self) -> str:
        return "".join(f"{s}." for s in self.segments)

    def child(
        self,
        segment: str | None,
        *,
        when: tuple[str, str] | None = None,
        id_prefix: str | None = None,
        declared: frozenset[str] = frozenset(),
    ) -> Scope:
        return Scope(
            self.segments + ((segment,) if segment is not None else ()),
            self.when + ((when,) if when is not None else ()),
            self.id_prefix if id_prefix is None else id_prefix,
            declared,
        )


@dataclass(frozen=True)
class ModelSite:
    """A chat model in the tree (with the kwargs of a binding that wraps it directly)."""

    name: str
    model: BaseChatModel
    kwargs: Mapping[str, Any]
    declared: frozenset[str]
    when: tuple[tuple[str, str], ...]

    def current(self, param: str) -> Any:
        if param in self.kwargs:
            return self.kwargs[param]
        return getattr(self.model, param, None)


@dataclass(frozen=True)
class TextSite:
    """One prompt text: a PromptTemplate's template or one message of a chat prompt."""

    name: str
    text: str
    template_format: str | None  # None: a static message, sent as it is
    available: frozenset[str]
    when: tuple[tuple[str, str], ...]

    def variables_of(self, text: str) -> set[str]:
        if self.template_format is None:
            return set()
        return set(get_template_variables(text, self.template_format))


@dataclass(frozen=True)
class DeclaredField:
    """A ``configurable_fields`` entry: which field of which class a config id sets."""

    id: str
    owner: type[Any]
    field_name: str
    target: Any


@dataclass(frozen=True)
class ChatSite:
    """A ChatPromptTemplate whose messages the adapter may change: where demos go, what a trace is keyed by."""

    name: str  # its knob path, the prefix of its message knobs: ``step0.prompt``
    when: tuple[tuple[str, str], ...]


@dataclass
class Found:
    models: list[ModelSite] = field(default_factory=list)
    texts: list[TextSite] = field(default_factory=list)
    fields: dict[str, DeclaredField] = field(default_factory=dict)
    chats: list[ChatSite] = field(default_factory=list)


#: The metadata key a traced chat prompt carries (its knob path), so a callback knows which prompt ran.
TRACE_KEY = "stacktune_prompt"


@dataclass(frozen=True)
class Edits:
    """What a rebuild changes: per model site a replacement and parameters, per text site the text.

    ``demos``: per chat prompt (by its path) literal messages inserted after its leading system
    messages. ``traced``: every chat prompt gets its path as metadata (:data:`TRACE_KEY`).
    """

    models: Mapping[str, tuple[BaseChatModel | None, Mapping[str, Any]]] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    demos: Mapping[str, Sequence[BaseMessage]] = field(default_factory=dict)
    traced: bool = False


Child = tuple[str | None, Runnable[Any, Any], Scope]
M = TypeVar("M", bound=BaseModel)


def _copy(model: M, update: Mapping[str, Any]) -> M:
    """``model_copy(update=...)`` without the cached properties of the original.

    pydantic copies ``__dict__`` whole, so a cached value (a chat model's ``_serialized``,
    what tracers and callbacks are shown) would still describe the original.
    """
    new = model.model_copy(update=dict(update))
    for name in [n for n in new.__dict__ if isinstance(getattr(type(new), n, None), functools.cached_property)]:
        del new.__dict__[name]
    return new


def _children(node: Runnable[Any, Any], scope: Scope) -> tuple[list[Child], Callable[[list[Any]], Any]] | None:
    """The children of a container node, each with its scope, and how to put new ones back."""
    if isinstance(node, RunnableSequence):
        steps = node.steps
        kids: list[Child] = [(f"step{i}", s, scope.child(f"step{i}")) for i, s in enumerate(steps)]
        return kids, lambda new: _copy(node, {"first": new[0], "middle": new[1:-1], "last": new[-1]})
    if isinstance(node, RunnableParallel):
        keys = list(node.steps__)
        kids = [(k, node.steps__[k], scope.child(k)) for k in keys]
        return kids, lambda new: _copy(node, {"steps__": dict(zip(keys, new))})
    if isinstance(node, RunnableAssign):
        return [(None, node.mapper, scope.child(None))], lambda new: _copy(node, {"mapper": new[0]})
    if isinstance(node, (RunnableBindingBase, RunnableEachBase)):
        return [(None, node.bound, scope.child(None))], lambda new: _copy(node, {"bound": new[0]})
    if isinstance(node, RunnableBranch):
        kids = []
        for i, (condition, body) in enumerate(node.branches):
            kids.append((f"branch{i}.if", condition, scope.child(f"branch{i}.if")))
            kids.append((f"branch{i}", body, scope.child(f"branch{i}")))
        kids.append(("default", node.default, scope.child("default")))

        def put_branch(new: list[Any]) -> Any:
            pairs = [(new[2 * i], new[2 * i + 1]) for i in range(len(node.branches))]
            return _copy(node, {"branches": pairs, "default": new[-1]})

        return kids, put_branch
    if isinstance(node, RunnableWithFallbacks):
        kids = [("primary", node.runnable, scope.child("primary"))]
        kids += [(f"fallback{i}", fb, scope.child(f"fallback{i}")) for i, fb in enumerate(node.fallbacks)]
        return kids, lambda new: _copy(node, {"runnable": new[0], "fallbacks": list(new[1:])})
    if isinstance(node, RouterRunnable):
        keys = list(node.runnables)
        kids = [(k, node.runnables[k], scope.child(k)) for k in keys]
        return kids, lambda new: _copy(node, {"runnables": dict(zip(keys, new))})
    if isinstance(node, RunnableConfigurableFields):
        declared = frozenset(node.fields)
        return (
            [(None, node.default, scope.child(None, declared=declared))],
            lambda new: _copy(node, {"default": new[0]}),
        )
    if isinstance(node, RunnableConfigurableAlternatives):
        return _alternatives(node, scope)
    return None


def _alternatives(
    node: RunnableConfigurableAlternatives[Any, Any], scope: Scope
) -> tuple[list[Child], Callable[[list[Any]], Any]]:
    which = node.which.id
    keys = [k for k, alt in node.alternatives.items() if isinstance(alt, Runnable)]  # factories stay opaque

    def scoped(key: str) -> Scope:
        prefix = f"{scope.id_prefix}{which}=={key}/" if node.prefix_keys else scope.id_prefix
        return scope.child(f"{which}=={key}", when=(scope.id_prefix + which, key), id_prefix=prefix)

    kids: list[Child] = [(node.default_key, node.default, scoped(node.default_key))]
    kids += [(k, alt, scoped(k)) for k in keys if isinstance(alt := node.alternatives[k], Runnable)]

    def put(new: list[Any]) -> Any:
        return _copy(node, {"default": new[0], "alternatives": {**node.alternatives, **dict(zip(keys, new[1:]))}})

    return kids, put


def walk(node: Runnable[Any, Any], scope: Scope | None = None, found: Found | None = None) -> Found:
    """Every model site, text site and declared field under ``node``."""
    scope = scope or Scope()
    found = found if found is not None else Found()
    if isinstance(node, RunnableConfigurableFields):
        for field_name, spec in node.fields.items():
            if isinstance(spec, ConfigurableField):
                spec_id = spec.id if spec.is_shared else scope.id_prefix + spec.id
                found.fields[spec_id] = DeclaredField(spec_id, type(node.default), field_name, node.default)
    if isinstance(node, RunnableBinding) and isinstance(node.bound, BaseChatModel):
        found.models.append(_model_site(node.bound, node.kwargs, scope))
        return found
    if isinstance(node, BaseChatModel):
        found.models.append(_model_site(node, {}, scope))
        return found
    if isinstance(node, BasePromptTemplate):
        found.texts.extend(_text_sites(node, scope))
        if isinstance(node, ChatPromptTemplate) and _is_chat_site(node, scope):
            found.chats.append(ChatSite(f"{scope.prefix()}prompt", scope.when))
        return found
    structure = _children(node, scope)
    if structure is not None:
        for _, child, child_scope in structure[0]:
            walk(child, child_scope, found)
    return found


def _is_chat_site(prompt: BasePromptTemplate[Any], scope: Scope) -> bool:
    """A ChatPromptTemplate whose messages are not declared configurable (LangChain would replace them)."""
    return isinstance(prompt, ChatPromptTemplate) and "messages" not in scope.declared


def _model_site(model: BaseChatModel, kwargs: Mapping[str, Any], scope: Scope) -> ModelSite:
    register_secrets_of(model)  # its api_key, secret headers: masked wherever stacktune stores or prints
    register_secrets_in(kwargs)
    return ModelSite(f"{scope.prefix()}model", model, dict(kwargs), scope.declared, scope.when)


def _role(message: object) -> str:
    if isinstance(message, ChatMessagePromptTemplate):
        return message.role
    if isinstance(message, BaseMessage):
        return message.type
    name = type(message).__name__.removesuffix("MessagePromptTemplate").lower()
    return name or "message"


def _text_sites(prompt: BasePromptTemplate[Any], scope: Scope) -> list[TextSite]:
    base = f"{scope.prefix()}prompt"
    available = frozenset(prompt.input_variables) | frozenset(prompt.partial_variables)
    if isinstance(prompt, PromptTemplate):
        if "template" in scope.declared:
            return []
        return [TextSite(base, prompt.template, prompt.template_format, available, scope.when)]
    if not isinstance(prompt, ChatPromptTemplate) or "messages" in scope.declared:
        return []
    names = _message_names(prompt, scope)
    sites = []
    for index, message in enumerate(prompt.messages):
        name = names[index]
        inner = getattr(message, "prompt", None)
        if isinstance(message, BaseMessagePromptTemplate) and isinstance(inner, PromptTemplate):
            sites.append(TextSite(name, inner.template, inner.template_format, available, scope.when))
        elif isinstance(message, BaseMessage) and isinstance(message.content, str):
            sites.append(TextSite(name, message.content, None, available, scope.when))
    return sites


def rebuild(node: Runnable[Any, Any], edits: Edits, scope: Scope | None = None) -> Runnable[Any, Any]:
    """A copy of ``node`` with the edits applied; the same object where nothing changes."""
    scope = scope or Scope()
    if isinstance(node, RunnableBinding) and isinstance(node.bound, BaseChatModel):
        return _rebuild_model(node.bound, dict(node.kwargs), edits, scope, binding=node)
    if isinstance(node, BaseChatModel):
        return _rebuild_model(node, {}, edits, scope, binding=None)
    if isinstance(node, BasePromptTemplate):
        return _rebuild_prompt(node, edits, scope)
    structure = _children(node, scope)
    if structure is None:
        return node
    kids, put = structure
    new = [rebuild(child, edits, child_scope) for _, child, child_scope in kids]
    if all(a is b for a, b in zip(new, (child for _, child, _ in kids))):
        return node
    result: Runnable[Any, Any] = put(new)
    return result


def _rebuild_model(
    model: BaseChatModel, kwargs: dict[str, Any], edits: Edits, scope: Scope, binding: RunnableBinding[Any, Any] | None
) -> Runnable[Any, Any]:
    name = f"{scope.prefix()}model"
    if name not in edits.models:
        return binding if binding is not None else model
    replacement, params = edits.models[name]
    target = replacement if replacement is not None else model
    fields = type(target).model_fields
    field_updates = {p: v for p, v in params.items() if p in fields and p not in kwargs}
    kwarg_updates = {p: v for p, v in params.items() if p in kwargs}
    new_model = _copy(target, field_updates) if field_updates else target
    if binding is None:
        return new_model
    return _copy(binding, {"bound": new_model, "kwargs": {**kwargs, **kwarg_updates}})


def _with_text(template: PromptTemplate, text: str) -> PromptTemplate:
    partial = template.partial_variables
    variables = [v for v in get_template_variables(text, template.template_format) if v not in partial]
    return _copy(template, {"template": text, "input_variables": variables})


def _rebuild_prompt(prompt: BasePromptTemplate[Any], edits: Edits, scope: Scope) -> Runnable[Any, Any]:
    sites = {s.name: s for s in _text_sites(prompt, scope)}
    changes = {name: edits.texts[name] for name in sites if name in edits.texts}
    if isinstance(prompt, PromptTemplate):
        return _with_text(prompt, next(iter(changes.values()))) if changes else prompt
    if not isinstance(prompt, ChatPromptTemplate) or not _is_chat_site(prompt, scope):
        return prompt
    path = f"{scope.prefix()}prompt"
    demos = list(edits.demos.get(path, ()))
    new = _with_texts(prompt, changes, scope) if changes else prompt
    if demos:
        messages = list(new.messages)
        at = _after_system(messages)
        new = _copy(new, {"messages": [*messages[:at], *demos, *messages[at:]]})
    if edits.traced:
        new = _copy(new, {"metadata": {**(new.metadata or {}), TRACE_KEY: path}})
    return new


def _after_system(messages: Sequence[object]) -> int:
    """The index after a chat prompt's leading system messages (templates or literal): where demos go."""
    at = 0
    while at < len(messages) and _role(messages[at]) == "system":
        at += 1
    return at


def _with_texts(prompt: ChatPromptTemplate, changes: Mapping[str, str], scope: Scope) -> ChatPromptTemplate:
    by_message = _message_names(prompt, scope)
    messages: list[Any] = []
    for index, message in enumerate(prompt.messages):
        text = changes.get(by_message.get(index, ""))
        if text is None:
            messages.append(message)
        elif isinstance(message, BaseMessage):
            messages.append(_copy(message, {"content": text}))
        else:
            inner: PromptTemplate = getattr(message, "prompt")  # noqa: B009 - a text site has one
            messages.append(_copy(message, {"prompt": _with_text(inner, text)}))
    partial = set(prompt.partial_variables)
    variables = sorted(
        {
            v
            for m in messages
            if isinstance(m, (BaseMessagePromptTemplate, BaseChatPromptTemplate))
            for v in m.input_variables
        }
        - partial
    )
    return _copy(prompt, {"messages": messages, "input_variables": variables})


def _message_names(prompt: ChatPromptTemplate, scope: Scope) -> dict[int, str]:
    base = f"{scope.prefix()}prompt"
    roles = [_role(m) for m in prompt.messages]
    return {i: f"{base}.{r}" if roles.count(r) == 1 else f"{base}.{r}{i}" for i, r in enumerate(roles)}


__all__ = [
    "TRACE_KEY",
    "ChatSite",
    "DeclaredField",
    "Edits",
    "Found",
    "ModelSite",
    "Scope",
    "TextSite",
    "rebuild",
    "walk",
]
