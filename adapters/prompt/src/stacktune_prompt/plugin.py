"""Plugin hooks: wrap Prompts for stacktune, and offer the repository's example tasks.

The example tasks (``examples/<name>/task.py`` with a module-level ``task``) live in the
stacktune repository, not in this package. They are found by walking up from this file,
so a development install (``pip install -e adapters/prompt``) offers them from any
working directory, and an installed wheel simply offers none. Nothing is read from
the working directory: a plugin should not execute whatever file happens to be there.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from stacktune import Optimizable, Task, hookimpl
from stacktune_prompt._adapter import PromptAdapter
from stacktune_prompt._prompt import Prompt

logger = logging.getLogger("stacktune.prompt")

#: The example tasks this plugin offers when the repository is around them.
EXAMPLE_TASKS = ("sentiment",)


@hookimpl
def stacktune_optimizable(target: object) -> Optimizable | None:
    """A PromptAdapter for a Prompt; None for anything else (another plugin may know it)."""
    return PromptAdapter(target) if isinstance(target, Prompt) else None


def find_example(name: str, start: Path | None = None) -> Path | None:
    """``examples/<name>/task.py`` in the nearest directory above ``start`` that has one."""
    here = (start or Path(__file__)).resolve()
    for directory in here.parents:
        candidate = directory / "examples" / name / "task.py"
        if candidate.is_file():
            return candidate
    return None


def load_example_task(path: Path) -> Task:
    """Import ``path`` as a module and return its ``task`` (a stacktune.Task)."""
    module_name = f"stacktune_examples_{path.parent.name}_task"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    task = getattr(module, "task", None)
    if not isinstance(task, Task):
        raise TypeError(f"{path} must define `task = stacktune.Task(...)`, found {type(task).__name__}")
    return task


@hookimpl
def stacktune_register_tasks() -> Sequence[Task]:
    tasks: list[Task] = []
    for name in EXAMPLE_TASKS:
        path = find_example(name)
        if path is None:
            continue
        try:
            tasks.append(load_example_task(path))
        except Exception as exc:  # noqa: BLE001 - a broken example must not break `stacktune plugins`
            logger.warning("example task %s could not be loaded: %s: %s", path, type(exc).__name__, exc)
    return tasks
