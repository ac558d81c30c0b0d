"""benchmarks/mipro.py: its call counting (MIPROv2's calls included), its splits, metric and table, offline."""

from __future__ import annotations

import argparse
import math
from typing import Any

import dspy
import pytest
from mipro import (
    ProposerTolerantAdapter,
    ReviewSentiment,
    Row,
    Sentiment,
    counting_calls,
    median_row,
    names_the_label,
    render,
    run_stacktune,
    splits,
    summary,
)

from stacktune.testing import ScriptedLM
from stacktune_dspy.testing import ScriptedEngine, scripted_lm


def _answers_positive(prompt: str, fields: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {name: "positive" if name == "sentiment" else "Positive reviews praise." for name in fields}


def test_counting_calls_sees_every_call_of_every_thread_and_the_tokens() -> None:
    engine = ScriptedEngine(_answers_positive)
    lm = scripted_lm(engine=engine)
    train, _, _ = splits(6, 2, 2)
    evaluate = dspy.Evaluate(devset=train, metric=names_the_label, num_threads=3, display_progress=False)
    with counting_calls() as sink, dspy.context(lm=lm):
        evaluate(Sentiment())
        Sentiment()(review="Fine.")
    usage = sink.usage()
    assert usage.calls == len(engine.calls) == 7
    assert usage.total_tokens > 0
    with dspy.context(lm=lm):
        Sentiment()(review="Outside the block.")
    assert sink.usage().calls == 7, "calls after the block are not counted"


def test_counting_calls_counts_a_call_that_raised() -> None:
    def broken(prompt: str, fields: object) -> dict[str, str]:
        raise ConnectionError("server down")

    with counting_calls() as sink, dspy.context(lm=scripted_lm(broken)):
        with pytest.raises(Exception, match="server down"):
            Sentiment()(review="Great.")
    assert sink.usage().calls == 1
    assert sink.usage().failed_calls == 1


def test_counting_calls_sees_all_of_miprov2s_calls() -> None:
    """Bootstrapping, proposing and the trials: the sink counts what the engine served, no more, no less."""
    engine = ScriptedEngine(_answers_positive)
    lm = scripted_lm(engine=engine)
    train, val, _ = splits(6, 4, 2)
    optimizer = dspy.MIPROv2(
        names_the_label,
        prompt_model=lm,
        task_model=lm,
        auto=None,
        num_candidates=2,
        max_bootstrapped_demos=1,
        max_labeled_demos=1,
        num_threads=1,
        seed=0,
        verbose=False,
    )
    with counting_calls() as sink, dspy.context(lm=lm):
        optimizer.compile(
            Sentiment(), trainset=train, valset=val, num_trials=2, minibatch_size=2, minibatch_full_eval_steps=2
        )
    assert len(engine.calls) > len(val), "MIPROv2 made its calls through the scripted engine"
    assert sink.usage().calls == len(engine.calls)


def test_the_tolerant_adapter_takes_a_proposers_raw_answer_but_parses_the_task_as_dspy_does() -> None:
    adapter = ProposerTolerantAdapter(["sentiment"])
    proposer = dspy.Signature("summary -> proposed_instruction")
    assert adapter.parse(proposer, "  Say positive or negative.\n") == {
        "proposed_instruction": "Say positive or negative."
    }
    chat = "[[ ## proposed_instruction ## ]]\nBe brief.\n\n[[ ## completed ## ]]"
    assert adapter.parse(proposer, chat) == {"proposed_instruction": "Be brief."}
    with pytest.raises(dspy.utils.exceptions.AdapterParseError):
        adapter.parse(ReviewSentiment, "```python\n# Your code here\n```")
    assert adapter.parse(ReviewSentiment, "[[ ## sentiment ## ]]\npositive") == {"sentiment": "positive"}


def test_miprov2_runs_on_a_model_whose_proposals_do_not_parse_with_the_tolerant_adapter() -> None:
    def task_answers_only(prompt: str, fields: tuple[str, ...] | list[str]) -> dict[str, str] | str:
        return {"sentiment": "positive"} if "sentiment" in fields else "Some free text, not DSPy's format."

    lm = scripted_lm(task_answers_only)
    train, val, _ = splits(4, 4, 2)
    optimizer = dspy.MIPROv2(
        names_the_label, prompt_model=lm, task_model=lm, auto=None, num_candidates=2, num_threads=1, verbose=False
    )
    with dspy.context(lm=lm, adapter=ProposerTolerantAdapter(["sentiment"])):
        best = optimizer.compile(
            Sentiment(), trainset=train, valset=val, num_trials=2, minibatch_size=2, minibatch_full_eval_steps=2
        )
    assert best.score == pytest.approx(50.0), "half the val reviews are positive"


def stacktune_arm(bootstrap: int) -> tuple[Any, Any, float, ScriptedEngine, ScriptedLM, list[Any]]:
    """stacktune's arm on the scripted model (always "positive"), 30 calls: row, tuned, written, engine, proposer, val."""
    engine = ScriptedEngine(_answers_positive)
    proposer = ScriptedLM(["Say positive or negative.", "Answer in one word."], cycle=True)
    train, val, _ = splits(6, 4, 2)
    args = argparse.Namespace(demos=1, candidates=2, bootstrap=bootstrap)
    row, tuned, written = run_stacktune(0, scripted_lm(engine=engine), proposer, train, val, 30, args)
    return row, tuned, written, engine, proposer, val


def test_the_stacktune_arm_spends_the_calls_it_is_given_proposals_included() -> None:
    row, tuned, written, engine, proposer, val = stacktune_arm(bootstrap=0)
    assert row.arm == "stacktune" and row.seed == 0
    assert 30 <= row.calls <= 31, "the budget stops the run within about one call"
    assert row.calls == len(engine.calls) + len(proposer.prompts)
    assert len(proposer.prompts) == 2
    assert row.val == written == 0.5, "the scripted model says positive: half of val"
    assert tuned.evaluate(val, names_the_label).score == 0.5


def test_the_stacktune_arm_bootstraps_within_the_same_budget() -> None:
    row, _, _, engine, proposer, _ = stacktune_arm(bootstrap=4)
    assert row.arm == "stacktune, bootstrap 4"
    assert 30 <= row.calls <= 31 and row.calls == len(engine.calls) + len(proposer.prompts), (
        "the bootstrap's calls count"
    )


def test_the_metric_wants_the_right_label_and_not_the_other() -> None:
    example = dspy.Example(review="Great.", sentiment="positive").with_inputs("review")
    assert names_the_label(example, dspy.Prediction(sentiment="Positive!")) == 1.0
    assert names_the_label(example, dspy.Prediction(sentiment="negative")) == 0.0
    assert names_the_label(example, dspy.Prediction(sentiment="positive or negative")) == 0.0
    assert names_the_label(example, dspy.Prediction()) == 0.0


def test_splits_are_disjoint_fixed_and_checked() -> None:
    train, val, test = splits(20, 20, 40)
    assert (len(train), len(val), len(test)) == (20, 20, 40)
    reviews = [e.review for e in train + val + test]
    assert len(set(reviews)) == len(reviews)
    assert splits(20, 20, 40)[1] == val
    assert [e.sentiment for e in train[:3]] == ["positive", "negative", "positive"]
    for split in (train, val, test):
        assert sum(e.sentiment == "positive" for e in split) == len(split) // 2
    assert set(train[0].inputs().keys()) == {"review"}
    with pytest.raises(ValueError, match="--test 500: not that many reviews of each label"):
        splits(20, 20, 500)
    with pytest.raises(ValueError, match="--train 50 \\+ --val 20"):
        splits(50, 20, 40)


ROWS = [
    Row(0, "as written", 0, 0, 0.0, 0.2, 0.25),
    Row(0, "MIPROv2", 100, 20_000, 300.0, 0.5, 0.4),
    Row(0, "stacktune", 101, 18_000, 240.0, 0.6, 0.55),
    Row(1, "as written", 0, 0, 0.0, 0.2, 0.25),
    Row(1, "MIPROv2", 120, 24_000, 330.0, 0.45, 0.5),
    Row(1, "stacktune", 120, 19_000, 300.0, 0.5, 0.45),
]


def test_median_row_takes_each_figure_over_the_seeds_of_one_arm() -> None:
    median = median_row(ROWS, "MIPROv2")
    assert (median.seed, median.calls, median.tokens, median.seconds) == (-1, 110, 22_000, 315.0)
    assert median.val == pytest.approx(0.475) and median.test == pytest.approx(0.45)
    with pytest.raises(ValueError, match="'COPRO'"):
        median_row(ROWS, "COPRO")


def test_summary_pairs_the_seeds() -> None:
    text = summary(ROWS)
    assert "median +0.050 over 2 seeds (+0.150, -0.050)" in text
    assert "calls ratio median 1.00" in text  # 1.01 and 1.00
    assert "wall-time ratio median 0.85" in text  # 0.80 and 0.91
    with pytest.raises(ValueError, match="no seed has both"):
        summary(ROWS[:1])


def test_render_prints_every_row_then_the_medians_and_the_summary() -> None:
    text = render(list(reversed(ROWS)))
    lines = text.splitlines()
    assert lines[2] == "| 0 | as written | 0 | 0 | 0 | 0.200 | 0.250 |", "sorted by seed, then arm"
    assert lines[0].startswith("| seed | arm | calls |")
    assert "| 0 | MIPROv2 | 100 | 20000 | 300 | 0.500 | 0.400 |" in lines
    assert "| median | stacktune | 110 | 18500 | 270 | 0.550 | 0.500 |" in lines
    assert lines[-1].startswith("stacktune - MIPROv2 test score")
    assert "stacktune - MIPROv2" not in render(ROWS[:1]), "no summary without both arms"
    assert not math.isnan(median_row(ROWS, "as written").test)
