"""Saving a tuned program: DSPy's own file plus a small sidecar for what DSPy does not keep.

``program.save("best.json")`` stores instructions, field descriptions, demos and each
predictor's LM. It does not store: which sites were swapped between Predict and
ChainOfThought (the architecture), each predictor's call settings
(``Predict.config``: temperature, max_tokens, top_p), the DSPy adapter, and the state
of predictors inside compiled sub-modules (DSPy's save skips them). :func:`save`
writes those to ``best.stacktune.json`` next to DSPy's file; :func:`load` rebuilds the
architecture on a fresh instance of your program class, lets DSPy load its file, then
restores the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dspy

from stacktune_dspy._adapter import SETTINGS_ATTRIBUTE, DSPyAdapter
from stacktune_dspy._build import swap
from stacktune_dspy._discovery import compiled_module_paths, current_path, find_predictors, get_path, predictor_at

FORMAT = "stacktune-dspy/1"


def sidecar_path(path: str | Path) -> Path:
    """``best.json`` -> ``best.stacktune.json``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.stacktune.json")


def _json_checked(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot save {what}: {exc}") from None


def sidecar_state(program: dspy.Module) -> dict[str, Any]:
    """What :func:`save` writes next to DSPy's file."""
    infos = find_predictors(program)
    modules: dict[str, str] = {}
    config: dict[str, Any] = {}
    frozen: dict[str, Any] = {}
    for info in infos:
        if info.site is not None and info.kind is not None:
            modules[info.site] = info.kind
        path = current_path(program, info)
        predictor = get_path(program, path)
        if predictor.config:
            config[path] = _json_checked(dict(predictor.config), f"the call settings of predictor {path!r}")
        if info.frozen:
            frozen[path] = _json_checked(predictor.dump_state(), f"the state of frozen predictor {path!r}")
    settings = getattr(program, SETTINGS_ATTRIBUTE, None) or {}
    return {
        "format": FORMAT,
        "adapter": settings.get("adapter"),
        "modules": modules,
        "compiled": compiled_module_paths(program),
        "config": config,
        "frozen": frozen,
    }


def save(program: dspy.Module | DSPyAdapter, path: str | Path) -> Path:
    """``program.save(path)`` (JSON) plus the sidecar; returns the sidecar's path."""
    if isinstance(program, DSPyAdapter):
        program = program.to_native()
    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(f"stacktune_dspy.save writes DSPy's JSON state: the path must end with .json, got {path}")
    state = sidecar_state(program)
    program.save(str(path))
    target = sidecar_path(path)
    target.write_text(json.dumps(state, indent=2) + "\n")
    return target


def load(
    template: dspy.Module,
    path: str | Path,
    *,
    allow_unsafe_lm_state: bool = False,
    lm_kwargs: dict[str, Any] | None = None,
) -> dspy.Module:
    """A copy of ``template`` (a fresh instance of your program class) with the saved state.

    ``allow_unsafe_lm_state`` is DSPy's own switch (keeps ``api_base`` of saved LMs);
    ``lm_kwargs`` are given to every loaded LM (``lm.copy(**lm_kwargs)``), e.g. an
    ``api_key``, which DSPy never saves. The template is not changed.
    """
    path = Path(path)
    side = sidecar_path(path)
    state: dict[str, Any] = json.loads(side.read_text()) if side.exists() else {}
    if state and state.get("format") != FORMAT:
        raise ValueError(f"{side} is not a stacktune-dspy sidecar (format {state.get('format')!r}, expected {FORMAT})")
    program = template.deepcopy()
    for site, kind in state.get("modules", {}).items():
        if kind not in ("predict", "cot"):
            raise ValueError(f"{side}: module type {kind!r} for {site!r} is not 'predict' or 'cot'")
        program = swap(program, site, kind)
    for module_path in state.get("compiled", []):
        get_path(program, module_path)._compiled = True
    program.load(str(path), allow_unsafe_lm_state=allow_unsafe_lm_state)
    for predictor_path, predictor_state in state.get("frozen", {}).items():
        get_path(program, predictor_path).load_state(predictor_state, allow_unsafe_lm_state=allow_unsafe_lm_state)
    for predictor_path, settings in state.get("config", {}).items():
        get_path(program, predictor_path).config = dict(settings)
    if lm_kwargs:
        for info in find_predictors(program):
            predictor = predictor_at(program, info)
            if predictor.lm is not None:
                predictor.lm = predictor.lm.copy(**lm_kwargs)
    setattr(program, SETTINGS_ATTRIBUTE, {"adapter": state.get("adapter")})
    return program


__all__ = ["FORMAT", "load", "save", "sidecar_path", "sidecar_state"]
