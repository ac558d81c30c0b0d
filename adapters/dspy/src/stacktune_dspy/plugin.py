"""Plugin hooks: ``stacktune.optimizable(program)`` accepts any ``dspy.Module``.

DSPy is imported only when a target could be a DSPy module (DSPy is already
imported), so loading stacktune's plugins stays cheap for everyone else.
"""

from __future__ import annotations

import sys
from typing import Any

from stacktune import hookimpl


@hookimpl
def stacktune_optimizable(target: Any) -> Any:
    """A :class:`~stacktune_dspy.DSPyAdapter` for a ``dspy.Module`` instance, None otherwise."""
    dspy = sys.modules.get("dspy")
    module_class = getattr(dspy, "Module", None) if dspy is not None else None
    if module_class is None or isinstance(target, type) or not isinstance(target, module_class):
        return None
    from stacktune_dspy._adapter import DSPyAdapter

    return DSPyAdapter(target)
