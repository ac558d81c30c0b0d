"""stacktune against DSPy's MIPROv2 on the same DSPy program, data and LM calls, on the local model (issue 17).

    .venv/bin/python benchmarks/mipro.py [--seeds 2] [--train 20] [--val 20] [--test 40] [--candidates 3] [--trials 6]
    .venv/bin/python benchmarks/mipro.py --base-url http://127.0.0.1:8080/v1   # a server serving 'smollm2'

The program is what a DSPy user would write for the sentiment reviews
(``stacktune_examples.sentiment``): one ``dspy.Predict`` of ``review -> sentiment`` ("Is the
review positive or negative?") and a lenient metric (the answer names the right label and not
the other one). The split is fixed: train
(the first ``--train`` of the train and dev reviews: MIPROv2's bootstrapping and proposal data,
stacktune's demo pool and proposal grounding), val (the next ``--val``: what both score
candidates on) and test (the first ``--test`` of the held-out test split). SmolLM2-135M
(llama.cpp's server on 127.0.0.1) is the task model and the prompt model of both.

For each seed, one process, side by side:

1. MIPROv2 (``auto=None``, ``--candidates`` instruction and demo candidates, ``--trials``
   trials on minibatches of ``--minibatch`` with a full evaluation every ``--full-every``
   trials), every LM call it makes counted by a DSPy history sink and callback (the DSPy
   cache is off, so a repeated call costs). Its proposer's answers that SmolLM2 did not write
   in DSPy's field format are taken as raw text (:class:`ProposerTolerantAdapter`): as shipped,
   the first such answer ends MIPROv2's ``compile`` with an AdapterParseError;
2. stacktune (``study.optimize`` on a ``DSPyAdapter``: its default search over the program's
   knobs, the train split as demo pool, ``--candidates`` instructions proposed by the same
   model grounded on the train split) with ``Budget(calls=...)`` = what MIPROv2 spent;
3. both results, and the program as written, scored on the test split the same way
   (``DSPyAdapter.evaluate``, greedy).

It prints, per seed and the median over seeds: calls, tokens, seconds spent optimizing,
the validation score each optimizer reports for what it returns, and the test score.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no internet needed

import dspy
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from proposals import _GroundedOn

import stacktune
from stacktune_dspy import DSPyAdapter, LMSpec
from stacktune_dspy._usage import HistorySink

LABELS = ("positive", "negative")
#: Answers are one word in DSPy's chat format (about 20 tokens); the proposers write a sentence or two.
TASK_MAX_TOKENS = 32
PROPOSER_MAX_TOKENS = 128
ARMS = ("as written", "MIPROv2", "stacktune")


class ReviewSentiment(dspy.Signature):  # type: ignore[misc]  # dspy ships no type information
    """Is the review positive or negative?"""

    review: str = dspy.InputField()
    sentiment: str = dspy.OutputField(desc="positive or negative")


class Sentiment(dspy.Module):  # type: ignore[misc]
    """Is a review positive or negative? One Predict, as a DSPy user writes it (nothing tuned)."""

    def __init__(self) -> None:
        super().__init__()
        self.classify = dspy.Predict(ReviewSentiment)

    def forward(self, review: str) -> dspy.Prediction:
        """Classify one review."""
        return self.classify(review=review)


def names_the_label(example: Any, prediction: Any, trace: Any = None) -> float:
    """1 when the answer names the right label and not the other (SmolLM2 is tiny: lenient on form)."""
    answer = str(getattr(prediction, "sentiment", "")).lower()
    other = next(label for label in LABELS if label != example.sentiment)
    return 1.0 if example.sentiment in answer and other not in answer else 0.0


def splits(n_train: int, n_val: int, n_test: int) -> tuple[list[dspy.Example], list[dspy.Example], list[dspy.Example]]:
    """Train then val from the reviews' train+dev splits, test from the held-out test split; each half positive.

    Each split takes the first reviews of each label in file order, alternating labels, so a
    model that always answers the same scores 0.5 on every split.
    """
    from stacktune_examples.sentiment.task import load

    def examples(rows: Sequence[dict[str, Any]]) -> list[dspy.Example]:
        return [dspy.Example(review=r["text"], sentiment=r["label"]).with_inputs("review") for r in rows]

    pool, test = load("train") + load("dev"), load("test")
    train = balanced(pool, n_train, "--train")
    val = balanced([r for r in pool if r not in train], n_val, f"--train {n_train} + --val")
    return examples(train), examples(val), examples(balanced(test, n_test, "--test"))


def balanced(rows: Sequence[dict[str, Any]], n: int, what: str) -> list[dict[str, Any]]:
    """``n`` rows, labels alternating (positive first), each label's in file order.

    Too few reviews of a label is an error naming ``what``.
    """
    by_label = {label: [r for r in rows if r["label"] == label] for label in LABELS}
    if n < 0 or any(len(by_label[label]) < (n + 1 - i) // 2 for i, label in enumerate(LABELS)):
        counts = ", ".join(f"{len(v)} {k}" for k, v in by_label.items())
        raise ValueError(f"{what} {n}: not that many reviews of each label ({counts})")
    return [by_label[LABELS[i % 2]][i // 2] for i in range(n)]


class ProposerTolerantAdapter(dspy.ChatAdapter):  # type: ignore[misc]
    """DSPy's ChatAdapter, except that an answer to one of MIPROv2's own steps is taken as it is.

    MIPROv2's proposer (dataset summary, program description, the instruction itself) asks
    SmolLM2 for DSPy's field format, which it rarely writes: the AdapterParseError ends the whole
    ``compile``. Here an answer to any signature without the task's ``task_outputs`` fields that
    does not parse becomes the text of each of its output fields (what stacktune's proposer does
    with a raw answer too). The task program's calls are parsed exactly as by ``dspy.ChatAdapter()``.
    """

    def __init__(self, task_outputs: Sequence[str]) -> None:
        super().__init__()
        self.task_outputs = frozenset(task_outputs)

    def parse(self, signature: Any, completion: str) -> dict[str, Any]:
        """Parse as DSPy does; for a proposer's signature, fall back to the raw text."""
        try:
            return dict(super().parse(signature, completion))
        except dspy.utils.exceptions.AdapterParseError:
            if self.task_outputs & set(signature.output_fields):
                raise
            return {name: completion.strip() for name in signature.output_fields}


