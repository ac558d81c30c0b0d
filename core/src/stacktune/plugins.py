"""The pluggy wiring: the plugin manager factory, the process-wide manager, ``optimizable()``.

The hook specifications and the ``hookimpl``/``hookspec`` markers live in
:mod:`stacktune.hookspecs` (re-exported here).

Adapters and other plugins are separate distributions that declare an entry point in
the ``stacktune.plugins`` group pointing at a module or object with ``@hookimpl``
functions. Set ``STACKTUNE_DISABLE_PLUGINS=name1,name2`` to block named plugins and
``STACKTUNE_DISABLE_PLUGIN_AUTOLOAD=1`` to load none from entry points.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy

from stacktune import _builtin
from stacktune.errors import NoAdapterFound
from stacktune.hookspecs import PROJECT_NAME, HookSpecs, hookimpl, hookspec

if TYPE_CHECKING:
    from stacktune.protocol import Optimizable

ENTRY_POINT_GROUP = "stacktune.plugins"
DISABLE_PLUGINS_ENV = "STACKTUNE_DISABLE_PLUGINS"
DISABLE_AUTOLOAD_ENV = "STACKTUNE_DISABLE_PLUGIN_AUTOLOAD"


def _blocked_names() -> list[str]:
    raw = os.environ.get(DISABLE_PLUGINS_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def create_plugin_manager(
    *, load_entry_points: bool | None = None, plugins: Sequence[object] = ()
) -> pluggy.PluginManager:
    """A new plugin manager with stacktune's hooks, entry-point plugins and ``plugins``.

    Nothing is loaded at import time: call this (or :func:`get_plugin_manager`).
    Entry points are loaded unless ``load_entry_points`` is False or the autoload
    environment variable is set; blocked names are never registered.
    """
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(HookSpecs)
    manager.register(_builtin, name="stacktune.builtin")
    for name in _blocked_names():
        manager.set_blocked(name)
    if load_entry_points is None:
        load_entry_points = not _autoload_disabled()
    if load_entry_points:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        if manager.has_plugin(name):
            name = f"{name}-{id(plugin)}"
        manager.register(plugin, name=name)
    manager.check_pending()
    return manager


_default_manager: pluggy.PluginManager | None = None
_default_lock = threading.Lock()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide plugin manager, built on first use."""
    global _default_manager
    with _default_lock:
        if _default_manager is None:
            _default_manager = create_plugin_manager()
        return _default_manager


def reset_plugin_manager(manager: pluggy.PluginManager | None = None) -> None:
    """Replace (or forget) the process-wide manager; for tests and embedding applications."""
    global _default_manager
    with _default_lock:
        _default_manager = manager


def plugin_names(manager: pluggy.PluginManager | None = None) -> list[str]:
    """The registered plugins' names, sorted, stacktune's built-in one left out (what ``stacktune plugins`` lists)."""
    manager = manager or get_plugin_manager()
    return sorted(
        name for name, plugin in manager.list_name_plugin() if plugin is not None and name != "stacktune.builtin"
    )


def optimizable(target: object, *, manager: pluggy.PluginManager | None = None) -> Optimizable:
    """``target`` itself if it is an Optimizable, else what the first willing plugin makes of it.

    A mapping no plugin takes is a set of alternatives (``{"dspy": program, "prompt": prompt}``):
    one :class:`~stacktune.Alternatives` over them.
    """
    from stacktune.protocol import is_optimizable  # the protocol imports the runner: not at plugin load

    if is_optimizable(target):
        return target  # type: ignore[return-value]
    manager = manager or get_plugin_manager()
    result = manager.hook.stacktune_optimizable(target=target)
    if result is None and isinstance(target, Mapping):
        from stacktune._alternatives import Alternatives

        return Alternatives(target, manager=manager)  # {"dspy": program, "langchain": chain, ...}
    if result is None:
        names = plugin_names(manager)
        installed = ", ".join(names) if names else "none"
        raise NoAdapterFound(
            f"no installed stacktune adapter accepts a {type(target).__module__}.{type(target).__qualname__}; "
            f"installed plugins: {installed}. Install the adapter for its framework "
            f"(e.g. `pip install stacktune-dspy`) or implement the Optimizable protocol."
        )
    if not is_optimizable(result):
        raise TypeError(f"a plugin returned {result!r} for stacktune_optimizable, which is not an Optimizable")
    return result  # type: ignore[no-any-return]


__all__ = [
    "DISABLE_AUTOLOAD_ENV",
    "DISABLE_PLUGINS_ENV",
    "ENTRY_POINT_GROUP",
    "HookSpecs",
    "create_plugin_manager",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "optimizable",
    "plugin_names",
    "reset_plugin_manager",
]
