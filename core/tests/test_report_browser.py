"""The report drawn by a real browser: Debian's chromium, headless, driven by Playwright.

Each report is opened from a file with every request outside the file refused (it must need
none), and the test checks what a person would see: no script error, every chart drawn, and
on each chart as many markers (or bars) as the study has trials (or examples, or variables)
to show, counted from the study itself. ``make browser`` installs chromium (as root, from
Debian); without it the test is skipped, except under CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest

from stacktune import Study

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _cannot_run(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; under CI the report's browser test must run (make browser installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        _cannot_run(f"no chromium at {CHROMIUM} (as root: make browser, which runs apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _cannot_run("the playwright package is not installed (make setup installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Page:
    """A report open in the browser, with what went wrong while it loaded."""

    page: Any
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def drawn(self) -> dict[str, int]:
        """Per chart id: the markers (scatter points) and bars the browser drew."""
        counts: dict[str, int] = self.page.evaluate(
            """() => Object.fromEntries(Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => [
                d.id.replace('chart-', ''),
                d.querySelectorAll('.scatterlayer .points path.point').length
                    + d.querySelectorAll('.barlayer .bars .point').length]))"""
        )
        return counts

    def hover_first_point(self, chart: str) -> str:
        """Move the mouse over the chart's first marker and read the hover box."""
        point = self.page.locator(f"#chart-{chart} .scatterlayer .points path.point").first
        point.scroll_into_view_if_needed()
        box = point.bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        hover = self.page.locator(f"#chart-{chart} .hoverlayer .hovertext")
        hover.first.wait_for(timeout=5000)
        text: str = hover.first.text_content() or ""
        return text


@pytest.fixture
def open_report(browser: Any, tmp_path: Path) -> Iterator[Callable[[Study], Page]]:
    contexts: list[Any] = []

    def open_(study: Study) -> Page:
        path = study.report(tmp_path / f"{study.study_name}.html")
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        opened = Page(context.new_page())
        opened.page.on("pageerror", lambda exc: opened.errors.append(str(exc)))
        opened.page.on("console", lambda msg: opened.errors.append(msg.text) if msg.type == "error" else None)

        def only_the_file(route: Any) -> None:
            if route.request.url.startswith("file://"):
                route.continue_()
            else:
                opened.outside.append(route.request.url)
                route.abort()

        opened.page.route("**/*", only_the_file)
        opened.page.goto(path.as_uri(), wait_until="load")
        opened.page.wait_for_function(
            "() => Array.from(document.querySelectorAll('.js-plotly-plot')).every(d => d.querySelector('.main-svg'))",
            timeout=20_000,
        )
        return opened

    yield open_
    for context in contexts:
        context.close()


def _ran(study: Study) -> int:
    return sum(1 for t in study.trials if t.examples_evaluated)


def test_a_raced_study_draws_every_trial_example_and_variable(
    raced: Study, open_report: Callable[[Study], Page]
) -> None:
    opened = open_report(raced)
    complete = len(raced.completed_trials())
    raced_out = sum(1 for t in raced.trials if t.estimated_score is not None)
    assert opened.drawn() == {
        "best-so-far": complete + raced_out,
        "history-calls": _ran(raced),
        "history-usd": _ran(raced),
        "importance-0": 3,  # strategy, temperature, style (steps is conditional)
        "examples": 40,
    }
    assert opened.errors == [] and opened.outside == []
    hover = opened.hover_first_point("best-so-far")  # the first marker drawn is the baseline's star
    assert "trial 0 (baseline: the program as written)" in hover and "strategy: direct" in hover


def test_a_two_objective_study_draws_its_front_and_both_importances(
    pareto: Study, open_report: Callable[[Study], Page]
) -> None:
    opened = open_report(pareto)
    n = len(pareto.completed_trials())
    assert opened.drawn() == {
        "front-1": n,
        "history-calls": n,
        "history-usd": n,
        "importance-0": 3,
        "importance-1": 3,
        "examples": 20,
    }
    assert opened.errors == [] and opened.outside == []


def test_long_texts_failed_trials_and_a_one_trial_study_draw_too(
    make_prompt_study: Callable[..., Study], open_report: Callable[[Study], Page]
) -> None:
    flaky = make_prompt_study(n_trials=8, fail_above=0.6)
    opened = open_report(flaky)
    drawn = opened.drawn()
    complete = len(flaky.completed_trials())
    assert complete < 8, "some trials failed"
    assert drawn["best-so-far"] == complete and drawn["history-calls"] == _ran(flaky) == complete
    assert opened.errors == [] and opened.outside == []
    assert "You are a careful reviewer. Read the review below" in opened.hover_first_point("best-so-far")

    one = make_prompt_study(n_trials=1)
    opened = open_report(one)
    assert opened.drawn() == {"best-so-far": 1, "history-calls": 1, "history-usd": 1}
    assert opened.errors == [] and opened.outside == []