@contextlib.contextmanager
def counting_calls() -> Iterator[HistorySink]:
    """Every DSPy LM call made inside, in any thread DSPy starts: the sink's ``usage()`` (failed calls too).

    DSPy appends each finished call to the history of every module in ``caller_modules`` (copied
    into its worker threads); as a callback the sink also counts calls that raised.
    """
    sink = HistorySink()
    with dspy.context(caller_modules=[sink], callbacks=[*dspy.settings.callbacks, sink]):
        yield sink


@dataclass(frozen=True)
class Row:
    """One arm of one seed: what optimizing spent and how good the result is."""

    seed: int
    arm: str
    calls: int
    tokens: int
    seconds: float
    val: float
    test: float


def render(rows: Sequence[Row]) -> str:
    """A markdown table: the rows by seed and arm, each arm's median over seeds, stacktune's differences."""
    rows = sorted(rows, key=lambda r: (r.seed, ARMS.index(r.arm) if r.arm in ARMS else len(ARMS), r.arm))
    lines = [
        "| seed | arm | calls | tokens | seconds | val score | test score |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.seed} | {r.arm} | {r.calls} | {r.tokens} | {r.seconds:.0f} | {r.val:.3f} | {r.test:.3f} |" for r in rows
    ]
    medians = {arm: median_row(rows, arm) for arm in dict.fromkeys(r.arm for r in rows)}
    lines += [
        f"| median | {m.arm} | {m.calls} | {m.tokens} | {m.seconds:.0f} | {m.val:.3f} | {m.test:.3f} |"
        for m in medians.values()
    ]
    if "MIPROv2" in medians and "stacktune" in medians:
        lines.append("")
        lines.append(summary(rows))
    return "\n".join(lines)


def median_row(rows: Sequence[Row], arm: str) -> Row:
    """The median of each figure over the seeds of one arm (seed -1)."""
    mine = [r for r in rows if r.arm == arm]
    if not mine:
        raise ValueError(f"no rows for arm {arm!r}")

    def med(name: str) -> Any:
        return statistics.median(getattr(r, name) for r in mine)

    return Row(-1, arm, round(med("calls")), round(med("tokens")), med("seconds"), med("val"), med("test"))


