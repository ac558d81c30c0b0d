"""LangChainAdapter: any Runnable as a stacktune Optimizable.

The user hands over the chain they already have. Declared knobs (``config_specs``) are
applied through ``with_config(configurable=...)`` after checking every key, because
LangChain silently ignores unknown ones; undeclared knobs (a chat model's sampling
parameters, a prompt's text, an alternative model) are applied by rebuilding the tree
with copies. The original runnable is never touched.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig

from stacktune import (
    Constraint,
    Evaluation,
    InstructionSite,
    InvalidConfiguration,
    Metric,
    ModelCall,
    ResultCallback,
    Space,
    Variable,
    aevaluate_examples,
    evaluate_examples,
    record_usage,
)
from stacktune.cache import CacheOption, as_cache_option
from stacktune.pricing import Prices, check_prices
from stacktune.space import ConstraintCheck
from stacktune_langchain._cache import StacktuneLLMCache
from stacktune_langchain._declared import RUNTIME_KEYS, KnobCandidates
from stacktune_langchain._demos import DemoKnobs, TraceRecorder, pools_from_traces
from stacktune_langchain._knobs import (
    DEFAULT_SAMPLING_PARAMS,
    KnobMap,
    ModelCandidates,
    PromptCandidates,
    TuningOptions,
    build_knob_map,
)
from stacktune_langchain._tree import Edits, ModelSite, TextSite, rebuild, walk
from stacktune_langchain._usage import CallRecorder, UsageCallbackHandler

#: A trace of one example: per chat prompt path, the model steps it fed (``{"human": ..., "ai": ...}``).
Trace = dict[str, list[dict[str, str]]]


class LangChainAdapter:
    """A LangChain runnable that stacktune can tune, evaluate and hand back.

    Args:
        runnable: any Runnable (a chain, a chat model, a prompt...); never modified.
        input_of: turns a dataset example into the runnable's input (default: the
            example itself, e.g. a dict of the prompt's variables).
        prompts: candidate texts per prompt text variable (``{"step0.prompt.system":
            [...]}``), or a plain list when the chain has a single prompt text.
        models: alternative chat models per model site (``{"step1.model": [...]}`` or
            ``{"step1.model": {"small": m1, "big": m2}}``), or a plain list/mapping of
            models when the chain has a single chat model.
        candidates: candidates for declared ``configurable_fields`` that are not numbers
            (a system prompt, a model name), by config id.
        bounds: ``{variable: (low, high)}`` replacing the bounds of numeric knobs.
        variables: whole variables replacing extracted ones of the same name.
        exclude: names or glob patterns of knobs not to tune.
        sampling_params: the chat model parameters exposed on undeclared models.
        undeclared: also expose knobs the chain does not declare (default True).
        runtime_keys: configurable keys that are not hyperparameters (left out).
        prices: ``{model name: stacktune.Price}`` overriding ``stacktune.pricing``'s table
            (``stacktune.FREE`` for a local server); a model priced nowhere is unpriced.
        constraints: rules over whole configurations (``stacktune.Constraint`` or
            functions returning a message when a combination is not allowed).
        cache: where the chat models' answers are kept while the adapter runs them: ``None``
            (default) the study's response cache inside a study's trials (LangChain's own
            global cache elsewhere), a ``stacktune.cache.ResponseCache`` (or a URL, a
            directory) always, ``False`` never. Installed as the ``cache`` of every chat model
            whose ``cache`` is unset; :meth:`to_native` hands the chain back without it.
    """

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        *,
        input_of: Callable[[Any], Any] | None = None,
        prompts: PromptCandidates | None = None,
        models: ModelCandidates | None = None,
        candidates: Mapping[str, KnobCandidates] | None = None,
        bounds: Mapping[str, tuple[float, float]] | None = None,
        variables: Sequence[Variable] = (),
        exclude: Sequence[str] = (),
        sampling_params: Sequence[str] = DEFAULT_SAMPLING_PARAMS,
        undeclared: bool = True,
        runtime_keys: frozenset[str] | Sequence[str] = RUNTIME_KEYS,
        prices: Prices | None = None,
        constraints: Sequence[Constraint | ConstraintCheck] = (),
        cache: CacheOption = None,
    ) -> None:
        if not isinstance(runnable, Runnable):
            raise TypeError(f"LangChainAdapter needs a langchain_core Runnable, got {type(runnable).__name__}")
        options = TuningOptions(
            prompts=prompts,
            models=models,
            candidates=dict(candidates or {}),
            bounds=dict(bounds or {}),
            variables=tuple(variables),
            exclude=tuple(exclude),
            sampling_params=tuple(sampling_params),
            undeclared=undeclared,
            runtime_keys=frozenset(runtime_keys),
            constraints=tuple(constraints),
        )
        self._original = runnable
        self._options = options
        self._knob_map = build_knob_map(runnable, options)
        self._input_of = input_of
        self._prices = check_prices(prices)
        self._overrides: dict[str, Any] = {}
        self._native: Runnable[Any, Any] = runnable
        self._cache = as_cache_option(cache, "LangChainAdapter cache")
        self._model_sites = tuple(walk(runnable).models)
        # what evaluate runs: the configured chain with the cache installed on copies of its models
        self._running: Runnable[Any, Any] = self._with_cache({})

    # -- the knobs ----------------------------------------------------------------
    @property
    def runnable(self) -> Runnable[Any, Any]:
        """The configured runnable this object evaluates (the original when nothing was applied)."""
        return self._native

    @property
    def original(self) -> Runnable[Any, Any]:
        return self._original

    @property
    def configuration(self) -> dict[str, Any]:
        """Everything applied so far, relative to the original runnable."""
        return dict(self._overrides)

    @property
    def skipped(self) -> dict[str, str]:
        """Knobs found but not tunable as they are, with the reason (give bounds or candidates to include them)."""
        return dict(self._knob_map.skipped)

    def extract_variables(self) -> Space:
        """Every knob, with the value this runnable has now as its default."""
        space = self._knob_map.space
        return space.with_defaults(self._overrides) if self._overrides else space

    def apply_configuration(self, configuration: Mapping[str, object]) -> LangChainAdapter:
        """A new LangChainAdapter with the configuration applied; unknown or invalid keys raise."""
        valid = self.extract_variables().validate_configuration(configuration)
        derived = object.__new__(type(self))
        derived.__dict__.update(self.__dict__)
        derived._overrides = {**self._overrides, **valid}
        derived._native = _build(self._original, self._knob_map, derived._overrides)
        derived._running = derived._with_cache(derived._overrides) if self._cache is not False else derived._native
        return derived

    def _with_cache(self, overrides: Mapping[str, Any]) -> Runnable[Any, Any]:
        if self._cache is False:
            return self._native
        return _build(self._original, self._knob_map, overrides, self._model_sites, self._cache)

    def instruction_sites(self) -> list[InstructionSite]:
        """Every prompt text of the chain (a chat prompt's system and human messages, a PromptTemplate)."""
        texts = list(self._knob_map.texts.values())
        return [_instruction_site(text, number, len(texts)) for number, text in enumerate(texts, 1)]

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> LangChainAdapter:
        """A new adapter whose prompt text knobs also offer these texts (by site name); what was applied stays."""
        sites = list(self._knob_map.texts)
        for name, texts in candidates.items():
            if name not in sites:
                allowed = f"one of the prompt sites {sorted(sites)}"
                raise InvalidConfiguration(name, list(texts), allowed, reason="unknown site")
        given = self._options.prompts
        merged: dict[str, Any] = {}
        if given is not None:
            merged = dict(given) if isinstance(given, Mapping) and not _is_shorthand(given) else {sites[0]: given}
        for name, texts in candidates.items():
            merged[name] = _joined(merged.get(name), list(texts))
        return self._with_options(dataclasses.replace(self._options, prompts=merged))

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> LangChainAdapter:
        """A new adapter whose chat prompts named in ``demos`` (traces: :meth:`evaluate_with_traces`) get demo knobs.

        Each such prompt gets ``<path>.n_demos`` (0..``max_demos``, default 0: the chain as
        written) and, for two demos or more, ``<path>.demo_order``; the demos are its traced
        pairs in trace order (repeats left out), so the same traces always make the same space.
        What was applied stays.
        """
        pools = pools_from_traces(demos, self._knob_map.chats, self._options.demos, max_demos)
        return self._with_options(dataclasses.replace(self._options, demos=pools))

    def _with_options(self, options: TuningOptions) -> LangChainAdapter:
        derived = object.__new__(type(self))
        derived.__dict__.update(self.__dict__)
        derived._options = options
        derived._knob_map = build_knob_map(self._original, options)
        derived._overrides = derived.extract_variables().validate_configuration(self._overrides)
        derived._native = _build(self._original, derived._knob_map, derived._overrides)
        derived._running = derived._with_cache(derived._overrides)
        return derived

    def to_native(self) -> Runnable[Any, Any]:
        """The configured chain as a plain runnable, to deploy as before."""
        return self._native

    # -- plain-mapping examples (stacktune.alternatives) ---------------------------
    def to_input(self, example: Mapping[str, Any]) -> dict[str, Any]:
        """A runnable takes the mapping as a dict (then ``input_of``, if given); a copy per example."""
        if not isinstance(example, Mapping):
            raise TypeError(f"a runnable's plain example is a mapping, got {type(example).__name__}")
        return dict(example)

    def from_output(self, prediction: object) -> object:
        """A message's text; anything else (a parser's string or dict) as it is."""
        if isinstance(prediction, BaseMessage):
            return prediction.text
        return prediction

    def check_input(self, example: object) -> None:
        """Raise KeyError naming the first field the runnable's input schema requires and the input lacks."""
        given = self._input(example)
        if not isinstance(given, Mapping):
            return
        required = self._original.get_input_jsonschema().get("required") or ()
        missing = [name for name in required if name not in given]
        if missing:
            raise KeyError(missing[0])

    def model_calls(self, example: Any, native: object | None = None) -> list[ModelCall]:
        """The chat model calls of one example through this runnable (or ``native``), seen by a callback."""
        runnable = self._native if native is None else native
        if not isinstance(runnable, Runnable):
            raise TypeError(f"a LangChain runnable exports a Runnable, got {type(runnable).__name__}")
        recorder = CallRecorder()
        runnable.invoke(self._input(example), {"callbacks": [recorder]})
        return recorder.calls()

    def __repr__(self) -> str:
        return f"LangChainAdapter({self._original.get_name()}, variables={list(self._knob_map.space.names)})"

    # -- running ------------------------------------------------------------------
    def _input(self, example: Any) -> Any:
        return self._input_of(example) if self._input_of is not None else example

    def _config(self, handler: UsageCallbackHandler, *more: Any) -> RunnableConfig:
        return {"callbacks": [handler, *more], "tags": ["stacktune"]}

    def run(self, example: Any) -> Any:
        """Run one example; what its LLM calls cost is recorded (``stacktune.record_usage``), failed or not."""
        return self._invoke(self._running, example)

    def _invoke(self, runnable: Runnable[Any, Any], example: Any, *more: Any) -> Any:
        handler = UsageCallbackHandler(self._prices)
        try:
            return runnable.invoke(self._input(example), self._config(handler, *more))
        finally:
            record_usage(handler.usage())

    async def arun(self, example: Any) -> Any:
        """Async :meth:`run`, through ``ainvoke``."""
        handler = UsageCallbackHandler(self._prices)
        try:
            return await self._running.ainvoke(self._input(example), self._config(handler))
        finally:
            record_usage(handler.usage())

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Run every example (``max_concurrency`` at a time, in threads) and score it."""
        return evaluate_examples(dataset, self.run, metric, on_result=on_result, max_concurrency=max_concurrency)

    def evaluate_with_traces(
        self, dataset: Sequence[object], metric: Metric, *, max_concurrency: int = 1
    ) -> tuple[Evaluation, list[Trace | None]]:
        """:meth:`evaluate`, and per example what each chat prompt's model step saw and said (``TracesDemos``).

        An example's trace is ``{prompt path: [{"human": ..., "ai": ...}]}``: per chat prompt
        the chain rendered (keyed like its knobs, ``step0.prompt``), the human turn it ended
        with and the answer of the model it fed; None when no such step ran. Plain JSON, for
        the study to store and :meth:`with_bootstrapped_demos` to take back.
        """
        traced = rebuild(self._running, Edits(traced=True))  # every chat prompt carries its path
        lock = threading.Lock()
        seen: dict[int, list[Trace | None]] = {}

        def run(example: Any) -> Any:
            recorder = TraceRecorder(self._knob_map.chats)
            try:
                return self._invoke(traced, example, recorder)
            finally:
                with lock:
                    seen.setdefault(id(example), []).append(recorder.trace())

        evaluation = evaluate_examples(dataset, run, metric, max_concurrency=max_concurrency)
        traces = [seen[id(example)].pop(0) if seen.get(id(example)) else None for example in dataset]
        return evaluation, traces

    async def aevaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """:meth:`evaluate` on the event loop: ``max_concurrency`` examples in flight through ``ainvoke``."""
        return await aevaluate_examples(
            dataset, self.arun, metric, on_result=on_result, max_concurrency=max_concurrency
        )


def _is_shorthand(given: Mapping[str, Any]) -> bool:
    """``prompts={"key": "text", ...}`` for a chain's single prompt text (keys are the user's, not site names)."""
    return bool(given) and all(isinstance(v, str) for v in given.values())


def _joined(existing: Any, added: list[str]) -> Any:
    """The user's candidates for a site plus proposed ones (keyed ``proposed-<i>`` beside the user's keys)."""
    if existing is None:
        return added
    if isinstance(existing, Mapping):
        return {**existing, **{f"proposed-{i}": text for i, text in enumerate(added, 1)}}
    return [*existing, *added]


def _instruction_site(text: TextSite, number: int, total: int) -> InstructionSite:
    """A prompt text as a proposer sees it: the chain's inputs, the placeholders it must keep."""
    where, _, role = text.name.rpartition(".")
    kind = "prompt template" if role == "prompt" and not where.endswith("prompt") else f"{role} message"
    used = sorted(text.variables_of(text.text))
    checkable = text.template_format in ("f-string", "mustache")
    return InstructionSite(
        name=text.name,
        current=text.text,
        inputs=tuple(sorted(text.available)),
        role=f"prompt text {number} of {total} of a LangChain chain: the {kind} at {text.name!r}",
        placeholders=tuple(used) if checkable else (),
        template=text.template_format == "f-string",
    )


