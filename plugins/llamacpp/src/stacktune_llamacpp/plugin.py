"""Plugin hooks: adds ``stacktune local ...`` to the command line."""

from __future__ import annotations

import click

from stacktune import hookimpl


@hookimpl
def stacktune_add_commands(cli: click.Group) -> None:
    """Add the ``local`` group (``serve``, ``info``)."""
    from stacktune_llamacpp.cli import local

    cli.add_command(local)
