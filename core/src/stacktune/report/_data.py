"""What the report shows, as plain data: built from a stored study, drawn by ``_page``.

Kept apart from plotly so that every figure's content (which points, where, what they
say on hover) is tested without a browser, and so that the page only draws.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from stacktune.errors import StacktuneError
from stacktune.readable import ReadableSpace
from stacktune.records import ATTR_SPACE, DatasetSample
from stacktune.study.importance import Importance, importance
from stacktune.study.results import TrialResult
from stacktune.study.study import Study

#: How many lines of ~80 characters a long text (a prompt) gets in a hover box.
HOVER_LINES = 8
HOVER_WIDTH = 80
#: Rows of fixed (and of broken) examples listed with their inputs and predictions.
EXAMPLE_ROWS = 20


@dataclass(frozen=True)
class Point:
    """One marker: a trial (or an example) at (x, y), of a kind the legend names, with its hover text."""

    key: int  # the trial number, or the example index
    x: float
    y: float
    kind: str
    hover: str  # HTML-escaped, lines joined with <br>


@dataclass(frozen=True)
class Chart:
    """One figure: its points, an optional line drawn without markers, and how to read it."""

    id: str
    title: str
    caption: str
    x_title: str
    y_title: str
    points: tuple[Point, ...]
    line: tuple[tuple[float, float], ...] = ()
    line_name: str = ""
    line_shape: str = "linear"
    x_is_trial: bool = False


@dataclass(frozen=True)
class ImportanceChart:
    """One objective's parameter importances, largest first (no bars and a note when there are none)."""

    id: str
    result: Importance
    bars: tuple[tuple[str, float], ...]  # (readable label, share)


@dataclass(frozen=True)
class ExampleRow:
    index: int
    change: str  # "fixed", "broke", "same"
    baseline_score: float
    best_score: float
    input: str | None = None
    baseline_prediction: str | None = None
    best_prediction: str | None = None


@dataclass(frozen=True)
class ExampleView:
    """The best configuration against the baseline, example by example (a note instead when it cannot be)."""

    note: str = ""
    best: int | None = None
    baseline: int | None = None
    rows: tuple[ExampleRow, ...] = ()
    chart: Chart | None = None

    def changed(self, change: str) -> list[ExampleRow]:
        return [row for row in self.rows if row.change == change]


@dataclass(frozen=True)
class ReportData:
    title: str
    summary: tuple[str, ...]
    tradeoffs: tuple[Chart, ...]
    history: tuple[Chart, ...]
    history_notes: tuple[str, ...]
    importances: tuple[ImportanceChart, ...]
    importance_note: str
    examples: ExampleView
    spend: tuple[tuple[str, str], ...]
    configurations: tuple[tuple[str, dict[str, str]], ...] = field(default=())  # (heading, readable config)


# -- words -----------------------------------------------------------------------------------------
def _wrap(text: str) -> list[str]:
    lines = textwrap.wrap(text, HOVER_WIDTH, break_long_words=True, replace_whitespace=True) or [""]
    if len(lines) > HOVER_LINES:
        lines = [*lines[:HOVER_LINES], "…"]
    return lines


def _fmt(value: float) -> str:
    return f"{value:.4g}"


class Words:
    """Trials described in words: what hover boxes and tables say."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.readable = ReadableSpace(study.optuna_study.user_attrs.get(ATTR_SPACE))

    def values(self, trial: TrialResult) -> str:
        return " · ".join(f"{name} {_fmt(value)}" for name, value in trial.values.items())

    def hover(self, trial: TrialResult, *, headline: str = "") -> str:
        """The trial's number, values and configuration, long texts shown whole (wrapped, up to 8 lines)."""
        title = f"<b>trial {trial.number}</b>" + (" (baseline: the program as written)" if trial.is_baseline else "")
        lines = [title]
        if headline:
            lines.append(html.escape(headline, quote=False))
        if trial.values:
            lines.append(html.escape(self.values(trial), quote=False))
        for name, text in self.readable.configuration(trial.configuration).items():
            wrapped = _wrap(f"{name}: {text}")
            lines.extend(html.escape(line, quote=False) for line in wrapped)
        return "<br>".join(lines)


