"""Bootstrapped demos for a chain's chat prompts: traces of the model step, demo knobs, the messages they add.

A chain's model step sees a rendered prompt, not the dataset example, so a demo is what
one chat prompt rendered for an example (its final human turn) and what the model answered
to it: a *trace*, ``{prompt path: [{"human": ..., "ai": ...}]}``, recorded by
:class:`TraceRecorder` while the adapter runs the chain. The bootstrap keeps the traces of
the examples that passed; each prompt they name then gets a pool of demo pairs and two
knobs from the core catalogue (``stacktune.knobs.demo_variables``, as the prompt adapter's
``n_demos`` / ``demo_order``): ``<path>.n_demos`` (how many
pairs are shown, 0 = the prompt as written) and ``<path>.demo_order`` (which ones: the
first ``n_demos`` of the pool's own order or of a seeded shuffle; its keys carry a hash of
the pool, so a stored study refuses a changed pool). The pairs go in as literal
``HumanMessage`` / ``AIMessage`` messages after the prompt's leading system messages: never
templates, so a ``{`` in a demo stays text.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.outputs import LLMResult

from stacktune import InvalidConfiguration, Variable
from stacktune.knobs import demo_ordering, demo_pool_digest
from stacktune.knobs import demo_variables as catalogue_demo_variables
from stacktune_langchain._tree import TRACE_KEY

#: What a trace looks like, for error messages.
TRACE_SHAPE = "traces {prompt path: [{'human': text, 'ai': text}, ...]} (or None)"

Pair = tuple[str, str]


@dataclass(frozen=True)
class DemoPool:
    """The demo pairs (human text, AI text) offered at one chat prompt, in trace order, and how many may show."""

    pairs: tuple[Pair, ...]
    max_demos: int

    @property
    def limit(self) -> int:
        """The most demos shown at once."""
        return min(self.max_demos, len(self.pairs))

    @property
    def digest(self) -> str:
        """A short hash of the pool: part of every ordering's key, so a changed pool is noticed."""
        return demo_pool_digest(self.pairs)

    def messages(self, n_demos: int, order: int) -> list[BaseMessage]:
        """The first ``n_demos`` pairs of an ordering as literal messages (human, then AI, per pair)."""
        shown = [self.pairs[i] for i in demo_ordering(len(self.pairs), order)[:n_demos]]
        return [message for human, ai in shown for message in (HumanMessage(human), AIMessage(ai))]

    def joined(self, pairs: Sequence[Pair], max_demos: int) -> DemoPool:
        """This pool with more pairs (repeats left out) and the larger limit."""
        added = [pair for index, pair in enumerate(pairs) if pair not in self.pairs and pair not in pairs[:index]]
        return DemoPool((*self.pairs, *added), max(self.max_demos, max_demos))


@dataclass(frozen=True)
class DemoKnobs:
    """The demo knobs of one chat prompt: its pool, the ``n_demos`` variable and the ``demo_order`` one (if any)."""

    site: str
    pool: DemoPool
    count: str
    order: str | None


def demo_variables(site: str, pool: DemoPool, when: Mapping[str, Any] | None) -> tuple[DemoKnobs, list[Variable]]:
    """The core catalogue's demo knobs at one chat prompt (``<site>.n_demos``, default 0: the prompt as written)."""
    variables = catalogue_demo_variables(
        site,
        limit=pool.limit,
        pool_size=len(pool.pairs),
        digest=pool.digest,
        when=when,
        where=f"the chat prompt {site}",
    )
    order = variables[1].name if len(variables) > 1 else None
    return DemoKnobs(site, pool, variables[0].name, order), variables


def pools_from_traces(
    traces: Sequence[object], sites: Collection[str], existing: Mapping[str, DemoPool], max_demos: int
) -> dict[str, DemoPool]:
    """Every prompt's pool with the pairs of ``traces`` added, in trace order (checked: each names a known prompt)."""
    if isinstance(max_demos, bool) or not isinstance(max_demos, int) or max_demos < 1:
        raise InvalidConfiguration("max_demos", max_demos, "a whole number >= 1")
    if isinstance(traces, (str, bytes, Mapping)) or not isinstance(traces, Sequence):
        raise InvalidConfiguration("demos", traces, f"a list of {TRACE_SHAPE}", reason="not a list")
    found: dict[str, list[Pair]] = {}
    for index, trace in enumerate(traces):
        if trace is None:
            continue
        if not isinstance(trace, Mapping):
            raise InvalidConfiguration("demos", trace, TRACE_SHAPE, reason=f"trace #{index} is no mapping")
        for site, pairs in trace.items():
            if site not in sites:
                raise InvalidConfiguration(
                    str(site),
                    trace,
                    f"one of the chain's chat prompts {sorted(sites)}",
                    reason=f"trace #{index} is for a prompt this chain does not have (traced on another chain?)",
                )
            found.setdefault(site, []).extend(_pairs(pairs, f"trace #{index} at {site!r}"))
    pools = dict(existing)
    for site, pairs in found.items():
        pools[site] = pools.get(site, DemoPool((), max_demos)).joined(pairs, max_demos)
    return pools


