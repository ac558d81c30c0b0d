"""stacktune's own plugin: the toy task, so the engine can be demonstrated with no LLM."""

from __future__ import annotations

from collections.abc import Sequence

from stacktune.hookspecs import hookimpl
from stacktune.tasks import Task, TaskSetup


def _build_toy(**_: object) -> TaskSetup:
    from stacktune.testing import ToyProgram, toy_dataset, toy_metric

    return TaskSetup(target=ToyProgram(), dataset=toy_dataset(20), metric=toy_metric, holdout=toy_dataset(40))


@hookimpl
def stacktune_register_tasks() -> Sequence[Task]:
    return [
        Task(
            name="toy",
            description="A pure-Python program with a known optimum (no LLM).",
            build=_build_toy,
            objectives=("score", "tokens"),
        )
    ]
