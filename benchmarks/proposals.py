"""Best found with instruction proposals against best found without, same trials, on the local model.

    .venv/bin/python benchmarks/proposals.py [--seeds 2] [--first-seed 0] [--trials 4] [--examples 8] [--n 3]

The headlines task (benchmarks/tasks/headlines.jsonl, dev split) with a poor starting instruction
("You are a helpful assistant.") and an answer format that does not name the topics, so the
instruction is what tells SmolLM2-135M the task. For each seed, two studies run side by side in
this one process on the same examples and the same number of trials: one searches the sampling
knobs only (the program as handed over has no instruction knob), the other first lets the same
local model propose ``--n`` instructions (``stacktune.Proposer`` with ``ChatProposerLM``), grounded on
three train examples. It prints each study's best and baseline score and what it spent, the
proposer's share included, then the mean difference. SmolLM2 proposes weakly: the figures say
what the mechanism buys on this model, not what a strong proposer would.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

POOR = "You are a helpful assistant."


def _prompt(model: Any) -> Any:
    from tasks.headlines import parse_topic

    from stacktune_prompt import OutputFormat, Prompt, SearchRanges

    return Prompt(
        instructions=POOR,
        template="Headline: {text}",
        model=model,
        parser=OutputFormat(parse_topic, answer="{label}"),
        max_tokens=8,
        ranges=SearchRanges(max_tokens=None),  # a topic is one word: long answers only cost time
        cache=False,
    )


def _study(
    seed: int, model: Any, dev: list[dict[str, Any]], train: list[dict[str, Any]], args: Any, propose: bool
) -> dict[str, Any]:
    from tasks.classification import accuracy

    import stacktune
    from stacktune_prompt import ChatProposerLM

    study = stacktune.create_study(storage=optuna.storages.InMemoryStorage(), seed=seed)
    proposer = None
    if propose:  # the proposer grounds on train examples; the search scores dev examples
        lm = ChatProposerLM(model, max_tokens=80, seed=seed)
        proposer = _GroundedOn(stacktune.Proposer(lm=lm, n=args.n, seed=seed), train)
    start = time.perf_counter()
    study.optimize(_prompt(model), dev, accuracy, n_trials=args.trials, propose=proposer, show_progress_bar=False)
    proposals = study.proposals
    baseline = study.baseline
    return {
        "best": study.best.values["score"],
        "baseline": baseline.values["score"] if baseline is not None else float("nan"),
        "calls": study.spent.calls,
        "tokens": study.spent.tokens,
        "proposer_calls": proposals.usage.calls if proposals else 0,
        "proposer_tokens": proposals.usage.total_tokens if proposals else 0,
        "candidates": len(proposals.candidates.get("instructions", [])) if proposals else 0,
        "best_instruction": str(study.best.apply_to(_prompt(model)).prompt.instructions)[:70],  # type: ignore[attr-defined]
        "seconds": time.perf_counter() - start,
    }


class _GroundedOn:
    """A Proposer that grounds on the train split whatever dataset the study searches."""

    def __init__(self, proposer: Any, train: list[dict[str, Any]]) -> None:
        self.proposer = proposer
        self.train = train
        self.n = proposer.n
        self.failures = proposer.failures

    def propose(self, site: Any, examples: Any) -> list[str]:
        return list(self.proposer.propose(site, self.train))

    def describe(self) -> dict[str, Any]:
        return {**self.proposer.describe(), "grounding": "train split"}


def spread(gains: list[float]) -> str:
    """The mean gain, its standard deviation and standard error over seeds, and how many seeds won, tied, lost."""
    n = len(gains)
    mean = sum(gains) / n
    sd = (sum((g - mean) ** 2 for g in gains) / (n - 1)) ** 0.5 if n > 1 else float("nan")
    won, lost = sum(g > 0 for g in gains), sum(g < 0 for g in gains)
    return (
        f"mean best-score gain with proposals: {mean:+.3f} over {n} seeds (sd {sd:.3f}, standard error "
        f"{sd / n**0.5:.3f}; {won} won, {n - won - lost} tied, {lost} lost: {gains})"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; ``--first-seed`` lets a long measurement be split over several runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="how many seeds to run")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="the first seed, so a long measurement can be split over runs"
    )
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--examples", type=int, default=8)
    parser.add_argument("--n", type=int, default=3)
    return parser.parse_args(argv)


def seeds(args: argparse.Namespace) -> range:
    """The seeds this run measures: ``--seeds`` of them from ``--first-seed``."""
    return range(args.first_seed, args.first_seed + args.seeds)


def main() -> None:
    args = parse()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from tasks.headlines import load

    from stacktune_llamacpp import LocalModel

    model = LocalModel()
    dev = load("dev")[: args.examples]
    train = load("train")
    print(f"headlines, {len(dev)} dev examples, {args.trials} trials per study, proposer n={args.n}, SmolLM2-135M")
    print(
        f"{'seed':>4} {'arm':<10} {'baseline':>8} {'best':>6} {'calls':>6} {'tokens':>7} {'prop.calls':>10} "
        f"{'prop.tokens':>11} {'cands':>5} {'s':>6}  best instruction"
    )
    gains = []
    for seed in seeds(args):
        results = {}
        for arm, propose in (("without", False), ("proposals", True)):
            r = _study(seed, model, dev, train, args, propose)
            results[arm] = r
            print(
                f"{seed:>4} {arm:<10} {r['baseline']:>8.3f} {r['best']:>6.3f} {r['calls']:>6} {r['tokens']:>7} "
                f"{r['proposer_calls']:>10} {r['proposer_tokens']:>11} {r['candidates']:>5} {r['seconds']:>6.1f}  "
                f"{r['best_instruction']!r}"
            )
        gains.append(results["proposals"]["best"] - results["without"]["best"])
    print(spread(gains))
    model.close()


if __name__ == "__main__":
    main()