# -- which trials --------------------------------------------------------------------------------
def best_trial(study: Study) -> TrialResult | None:
    """The best complete trial; with several objectives, the Pareto trial best on the first one."""
    if not study.completed_trials():
        return None
    if not study.is_multi_objective:
        return study.best
    first = study.objectives[0]
    front = study.pareto_front()
    sign = -1.0 if first.direction == "maximize" else 1.0
    return min(front, key=lambda t: (sign * t.values[first.name], t.number))


def _kind(trial: TrialResult, best: TrialResult | None) -> str:
    if trial.is_baseline:
        return "baseline"
    if best is not None and trial.number == best.number:
        return "best"
    if trial.state == "complete":
        return "complete"
    if trial.raced_out:
        return "raced out"
    return "failed" if trial.state == "fail" else "pruned"


def _legend(points: Sequence[Point], name: str) -> str:
    """The sentences for the markers that need one, only when the chart has them."""
    kinds = {point.kind for point in points}
    said = ""
    if "raced out" in kinds:
        said += f" Hollow markers are trials the race stopped early, at their estimated {name}."
    if kinds & {"pruned", "failed"}:
        said += " Crosses are trials pruned or failed, at the mean over the examples they ran."
    return said


# -- the trade-offs ------------------------------------------------------------------------------
def tradeoff_charts(study: Study, words: Words, best: TrialResult | None) -> tuple[Chart, ...]:
    """The best-so-far curve (one objective) or the Pareto front against each other objective."""
    if study.is_multi_objective:
        return tuple(_front_chart(study, words, j) for j in range(1, len(study.objectives)))
    return (_best_so_far_chart(study, words, best),)


def _best_so_far_chart(study: Study, words: Words, best: TrialResult | None) -> Chart:
    objective = study.objectives[0]
    sign = 1.0 if objective.direction == "maximize" else -1.0
    points: list[Point] = []
    line: list[tuple[float, float]] = []
    best_so_far: float | None = None
    for trial in study.trials:
        if trial.state == "complete" and objective.name in trial.values:
            value = trial.values[objective.name]
            points.append(Point(trial.number, trial.number, value, _kind(trial, best), words.hover(trial)))
            if best_so_far is None or sign * value > sign * best_so_far:
                best_so_far = value
        elif trial.estimated_score is not None and objective.name == "score":
            headline = f"stopped by the race after {trial.examples_evaluated} examples"
            hover = words.hover(trial, headline=f"{headline}; estimated score {_fmt(trial.estimated_score)}")
            points.append(Point(trial.number, trial.number, trial.estimated_score, "raced out", hover))
        if best_so_far is not None:
            line.append((trial.number, best_so_far))
    name = objective.name
    return Chart(
        id="best-so-far",
        title=f"Best {name} so far",
        caption=(
            f"Each marker is a trial, left to right in the order the search ran them, at its {name} "
            f"({objective.direction}d). The star is the baseline, the program as you wrote it; the diamond is "
            f"the best trial.{_legend(points, name)} The line is the best {name} found so far. Hover over a "
            f"marker to read its configuration."
        ),
        x_title="trial number",
        y_title=name,
        points=tuple(points),
        line=tuple(line),
        line_name=f"best {name} so far",
        line_shape="hv",
        x_is_trial=True,
    )