def summary(rows: Sequence[Row]) -> str:
    """stacktune against MIPROv2, seed by seed: test-score difference, and calls and seconds as ratios."""
    mipro = {r.seed: r for r in rows if r.arm == "MIPROv2"}
    tuned = {r.seed: r for r in rows if r.arm == "stacktune" and r.seed in mipro}
    if not tuned:
        raise ValueError("no seed has both a MIPROv2 and a stacktune row")
    gains = [tuned[s].test - mipro[s].test for s in sorted(tuned)]
    calls = [tuned[s].calls / max(mipro[s].calls, 1) for s in sorted(tuned)]
    seconds = [tuned[s].seconds / max(mipro[s].seconds, 1e-9) for s in sorted(tuned)]
    return (
        f"stacktune - MIPROv2 test score: median {statistics.median(gains):+.3f} over {len(gains)} seeds "
        f"({', '.join(f'{g:+.3f}' for g in gains)}); calls ratio median {statistics.median(calls):.2f}; "
        f"wall-time ratio median {statistics.median(seconds):.2f}"
    )


def _lm(base_url: str, max_tokens: int, temperature: float) -> dspy.LM:
    return dspy.LM(
        "openai/smollm2",
        api_base=base_url,
        api_key="local",
        cache=False,
        num_retries=0,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def run_mipro(seed: int, base_url: str, train: list[Any], val: list[Any], args: Any) -> tuple[Row, dspy.Module]:
    """MIPROv2 with SmolLM2 as task and prompt model; its calls counted."""
    task, prompt = _lm(base_url, TASK_MAX_TOKENS, 0.0), _lm(base_url, PROPOSER_MAX_TOKENS, 0.7)
    optimizer = dspy.MIPROv2(
        names_the_label,
        prompt_model=prompt,
        task_model=task,
        auto=None,
        num_candidates=args.candidates,
        max_bootstrapped_demos=args.demos,
        max_labeled_demos=args.demos,
        num_threads=1,
        seed=seed,
        verbose=False,
    )
    start = time.perf_counter()
    with counting_calls() as sink, dspy.context(lm=task, adapter=ProposerTolerantAdapter(["sentiment"])):
        best = optimizer.compile(
            Sentiment(),
            trainset=train,
            valset=val,
            num_trials=args.trials,
            minibatch=True,
            minibatch_size=args.minibatch,
            minibatch_full_eval_steps=args.full_every,
            seed=seed,
        )
    seconds = time.perf_counter() - start
    usage = sink.usage()
    score = float(best.score) / 100.0  # MIPROv2 keeps its best full-valset score as Evaluate's percentage
    return Row(seed, "MIPROv2", usage.calls, usage.total_tokens, seconds, score, float("nan")), best


def run_stacktune(
    seed: int, spec: Any, proposer_lm: Any, train: list[Any], val: list[Any], calls: int, args: Any
) -> tuple[Row, Any, float]:
    """stacktune's default search on the same program, ``proposer_lm`` proposing, within ``calls`` LM calls.

    Returns its row (no test score yet), the best configuration applied, and trial 0's score
    (the program as written, on val).
    """
    program = DSPyAdapter(
        Sentiment(), lm=spec, trainset=train, max_demos=2 * args.demos, max_tokens=(16, 160), prices=_free()
    )
    proposer = _GroundedOn(stacktune.Proposer(lm=proposer_lm, n=args.candidates, seed=seed), train)
    study = stacktune.create_study(storage=optuna.storages.InMemoryStorage(), seed=seed)
    start = time.perf_counter()
    study.optimize(
        program,
        val,
        names_the_label,
        budget=stacktune.Budget(calls=calls),
        propose=proposer,
        bootstrap=stacktune.Bootstrap(max_examples=args.bootstrap, max_demos=2 * args.demos)
        if args.bootstrap
        else None,
        max_concurrency=1,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    best, baseline = study.best, study.baseline
    arm = f"stacktune, bootstrap {args.bootstrap}" if args.bootstrap else "stacktune"
    row = Row(seed, arm, study.spent.calls, study.spent.tokens, seconds, best.values["score"], float("nan"))
    written = baseline.values["score"] if baseline is not None else float("nan")  # trial 0: the program as written
    return row, best.apply_to(program), written


def _bootstrap(args: Any) -> stacktune.Bootstrap | None:
    """``--bootstrap N``: run the program as written on N val examples first; those it gets right become demos."""
    return stacktune.Bootstrap(max_examples=args.bootstrap, max_demos=2 * args.demos) if args.bootstrap else None


def _free() -> dict[str, stacktune.Price]:
    return {"openai/smollm2": stacktune.FREE, "smollm2": stacktune.FREE}


def test_score(tunable: Any, test: list[Any]) -> float:
    """The held-out score, one example at a time."""
    return float(tunable.evaluate(test, names_the_label, max_concurrency=1).score)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the comparison (or merge the rows of earlier runs) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed+seeds-1")
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--val", type=int, default=20)
    parser.add_argument("--test", type=int, default=40)
    parser.add_argument("--candidates", type=int, default=3, help="instruction (and MIPROv2 demo-set) candidates")
    parser.add_argument("--demos", type=int, default=2, help="MIPROv2's max bootstrapped and max labeled demos")
    parser.add_argument("--trials", type=int, default=6, help="MIPROv2's trials")
    parser.add_argument("--minibatch", type=int, default=10, help="MIPROv2's minibatch size")
    parser.add_argument("--full-every", type=int, default=3, help="MIPROv2's full evaluation every N trials")
    parser.add_argument("--base-url", help="an OpenAI-compatible server serving 'smollm2' (default: start one)")
    parser.add_argument("--out", type=Path, help="also append each row to this JSON-lines file")
    parser.add_argument(
        "--as-written-only", action="store_true", help="only score the program as written (val and test), in parallel"
    )
    parser.add_argument("--merge", type=Path, nargs="+", help="print the table of rows saved by earlier --out runs")
    parser.add_argument(
        "--bootstrap", type=int, default=0, help="stacktune also bootstraps demos from this many val examples"
    )
    parser.add_argument(
        "--stacktune-only",
        type=int,
        metavar="CALLS",
        help="run only stacktune, with this budget (MIPROv2's calls from an earlier run of the same settings)",
    )
    args = parser.parse_args(argv)
    if args.merge:
        print(render([row for path in args.merge for row in read_rows(path)]))
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from stacktune_examples._shared import serving
    from stacktune_prompt import ChatProposerLM, Endpoint

    train, val, test = splits(args.train, args.val, args.test)
    print(
        f"sentiment as a DSPy Predict, {len(train)} train / {len(val)} val / {len(test)} test, SmolLM2-135M; "
        f"MIPROv2 {args.candidates} candidates, {args.trials} trials, minibatch {args.minibatch}, "
        f"full eval every {args.full_every}; stacktune with MIPROv2's calls as its budget",
        flush=True,
    )
    rows: list[Row] = []

    def keep(row: Row) -> None:
        rows.append(row)
        print(row, flush=True)
        if args.out:
            with args.out.open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(row)) + "\n")

    with serving(args.base_url) as base_url:
        spec = LMSpec(
            "openai/smollm2",
            {
                "api_base": base_url,
                "api_key": "local",
                "cache": False,
                "num_retries": 0,
                "temperature": 0.0,
                "max_tokens": TASK_MAX_TOKENS,
            },
            name="smollm2",
        )
        written = DSPyAdapter(Sentiment(), lm=spec, prices=_free())
        if args.as_written_only:  # greedy: the program as written answers the same for every seed
            val_score, test_score_ = test_score(written, val), test_score(written, test)
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                keep(Row(seed, "as written", 0, 0, 0.0, val_score, test_score_))
            return
        written_val = float("nan")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            proposer_lm = ChatProposerLM(
                Endpoint(base_url, "smollm2", price=stacktune.FREE), max_tokens=PROPOSER_MAX_TOKENS, seed=seed
            )
            if args.stacktune_only:
                tuned, tuned_program, _ = run_stacktune(seed, spec, proposer_lm, train, val, args.stacktune_only, args)
                keep(replace(tuned, test=test_score(tuned_program, test)))
                continue
            mipro, mipro_program = run_mipro(seed, base_url, train, val, args)
            tuned, tuned_program, written_val = run_stacktune(seed, spec, proposer_lm, train, val, mipro.calls, args)
            keep(replace(mipro, test=test_score(DSPyAdapter(mipro_program, lm=spec, prices=_free()), test)))
            keep(replace(tuned, test=test_score(tuned_program, test)))
        if args.stacktune_only:
            return
        # greedy decoding: the program as written answers the same every time, so it is scored once
        written_test = test_score(written, test)
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            keep(Row(seed, "as written", 0, 0, 0.0, written_val, written_test))
    print()
    print(render(rows))


def read_rows(path: Path) -> list[Row]:
    """The rows a run appended to ``path`` with ``--out``."""
    with path.open(encoding="utf-8") as lines:
        return [Row(**json.loads(line)) for line in lines if line.strip()]


if __name__ == "__main__":
    main()
