"""Plugin hooks: wrap Prompts for stacktune.

This package offers no tasks and reads no files outside itself: the repository's example
tasks are registered by its dev-only ``stacktune-examples`` distribution.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from stacktune import hookimpl

if TYPE_CHECKING:
    from stacktune import Optimizable


@hookimpl
def stacktune_optimizable(target: object) -> Optimizable | None:
    """A PromptAdapter for a Prompt; None for anything else (another plugin may know it).

    The adapter is imported only once a Prompt exists (its module is loaded), so loading the
    plugin stays cheap for every ``stacktune`` command.
    """
    prompts = sys.modules.get("stacktune_prompt._prompt")
    if prompts is None or not isinstance(target, prompts.Prompt):
        return None
    from stacktune_prompt._adapter import PromptAdapter

    return PromptAdapter(target)