def _build(
    original: Runnable[Any, Any],
    knob_map: KnobMap,
    overrides: Mapping[str, Any],
    sites: Sequence[ModelSite] = (),
    cache: CacheOption = False,
) -> Runnable[Any, Any]:
    """The original runnable with every applied value: a rebuilt tree, then its declared config.

    Unless ``cache`` is False, every chat model at ``sites`` whose ``cache`` is unset gets a
    :class:`StacktuneLLMCache` bound to its configured copy.
    """
    space = knob_map.space
    defaults = {v.name: v.default for v in space}

    def value(name: str) -> Any:
        return space.resolve({name: overrides[name] if name in overrides else defaults[name]})[name]

    def kept(name: str) -> bool:
        """Set this parameter: configured (to anything but an unset knob's stand-in) or carried."""
        raw = overrides[name] if name in overrides else defaults[name]
        return raw is not None and not knob_map.is_unset(name, raw)

    models: dict[str, tuple[Any, dict[str, Any]]] = {}
    for knobs in knob_map.models:
        switched = knobs.choice is not None and knobs.choice in overrides
        names = [n for n in knobs.params if n in space and (switched or n in overrides) and kept(n)]
        params = {knobs.params[n]: value(n) for n in names}
        if switched or params:
            models[knobs.site.name] = (value(knobs.choice) if switched and knobs.choice else None, params)
    texts = {name: value(name) for name in knob_map.texts if name in overrides}
    demos = _demo_edits(knob_map.demos, space, value)
    tree = _rebuild(original, Edits(models, texts, demos), sites, cache)
    configurable: dict[str, Any] = {}
    for knob in knob_map.declared:
        name = knob.variable.name
        if name not in space:
            continue
        if knob.option is None and name in overrides:
            configurable[knob.config_id] = value(name) if kept(name) or not knob.unset else None
        elif knob.option is not None and any(
            k.variable.name in overrides for k in knob_map.declared if k.config_id == knob.config_id
        ):
            chosen = configurable.setdefault(knob.config_id, [])
            if value(name):
                chosen.append(knob.option)
    if not configurable:
        return tree
    if isinstance(tree, RunnableBinding):  # its with_config replaces "configurable" whole: keep what was bound
        configurable = {**dict(tree.config.get("configurable", {}) or {}), **configurable}
    return tree.with_config(configurable=configurable)


