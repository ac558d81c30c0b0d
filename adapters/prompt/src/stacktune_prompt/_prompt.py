"""``Prompt``: a raw-prompt LLM program (instructions, template, demos, parser, model).

A Prompt is immutable; every knob the adapter tunes is a field, so a configuration is
applied with ``dataclasses.replace``. Calling it renders chat messages, asks the model
(through the response cache and retries) and parses the answer.
"""

from __future__ import annotations

import dataclasses
import json
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stacktune import SAMPLING_KNOBS, Categorical, Usage, record_usage
from stacktune.cache import CachedResponse, FileCache, ResponseCache, default_file_cache, resolve_cache
from stacktune.knobs import DEMO_ORDERS, demo_order_key, demo_ordering, demo_pool_digest
from stacktune.pricing import Price, check_prices
from stacktune_prompt._cache import request_key
from stacktune_prompt._models import ChatModel, RetryPolicy, cache_identity, model_call_cost

Parser = Callable[[str], Any]


@dataclass(frozen=True)
class OutputFormat:
    """How the model is asked to answer and how its text is read back.

    ``instructions`` is appended to the system text (e.g. "Answer with one word.");
    ``answer`` is the template of a demo's answer for this format (default: the
    Prompt's ``answer``), so the demos show the model the format it must use.
    """

    parse: Parser
    instructions: str = ""
    answer: str | None = None


def _catalogue_range(knob: str) -> tuple[float, float] | None:
    return SAMPLING_KNOBS[knob].range


@dataclass(frozen=True)
class SearchRanges:
    """Where the search may move the sampling knobs; ``None`` keeps the current value unsearched.

    The defaults are the ranges of ``stacktune.SAMPLING_KNOBS`` (the same in every
    adapter), widened to hold the Prompt's current value; a range you give is taken as
    it is. ``step`` puts temperature and top_p on a grid so that a configuration can
    repeat (and then costs nothing, thanks to the cache).
    """

    temperature: tuple[float, float] | None = _catalogue_range("temperature")
    top_p: tuple[float, float] | None = _catalogue_range("top_p")
    max_tokens: tuple[float, float] | None = _catalogue_range("max_tokens")
    step: float | None = SAMPLING_KNOBS["temperature"].step


@dataclass(frozen=True)
class Reply:
    """One answer: the parsed prediction, the raw text, its usage, whether it came from the cache."""

    prediction: Any
    text: str
    usage: Usage
    cached: bool


