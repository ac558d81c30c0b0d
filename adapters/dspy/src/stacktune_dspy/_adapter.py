"""The stacktune Optimizable for any ``dspy.Module``."""

from __future__ import annotations

import dataclasses
import inspect
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from typing import Any, Literal

import dspy

from stacktune import (
    Evaluation,
    InstructionSite,
    InvalidConfiguration,
    Metric,
    ModelCall,
    ResultCallback,
    Space,
    evaluate_examples,
    record_usage,
)
from stacktune.cache import CacheOption, as_cache_option
from stacktune.pricing import Prices, check_prices
from stacktune_dspy._build import build_program
from stacktune_dspy._cache import caching
from stacktune_dspy._discovery import PredictorInfo, find_predictors, predictor_at
from stacktune_dspy._knobs import CURRENT, KnobMap, build_knob_map
from stacktune_dspy._options import (
    ADAPTER_KEYS,
    DEFAULT_RANGES,
    DEFAULT_REASONING_HINTS,
    InstructionProposer,
    TuningOptions,
    make_adapter,
)
from stacktune_dspy._specs import as_spec
from stacktune_dspy._traces import Trace, demos_of, trace_of
from stacktune_dspy._usage import HistorySink, LMCallRecorder

#: The attribute of an exported program that holds what DSPy keeps outside programs (its DSPy adapter).
SETTINGS_ATTRIBUTE = "_stacktune"
#: An instruction site's name is its predictor's path plus this (the name of its knob).
INSTRUCTIONS_SUFFIX = ".instructions"


class _Shared:
    """What the original and every configured copy share: the untouched program and its knob map."""

    def __init__(self, program: dspy.Module, options: TuningOptions) -> None:
        self.program = program
        self.predictors = tuple(find_predictors(program))
        options.check_paths([p.path for p in self.predictors])
        self.default_lm = self._default_lm(options.lm)
        # The knob map sees the LM built from an ``lm=`` spec, not the spec.
        self.options = options if self.default_lm is options.lm else dataclasses.replace(options, lm=self.default_lm)
        self._knob_map: KnobMap | None = None
        self._lock = threading.Lock()
        self.cache: CacheOption = None  # the adapter's cache= option

    @staticmethod
    def _default_lm(lm: Any) -> Any:
        if lm is None or isinstance(lm, dspy.BaseLM):
            return lm
        return as_spec(lm).build()

    @property
    def knob_map(self) -> KnobMap:
        with self._lock:  # the proposer may call an LM: run it once, whichever thread asks first
            if self._knob_map is None:
                self._knob_map = build_knob_map(self.program, self.predictors, self.options)
            return self._knob_map