def _demo_edits(demos: Sequence[DemoKnobs], space: Space, value: Callable[[str], Any]) -> dict[str, list[BaseMessage]]:
    """Per chat prompt showing demos (``n_demos`` >= 1), the demo messages of its ordering."""
    edits: dict[str, list[BaseMessage]] = {}
    for knobs in demos:
        shown = int(value(knobs.count)) if knobs.count in space else 0
        if shown:
            order = int(value(knobs.order)) if knobs.order is not None and knobs.order in space else 0
            edits[knobs.site] = knobs.pool.messages(shown, order)
    return edits


def _rebuild(
    original: Runnable[Any, Any], edits: Edits, sites: Sequence[ModelSite], cache: CacheOption
) -> Runnable[Any, Any]:
    """The tree with the edits; unless ``cache`` is False, each model whose cache is unset gets ours, bound to its copy.

    The copies get it, the original never does.
    """
    if cache is False:
        return rebuild(original, edits)
    llm_cache = StacktuneLLMCache(cache)
    models = dict(edits.models)
    for site in sites:
        replacement, params = models.get(site.name, (None, {}))
        target = replacement if replacement is not None else site.model
        if target.cache is None:
            models[site.name] = (replacement, {**params, "cache": llm_cache})
    tree = rebuild(original, dataclasses.replace(edits, models=models))
    for site in walk(tree).models:
        if site.model.cache is llm_cache:  # a copy of ours: its cache reads its own parameters
            site.model.cache = llm_cache.bind(site.model)
    return tree


__all__ = ["LangChainAdapter"]
