"""Lazy package exports, so that loading a plugin does not import its framework.

``stacktune`` loads every installed plugin's module (``stacktune_dspy.plugin``...) to build
its plugin manager, and importing a package's module runs the package's ``__init__``. A
package that imports DSPy or LangChain there makes every ``stacktune`` command, ``--help``
included, pay for it. With :func:`lazy_exports` the package's public names are imported on
first use instead::

    __getattr__, __dir__ = lazy_exports(__name__, {"DSPyAdapter": "stacktune_dspy._adapter"})

(with the same names imported under ``if TYPE_CHECKING:`` for type checkers).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` importing ``exports`` (``{name: module}``) on first use, and its ``__dir__``."""
    table = dict(exports)

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            # A submodule (``stacktune.study``) is an attribute once imported, as with an eager __init__.
            is_package = "__path__" in vars(sys.modules[package])
            if is_package and not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