def _front_chart(study: Study, words: Words, j: int) -> Chart:
    first, other = study.objectives[0], study.objectives[j]
    front_numbers = {t.number for t in study.pareto_front()}
    points: list[Point] = []
    for trial in study.trials:
        if trial.state == "complete":
            kind = (
                "baseline" if trial.is_baseline else ("Pareto front" if trial.number in front_numbers else "complete")
            )
            x, y = trial.values[other.name], trial.values[first.name]
            points.append(Point(trial.number, x, y, kind, words.hover(trial)))
        elif trial.estimated_values is not None:
            x, y = trial.estimated_values[other.name], trial.estimated_values[first.name]
            headline = f"stopped by the race after {trial.examples_evaluated} examples (estimated values)"
            points.append(Point(trial.number, x, y, "raced out", words.hover(trial, headline=headline)))
    line = tuple(sorted((p.x, p.y) for p in points if p.key in front_numbers))
    more = (
        f" With {len(study.objectives)} objectives, the front is drawn on these two only: a front trial may "
        f"look beaten here and win on another objective."
        if len(study.objectives) > 2
        else ""
    )
    return Chart(
        id=f"front-{j}",
        title=f"Trade-off: {first.name} against {other.name}",
        caption=(
            f"Each marker is a complete trial, at its {other.name} ({other.direction}d, across) and its "
            f"{first.name} ({first.direction}d, up). Blue markers, joined by the line, are the Pareto front: the "
            f"trials no other trial beats on both at once; the star is the baseline, the program as you wrote it."
            f"{_legend(points, 'values')} Hover over a marker to read its configuration.{more}"
        ),
        x_title=other.name,
        y_title=first.name,
        points=tuple(points),
        line=line,
        line_name="Pareto front",
    )


# -- what it cost ---------------------------------------------------------------------------------
def _history_y(trial: TrialResult) -> float | None:
    if trial.evaluation is not None and trial.state == "complete":
        return trial.evaluation.score
    if trial.estimated_score is not None:
        return trial.estimated_score
    if trial.estimated_values is not None and "score" in trial.estimated_values:
        return trial.estimated_values["score"]
    if trial.partial is not None and trial.partial.n_examples:
        return trial.partial.score
    return None


def history_charts(study: Study, words: Words, best: TrialResult | None) -> tuple[tuple[Chart, ...], tuple[str, ...]]:
    """The score of each trial against the LLM calls (and USD) spent so far, every trial that spent any."""
    calls = usd = 0.0
    by_calls: list[Point] = []
    by_usd: list[Point] = []
    unpriced = 0
    for trial in study.trials:
        spent = trial.spent
        if spent is None:
            continue
        calls += spent.spent_calls
        usd += spent.spent_cost_usd
        unpriced += spent.unpriced_calls
        y = _history_y(trial)
        if y is None:
            continue
        kind = _kind(trial, best)
        headline = f"{kind}; {spent.n_examples} examples, {spent.spent_calls} calls, {spent.spent_cost_usd:.4g} USD"
        hover = words.hover(trial, headline=headline)
        by_calls.append(Point(trial.number, calls, y, kind, hover))
        by_usd.append(Point(trial.number, usd, y, kind, hover))
    caption = (
        "Each marker is a trial at its score (the mean of the metric over the examples it ran; for a trial "
        "the race stopped, its estimated score), placed at the {what} spent by the end of it. Answers served "
        "from the cache cost nothing. The star is the baseline, the diamond the best trial."
        + _legend(by_calls, "score")
    )
    charts = [
        Chart(
            "history-calls",
            "Score against LLM calls spent",
            caption.format(what="LLM calls"),
            "LLM calls spent (cumulative)",
            "score",
            tuple(by_calls),
        ),
    ]
    notes: list[str] = []
    if usd > 0:
        charts.append(
            Chart(
                "history-usd",
                "Score against USD spent",
                caption.format(what="US dollars"),
                "USD spent (cumulative)",
                "score",
                tuple(by_usd),
            )
        )
    else:
        why = f" ({unpriced} calls to models with no known price)" if unpriced else ""
        notes.append(f"No USD was spent: every call was free (a local model) or unpriced{why}.")
    return tuple(charts), tuple(notes)


