"""Plugin hooks: ``stacktune.optimizable(runnable)`` finds this adapter for any Runnable."""

from __future__ import annotations

import sys
from typing import Any

from stacktune import hookimpl


@hookimpl
def stacktune_optimizable(target: Any) -> Any:
    """A LangChainAdapter for any langchain_core Runnable, None for anything else.

    LangChain is imported only when the target could be one of its objects, so other
    users of stacktune do not pay for importing it.
    """
    if "langchain_core" not in sys.modules:
        return None
    from langchain_core.runnables import Runnable

    if not isinstance(target, Runnable):
        return None
    from stacktune_langchain._adapter import LangChainAdapter

    return LangChainAdapter(target)