def _pairs(given: object, where: str) -> list[Pair]:
    if isinstance(given, (str, bytes, Mapping)) or not isinstance(given, Sequence):
        raise InvalidConfiguration("demos", given, TRACE_SHAPE, reason=f"{where} is not a list of pairs")
    pairs: list[Pair] = []
    for number, pair in enumerate(given):
        human = pair.get("human") if isinstance(pair, Mapping) else None
        ai = pair.get("ai") if isinstance(pair, Mapping) else None
        if not isinstance(human, str) or not isinstance(ai, str):
            raise InvalidConfiguration(
                "demos", pair, TRACE_SHAPE, reason=f"pair #{number} of {where} needs 'human' and 'ai' texts"
            )
        pairs.append((human, ai))
    return pairs


def _final_turn(messages: Sequence[BaseMessage]) -> str:
    """The human messages at the end of a rendered prompt (its final turn), joined; "" when it ends otherwise."""
    texts: list[str] = []
    for message in reversed(messages):
        if message.type != "human":
            break
        texts.append(str(message.text))
    return "\n\n".join(reversed(texts))


def _key(messages: Sequence[BaseMessage]) -> tuple[tuple[str, str], ...]:
    return tuple((m.type, str(m.text)) for m in messages)


class TraceRecorder(BaseCallbackHandler):
    """Records, per chat prompt of the chain, each model step it fed: the prompt's final human turn and the answer.

    One recorder per example. A prompt is known by the path it carries as metadata
    (``Edits(traced=True)``); a model call is matched to the prompt whose rendered
    messages it was sent as they were. Calls fed by anything else are not recorded.
    """

    run_inline = True

    def __init__(self, sites: Collection[str]) -> None:
        self._sites = frozenset(sites)
        self._lock = threading.Lock()
        self._prompts: dict[UUID, str] = {}
        self._rendered: list[tuple[str, tuple[tuple[str, str], ...], str]] = []
        self._pending: dict[UUID, tuple[str, str]] = {}
        self._pairs: dict[str, list[dict[str, str]]] = {}

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the runs of traced chat prompts."""
        site = (metadata or {}).get(TRACE_KEY)
        if site in self._sites:
            with self._lock:
                self._prompts[run_id] = site

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Keep what a traced prompt rendered."""
        with self._lock:
            site = self._prompts.pop(run_id, None)
        to_messages = getattr(outputs, "to_messages", None)
        if site is None or not callable(to_messages):
            return
        messages = to_messages()
        with self._lock:
            self._rendered.append((site, _key(messages), _final_turn(messages)))

    def on_chat_model_start(
        self, serialized: dict[str, Any] | None, messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        """Match the call to the prompt it was fed by (the latest one that rendered exactly these messages)."""
        sent = _key(messages[0]) if len(messages) == 1 else None
        with self._lock:
            for site, rendered, human in reversed(self._rendered):
                if rendered == sent and human:
                    self._pending[run_id] = (site, human)
                    break

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Pair a matched call's answer with its prompt's final turn."""
        with self._lock:
            fed = self._pending.pop(run_id, None)
        answer = response.generations[0][0].text if response.generations and response.generations[0] else ""
        if fed is None or not answer.strip():
            return
        with self._lock:
            self._pairs.setdefault(fed[0], []).append({"human": fed[1], "ai": answer})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A failed call makes no pair."""
        with self._lock:
            self._pending.pop(run_id, None)

    def trace(self) -> dict[str, list[dict[str, str]]] | None:
        """``{prompt path: [{"human": ..., "ai": ...}]}``, plain JSON; None when no traced prompt fed a model."""
        with self._lock:
            return {site: list(pairs) for site, pairs in self._pairs.items()} or None


__all__ = [
    "DemoKnobs",
    "DemoPool",
    "TraceRecorder",
    "demo_variables",
    "pools_from_traces",
]
