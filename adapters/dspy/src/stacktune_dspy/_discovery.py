"""Finding every predictor of a DSPy program, frozen ones included, and where it can be swapped.

DSPy's ``named_predictors()`` skips sub-modules an earlier optimizer compiled
(``_compiled``); :func:`find_predictors` walks the program the same way (same path
names, so they match DSPy's saved state) but keeps going into compiled sub-modules
and flags what it finds there. It also records each predictor's *site*: the path
where user code holds a ``dspy.Predict`` or ``dspy.ChainOfThought`` (an attribute, a
list item, a dict value), where one can be swapped for the other without touching the
signature (the LangChain adapter's sites are likewise places named by their path).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import dspy
from dspy.predict.parameter import Parameter
from dspy.utils import magicattr

ROOT = "self"
ModuleKind = Literal["predict", "cot"]


@dataclass(frozen=True)
class PredictorInfo:
    """One predictor as the adapter sees it.

    ``path`` is DSPy's name for it (``answer.predict``); ``site`` the path where it
    can be swapped (``answer``) or None; ``kind`` what sits at that site now;
    ``frozen`` True when a compiled sub-module hides it from ``named_predictors()``;
    ``compiled`` True when any enclosing module (the root included) was compiled.
    """

    path: str
    site: str | None
    kind: ModuleKind | None
    frozen: bool
    compiled: bool

    @property
    def flags(self) -> str:
        if self.frozen:
            return (
                "frozen by an earlier DSPy optimizer (a compiled sub-module: DSPy's named_predictors() "
                "and save() skip it; stacktune still tunes and saves it)"
            )
        if self.compiled:
            return "compiled by an earlier DSPy optimizer"
        return ""


def _is_user_module(module: object) -> bool:
    """Sites inside DSPy's own modules (ReAct, Refine...) are their code's business: never swapped."""
    return not type(module).__module__.startswith("dspy.")


def _join(parent: str, name: str) -> str:
    return name if parent == ROOT else f"{parent}.{name}"


def _children(module: Any, prefix: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, value, may be a site) for what DSPy's named_parameters() looks at, one level down."""
    for name, value in module.__dict__.items():
        path = _join(prefix, name)
        if isinstance(value, (Parameter, dspy.Module)):
            yield path, value, True
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield f"{path}[{index}]", item, True
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                yield f"{path}[{index}]", item, False
        elif isinstance(value, dict):
            for key, item in value.items():
                yield f"{path}['{key}']", item, isinstance(key, str)


def find_predictors(program: dspy.Module) -> list[PredictorInfo]:
    """Every ``dspy.Predict`` in ``program``, in DSPy's order, with its site and flags."""
    found: list[PredictorInfo] = []
    seen: set[int] = set()

    def visit(path: str, value: Any, *, frozen: bool, compiled: bool, site_ok: bool, owner: Any) -> None:
        if id(value) in seen:
            return
        if isinstance(value, dspy.Predict):
            seen.add(id(value))
            swappable = type(value) is dspy.Predict and site_ok and (owner is None or _is_user_module(owner))
            found.append(
                PredictorInfo(path, path if swappable else None, "predict" if swappable else None, frozen, compiled)
            )
            return
        if not isinstance(value, dspy.Module):
            return
        seen.add(id(value))
        is_compiled = bool(getattr(value, "_compiled", False))
        child_frozen = frozen or (owner is not None and is_compiled)
        child_compiled = compiled or is_compiled
        if type(value) is dspy.ChainOfThought and isinstance(value.__dict__.get("predict"), dspy.Predict):
            inner = value.predict
            if id(inner) not in seen:
                seen.add(id(inner))
                swappable = site_ok and (owner is None or _is_user_module(owner))
                found.append(
                    PredictorInfo(
                        _join(path, "predict"),
                        path if swappable else None,
                        "cot" if swappable else None,
                        child_frozen,
                        child_compiled,
                    )
                )
            return
        for child_path, child, child_site_ok in _children(value, path):
            visit(child_path, child, frozen=child_frozen, compiled=child_compiled, site_ok=child_site_ok, owner=value)

    visit(ROOT, program, frozen=False, compiled=False, site_ok=True, owner=None)
    return found


def compiled_module_paths(program: dspy.Module) -> list[str]:
    """Paths of the compiled sub-modules (not the root): DSPy's save() skips what is under them."""
    paths: list[str] = []
    seen: set[int] = {id(program)}

    def visit(path: str, module: Any) -> None:
        for child_path, child, _ in _children(module, path):
            if isinstance(child, dspy.Module) and id(child) not in seen:
                seen.add(id(child))
                if getattr(child, "_compiled", False):
                    paths.append(child_path)
                visit(child_path, child)

    visit(ROOT, program)
    return paths


def get_path(program: dspy.Module, path: str) -> Any:
    """The object at a DSPy path (``self`` is the program itself)."""
    return program if path == ROOT else magicattr.get(program, path)


def set_path(program: dspy.Module, path: str, value: Any) -> dspy.Module:
    """Put ``value`` at ``path``; returns the program (a new root when ``path`` is ``self``)."""
    if path == ROOT:
        return value  # type: ignore[no-any-return]
    magicattr.set(program, path, value)
    return program


def predictor_at(program: dspy.Module, info: PredictorInfo) -> dspy.Predict:
    """The predictor that stands for ``info`` now, following a module swap at its site."""
    found = get_path(program, current_path(program, info))
    if not isinstance(found, dspy.Predict):
        raise TypeError(f"expected a dspy.Predict at {info.path!r}, found {type(found).__name__}")
    return found


def current_path(program: dspy.Module, info: PredictorInfo) -> str:
    """DSPy's path for ``info``'s predictor in ``program`` (changes when its site was swapped)."""
    if info.site is None:
        return info.path
    held = get_path(program, info.site)
    return _join(info.site, "predict") if isinstance(held, dspy.ChainOfThought) else info.site


def site_kind(program: dspy.Module, site: str) -> ModuleKind:
    return "cot" if isinstance(get_path(program, site), dspy.ChainOfThought) else "predict"
