"""LangChain's own idiom: a Runnable in, a Runnable out.

``tune(chain, dataset, metric, n_trials=30)`` runs a stacktune study on the chain and
returns the chosen configuration as a plain Runnable. Datasets may be LangSmith-style
(``[{"inputs": {...}, "outputs": {...}}, ...]`` or LangSmith ``Example`` objects) as they
are, or plain dicts as the chain's input.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import Runnable

from stacktune import Metric, Study, create_study
from stacktune.objectives import ObjectiveLike
from stacktune.study.create import Storage
from stacktune.study.idiom import STUDY_OPTIONS, check_options, keyword_options, pick, search_and_choose
from stacktune_langchain._adapter import LangChainAdapter

#: Options of ``LangChainAdapter`` that ``tune`` passes on (beside ``create_study``'s and ``Study.optimize``'s).
ADAPTER_OPTIONS = keyword_options(LangChainAdapter.__init__)

#: The keys of a LangSmith-style example: ``inputs`` for the chain, ``outputs`` the reference.
LANGSMITH_KEYS = frozenset({"inputs", "outputs", "metadata", "id"})
#: Parameter names of a LangSmith evaluator, ``(inputs, outputs, reference_outputs)``.
EVALUATOR_PARAMETERS = frozenset({"inputs", "outputs", "reference_outputs"})


def tune(
    chain: Runnable[Any, Any],
    dataset: Sequence[Any],
    metric: Callable[..., Any],
    *,
    objectives: Sequence[ObjectiveLike] | ObjectiveLike = ("score",),
    n_trials: int | None = 20,
    storage: Storage | None = None,
    study_name: str | None = None,
    study: Study | None = None,
    valset: Sequence[Any] | None = None,
    verify_top: int = 1,
    **options: Any,
) -> Runnable[Any, Any]:
    """Tune ``chain`` on ``dataset`` and return the chosen configuration as a new Runnable.

    ``dataset`` holds plain examples (each one the chain's input; ``metric(example,
    prediction)``) or LangSmith-style ones (``{"inputs": {...}, "outputs": {...}}`` or
    ``langsmith.schemas.Example``): the chain gets ``inputs`` and the metric the reference
    ``outputs`` as its example, ``metric(outputs, prediction)``. A metric with LangSmith's
    evaluator parameters ``(inputs, outputs, reference_outputs)`` is called that way, with
    ``outputs`` the chain's answer.

    The study is created (or continued: the same ``study_name`` in ``storage``) on
    ``objectives``, or ``study=`` is used as it is. Other keywords go to ``create_study``
    (``sampler``, ``seed``...), ``Study.optimize`` (``timeout``, ``budget``,
    ``max_concurrency``, ``baseline``...) or :class:`LangChainAdapter` (``prompts``,
    ``models``, ``exclude``, ``prices``...). With ``valset``, the ``verify_top`` best trials
    (the Pareto front with several objectives) are evaluated on it and the best held-out
    one is returned (``study.choose``); the chain itself is never changed.
    """
    if not isinstance(chain, Runnable):
        raise TypeError(f"tune needs a langchain_core Runnable, got {type(chain).__name__}")
    _check_options(options, study)
    examples, input_of, scorer = _as_langsmith(dataset, metric, options.pop("input_of", None), "dataset")
    held_out = None
    if valset:  # checked before anything is spent
        held_out, _, _ = _as_langsmith(valset, metric, None, "valset")
        if (held_out is valset) != (examples is dataset):
            raise ValueError("dataset and valset must be of the same kind (both LangSmith-style or both plain)")
    if study is None:
        study = create_study(study_name, storage, objectives, **pick(options, STUDY_OPTIONS))
    program = LangChainAdapter(chain, input_of=input_of, **pick(options, ADAPTER_OPTIONS - {"input_of"}))
    chosen, _ = search_and_choose(
        study, program, examples, scorer, n_trials=n_trials, options=options, valset=held_out, verify_top=verify_top
    )
    native = chosen.export(program)
    assert isinstance(native, Runnable)  # LangChainAdapter.to_native always returns one
    return native


def _check_options(options: Mapping[str, Any], study: Study | None) -> None:
    check_options(options, ADAPTER_OPTIONS, caller="tune", adapter="LangChainAdapter")
    clash = sorted(set(options) & STUDY_OPTIONS)
    if study is not None and clash:
        raise TypeError(f"study= is given, so {clash} cannot apply: pass them to create_study instead")


def _parts(example: Any) -> tuple[Any, Any] | None:
    """``(inputs, outputs)`` of a LangSmith-style example (a dict or a ``langsmith`` Example), else None."""
    if isinstance(example, Mapping):
        if "inputs" in example and set(example) <= LANGSMITH_KEYS and isinstance(example["inputs"], Mapping):
            return example["inputs"], example.get("outputs")
        return None
    inputs = getattr(example, "inputs", None)
    if isinstance(inputs, Mapping) and hasattr(example, "outputs"):
        return inputs, example.outputs
    return None


def _as_langsmith(
    dataset: Sequence[Any], metric: Callable[..., Any], input_of: Callable[[Any], Any] | None, name: str
) -> tuple[Sequence[Any], Callable[[Any], Any] | None, Metric]:
    """The examples to evaluate, the input each gives the chain, and the metric as stacktune calls it.

    LangSmith-style examples become ``{"inputs": ..., "outputs": ...}`` dicts (what the study stores);
    plain ones stay as they are.
    """
    if isinstance(dataset, (str, bytes)) or not isinstance(dataset, Sequence):
        raise TypeError(f"{name} must be a list of examples, got {type(dataset).__name__}")
    parts = [_parts(example) for example in dataset]
    if not any(p is not None for p in parts):
        return dataset, input_of, _plain_metric(metric)
    if any(p is None for p in parts):
        index = next(i for i, p in enumerate(parts) if p is None)
        raise ValueError(
            f"{name}[{index}] is not LangSmith-style ({{'inputs': {{...}}, 'outputs': {{...}}}}) "
            f"while others are: {dataset[index]!r}"
        )
    examples = [{"inputs": dict(i), "outputs": o} for i, o in parts]  # type: ignore[misc]

    def inputs_of(example: Mapping[str, Any]) -> Any:
        return input_of(example["inputs"]) if input_of is not None else example["inputs"]

    return examples, inputs_of, _reference_metric(metric)


def _evaluator_style(metric: Callable[..., Any]) -> bool:
    """True for a LangSmith evaluator: keyword parameters among inputs/outputs/reference_outputs only."""
    try:
        names = set(inspect.signature(metric).parameters)
    except (TypeError, ValueError):
        return False
    return "reference_outputs" in names and names <= EVALUATOR_PARAMETERS


def _plain_metric(metric: Callable[..., Any]) -> Metric:
    if not _evaluator_style(metric):
        return metric

    def scored(example: Any, prediction: Any) -> Any:
        return _call_evaluator(metric, example, prediction, example)

    return _named_like(scored, metric)


def _reference_metric(metric: Callable[..., Any]) -> Metric:
    evaluator = _evaluator_style(metric)

    def scored(example: Mapping[str, Any], prediction: Any) -> Any:
        if evaluator:
            return _call_evaluator(metric, example["inputs"], prediction, example["outputs"])
        return metric(example["outputs"], prediction)

    return _named_like(scored, metric)


def _named_like(scored: Metric, metric: Callable[..., Any]) -> Metric:
    """``scored`` under the user's metric's name (errors name it), with its own (example, prediction) signature."""
    for attribute in ("__name__", "__qualname__", "__doc__"):
        if hasattr(metric, attribute):
            setattr(scored, attribute, getattr(metric, attribute))
    return scored


def _call_evaluator(metric: Callable[..., Any], inputs: Any, prediction: Any, reference: Any) -> Any:
    names = set(inspect.signature(metric).parameters)
    given = {"inputs": inputs, "outputs": prediction, "reference_outputs": reference}
    result = metric(**{k: v for k, v in given.items() if k in names})
    # LangSmith evaluators may return {"key": ..., "score": ...}: the score is what counts here.
    return result["score"] if isinstance(result, Mapping) and "score" in result else result


__all__ = ["ADAPTER_OPTIONS", "EVALUATOR_PARAMETERS", "LANGSMITH_KEYS", "tune"]
