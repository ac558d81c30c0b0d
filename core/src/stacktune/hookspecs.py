"""The hooks a stacktune plugin may implement, and the markers that declare them.

Kept apart from :mod:`stacktune.plugins` (the manager factory and ``optimizable()``) so
that a plugin, or a core module such as ``_builtin``, can import ``hookimpl`` without
importing the study machinery: the types the specs mention are imported for type
checking only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from stacktune.proposals import InstructionSite
    from stacktune.protocol import Optimizable
    from stacktune.study import Study, TrialResult
    from stacktune.tasks import Task

#: The pluggy project name: markers, hook prefix and manager all use it.
PROJECT_NAME = "stacktune"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class HookSpecs:
    """Every hook a stacktune plugin may implement."""

    @hookspec(firstresult=True)
    def stacktune_optimizable(self, target: Any) -> Optimizable | None:  # type: ignore[empty-body]
        """Wrap ``target`` in an Optimizable if this plugin knows its type, else return None."""

    @hookspec
    def stacktune_trial_finished(self, study: Study, result: TrialResult) -> None:
        """Observe every finished trial (complete, pruned or failed): trackers, exporters, loggers."""

    @hookspec
    def stacktune_register_tasks(self) -> Sequence[Task]:  # type: ignore[empty-body]
        """Offer named tasks (program, data, metric) to ``stacktune optimize <task>``."""

    @hookspec
    def stacktune_propose(  # type: ignore[empty-body]
        self, site: InstructionSite, examples: Sequence[object], n: int
    ) -> Sequence[str] | None:
        """Offer up to ``n`` instruction candidates for one site when a study proposes (``optimize(propose=...)``).

        Every plugin's candidates join the proposer's (deduplicated); report what its LM calls
        cost with ``stacktune.record_usage`` so the study's budget counts them. None: nothing to offer.
        """

    @hookspec
    def stacktune_add_commands(self, cli: click.Group) -> None:
        """Add sub-commands to the ``stacktune`` command line (e.g. ``stacktune local serve``)."""


__all__ = ["PROJECT_NAME", "HookSpecs", "hookimpl", "hookspec"]
