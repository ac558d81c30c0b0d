"""A tiny pure-Python Optimizable with a known optimum, for tests, docs and benchmarks.

``ToyProgram`` answers "examples" that are difficulties in [0, 1]: an example scores 1
when the configuration's quality reaches its difficulty. Quality depends on every
variable, one variable is conditional (``steps`` only with ``strategy="cot"``) and a
constraint forbids ``style="rambling"`` with ``strategy="cot"``, so the engine's
conditions, constraints, pruning and Pareto front can be tested with real assertions
and no LLM.

The optimum is ``strategy="cot", steps=3, temperature=0.2, style="terse"`` (quality
0.95); verbose styles and more steps cost more tokens, which gives a quality/cost
trade-off.

``ToyPrompt`` looks like a prompt program instead: a choice between two long instruction
texts (stored under hashed keys, as real prompts are) and a temperature, answering review
labels as text, so what people read (reports, tables, the dashboard) can be tested.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune.evaluation import Evaluation, Metric, ResultCallback, evaluate_examples
from stacktune.space import Constraint, Space
from stacktune.usage import Usage, record_usage
from stacktune.variables import Categorical, Float, Int, Variable

LONG_INSTRUCTIONS = (
    "You are a careful reviewer. Read the review below and say whether it is positive or negative. " * 3,
    "Classify the sentiment of the review as positive or negative, answering with one word only. " * 3,
)

OPTIMUM: dict[str, Any] = {"strategy": "cot", "steps": 3, "temperature": 0.2, "style": "terse"}


def _no_rambling_cot(configuration: Mapping[str, Any]) -> str | None:
    if configuration.get("strategy") == "cot" and configuration.get("style") == "rambling":
        return "style 'rambling' cannot be combined with strategy 'cot'"
    return None


NO_RAMBLING_COT = Constraint(name="no_rambling_cot", check=_no_rambling_cot)


def toy_dataset(n: int = 20) -> list[float]:
    """Difficulties evenly spread over (0, 1)."""
    return [(i + 0.5) / n for i in range(n)]


def toy_metric(example: float, prediction: float) -> float:
    """1 when the prediction (the program's quality) reaches the example's difficulty."""
    return 1.0 if prediction >= example else 0.0


class CallCounter:
    """Counts examples run, shared by a program and every program derived from it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def increment(self) -> None:
        """Count one example run (thread-safe: examples may run in parallel)."""
        with self._lock:
            self.count += 1


class ToyProgram:
    """An Optimizable with a known optimum; see the module docstring."""

    def __init__(
        self,
        strategy: str = "direct",
        steps: int = 1,
        temperature: float = 0.7,
        style: str = "verbose",
        *,
        counter: CallCounter | None = None,
        delay: float = 0.0,
    ) -> None:
        self.strategy = strategy
        self.steps = steps
        self.temperature = temperature
        self.style = style
        self.counter = counter or CallCounter()
        self.delay = delay  # seconds each example takes: a stand-in for an LLM call's latency

    def __repr__(self) -> str:
        return (
            f"ToyProgram(strategy={self.strategy!r}, steps={self.steps}, temperature={self.temperature}, "
            f"style={self.style!r})"
        )

    @property
    def quality(self) -> float:
        """What this configuration is worth: an example passes when quality reaches its difficulty."""
        base = 0.5
        if self.strategy == "cot":
            base = 0.6 + 0.1 * min(self.steps, 3) - 0.05 * max(0, self.steps - 3)
        style_bonus = {"terse": 0.05, "verbose": 0.0, "rambling": -0.1}[self.style]
        return base + style_bonus - (self.temperature - 0.2) ** 2

    @property
    def tokens_per_example(self) -> int:
        """What each example costs: chain-of-thought steps and wordy styles cost more."""
        tokens = 20 + (30 * self.steps if self.strategy == "cot" else 0)
        return tokens * (2 if self.style in ("verbose", "rambling") else 1)

    def extract_variables(self) -> Space:
        """The four knobs, current values as defaults, with the ``no_rambling_cot`` constraint."""
        variables: list[Variable] = [
            Categorical("strategy", ["direct", "cot"], default=self.strategy),
            Int("steps", 1, 5, default=self.steps, when={"strategy": "cot"}),
            Float("temperature", 0.0, 1.0, default=self.temperature),
            Categorical("style", ["terse", "verbose", "rambling"], default=self.style),
        ]
        return Space(variables, constraints=[NO_RAMBLING_COT])

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyProgram:
        """A new ToyProgram with the configuration over the current values, sharing the call counter."""
        valid = self.extract_variables().validate_configuration(configuration)
        current = {"strategy": self.strategy, "steps": self.steps, "temperature": self.temperature, "style": self.style}
        merged: dict[str, Any] = {**current, **valid}
        return ToyProgram(
            merged["strategy"],
            int(merged["steps"]),
            float(merged["temperature"]),
            merged["style"],
            counter=self.counter,
            delay=self.delay,
        )

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Score each example against :attr:`quality`, recording a made-up token cost and latency."""

        def run(example: object) -> float:
            self.counter.increment()
            if not isinstance(example, (int, float)):
                raise TypeError(f"toy examples are difficulties (numbers), got {example!r}")
            if self.delay:
                time.sleep(self.delay)
            tokens = self.tokens_per_example
            record_usage(
                Usage(
                    calls=1,
                    input_tokens=tokens // 2,
                    output_tokens=tokens - tokens // 2,
                    cost_usd=tokens * 1e-6,
                    latencies=(tokens / 1000.0,),
                )
            )
            return self.quality

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


def toy_reviews(n: int) -> list[dict[str, Any]]:
    """Reviews for :class:`ToyPrompt`, every one positive, each with a long text."""
    return [{"id": i, "text": f"review number {i} " + "words " * 100, "label": "positive"} for i in range(n)]


def toy_label_metric(example: Mapping[str, Any], prediction: object) -> bool:
    """1 when the prediction is the example's label."""
    return bool(prediction == example["label"])


class ToyPrompt:
    """A prompt-like Optimizable: two long instruction texts and a temperature; see the module docstring.

    The second instructions answer every review right; the first only the even ones. A
    temperature above ``fail_above`` raises (a failed trial); each call costs ``cost_usd``.
    """

    def __init__(
        self,
        instructions: str = LONG_INSTRUCTIONS[0],
        temperature: float = 0.5,
        *,
        cost_usd: float = 1e-5,
        fail_above: float = 2.0,
    ) -> None:
        self.instructions = instructions
        self.temperature = temperature
        self.cost_usd = cost_usd
        self.fail_above = fail_above

    def extract_variables(self) -> Space:
        """The instructions (long texts) and the temperature."""
        return Space(
            [
                Categorical("instructions", list(LONG_INSTRUCTIONS), default=self.instructions),
                Float("temperature", 0.0, 1.0, default=self.temperature, description="sampling temperature"),
            ]
        )

    def apply_configuration(self, configuration: Mapping[str, object]) -> ToyPrompt:
        """A new prompt with the chosen instructions and temperature."""
        space = self.extract_variables()
        chosen = space.resolve(space.validate_configuration(configuration))
        instructions = str(chosen.get("instructions", self.instructions))
        temperature = float(chosen.get("temperature", self.temperature))  # type: ignore[arg-type]
        return ToyPrompt(instructions, temperature, cost_usd=self.cost_usd, fail_above=self.fail_above)

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """Fail whole above the temperature limit (a broken configuration), else answer each example."""
        if self.temperature > self.fail_above:
            raise RuntimeError(f"temperature {self.temperature} is above {self.fail_above}")

        def run(example: Any) -> str:
            record_usage(Usage(calls=1, input_tokens=10, output_tokens=2, cost_usd=self.cost_usd))
            right = self.instructions == LONG_INSTRUCTIONS[1] or example["id"] % 2 == 0
            return str(example["label"]) if right else "neutral"

        return evaluate_examples(dataset, run, metric, on_result=on_result, max_concurrency=max_concurrency)


__all__ = [
    "LONG_INSTRUCTIONS",
    "NO_RAMBLING_COT",
    "OPTIMUM",
    "ScriptedLM",
    "CallCounter",
    "ToyProgram",
    "ToyPrompt",
    "toy_dataset",
    "toy_label_metric",
    "toy_metric",
    "toy_reviews",
]


class ScriptedLM:
    """A proposer LM (``lm(prompt) -> text``) that answers from a script, for tests and docs.

    Each call returns the next reply (cycling when ``cycle``, else raising ``IndexError`` once
    the script is spent), remembers the prompt it got, and reports ``usage`` with
    :func:`~stacktune.record_usage`, as a real model's client does. A reply that is an
    exception instance is raised instead, to script a failing call.
    """

    def __init__(
        self,
        replies: Sequence[str | BaseException],
        *,
        usage: Usage | None = None,
        cycle: bool = False,
        name: str = "scripted",
    ) -> None:
        if isinstance(replies, str) or not replies:
            raise ValueError("ScriptedLM needs a non-empty list of replies")
        self.replies = list(replies)
        self.usage = usage if usage is not None else Usage(calls=1, input_tokens=100, output_tokens=20)
        self.cycle = cycle
        self.name = name
        self.prompts: list[str] = []
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """How many times it was called."""
        return len(self.prompts)

    def __call__(self, prompt: str) -> str:
        """The next scripted reply (its usage recorded first, as a paid call's)."""
        with self._lock:
            index = len(self.prompts)
            self.prompts.append(prompt)
        if index >= len(self.replies) and not self.cycle:
            raise IndexError(f"ScriptedLM {self.name!r} has no reply #{index + 1} (script of {len(self.replies)})")
        record_usage(self.usage)
        reply = self.replies[index % len(self.replies)]
        if isinstance(reply, BaseException):
            raise reply
        return reply
