"""Plugin hooks: wrap Prompts for stacktune.

This package offers no tasks and reads no files outside itself: the repository's example
tasks are registered by its dev-only ``stacktune-examples`` distribution.
"""

from __future__ import annotations

from stacktune import Optimizable, hookimpl
from stacktune_prompt._adapter import PromptAdapter
from stacktune_prompt._prompt import Prompt


@hookimpl
def stacktune_optimizable(target: object) -> Optimizable | None:
    """A PromptAdapter for a Prompt; None for anything else (another plugin may know it)."""
    return PromptAdapter(target) if isinstance(target, Prompt) else None
