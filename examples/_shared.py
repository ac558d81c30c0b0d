"""What the DSPy and LangChain examples share: an OpenAI-compatible server, and option checks.

Both talk to a model through an OpenAI-compatible server: the one at ``base_url`` when
given, else SmolLM2-135M served by llama.cpp on 127.0.0.1 (``stacktune_llamacpp``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

#: Servers started for a task; stacktune_llamacpp stops every live server when the process exits.
_started: list[Any] = []


def _local_server() -> Any:
    from stacktune_llamacpp import LocalServer

    print("starting the local model's server (SmolLM2-135M through llama.cpp)...", flush=True)
    return LocalServer()


def server_url(base_url: str | None) -> str:
    """``base_url``, or the URL of a local server that runs until this process exits (for a task)."""
    if base_url:
        return base_url
    server = _local_server().start()
    _started.append(server)  # kept alive until exit, where stacktune_llamacpp stops it
    return str(server.base_url)


@contextlib.contextmanager
def serving(base_url: str | None) -> Iterator[str]:
    """``base_url``, or the URL of a local server that runs for the ``with`` block (for a script)."""
    if base_url:
        yield base_url
        return
    with _local_server() as server:
        yield str(server.base_url)


def check_options(task: str, unknown: Mapping[str, Any], known: Mapping[str, str]) -> None:
    """Refuse options the task does not know, naming them and the known ones."""
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} for the {task} task; known: {', '.join(known)}")


def flag(name: str, value: str | None) -> bool:
    """A yes/no ``--option`` (1/true/yes or 0/false/no); absent means no."""
    text = (value or "").strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("", "0", "false", "no"):
        return False
    raise ValueError(f"option {name}={value!r} must be true or false")
