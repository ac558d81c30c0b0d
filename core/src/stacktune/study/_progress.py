"""The progress line of ``optimize``: one ``rich`` progress bar on stderr, and only on a terminal."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stacktune.secrets import redact
from stacktune.usage import Usage


class TrialProgress:
    """Trials done out of ``total``, with the best value so far, examples run and what was spent.

    ``best`` describes the study's best so far (called after each trial; "" when there is none).
    """

    def __init__(self, name: str, total: int | None, best: Callable[[], str], *, enabled: bool) -> None:
        self._best = best
        # stderr, and only a terminal: stdout stays the results' (a pipe, a file, a script's parser).
        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            disable=not (enabled and console.is_terminal),
        )
        self._task = self._bar.add_task(f"study {name}", total=total, status="")
        self._lock = threading.Lock()
        self.examples = 0

    def __enter__(self) -> TrialProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def example_done(self) -> None:
        with self._lock:
            self.examples += 1

    def trial_done(self, spent: Usage, note: str = "") -> None:
        """One more trial; ``note`` (e.g. how many of its examples failed) is shown until the next one."""
        if self._bar.disable:
            return
        status = f"{self._best()}examples {self.examples} calls {spent.spent_calls} tokens {spent.spent_tokens}"
        if note:
            status += f" [yellow]last trial: {redact(note)[:60]}[/]"  # masked before cut: no key's prefix shows
        self._bar.update(self._task, advance=1, status=status)


__all__ = ["TrialProgress"]
