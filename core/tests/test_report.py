"""The report's content as data, parameter importance, and the HTML file (the browser test draws it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from stacktune import OptunaSearch, StacktuneError, Study, create_study
from stacktune.evaluation import PREDICTION_SAMPLE
from stacktune.report import write_report
from stacktune.report._data import best_trial, report_data
from stacktune.study.importance import FANOVA
from stacktune.testing import (
    LONG_INSTRUCTIONS,
    ToyPrompt,
    toy_label_metric,
    toy_reviews,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestImportance:
    def test_one_objective_uses_complete_and_raced_out_trials_with_fanova(self, raced: Study) -> None:
        (result,) = raced.importance()
        raced_out = [t for t in raced.trials if t.estimated_score is not None]
        assert result.objective == "score" and result.evaluator == FANOVA and not result.note
        assert result.n_estimated == len(raced_out) > 0
        assert result.n_trials == len(raced.completed_trials()) + len(raced_out)
        assert set(result.importances) == {"strategy", "temperature", "style"}
        assert result.left_out == ("steps",)  # conditional: set in cot trials only
        assert sum(result.importances.values()) == pytest.approx(1.0)
        shares = list(result.importances.values())
        assert shares == sorted(shares, reverse=True)

    def test_several_objectives_give_one_result_each(self, pareto: Study) -> None:
        results = pareto.importance()
        assert [r.objective for r in results] == ["score", "tokens"]
        assert all(r.n_estimated == 0 and r.n_trials == len(pareto.completed_trials()) for r in results)
        tokens = results[1].importances
        assert max(tokens, key=tokens.__getitem__) in ("strategy", "style")  # what tokens depend on in the toy

    def test_readable_names_carry_the_description(self, prompts: Study) -> None:
        (result,) = prompts.importance()
        assert result.labels["temperature"] == "temperature: sampling temperature"
        assert result.labels["instructions"] == "instructions"

    def test_the_copy_it_evaluates_does_not_log_and_verbosity_is_restored(
        self, pareto: Study, capfd: pytest.CaptureFixture[str]
    ) -> None:
        optuna.logging.set_verbosity(optuna.logging.INFO)
        try:
            pareto.importance()
            assert optuna.logging.get_verbosity() == optuna.logging.INFO
        finally:
            optuna.logging.set_verbosity(optuna.logging.WARNING)
        assert "A new study created" not in capfd.readouterr().err

    def test_another_evaluator_is_named_by_its_class(self, raced: Study) -> None:
        (result,) = raced.importance(optuna.importance.PedAnovaImportanceEvaluator())
        assert result.evaluator == "PedAnovaImportanceEvaluator"

    def test_a_study_of_one_trial_says_why_there_is_none(self, make_prompt_study: Callable[..., Study]) -> None:
        (result,) = make_prompt_study(n_trials=1).importance()
        assert result.importances == {} and result.note == "needs at least 2 trials with a value, has 1"

    def test_without_scikit_learn_the_error_says_what_to_install(
        self, raced: Study, hide_module: Callable[[str], None]
    ) -> None:
        hide_module("sklearn")
        with pytest.raises(StacktuneError, match=r"needs scikit-learn: pip install 'stacktune\[report\]'"):
            raced.importance()


class TestTradeOffs:
    def test_one_objective_draws_every_complete_and_raced_out_trial_and_the_best_so_far(self, raced: Study) -> None:
        data = report_data(raced)
        (chart,) = data.tradeoffs
        raced_out = [t for t in raced.trials if t.estimated_score is not None]
        assert chart.id == "best-so-far"
        assert len(chart.points) == len(raced.completed_trials()) + len(raced_out)
        kinds = [p.kind for p in chart.points]
        assert kinds.count("baseline") == 1 and kinds.count("best") == 1 and kinds.count("raced out") == len(raced_out)
        best = next(p for p in chart.points if p.kind == "best")
        assert best.key == raced.best.number and best.y == raced.best.values["score"]
        levels = [y for _, y in chart.line]
        assert levels == sorted(levels) and levels[-1] == raced.best.values["score"]
        hover = next(p for p in chart.points if p.kind == "raced out").hover
        assert "stopped by the race after" in hover and "strategy: " in hover

    def test_several_objectives_draw_the_front_against_each_other_objective(self, pareto: Study) -> None:
        (chart,) = report_data(pareto).tradeoffs
        front = {t.number for t in pareto.pareto_front()}
        assert chart.id == "front-1" and (chart.x_title, chart.y_title) == ("tokens", "score")
        assert len(chart.points) == len(pareto.completed_trials())
        drawn_front = {p.key for p in chart.points if p.kind == "Pareto front"}
        assert drawn_front == front - {0}  # the baseline is drawn as the baseline
        assert [x for x, _ in chart.line] == sorted(x for x, _ in chart.line)
        assert len(chart.line) == len(front)

    def test_three_objectives_give_two_charts(self, make_pareto_study: Callable[..., Study]) -> None:
        study = make_pareto_study(("score", "tokens", "latency"))
        assert [c.id for c in report_data(study).tradeoffs] == ["front-1", "front-2"]

    def test_captions_explain_only_the_markers_drawn(self, raced: Study, prompts: Study) -> None:
        (with_race,) = report_data(raced).tradeoffs
        (without,) = report_data(prompts).tradeoffs
        assert "Hollow markers are trials the race stopped early, at their estimated score." in with_race.caption
        assert "Hollow" not in without.caption and "Crosses" not in without.caption

    def test_hover_shows_the_long_text_not_its_key(self, prompts: Study) -> None:
        (chart,) = report_data(prompts).tradeoffs
        hovers = " ".join(p.hover for p in chart.points)
        assert "You are a careful reviewer. Read the review below" in hovers
        assert "…#" not in hovers  # no hashed key
        assert all("<br>" in p.hover for p in chart.points)


class TestHistory:
    def test_every_trial_that_ran_examples_is_placed_at_the_calls_spent_so_far(self, raced: Study) -> None:
        charts, notes = report_data(raced).history[0:2], report_data(raced).history_notes
        by_calls, by_usd = charts
        ran = [t for t in raced.trials if t.examples_evaluated]
        assert [p.key for p in by_calls.points] == [t.number for t in ran]
        xs = [p.x for p in by_calls.points]
        assert xs == sorted(xs) and xs[-1] == sum(t.examples_evaluated for t in ran)  # one call per toy example
        assert {p.kind for p in by_calls.points} == {"baseline", "best", "complete", "raced out"}
        assert by_usd.id == "history-usd" and len(by_usd.points) == len(by_calls.points) and not notes

    def test_free_calls_give_a_note_instead_of_a_usd_chart(self, make_prompt_study: Callable[..., Study]) -> None:
        data = report_data(make_prompt_study(n_trials=3, cost_usd=0.0))
        assert [c.id for c in data.history] == ["history-calls"]
        assert data.history_notes == ("No USD was spent: every call was free (a local model) or unpriced.",)

    def test_failed_trials_are_counted_and_do_not_break_the_report(
        self, make_prompt_study: Callable[..., Study]
    ) -> None:
        study = make_prompt_study(n_trials=8, fail_above=0.6)
        failed = [t for t in study.trials if t.state == "fail"]
        assert failed, "some sampled temperatures are above 0.6"
        data = report_data(study)
        spend = dict(data.spend)
        assert f"{len(failed)} fail" in spend["trials"]
        assert all(p.key not in {t.number for t in failed} for p in data.history[0].points)


class TestExamples:
    def test_the_best_against_the_baseline_on_every_example(self, prompts: Study) -> None:
        view = report_data(prompts).examples
        best = best_trial(prompts)
        assert best is not None and view.best == best.number and view.baseline == 0
        assert len(view.rows) == PREDICTION_SAMPLE + 10
        fixed = view.changed("fixed")
        # the baseline (first instructions) misses odd reviews; the best (second) gets every one
        assert [r.index for r in fixed] == list(range(1, PREDICTION_SAMPLE + 10, 2)) and not view.changed("broke")
        row = fixed[0]
        assert (row.baseline_prediction, row.best_prediction) == ("neutral", "positive")
        assert row.input is not None and row.input.startswith('{"id": 1, "text": "review number 1')
        beyond = view.rows[PREDICTION_SAMPLE]
        assert beyond.input is None and beyond.best_prediction is None  # past the stored sample
        assert view.chart is not None and len(view.chart.points) == len(view.rows)
        assert {p.y for p in view.chart.points} == {0.0, 1.0}

    def test_a_study_without_a_baseline_says_so(self) -> None:
        study = create_study(storage=optuna.storages.InMemoryStorage(), search=OptunaSearch())
        study.optimize(ToyPrompt(), toy_reviews(4), toy_label_metric, n_trials=2, baseline=False)
        assert report_data(study).examples.note.startswith("No baseline trial")

    def test_when_the_baseline_is_best_nothing_changed(self, make_prompt_study: Callable[..., Study]) -> None:
        view = report_data(make_prompt_study(n_trials=1)).examples
        assert view.note.startswith("The baseline is the best configuration") and view.chart is None


class TestSpend:
    def test_calls_tokens_usd_and_examples_saved(self, raced: Study) -> None:
        spend = dict(report_data(raced).spend)
        calls = sum(t.examples_evaluated for t in raced.trials)
        assert spend["LLM calls"] == f"{calls} ({calls} paid for)"
        assert spend["cache hits"] == "0"
        assert spend["examples evaluated"] == str(calls)
        assert spend["examples saved by stopping trials early"].startswith(f"{raced.examples_saved} (")
        assert "raced out" in spend["trials"] and float(spend["USD"]) > 0


class TestTheFile:
    def test_one_self_contained_file(self, pareto: Study, tmp_path: Path) -> None:
        path = write_report(pareto, tmp_path / "r.html")
        page = path.read_text(encoding="utf-8")
        assert path == (tmp_path / "r.html").resolve()
        assert page.startswith("<!DOCTYPE html>") and "<script src=" not in page and "<link " not in page
        assert page.count("Plotly.newPlot(") == 1 + 2 + 2 + 1  # front, history x2, importance x2, examples
        assert 'id="chart-front-1"' in page and 'id="chart-examples"' in page

    def test_a_study_of_one_trial_has_a_report(self, tmp_path: Path, make_prompt_study: Callable[..., Study]) -> None:
        page = make_prompt_study(n_trials=1).report(tmp_path / "one.html").read_text(encoding="utf-8")
        assert "The baseline is the best configuration" in page
        assert "No importance for score: needs at least 2 trials with a value, has 1." in page
        assert LONG_INSTRUCTIONS[0].strip()[:40] in page  # the configuration's text, in its table

    def test_a_missing_directory_is_named(self, pareto: Study, tmp_path: Path) -> None:
        with pytest.raises(StacktuneError, match="the directory .*nowhere' does not exist"):
            write_report(pareto, tmp_path / "nowhere" / "r.html")

    def test_without_plotly_the_error_says_what_to_install(
        self, pareto: Study, hide_module: Callable[[str], None]
    ) -> None:
        hide_module("plotly")
        with pytest.raises(StacktuneError, match=r"plotly, which is not installed: pip install 'stacktune\[report\]'"):
            write_report(pareto, "r.html")