def spend_rows(study: Study) -> tuple[tuple[str, str], ...]:
    """The spend in rows of (what, how much): calls, tokens, USD, cache hits, time, examples saved."""
    trials = study.trials
    spent = [t.spent for t in trials if t.spent is not None]
    states: dict[str, int] = {}
    for trial in trials:
        kind = "raced out" if trial.raced_out else trial.state
        states[kind] = states.get(kind, 0) + 1
    evaluated = sum(t.examples_evaluated for t in trials)
    saved = study.examples_saved
    rows = [
        ("trials", ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none"),
        ("LLM calls", f"{sum(s.calls for s in spent)} ({sum(s.spent_calls for s in spent)} paid for)"),
        ("cache hits", str(sum(s.cache_hits for s in spent))),
        ("tokens", f"{sum(s.total_tokens for s in spent)} ({sum(s.spent_tokens for s in spent)} paid for)"),
        ("USD", f"{sum(s.spent_cost_usd for s in spent):.4g}" + _unpriced(sum(s.unpriced_calls for s in spent))),
        ("time", _time(study)),
        ("examples evaluated", str(evaluated)),
    ]
    if saved:
        share = saved / (evaluated + saved)
        rows.append(
            ("examples saved by stopping trials early", f"{saved} ({share:.0%} of running every trial in full)")
        )
    proposals = study.proposals
    if proposals is not None:
        used = proposals.usage
        proposed = sum(len(site.candidates) for site in proposals.sites.values())
        rows.append(
            (
                "instruction proposals",
                f"{proposed} candidates for {len(proposals.sites)} sites: {used.spent_calls} calls, "
                f"{used.spent_tokens} tokens, {used.spent_cost_usd:.4g} USD (counted in the study's budget)",
            )
        )
    demos = study.bootstrapped_demos
    if demos is not None:
        used = demos.usage
        rows.append(
            (
                "bootstrapped demos",
                f"{len(demos.passed)} of {len(demos.tried)} examples passed: {used.spent_calls} calls, "
                f"{used.spent_tokens} tokens, {used.spent_cost_usd:.4g} USD (counted in the study's budget)",
            )
        )
    for check in study.verified():
        held = check.evaluation
        cost = f"{held.n_examples} examples, {held.calls} calls, {held.spent_cost_usd:.4g} USD"
        rows.append((f"held-out check of trial {check.number}", cost))
    return tuple(rows)


def _unpriced(calls: int) -> str:
    return f" (and {calls} calls to models with no known price: their cost is unknown)" if calls else ""


def _time(study: Study) -> str:
    frozen = study.optuna_study.get_trials(deepcopy=False)
    busy = sum(t.duration.total_seconds() for t in frozen if t.duration is not None)
    starts = [t.datetime_start for t in frozen if t.datetime_start is not None]
    ends = [t.datetime_complete for t in frozen if t.datetime_complete is not None]
    if not starts or not ends:
        return "no finished trial"
    wall = (max(ends) - min(starts)).total_seconds()
    return f"{wall:.1f} s from the first trial's start to the last one's end ({busy:.1f} s in trials)"


# -- which examples changed -----------------------------------------------------------------------
def example_view(study: Study, best: TrialResult | None) -> ExampleView:
    """The best trial against the baseline on the same examples: which it fixed, which it broke."""
    baseline = study.baseline
    if baseline is None:
        return ExampleView(note="No baseline trial: a study started with optimize(baseline=True) has one.")
    if best is None:
        return ExampleView(note="No complete trial yet.")
    if baseline.state != "complete":
        return ExampleView(note=f"The baseline (trial {baseline.number}) did not complete: it ended {baseline.state}.")
    if best.number == baseline.number:
        return ExampleView(note="The baseline is the best configuration: no other trial fixed an example it missed.")
    if len(best.scores) != len(baseline.scores) or None in best.scores or None in baseline.scores:
        return ExampleView(note="The best trial and the baseline were not run on the same examples.")
    sample = DatasetSample.stored_in(study.optuna_study)
    inputs = sample.inputs if sample is not None else []
    rows = []
    for index, (old, new) in enumerate(zip(baseline.scores, best.scores, strict=True)):
        assert old is not None and new is not None
        change = "fixed" if new > old + 1e-12 else "broke" if new < old - 1e-12 else "same"
        rows.append(
            ExampleRow(
                index,
                change,
                old,
                new,
                _at(inputs, index),
                _at(baseline.predictions, index),
                _at(best.predictions, index),
            )
        )
    return ExampleView(
        best=best.number, baseline=baseline.number, rows=tuple(rows), chart=_example_chart(rows, best, baseline)
    )


def _at(texts: Sequence[str | None], index: int) -> str | None:
    return texts[index] if index < len(texts) else None


def _example_chart(rows: list[ExampleRow], best: TrialResult, baseline: TrialResult) -> Chart:
    points = []
    for row in rows:
        lines = [f"<b>example {row.index}</b>: {row.change} ({_fmt(row.baseline_score)} → {_fmt(row.best_score)})"]
        for label, text in (
            ("input", row.input),
            ("baseline answered", row.baseline_prediction),
            ("best answered", row.best_prediction),
        ):
            if text is not None:
                lines.extend(html.escape(line, quote=False) for line in _wrap(f"{label}: {text}"))
        points.append(Point(row.index, row.index, row.best_score - row.baseline_score, row.change, "<br>".join(lines)))
    return Chart(
        id="examples",
        title=f"Example by example: best (trial {best.number}) against the baseline (trial {baseline.number})",
        caption=(
            "Each marker is one example of the dataset, in dataset order, at the best configuration's score "
            "minus the baseline's on it. Above zero (green): examples the best configuration fixed; below "
            "zero (red): examples it broke; on zero (grey): no change. Hover to read the example and both answers."
        ),
        x_title="example (dataset index)",
        y_title="best score − baseline score",
        points=tuple(points),
    )


# -- the whole report ---------------------------------------------------------------------------------
def _importances(study: Study) -> tuple[tuple[ImportanceChart, ...], str]:
    try:
        results = importance(study)
    except StacktuneError as exc:
        return (), str(exc)
    charts = []
    for index, result in enumerate(results):
        bars = tuple((result.labels.get(name, name), share) for name, share in result.importances.items())
        charts.append(ImportanceChart(f"importance-{index}", result, bars))
    return tuple(charts), ""


def _summary(study: Study, words: Words, best: TrialResult | None) -> tuple[str, ...]:
    trials = study.trials
    objectives = ", ".join(f"{o.name} ({o.direction})" for o in study.objectives)
    lines = [f"{len(trials)} trials on objectives {objectives}."]
    baseline = study.baseline
    if baseline is not None and baseline.values:
        lines.append(f"Baseline (trial {baseline.number}, the program as you wrote it): {words.values(baseline)}.")
    if best is not None:
        which = "Best" if not study.is_multi_objective else f"Best on {study.objectives[0].name} (Pareto front)"
        lines.append(f"{which}: trial {best.number}, {words.values(best)}.")
    proposals = study.proposals
    if proposals is not None:
        used = proposals.usage
        proposed = sum(len(site.candidates) for site in proposals.sites.values())
        lines.append(
            f"Instruction candidates written by a proposer LM: {proposed} for {len(proposals.sites)} sites "
            f"({used.spent_calls} calls, {used.spent_cost_usd:.4g} USD)."
        )
    for check in study.verified():
        heldout = " · ".join(f"{n} {_fmt(v)} (search {_fmt(check.search[n])})" for n, v in check.heldout.items())
        lines.append(f"Held out ({check.evaluation.n_examples} examples), trial {check.number}: {heldout}.")
    if study.storage_url:
        lines.append(f"Stored in {study.storage_url} as {study.study_name!r}.")
    return tuple(lines)


def report_data(study: Study) -> ReportData:
    """Everything the report shows, computed from the stored study."""
    words = Words(study)
    best = best_trial(study)
    history, notes = history_charts(study, words, best)
    importances, importance_note = _importances(study)
    configurations = []
    if best is not None:
        configurations.append((f"Best: trial {best.number}", words.readable.configuration(best.configuration)))
    baseline = study.baseline
    if baseline is not None:
        configurations.append(
            (f"Baseline: trial {baseline.number}", words.readable.configuration(baseline.configuration))
        )
    return ReportData(
        title=f"stacktune report: {study.study_name}",
        summary=_summary(study, words, best),
        tradeoffs=tradeoff_charts(study, words, best),
        history=history,
        history_notes=notes,
        importances=importances,
        importance_note=importance_note,
        examples=example_view(study, best),
        spend=spend_rows(study),
        configurations=tuple(configurations),
    )


def written_at() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


__all__ = [
    "Chart",
    "ExampleRow",
    "ExampleView",
    "ImportanceChart",
    "Point",
    "ReportData",
    "best_trial",
    "example_view",
    "history_charts",
    "report_data",
    "spend_rows",
    "tradeoff_charts",
]