class DSPyAdapter:
    """Tune every knob of a DSPy program without touching it.

    Finds per predictor (keyed by its DSPy path, e.g. ``answer.predict``): its
    instructions (current text plus ``instructions`` candidates and the
    ``instruction_proposer``'s), its demos (current, none, named ``demo_sets``, or
    ``n_demos`` drawn from a pool taken from ``trainset``/``demo_pool``), its LM call
    settings (``temperature``, ``max_tokens``, ``top_p`` ranges, by default those of
    ``stacktune.SAMPLING_KNOBS`` widened to hold the current value; None to skip one) and,
    for a ``Predict``/``ChainOfThought`` your code holds (its *site*), its module type
    (``<site>.module``) with the reasoning field's description as a CoT-only variable.
    For the program: the DSPy ``adapter`` and, given ``lms``, the LM (``lm_scope``
    "program" or "predictor"). ``lm`` is the LM for predictors that have none (else
    ``dspy.settings.lm``). Cost comes from ``stacktune.pricing`` by each call's model
    name; ``prices`` (``{model: stacktune.Price}``) override it, e.g. ``FREE`` for a
    local server. ``cache`` is where LM answers are kept while it runs: ``None`` (default) the
    study's response cache inside a study's trials (DSPy's own cache elsewhere), a
    ``stacktune.cache.ResponseCache`` (or a URL, a directory) always, ``False`` DSPy's own
    cache only. An LM built with ``cache=False`` is never cached. For ``optimize(bootstrap=...)``
    it records each predictor's trace per example (:meth:`evaluate_with_traces`) and offers the
    passed ones as demos (:meth:`with_bootstrapped_demos`), as DSPy's ``BootstrapFewShot`` does.
    """

    def __init__(
        self,
        program: dspy.Module,
        *,
        lm: Any = None,
        lms: Sequence[Any] | Mapping[str, Any] = (),
        lm_scope: Literal["program", "predictor"] = "program",
        adapters: Sequence[str] = ADAPTER_KEYS,
        instructions: Mapping[str, Sequence[str]] | None = None,
        instruction_proposer: InstructionProposer | None = None,
        trainset: Sequence[Any] = (),
        demo_pool: Mapping[str, Sequence[Any]] | None = None,
        demo_sets: Mapping[str, Mapping[str, Sequence[Any]]] | None = None,
        max_demos: int = 4,
        demo_seeds: int = 4,
        temperature: tuple[float, float] | None = DEFAULT_RANGES["temperature"],
        max_tokens: tuple[float, float] | None = DEFAULT_RANGES["max_tokens"],
        top_p: tuple[float, float] | None = DEFAULT_RANGES["top_p"],
        swap_modules: bool = True,
        reasoning_hints: Sequence[str] = DEFAULT_REASONING_HINTS,
        input_keys: Sequence[str] | None = None,
        prices: Prices | None = None,
        cache: CacheOption = None,
    ) -> None:
        if not isinstance(program, dspy.Module) or isinstance(program, type):
            raise TypeError(f"DSPyAdapter needs a dspy.Module instance, got {program!r}")
        options = TuningOptions(
            lm=lm,
            lms=lms,
            lm_scope=lm_scope,
            adapters=tuple(adapters),
            instructions=dict(instructions or {}),
            instruction_proposer=instruction_proposer,
            trainset=tuple(trainset),
            demo_pool=dict(demo_pool or {}),
            demo_sets=dict(demo_sets or {}),
            max_demos=max_demos,
            demo_seeds=demo_seeds,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            swap_modules=swap_modules,
            reasoning_hints=tuple(reasoning_hints),
            input_keys=tuple(input_keys) if input_keys is not None else None,
            prices=check_prices(prices),
        )
        self._shared = _Shared(program, options)
        self._shared.cache = as_cache_option(cache, "DSPyAdapter cache")
        self._program = program
        self._values: dict[str, Any] = {}

    @classmethod
    def _configured(cls, shared: _Shared, program: dspy.Module, values: dict[str, Any]) -> DSPyAdapter:
        new = cls.__new__(cls)
        new._shared = shared
        new._program = program
        new._values = values
        return new

    def __repr__(self) -> str:
        return (
            f"DSPyAdapter({type(self._program).__qualname__}, predictors="
            f"{[p.path for p in self._shared.predictors]}, configured={bool(self._values)})"
        )

    # -- introspection --------------------------------------------------------------
    @property
    def program(self) -> dspy.Module:
        """The DSPy program this object runs (do not mutate it; :meth:`to_native` gives a copy)."""
        return self._program

    @property
    def predictors(self) -> tuple[PredictorInfo, ...]:
        """Every predictor of the original program, frozen ones included and flagged."""
        return self._shared.predictors

    @property
    def configuration(self) -> dict[str, Any]:
        """The complete configuration applied (empty for the original program)."""
        return dict(self._values)

    @property
    def adapter(self) -> str | None:
        """The DSPy adapter key (chat/json/xml) this object runs with, or None for whatever DSPy is configured with."""
        key = self._values.get("adapter")
        return None if key in (None, CURRENT) else str(key)

    # -- the protocol ---------------------------------------------------------------
    def extract_variables(self) -> Space:
        knob_map = self._shared.knob_map
        return knob_map.space.with_defaults(self._values) if self._values else knob_map.space

    def apply_configuration(self, configuration: Mapping[str, object]) -> DSPyAdapter:
        space = self.extract_variables()
        valid = space.validate_configuration(configuration)
        # Complete it: every variable active under the given values, the rest at their defaults
        # (e.g. n_demos when only demos="pool" is given).
        values: dict[str, Any] = space.fix(**valid).defaults()
        program = build_program(self._shared.program, self._shared.knob_map, values)
        return DSPyAdapter._configured(self._shared, program, values)

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Run each example in our worker threads under ``dspy.context``; usage from that example's LM calls."""
        return evaluate_examples(dataset, self._runner(), metric, on_result=on_result, max_concurrency=max_concurrency)

    def evaluate_with_traces(
        self, dataset: Sequence[object], metric: Metric, *, max_concurrency: int = 1
    ) -> tuple[Evaluation, list[Trace | None]]:
        """:meth:`evaluate`, and per example what each predictor saw and said (for bootstrapped demos).

        Each example runs under ``dspy.context(trace=[])``, as ``BootstrapFewShot`` runs it; its
        trace is ``{predictor path: [{field: value}, ...]}`` (inputs and outputs of each call, as
        plain JSON: other values are written as text), None when it raised or no predictor ran.
        A metric with a ``trace`` parameter gets DSPy's own trace there, as ``BootstrapFewShot``
        passes it (DSPy metrics may be stricter when bootstrapping).
        """
        traces: list[Trace | None] = [None] * len(dataset)
        steps: list[list[Any]] = [[] for _ in dataset]
        run = self._runner(traced=True)
        paths = self._predictor_paths

        def run_at(index: int) -> Any:
            prediction, steps[index] = run(dataset[index])
            traces[index] = trace_of(steps[index], paths)
            return prediction

        takes_trace = _takes_trace(metric)

        def scored(index: int, prediction: Any) -> Any:
            if takes_trace:
                return metric(dataset[index], prediction, trace=steps[index])  # type: ignore[call-arg]
            return metric(dataset[index], prediction)

        # a metric error still names the user's metric
        scored.__qualname__ = getattr(metric, "__qualname__", None) or getattr(metric, "__name__", None) or repr(metric)
        evaluation = evaluate_examples(range(len(dataset)), run_at, scored, max_concurrency=max_concurrency)
        return evaluation, traces

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> DSPyAdapter:
        """A new adapter whose predictors' demo pools also hold these traces' demos (:meth:`evaluate_with_traces`).

        Each traced call of a predictor becomes a ``dspy.Example(augmented=True, **fields)`` in
        that predictor's pool (after its own, in the traces' order, repeats left out), so its
        ``demos`` knob offers ``pool`` and ``n_demos`` goes up to ``max_demos`` (or ``max_demos=``
        of the adapter, if larger). Frozen predictors and predictors no trace names are unchanged.
        """
        if isinstance(max_demos, bool) or not isinstance(max_demos, int) or max_demos < 1:
            raise ValueError(f"max_demos must be a whole number >= 1, got {max_demos!r}")
        infos = self._shared.predictors
        found = demos_of(demos, [info.path for info in infos], skip=[info.path for info in infos if info.frozen])
        options = self._shared.options
        merged = {path: list(pool) for path, pool in options.bootstrapped.items()}
        for path, pool in found.items():
            merged.setdefault(path, []).extend(demo for demo in pool if demo not in merged[path])
        limit = max(options.bootstrapped_max_demos, max_demos)
        return self._with_options(dataclasses.replace(options, bootstrapped=merged, bootstrapped_max_demos=limit))

    # -- plain-mapping examples (stacktune.alternatives) ---------------------------
    def to_input(self, example: Mapping[str, Any]) -> dspy.Example:
        """A ``dspy.Example`` of the mapping whose inputs are ``input_keys`` (else ``forward``'s parameters)."""
        if not isinstance(example, Mapping):
            raise TypeError(f"a plain example is a mapping, got {type(example).__name__}")
        keys = self._shared.options.input_keys
        if keys is None:
            keys = [k for k in self._forward_keys if k in example]
        return dspy.Example(**example).with_inputs(*keys)

    def from_output(self, prediction: object) -> object:
        """The prediction's one output field (``reasoning`` left out), else a dict of its fields."""
        if not isinstance(prediction, dspy.Prediction):
            return prediction
        fields = {k: v for k, v in prediction.items() if k != "reasoning"}
        return next(iter(fields.values())) if len(fields) == 1 else fields

    def check_input(self, example: object) -> None:
        """Raise KeyError naming an input the program needs that the example lacks (nothing is called)."""
        given = set(self._inputs_of(example))
        needed = self._shared.options.input_keys
        if needed is None:
            needed = [
                p.name
                for p in _forward_parameters(self._program)
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is inspect.Parameter.empty
            ]
        missing = [name for name in needed if name not in given]
        if missing:
            raise KeyError(missing[0])

    # -- proposals ----------------------------------------------------------------
    def instruction_sites(self) -> list[InstructionSite]:
        """Each predictor's signature instructions, with its input and output fields and its place in the program."""
        infos = self._shared.predictors
        program = self._shared.program
        sites = []
        for number, info in enumerate(infos, 1):
            signature = predictor_at(program, info).signature
            kind = "ChainOfThought" if info.kind == "cot" else "Predict"
            role = f"step {number} of {len(infos)} of the DSPy program {type(program).__name__}: "
            role += f"predictor {info.path!r}"
            if info.site is not None:
                role += f" (a {kind} at {info.site!r})"
            sites.append(
                InstructionSite(
                    name=f"{info.path}{INSTRUCTIONS_SUFFIX}",
                    current=signature.instructions,
                    inputs=tuple(signature.input_fields),
                    outputs=tuple(signature.output_fields),
                    role=role,
                )
            )
        return sites

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> DSPyAdapter:
        """A new adapter whose ``<path>.instructions`` knobs also offer these texts (by site name)."""
        known = {f"{info.path}{INSTRUCTIONS_SUFFIX}": info.path for info in self._shared.predictors}
        options = self._shared.options
        merged = {path: list(texts) for path, texts in options.instructions.items()}
        for name, texts in candidates.items():
            if name not in known:
                allowed = f"one of the sites {sorted(known)}"
                raise InvalidConfiguration(name, list(texts), allowed, reason="unknown site")
            merged.setdefault(known[name], []).extend(texts)
        return self._with_options(dataclasses.replace(options, instructions=merged))

    def _with_options(self, options: TuningOptions) -> DSPyAdapter:
        """A new adapter of the same program with other options (its cache option kept), configured as this one."""
        shared = _Shared(self._shared.program, options)
        shared.cache = self._shared.cache
        fresh = DSPyAdapter._configured(shared, self._shared.program, {})
        return fresh.apply_configuration(self._values) if self._values else fresh

    # -- export -------------------------------------------------------------------
    def model_calls(self, example: object, native: object | None = None) -> list[ModelCall]:
        """The LM calls of one example through this object, or through an exported ``native`` program.

        Seen by a DSPy callback: the messages, the LM's settings merged with the call's own
        (a predictor's config), the model name, and what came back. The exported program runs
        as a user would run it: under :func:`context`, with the LMs it carries.
        """
        inputs = self._inputs_of(example)
        recorder = LMCallRecorder()
        if native is None:
            with dspy.context(callbacks=[recorder], **self._context_overrides()):
                self._program(**inputs)
        else:
            if not isinstance(native, dspy.Module):
                raise TypeError(f"a DSPy program exports a dspy.Module, got {type(native).__name__}")
            with context(native), dspy.context(callbacks=[recorder]):
                native(**inputs)
        return recorder.calls()

    def to_native(self) -> dspy.Module:
        """A plain DSPy program with this configuration (save it with :func:`stacktune_dspy.save`).

        Predictors without an LM get this object's ``lm``; the DSPy adapter, which DSPy
        keeps in its settings rather than in programs, is recorded on the program and
        applied by :func:`stacktune_dspy.context` (and kept by ``save``/``load``).
        """
        program = self._program.deepcopy()
        default_lm = self._shared.default_lm
        if default_lm is not None:
            for info in self._shared.predictors:
                predictor = predictor_at(program, info)
                if predictor.lm is None:
                    predictor.lm = default_lm
        setattr(program, SETTINGS_ATTRIBUTE, {"adapter": self.adapter})
        return program

    # -- helpers ------------------------------------------------------------------
    def _runner(self, traced: bool = False) -> Callable[[object], Any]:
        """Runs one example of the program as configured: under ``dspy.context`` (never ``dspy.configure``:
        worker threads), through the cache option, its LM calls' usage recorded whether it fails or not.

        ``traced``: under a fresh DSPy trace too, returning (prediction, its steps: DSPy's
        ``(predictor, inputs, prediction)`` of each predictor call).
        """
        program = self._program
        overrides = self._context_overrides()
        cache = self._shared.cache

        def run(example: object) -> Any:
            inputs = self._inputs_of(example)
            sink = HistorySink(self._shared.options.prices)
            trace: dict[str, Any] = {"trace": []} if traced else {}  # this example's own list, whatever the thread
            try:
                callbacks = [*dspy.settings.get("callbacks", []), sink]  # the sink counts failed calls
                with caching(cache), dspy.context(caller_modules=[sink], callbacks=callbacks, **overrides, **trace):
                    prediction = program(**inputs)
                    return (prediction, list(dspy.settings.trace)) if traced else prediction
            finally:
                record_usage(sink.usage())  # what the example's LM calls cost, whether it failed or not

        return run

    @cached_property
    def _predictor_paths(self) -> dict[int, str]:
        """``id()`` of each predictor of the program this object runs, to its path (the name its knobs use)."""
        return {id(predictor_at(self._program, info)): info.path for info in self._shared.predictors}

    def _context_overrides(self) -> dict[str, Any]:
        overrides: dict[str, Any] = {}
        if self._shared.default_lm is not None:
            overrides["lm"] = self._shared.default_lm
        if self.adapter is not None:
            overrides["adapter"] = make_adapter(self.adapter)
        if dspy.settings.disable_history or dspy.settings.max_history_size < 1:
            overrides.update(disable_history=False, max_history_size=10_000)
        return overrides

    def _inputs_of(self, example: object) -> dict[str, Any]:
        keys = self._input_keys(example)
        getter: Callable[[str], Any] = getattr(example, "__getitem__")  # noqa: B009 - typed as object
        return {k: getter(k) for k in keys if _has(example, k)}

    def _input_keys(self, example: object) -> Sequence[str]:
        if self._shared.options.input_keys is not None:
            return self._shared.options.input_keys
        declared = getattr(example, "_input_keys", None)
        if declared:
            return sorted(declared)
        if not hasattr(example, "keys") or not hasattr(example, "__getitem__"):
            raise TypeError(f"a DSPy example must be a dspy.Example or a mapping, got {type(example).__name__}")
        return self._forward_keys

    @cached_property
    def _forward_keys(self) -> list[str]:
        """The named parameters of the program's ``forward`` (looked up once, not per example)."""
        parameters = _forward_parameters(self._program)
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            raise ValueError(
                "cannot tell which fields of the example are inputs: use dspy.Example(...).with_inputs(...) "
                "or pass input_keys=[...] to DSPyAdapter"
            )
        return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _forward_parameters(program: dspy.Module) -> list[inspect.Parameter]:
    """``forward``'s parameters, read from the class: DSPy logs a warning whenever an instance's
    ``forward`` attribute is read outside ``__call__``."""
    forward = inspect.getattr_static(program, "forward")
    parameters = list(inspect.signature(forward).parameters.values())
    bound = not isinstance(forward, staticmethod) and parameters and parameters[0].name in ("self", "cls")
    return parameters[1:] if bound else parameters


def _takes_trace(metric: object) -> bool:
    """A DSPy-style metric, ``metric(example, prediction, trace=None)``."""
    try:
        return "trace" in inspect.signature(metric).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):  # no signature to read (some builtins): called as the core calls metrics
        return False


def _has(example: object, key: str) -> bool:
    try:
        return key in example  # type: ignore[operator]
    except TypeError:
        return False


def context(program: dspy.Module) -> AbstractContextManager[Any]:
    """``dspy.context`` with the settings an exported program was tuned with (its DSPy adapter)."""
    settings = getattr(program, SETTINGS_ATTRIBUTE, None) or {}
    key = settings.get("adapter")
    return dspy.context(adapter=make_adapter(key)) if key else nullcontext()


__all__ = ["SETTINGS_ATTRIBUTE", "DSPyAdapter", "context"]
