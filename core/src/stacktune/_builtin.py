"""stacktune's own plugin: the toy task, so the engine can be demonstrated with no LLM."""

from __future__ import annotations

from collections.abc import Sequence

from stacktune.hookspecs import hookimpl
from stacktune.tasks import Task, TaskSetup


def _build_toy(examples: str = "20", delay: str = "0") -> TaskSetup:
    """``--option examples=N`` sets the dataset's size, ``--option delay=S`` the seconds each example takes."""
    from stacktune.testing import ToyProgram, toy_dataset, toy_metric

    if not examples.isdigit() or int(examples) < 1:
        raise ValueError(f"examples={examples!r} must be a whole number >= 1")

    return TaskSetup(
        target=ToyProgram(delay=float(delay)),
        dataset=toy_dataset(int(examples)),
        metric=toy_metric,
        holdout=toy_dataset(40),
    )


@hookimpl
def stacktune_register_tasks() -> Sequence[Task]:
    return [
        Task(
            name="toy",
            description="A pure-Python program with a known optimum (no LLM; options: examples=N, delay=seconds).",
            build=_build_toy,
            objectives=("score", "tokens"),
            options={"examples": "how many examples, default 20", "delay": "seconds per example, default 0"},
        )
    ]