def template_fields(template: str, what: str = "template") -> tuple[str, ...]:
    """The named fields of a str.format template (``{text}``, ``{item.name}`` -> ``item``)."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{what} {template!r} is not a valid str.format template: {exc}") from None
    for _, name, _, _ in parsed:
        if name is None:
            continue
        base = name.split(".")[0].split("[")[0]
        if not base or base.isdigit():
            raise ValueError(f"{what} {template!r} uses a positional field {{{name}}}; name every field")
        if base not in names:
            names.append(base)
    return tuple(names)


def _fields(record: object, needed: Sequence[str], what: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise TypeError(f"{what} must be a mapping of field name to value (e.g. a dict), got {type(record).__name__}")
    missing = [name for name in needed if name not in record]
    if missing:
        raise KeyError(
            f"{what} has no field {', '.join(map(repr, missing))} used by the template; "
            f"it has {sorted(map(str, record))}"
        )
    return record


def _label(model: object) -> str:
    for attribute in ("name", "model"):
        name = getattr(model, attribute, None)
        if isinstance(name, str) and name:
            return name
    return type(model).__name__


def _check_model(model: object, what: str) -> None:
    if not callable(getattr(model, "create_chat_completion", None)):
        raise TypeError(
            f"{what} must have create_chat_completion(**kwargs) (an Endpoint or an in-process "
            f"client), got {type(model).__name__}"
        )


def _as_format(parser: Parser | OutputFormat) -> OutputFormat:
    if isinstance(parser, OutputFormat):
        return parser
    if not callable(parser):
        raise TypeError(f"a parser must be callable (text -> prediction) or an OutputFormat, got {parser!r}")
    return OutputFormat(parse=parser)


def _strip(text: str) -> str:
    return text.strip()


@dataclass(frozen=True, repr=False)
class Prompt:
    """A prompt program: one chat call per example, its answer parsed into a prediction.

    - ``instructions``: the system text; ``instruction_candidates``: alternatives the search may pick.
    - ``template``: the user message, a str.format template over the example's fields.
    - ``model``: a model object (an :class:`~stacktune_prompt.Endpoint` or any in-process client with
      ``create_chat_completion``), or the name of one in ``models`` (several: the search picks).
    - ``parser``: text -> prediction (or an :class:`OutputFormat`), or the name of one in ``parsers``.
    - ``demos``: the few-shot pool (mappings with the template's fields and the answer's fields);
      ``n_demos`` of them are shown, in the pool's order (``demo_order=0``) or in one of
      ``demo_orders - 1`` seeded shuffles; ``max_demos`` caps how many the search may show.
    - ``answer``: the template of a demo's answer (the assistant turn), e.g. ``"{label}"``.
    - sampling: ``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``; ``ranges``: where to search.
    - ``cache``: True (the study's cache inside a study's trials, else ``.stacktune-cache/``), False,
      a directory or a :class:`~stacktune.cache.ResponseCache` (used in and out of studies).
    """

    instructions: str
    template: str
    model: ChatModel | str | None = None
    models: Mapping[str, ChatModel] = field(default_factory=dict)
    parser: Parser | OutputFormat | str | None = None
    parsers: Mapping[str, Parser | OutputFormat] = field(default_factory=dict)
    instruction_candidates: Sequence[str] = ()
    demos: Sequence[Mapping[str, Any]] = ()
    answer: str = "{answer}"
    n_demos: int = 0
    max_demos: int | None = None
    demo_order: int = 0
    demo_orders: int = DEMO_ORDERS
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int | None = 0
    stop: Sequence[str] = ()
    ranges: SearchRanges = SearchRanges()
    cache: ResponseCache | str | Path | bool | None = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    prices: Mapping[str, Price] = field(default_factory=dict)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # normalize once; dataclasses.replace feeds the normal forms back in
        models, model_name = self._normalize_models()
        set_(self, "models", MappingProxyType(models))
        set_(self, "model", model_name)
        parsers, parser_name = self._normalize_parsers()
        set_(self, "parsers", MappingProxyType(parsers))
        set_(self, "parser", parser_name)
        candidates = Categorical.with_current("instructions", list(self.instruction_candidates), self.instructions)
        set_(self, "instruction_candidates", tuple(candidates.choices.values()))
        set_(
            self, "demos", tuple(MappingProxyType(dict(_fields(d, (), f"demo #{i}"))) for i, d in enumerate(self.demos))
        )
        set_(self, "stop", tuple(self.stop))
        set_(self, "prices", MappingProxyType(check_prices(self.prices)))
        set_(self, "cache", _normalize_cache(self.cache))
        self._check()

    def _normalize_models(self) -> tuple[dict[str, ChatModel], str]:
        models = dict(self.models)
        for name, known in models.items():
            _check_model(known, f"models[{name!r}]")
        model = self.model
        if model is None:
            if not models:
                raise ValueError("Prompt needs a model: model=Endpoint(...) or an in-process client")
            return models, next(iter(models))
        if isinstance(model, str):
            if model not in models:
                raise ValueError(f"model {model!r} is not one of the models {sorted(models)}")
            return models, model
        _check_model(model, "model")
        for name, known in models.items():
            if known is model:
                return models, name
        name = _label(model)
        if name in models:
            raise ValueError(f"model {name!r} clashes with a model of the same name in models; pass its name")
        return {name: model, **models}, name

    def _normalize_parsers(self) -> tuple[dict[str, OutputFormat], str]:
        parsers = {name: _as_format(p) for name, p in self.parsers.items()}
        parser = self.parser
        if parser is None:
            if not parsers:
                return {"text": OutputFormat(parse=_strip)}, "text"
            return parsers, next(iter(parsers))
        if isinstance(parser, str):
            if parser not in parsers:
                raise ValueError(f"parser {parser!r} is not one of the parsers {sorted(parsers)}")
            return parsers, parser
        for name, known in parsers.items():
            if known is parser or known.parse is parser:
                return parsers, name
        name = getattr(parser, "__name__", None) or "parser"
        return {name: _as_format(parser), **parsers}, name

    def _check(self) -> None:
        self.template_fields  # noqa: B018 - validates the template
        if self.max_demos is not None and not 0 <= self.max_demos <= len(self.demos):
            raise ValueError(f"max_demos={self.max_demos} is outside 0..{len(self.demos)} (the pool size)")
        if not 0 <= self.n_demos <= self.demo_limit:
            raise ValueError(
                f"n_demos={self.n_demos} is outside 0..{self.demo_limit} "
                f"(a pool of {len(self.demos)} demos, max_demos={self.max_demos})"
            )
        if self.demo_orders < 1 or not 0 <= self.demo_order < self.demo_orders:
            raise ValueError(f"demo_order={self.demo_order} must be in 0..{self.demo_orders - 1} (demo_orders)")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.max_tokens < 1:
            raise ValueError(
                f"bad sampling settings: temperature={self.temperature} (>= 0), top_p={self.top_p} "
                f"(in (0, 1]), max_tokens={self.max_tokens} (>= 1)"
            )
        for name in self.parsers:
            answer = self._answer_template(_as_format(self.parsers[name]))
            needed = (*self.template_fields, *template_fields(answer, f"answer template of parser {name!r}"))
            for index, demo in enumerate(self.demos):
                _fields(demo, needed, f"demo #{index}")

    # Read-only mappings (MappingProxyType) cannot be pickled: a copy holds dicts and gets its proxies back.
    _PROXIED = ("models", "parsers", "prices")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._PROXIED:
            state[name] = dict(state[name])
        state["demos"] = tuple(dict(demo) for demo in state["demos"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for name in self._PROXIED:
            state[name] = MappingProxyType(dict(state[name]))
        state["demos"] = tuple(MappingProxyType(dict(demo)) for demo in state["demos"])
        self.__dict__.update(state)

    def __repr__(self) -> str:
        shown = _short(str(self.instructions), 40)
        return (
            f"Prompt(model={self.model!r}, parser={self.parser!r}, instructions={shown!r}, "
            f"n_demos={self.n_demos}/{len(self.demos)}, demo_order={self.demo_order}, "
            f"temperature={self.temperature}, top_p={self.top_p}, max_tokens={self.max_tokens}, "
            f"seed={self.seed})"
        )

    # -- saving -------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What a configuration changes, as JSON-ready values: texts, demos, sampling, model and parser names.

        Models and parsers are code and connections, so only their names are kept: :meth:`load`
        finds them again in the Prompt it is given.
        """
        return {
            "instructions": self.instructions,
            "template": self.template,
            "answer": self.answer,
            "demos": [dict(d) for d in self.demos],
            "n_demos": self.n_demos,
            "max_demos": self.max_demos,
            "demo_order": self.demo_order,
            "demo_orders": self.demo_orders,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop),
            "model": self.model,
            "parser": self.parser,
        }

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state` to a JSON file (``Prompt.load(path, like=...)`` reads it back)."""
        path = Path(path)
        path.write_text(json.dumps(self.state(), indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, *, like: Prompt) -> Prompt:
        """``like`` with the saved state: its models, parsers, cache and prices, the saved texts and settings.

        A saved model or parser name that ``like`` does not have is an error naming it.
        """
        state = json.loads(Path(path).read_text())
        unknown = set(state) - set(like.state())
        if unknown:
            raise ValueError(f"{path}: unknown Prompt field(s) {sorted(unknown)}; known: {sorted(like.state())}")
        for name, known in (("model", like.models), ("parser", like.parsers)):
            if state.get(name) is not None and state[name] not in known:
                raise ValueError(
                    f"{path}: saved {name} {state[name]!r} is not one of {sorted(known)} of the given Prompt"
                )
        state["demos"] = tuple(state.get("demos", ()))
        state["stop"] = tuple(state.get("stop", ()))
        return dataclasses.replace(like, **state)

    # -- what the knobs resolve to ------------------------------------------------
    @cached_property
    def template_fields(self) -> tuple[str, ...]:
        return template_fields(self.template)

    @property
    def client(self) -> ChatModel:
        """The model object answering now."""
        return self.models[str(self.model)]

    @property
    def response_cache(self) -> ResponseCache | None:
        """The cache a reply uses now: the one given, else the study's inside a trial, else the file cache."""
        if self.cache is True:
            return resolve_cache(True, default=default_file_cache())
        return self.cache if isinstance(self.cache, ResponseCache) else None

    @property
    def output_format(self) -> OutputFormat:
        return _as_format(self.parsers[str(self.parser)])

    @property
    def demo_limit(self) -> int:
        return len(self.demos) if self.max_demos is None else self.max_demos

    def demo_ordering(self, order: int) -> tuple[int, ...]:
        """Pool indices in the given order: 0 is the pool's own order, k > 0 a shuffle seeded by k."""
        return tuple(demo_ordering(len(self.demos), order))

    @cached_property
    def pool_digest(self) -> str:
        """A short hash of the demo pool: part of every ``demo_order`` key, so a study notices a changed pool."""
        return demo_pool_digest([dict(d) for d in self.demos])

    def demo_order_key(self, order: int) -> str:
        """A stable label for an ordering; it changes when the pool changes, so studies notice."""
        return demo_order_key(order, self.pool_digest)

    @property
    def selected_demos(self) -> tuple[Mapping[str, Any], ...]:
        return tuple(self.demos[i] for i in self.demo_ordering(self.demo_order)[: self.n_demos])

    # -- running ------------------------------------------------------------------
    def check_examples(self, examples: Sequence[object]) -> None:
        """Raise a clear error for the first example missing a template field (before spending anything)."""
        for index, example in enumerate(examples):
            _fields(example, self.template_fields, f"example #{index}")

    def _answer_template(self, fmt: OutputFormat) -> str:
        return fmt.answer if fmt.answer is not None else self.answer

    @cached_property
    def _leading_turns(self) -> tuple[tuple[str, str], ...]:
        """(role, content) before the example: the system text, then the demos. Rendered once per Prompt."""
        fmt = self.output_format
        system = "\n\n".join(part for part in (self.instructions, fmt.instructions) if part)
        answer = self._answer_template(fmt)
        turns = [("system", system)] if system else []
        for demo in self.selected_demos:
            turns += [("user", self.template.format(**demo)), ("assistant", answer.format(**demo))]
        return tuple(turns)

    def messages(self, example: object) -> list[dict[str, str]]:
        """The chat messages for one example: system, the demos as turns, then the example."""
        fields = _fields(example, self.template_fields, "example")
        messages = [{"role": role, "content": content} for role, content in self._leading_turns]
        messages.append({"role": "user", "content": self.template.format(**fields)})
        return messages

    def request(self, example: object) -> dict[str, Any]:
        """The keyword arguments of ``create_chat_completion`` for one example."""
        request: dict[str, Any] = {
            "messages": self.messages(example),
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        if self.seed is not None:
            request["seed"] = self.seed
        if self.stop:
            request["stop"] = list(self.stop)
        return request

    def reply(self, example: object) -> Reply:
        """Answer one example (from the cache when it was asked before); its usage is recorded at once."""
        request = self.request(example)
        client = self.client
        cache = self.response_cache
        key = request_key(cache_identity(client), request) if cache is not None else ""
        recorded = cache.get(key) if cache is not None else None
        cached = recorded is not None
        if recorded is None:

            def attempt() -> tuple[Mapping[str, Any], float]:
                start = time.perf_counter()  # the answering call only, not the backoff before it
                try:
                    return client.create_chat_completion(**request), time.perf_counter() - start
                except Exception:
                    record_usage(_FAILED_CALL)  # every attempt counts toward a call budget, retries included
                    raise

            response, latency = self.retry.call(attempt)
            try:
                recorded = _recorded(response, latency)
            except ValueError:
                record_usage(_FAILED_CALL)  # answered, but with nothing usable: a call all the same
                raise
            if cache is not None:
                cache.put(key, recorded)
        usage = self._usage(recorded, cached)
        record_usage(usage)  # before parsing: a reply that does not parse was paid for all the same
        return Reply(self.output_format.parse(recorded.text), recorded.text, usage, cached)

    def __call__(self, example: object) -> Any:
        """The prediction for one example (a mapping with the template's fields)."""
        return self.reply(example).prediction

    def _usage(self, recorded: CachedResponse, cached: bool) -> Usage:
        priced = model_call_cost(self.client, recorded.input_tokens, recorded.output_tokens, self.prices)
        tokens = recorded.input_tokens + recorded.output_tokens
        cost = priced or 0.0
        return Usage(
            calls=1,
            input_tokens=recorded.input_tokens,
            output_tokens=recorded.output_tokens,
            cost_usd=cost,
            unpriced_calls=int(priced is None),
            cache_hits=int(cached),
            cached_tokens=tokens if cached else 0,
            cached_cost_usd=cost if cached else 0.0,
            latencies=(recorded.latency,),
        )


_FAILED_CALL = Usage(calls=1, failed_calls=1)


def _recorded(response: Mapping[str, Any], latency: float) -> CachedResponse:
    try:
        content = response["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ValueError(f"the model answered in an unexpected shape: {str(response)[:200]}") from None
    usage = response.get("usage") or {}
    return CachedResponse(
        text=content or "",
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        latency=latency,
    )


def _normalize_cache(cache: ResponseCache | str | Path | bool | None) -> ResponseCache | bool | None:
    if cache is True:
        return True  # resolved at each reply: the study's cache inside a trial, else the file cache
    if cache is False or cache is None:
        return None
    if isinstance(cache, ResponseCache):
        return cache
    if isinstance(cache, (str, Path)):
        return FileCache(cache)
    raise TypeError(f"cache must be True, False, a directory or a ResponseCache, got {cache!r}")


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["OutputFormat", "Parser", "Prompt", "Reply", "SearchRanges", "template_fields"]
