"""Budgets known before spending: what ``n_trials`` trials would cost, from a small probe and the space.

:meth:`Study.estimate <stacktune.Study.estimate>` (``stacktune optimize ... --dry-run``) runs a
few examples on a few configurations (the program as it is, the heaviest input the space
allows, and configurations sampled at random), outside the study: nothing is stored. From what
each call cost it gives:

- **expected**: the mean per example over the program as it is and the sampled configurations,
  times ``n_trials x len(dataset)`` (every trial evaluated in full);
- **worst case**: the most calls per example the probe saw, each with the most input tokens it
  saw (the longest candidate texts and the largest demo set, run in the probe; scaled up when
  the dataset has longer examples than those probed) and as many output tokens as the
  ``max_tokens``-like knobs' upper bound allows, priced at the dearest price the probe's calls
  allow;
- **racing**: a range, from no savings to the fewest calls the benchmark measured, shown only
  when the study's search races;
- what it could not bound, in words (``unbounded``), and what it assumed (``notes``).

With ``propose=`` or ``bootstrap=``, the steps before the search get their own lines
(:class:`StepCost`, in the totals), without calling anything more than the probe does:

- **proposals**: ``n`` calls per instruction site expected (every answer usable), ``max_calls``
  (default ``2 x n``) at worst, each reading the prompt :func:`~stacktune.proposals.proposal_prompt`
  would build (its tokens estimated at :data:`CHARS_PER_TOKEN` characters a token) and writing up to
  the proposer LM's ``max_tokens``; USD when the proposer LM says its price (``call_cost(input_tokens,
  output_tokens)`` or a ``price``). The proposer LM is never called.
- **bootstrap**: up to ``max_examples`` runs of the program as it is, at the probe's cost per example
  of the program as it is (expected) and the worst case per example (worst).

A study that already stores its proposals or bootstrapped demos spends nothing on them again:
their lines say so, and the probe runs the program with them, as ``optimize`` would.

USD is None (unknown, never 0) as soon as one probed call went to a model with no known price;
``unpriced_models`` names them.
"""

from __future__ import annotations

import math
import random
import textwrap
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict

from stacktune.errors import InvalidConfiguration, StacktuneError
from stacktune.evaluation import Metric
from stacktune.knobs import find_knob
from stacktune.pricing import Price
from stacktune.proposals import (
    Bootstrap,
    InstructionSite,
    Proposer,
    SupportsBootstrappedDemos,
    instruction_sites,
    proposal_prompt,
    summarize_examples,
)
from stacktune.protocol import Optimizable
from stacktune.space import Configuration, Space
from stacktune.study.importance import _quiet_optuna
from stacktune.usage import Usage, UsageMeter, metering
from stacktune.variables import Categorical, Float, Int, Primitive, Variable

#: The fewest and the most LLM calls racing needed, against TPE evaluating every trial in full, on the
#: three recorded tables of ``docs/benchmark.md`` (calls until 95 % of the best score, one objective).
BENCHMARK_CALL_FRACTIONS = (0.36, 0.52)

#: What the knob catalogue's ``knob_variable`` writes in a variable's description when the top of a
#: ``max_tokens`` range stands for "unset" (the model's own cap).
_UNSET_STAND_IN = "stands for the provider's default"

#: Characters per token assumed for text no model has read yet (the proposer's prompts, bootstrapped demos):
#: about right for English with the usual tokenizers. The estimate says where it assumed it.
CHARS_PER_TOKEN = 4

ProbeRole = Literal["as it is", "heaviest input", "sampled"]


class Spend(BaseModel):
    """An amount of spending: LLM calls, tokens (input and output), USD (None: unknown, never 0)."""

    model_config = ConfigDict(frozen=True)

    calls: int = 0
    tokens: int = 0
    usd: float | None = 0.0


class ProbeRun(BaseModel):
    """One configuration of the probe: what it is, why it was chosen, and what it cost."""

    model_config = ConfigDict(frozen=True)

    role: ProbeRole
    configuration: dict[str, Primitive]
    n_examples: int
    cost: Spend
    failures: int = 0
    error: str | None = None


class StepCost(BaseModel):
    """What a step before the search would spend (proposing instructions, bootstrapping demos).

    Known before it runs, so a budget can be set for the whole study. ``stored``: the study
    already holds the step's result, so it spends nothing (a resumed study never runs it again).
    ``how`` says how it was counted; ``assumptions`` what the figures rest on.
    """

    model_config = ConfigDict(frozen=True)

    step: Literal["proposals", "bootstrap"]
    expected: Spend = Spend()
    worst: Spend = Spend()
    stored: bool = False
    how: str = ""
    assumptions: tuple[str, ...] = ()


class RacingRange(BaseModel):
    """The expected spend under racing: ``low`` (the benchmark's fewest calls) to ``high`` (no savings)."""

    model_config = ConfigDict(frozen=True)

    fraction: float
    measured: tuple[float, float] = BENCHMARK_CALL_FRACTIONS
    low: Spend
    high: Spend


class Estimate(BaseModel):
    """What ``n_trials`` trials on a dataset would cost, known before they run (see the module's docstring)."""

    model_config = ConfigDict(frozen=True)

    n_trials: int
    n_examples: int
    probe: Spend
    probe_runs: tuple[ProbeRun, ...]
    probe_examples: tuple[int, ...]
    expected: Spend
    worst: Spend
    worst_calls_per_example: float
    worst_input_per_call: float
    worst_output_per_call: float
    racing: RacingRange | None = None
    unpriced_models: tuple[str, ...] = ()
    unbounded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    proposals: StepCost | None = None
    bootstrap: StepCost | None = None

    @property
    def steps(self) -> tuple[StepCost, ...]:
        """The steps before the search that were asked for or are stored: proposals, then bootstrap."""
        return tuple(step for step in (self.proposals, self.bootstrap) if step is not None)

    @property
    def total_expected(self) -> Spend:
        """The trials' expected spend plus the steps' before the search: what a budget must allow for."""
        return _plus(self.expected, *(step.expected for step in self.steps))

    @property
    def total_worst(self) -> Spend:
        """The trials' worst case plus the steps' worst cases."""
        return _plus(self.worst, *(step.worst for step in self.steps))

    def render(self, width: int = 80) -> str:
        """The estimate as text for a terminal, no line longer than ``width``."""
        return _render(self, width)

    def __str__(self) -> str:
        return self.render()


# -- the probe -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Measured:
    """One probe run as the arithmetic needs it: totals, and each call's tokens and cost."""

    run: ProbeRun
    usage: Usage
    calls: tuple[tuple[float, float, float | None], ...]  # (input, output, USD or None) per call


def run_probe(
    program: Optimizable,
    space: Space,
    dataset: Sequence[Any],
    metric: Metric,
    *,
    probe_examples: int,
    probe_configurations: int,
    max_concurrency: int,
    seed: int | None,
) -> tuple[list[_Measured], list[int], list[str]]:
    """Evaluate the probe's configurations on the probe's examples; nothing is stored anywhere.

    Returns the measured runs, the probed examples' indices and notes on how they were chosen.
    """
    rng = random.Random(seed)
    indices = sorted(rng.sample(range(len(dataset)), min(probe_examples, len(dataset))))
    examples = [dataset[i] for i in indices]
    configurations, notes = probe_plan(space, probe_configurations, seed)
    measured: list[_Measured] = []
    for role, configuration in configurations:
        measured.append(_measure(program, role, configuration, examples, metric, max_concurrency))
    if not any(m.run.error is None for m in measured):
        first = measured[0].run
        raise StacktuneError(f"the probe could not evaluate the program as it is ({first.error}): fix it first")
    return measured, indices, notes


def probe_plan(
    space: Space, probe_configurations: int, seed: int | None
) -> tuple[list[tuple[ProbeRole, Configuration]], list[str]]:
    """The program as it is, the heaviest input the space allows (when it differs), then random ones."""
    plan: list[tuple[ProbeRole, Configuration]] = [("as it is", space.defaults())]
    heaviest, notes = heaviest_input(space)
    if heaviest is not None and probe_configurations > 1:
        plan.append(("heaviest input", heaviest))
    with _quiet_optuna():
        sampling = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(), sampler=optuna.samplers.RandomSampler(seed=seed)
        )
    attempts = 0
    while len(plan) < probe_configurations and attempts < 20 * probe_configurations and space.searched:
        attempts += 1
        configuration = space.suggest(sampling.ask())
        if space.check_constraints(configuration) is None and all(configuration != c for _, c in plan):
            plan.append(("sampled", configuration))
    return plan, notes


def _measure(
    program: Optimizable,
    role: ProbeRole,
    configuration: Configuration,
    examples: Sequence[Any],
    metric: Metric,
    max_concurrency: int,
) -> _Measured:
    lock = threading.Lock()
    calls: list[tuple[float, float, float | None]] = []

    def record(usage: Usage) -> None:
        if usage.calls > 0:
            cost = None if usage.unpriced_calls else usage.cost_usd / usage.calls
            with lock:
                calls.append((usage.input_tokens / usage.calls, usage.output_tokens / usage.calls, cost))

    meter = UsageMeter()
    meter.subscribe(record)
    error: str | None = None
    failures = 0
    with metering(meter):
        try:
            evaluation = program.apply_configuration(configuration).evaluate(
                examples, metric, max_concurrency=max_concurrency
            )
            usage, failures = evaluation.usage, len(evaluation.failures)
        except Exception as exc:  # noqa: BLE001 - a configuration that fails is a note, as a failed trial would be
            error = f"{type(exc).__name__}: {exc}"
            usage = meter.total
    cost = Spend(
        calls=usage.spent_calls,
        tokens=usage.spent_tokens,
        usd=None if usage.unpriced_calls else usage.spent_cost_usd,
    )
    run = ProbeRun(
        role=role,
        configuration=dict(configuration),
        n_examples=len(examples),
        cost=cost,
        failures=failures,
        error=error,
    )
    return _Measured(run, usage, tuple(calls))


# -- what the space says -------------------------------------------------------------------------------


def _knob_name(variable: Variable) -> str | None:
    """The catalogue's name for a variable's knob (``answer.predict.max_tokens`` is ``max_tokens``)."""
    knob = find_knob(variable.name.rsplit(".", 1)[-1])
    return knob.name if knob is not None else None


def _is_text(variable: Variable) -> bool:
    """A choice among texts (instructions, reasoning hints): its longest text is its heaviest input."""
    choices = list(variable.choices.values()) if isinstance(variable, Categorical) else []
    return bool(choices) and all(isinstance(c, str) for c in choices) and any(len(str(c).split()) > 1 for c in choices)


def _is_demo_sets(variable: Variable) -> bool:
    """A choice among demo sets (lists of examples), maybe with a "draw from a pool" choice."""
    return isinstance(variable, Categorical) and any(isinstance(c, (list, tuple)) for c in variable.choices.values())


def _is_demo_count(variable: Variable) -> bool:
    """How many demos are shown (``n_demos``): its upper bound is its heaviest input."""
    return isinstance(variable, Int) and "demos" in variable.name.rsplit(".", 1)[-1]


def heaviest_input(space: Space) -> tuple[Configuration | None, list[str]]:
    """The configuration with the longest candidate texts and the most demos, other knobs as they are.

    None when the space has no such knob, or when the program already is that configuration.
    """
    defaults = space.defaults()
    chosen: Configuration = {}
    for variable in space.searched:
        if not variable.is_active({**defaults, **chosen}):
            continue
        value: Primitive
        if isinstance(variable, Categorical) and _is_text(variable):
            value = max(variable.keys, key=lambda key: len(str(variable.resolve(key))))
        elif isinstance(variable, Categorical) and _is_demo_sets(variable):
            value = max(variable.keys, key=lambda key: _demos_behind(space, variable, key))
        elif isinstance(variable, Int) and _is_demo_count(variable):
            value = variable.high
        else:
            continue
        if value != defaults.get(variable.name):
            chosen[variable.name] = value
    if not chosen:
        return None, []
    try:
        return space.validate_configuration(chosen), []
    except InvalidConfiguration as exc:
        return None, [f"the heaviest input ({_words(chosen)}) is not a valid configuration ({exc}): not probed"]


def _demos_behind(space: Space, variable: Categorical, key: Primitive) -> int:
    """How many demos a demo-set choice can show: its length, or the top of the count it enables."""
    choice = variable.resolve(key)
    if isinstance(choice, (list, tuple)):
        return len(choice)
    counts = [
        v.high
        for v in space.variables
        if isinstance(v, Int) and _is_demo_count(v) and key in (v.when or {}).get(variable.name, ())
    ]
    return max(counts, default=0)


def output_limit(space: Space) -> tuple[int | None, list[str]]:
    """The most output tokens one call may ask for, from the ``max_tokens``-like knobs; None without one."""
    limits: list[int] = []
    unbounded: list[str] = []
    for variable in space.variables:
        if not isinstance(variable, (Int, Float)) or _knob_name(variable) != "max_tokens":
            continue
        fixed = space.fixed.get(variable.name)
        top = int(fixed) if isinstance(fixed, (int, float)) else math.ceil(variable.high)
        limits.append(top)
        if fixed is None and _UNSET_STAND_IN in (variable.description or ""):
            unbounded.append(
                f"{variable.name}: its top ({top}) leaves it unset, so the model's own cap applies; the worst "
                f"case counts {top} output tokens per call"
            )
    return (max(limits) if limits else None), unbounded


def _unclassified(space: Space) -> list[str]:
    """Searched knobs whose effect on tokens the space does not say (a module, a style, a model)."""
    return [
        v.name
        for v in space.searched
        if _knob_name(v) is None and not _is_text(v) and not _is_demo_sets(v) and not _is_demo_count(v)
    ]


# -- prices --------------------------------------------------------------------------------------------


def _worst_call_usd(runs: Sequence[_Measured], inputs: float, outputs: float) -> tuple[float, bool]:
    """The most one worst-case call can cost, and whether a price had to be bounded rather than known.

    One price for every probed call (one model) is the usual case; otherwise each configuration
    is priced on its own calls (a model knob gives each its own price).
    """
    priced = [[(a, b, c) for a, b, c in m.calls if c is not None] for m in runs]
    bound, exact = call_price_bound([call for calls in priced for call in calls], inputs, outputs)
    if exact:
        return bound, False
    worst, guessed = 0.0, False
    for calls in priced:
        bound, exact = call_price_bound(calls, inputs, outputs)
        worst = max(worst, bound)
        guessed = guessed or (not exact and bound > 0)
    return worst, guessed


def _role_words(role: ProbeRole) -> str:
    return {"as it is": "the program as it is", "heaviest input": "the heaviest input"}.get(role, "a sampled one")


def call_price_bound(calls: Sequence[tuple[float, float, float]], inputs: float, outputs: float) -> tuple[float, bool]:
    """The most one call with ``inputs`` and ``outputs`` tokens can cost at the probed calls' price.

    When one price (USD per input and per output token) explains every call, it is exact (True).
    Otherwise (the calls all had the same input/output ratio, or prices differ) each call is
    priced at whichever of its input or output price its cost allows to be dearest (False).
    """
    rates = _fit(calls)
    if rates is not None:
        return inputs * rates[0] + outputs * rates[1], True
    bounds = [max(inputs * c / i if i else 0.0, outputs * c / o if o else 0.0) for i, o, c in calls]
    return max(bounds, default=0.0), False


def _fit(calls: Sequence[tuple[float, float, float]]) -> tuple[float, float] | None:
    """USD per input and per output token explaining every call exactly (least squares), or None."""
    sii = sum(i * i for i, _, _ in calls)
    soo = sum(o * o for _, o, _ in calls)
    sio = sum(i * o for i, o, _ in calls)
    det = sii * soo - sio * sio
    if not calls or det <= 1e-9 * sii * soo:
        return None
    sic = sum(i * c for i, _, c in calls)
    soc = sum(o * c for _, o, c in calls)
    per_input, per_output = (sic * soo - soc * sio) / det, (soc * sii - sic * sio) / det
    largest = max(c for _, _, c in calls)
    tolerance = 1e-6 * largest + 1e-15
    if per_input < -tolerance or per_output < -tolerance:
        return None
    per_input, per_output = max(per_input, 0.0), max(per_output, 0.0)
    if any(abs(i * per_input + o * per_output - c) > tolerance for i, o, c in calls):
        return None
    return per_input, per_output


# -- the steps before the search -----------------------------------------------------------------------


def _plus(*spends: Spend) -> Spend:
    """The sum of spends; USD unknown as soon as one is."""
    usds = [s.usd for s in spends]
    return Spend(
        calls=sum(s.calls for s in spends),
        tokens=sum(s.tokens for s in spends),
        usd=None if any(u is None for u in usds) else sum(u for u in usds if u is not None),
    )


def text_tokens(text: str) -> int:
    """Tokens a text no model has read yet is assumed to hold (:data:`CHARS_PER_TOKEN` characters a token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _found(lm: object, name: str) -> Any:
    """An attribute of the proposer LM, or of the Prompt it calls through (``ChatProposerLM.prompt``)."""
    value = getattr(lm, name, None)
    return value if value is not None else getattr(getattr(lm, "prompt", None), name, None)


def proposer_max_tokens(lm: object) -> int | None:
    """The most tokens the proposer LM writes per answer, when it says (``max_tokens``); else None."""
    value = _found(lm, "max_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _proposer_call_usd(lm: object, input_tokens: int, output_tokens: int) -> float | None:
    """One proposer call's USD, when the LM says its price: ``call_cost(input, output)`` or a ``price``."""
    call_cost = getattr(lm, "call_cost", None)
    if callable(call_cost):
        usd = call_cost(input_tokens, output_tokens)
        return float(usd) if isinstance(usd, (int, float)) else None
    price = _found(lm, "price")
    return price.cost(input_tokens, output_tokens) if isinstance(price, Price) else None


def proposing_cost(sites: Sequence[InstructionSite], dataset: Sequence[Any], propose: object) -> StepCost:
    """What ``propose`` would spend on ``sites``: the prompts it would send, sized, and its answers' cap.

    Builds the prompts a :class:`~stacktune.Proposer` sends (the same grounding examples, the
    same tips in turn) without calling the LM. Any other proposer's calls are not known: counted
    as none, USD unknown, and said.
    """
    if not isinstance(propose, Proposer):
        return StepCost(
            step="proposals",
            expected=Spend(usd=None),
            worst=Spend(usd=None),
            how=f"{type(propose).__name__} is not a stacktune.Proposer: its calls are not known before it runs",
            assumptions=("not counted: what it spends (USD unknown)",),
        )
    cap = proposer_max_tokens(propose.lm)
    output = cap if cap is not None else math.ceil(propose.max_chars / CHARS_PER_TOKEN)
    summary = summarize_examples(propose.grounding(dataset))
    most = propose.max_calls if propose.max_calls is not None else 2 * propose.n
    likely = min(propose.n, most)
    expected_inputs: list[int] = []
    worst_inputs: list[int] = []
    for site in sites:
        sizes = [
            text_tokens(proposal_prompt(site, summary, propose.tips[k % len(propose.tips)], number=k + 1, of=propose.n))
            for k in range(most)
        ]
        expected_inputs += sizes[:likely]
        worst_inputs += sizes
    assumptions = [
        f"prompts: {CHARS_PER_TOKEN} characters a token, from the prompts it would send; what the LM adds "
        f"around them (a system text) is not counted",
        f"answers: {output} tokens each, "
        + (
            "the proposer LM's max_tokens"
            if cap is not None
            else f"the longest text the Proposer keeps ({propose.max_chars} characters): the LM says no "
            f"max_tokens, so nothing stops it writing more"
        ),
    ]
    usd_known = _proposer_call_usd(propose.lm, 1, 1) is not None
    if not usd_known:
        assumptions.append(
            "USD unknown: the proposer LM says no price (give it a price attribute, a stacktune.Price, or a "
            "call_cost(input_tokens, output_tokens) method)"
        )

    def spend(inputs: Sequence[int]) -> Spend:
        usd = sum(_proposer_call_usd(propose.lm, i, output) or 0.0 for i in inputs) if usd_known else None
        return Spend(calls=len(inputs), tokens=sum(inputs) + output * len(inputs), usd=usd)

    return StepCost(
        step="proposals",
        expected=spend(expected_inputs),
        worst=spend(worst_inputs),
        how=f"{len(sites)} instruction site(s) x {likely} call(s) expected (n), {most} at worst (max_calls)",
        assumptions=tuple(assumptions),
    )


def _per_example(runs: Sequence[_Measured], n: int, unpriced: bool) -> Spend:
    """What ``n`` examples cost at the mean per example of ``runs``."""
    examples = sum(m.run.n_examples for m in runs)
    usage = Usage.sum([m.usage for m in runs])
    return Spend(
        calls=round(usage.calls / examples * n),
        tokens=round(usage.total_tokens / examples * n),
        usd=None if unpriced else usage.cost_usd / examples * n,
    )


def bootstrap_cost(bootstrap: Bootstrap, n_examples: int, expected: Spend, worst: Spend) -> StepCost:
    """What ``bootstrap`` would spend on a dataset of ``n_examples``: up to ``max_examples`` runs of the program.

    ``expected`` and ``worst`` are what that many examples of the program as it is cost: the
    probe's mean and the worst case per example, already multiplied.
    """
    runs = len(bootstrap.pick(n_examples))
    return StepCost(
        step="bootstrap",
        expected=expected,
        worst=worst,
        how=f"{runs} example(s) run on the program as it is (max_examples={bootstrap.max_examples})",
        assumptions=(
            "expected: the probe's cost per example of the program as it is; worst: the trials' worst case per example",
        ),
    )


def stored_step(step: Literal["proposals", "bootstrap"]) -> StepCost:
    """A step the study already holds: nothing to spend."""
    what = "instruction candidates" if step == "proposals" else "bootstrapped demos"
    return StepCost(step=step, stored=True, how=f"the study already stores its {what}: nothing to spend")


# -- the arithmetic ------------------------------------------------------------------------------------


def estimate_spend(
    program: Optimizable,
    space: Space,
    dataset: Sequence[Any],
    metric: Metric,
    *,
    n_trials: int,
    races: bool,
    probe_examples: int = 3,
    probe_configurations: int = 3,
    max_concurrency: int = 1,
    seed: int | None = 0,
    propose: object | None = None,
    bootstrap: Bootstrap | None = None,
    stored: Sequence[Literal["proposals", "bootstrap"]] = (),
) -> Estimate:
    """The :class:`Estimate` of ``n_trials`` trials on ``dataset``; ``races``: the study's search races.

    ``propose`` and ``bootstrap`` are ``optimize``'s; ``stored`` names the steps the study already holds
    (they cost nothing, and ``program`` already has their candidates and demos).
    """
    proposing = propose is not None and "proposals" not in stored
    bootstrapping = bootstrap is not None and "bootstrap" not in stored
    # before the probe: an adapter that cannot take proposals or demos fails as optimize would, with nothing spent
    sites = instruction_sites(program) if proposing else []
    if bootstrapping and not isinstance(program, SupportsBootstrappedDemos):
        raise TypeError(
            f"bootstrap= needs an adapter that takes demos; {type(program).__name__} has no "
            f"with_bootstrapped_demos() (stacktune.proposals.SupportsBootstrappedDemos)"
        )
    measured, indices, notes = run_probe(
        program,
        space,
        dataset,
        metric,
        probe_examples=probe_examples,
        probe_configurations=probe_configurations,
        max_concurrency=max_concurrency,
        seed=seed,
    )
    notes += _probe_failures(measured)
    ran = [m for m in measured if m.run.error is None]
    usage = Usage.sum([m.usage for m in measured])
    unpriced = usage.unpriced_calls > 0  # then every USD figure is unknown, never 0
    total_examples = n_trials * len(dataset)

    typical = [m for m in ran if m.run.role != "heaviest input"] or ran
    expected = _per_example(typical, total_examples, unpriced)

    calls_per_example = max(m.usage.calls / m.run.n_examples for m in ran)
    every_call = [call for m in ran for call in m.calls]
    input_per_call = max((i for i, _, _ in every_call), default=0.0)
    stretch = _longest_example_ratio(dataset, indices)
    if stretch > 1.0:
        notes.append(
            f"the longest example is {stretch:.3g}x the longest probed one (characters): the worst case "
            f"scales each call's input by as much"
        )
        input_per_call *= stretch
    limit, unbounded = output_limit(space)
    output_per_call = max([o for _, o, _ in every_call] + ([float(limit)] if limit is not None else []), default=0.0)
    growth, said = _input_growth(sites, propose if proposing else None, bootstrap if bootstrapping else None, dataset)
    unbounded += _not_bounded(space, limit is None, calls_per_example, input_per_call, output_per_call, growth > 0)
    if every_call and not usage.total_tokens:
        unbounded.append("tokens: the probe's answers reported no token counts")

    as_it_is = _worst_case(ran, calls_per_example, input_per_call, output_per_call, unpriced, notes)
    notes += said
    worst = _worst_case(ran, calls_per_example, input_per_call + growth, output_per_call, unpriced, [])
    steps = _steps(propose, bootstrap, stored, sites, dataset, typical, ran, unpriced, as_it_is)
    if proposing or bootstrapping:
        notes.append(
            "the trials' expected spend is the program's as probed: proposed instructions and bootstrapped "
            "demos, which it cannot know yet, often make calls longer"
        )
    return Estimate(
        n_trials=n_trials,
        n_examples=len(dataset),
        probe=Spend(calls=usage.spent_calls, tokens=usage.spent_tokens, usd=None if unpriced else usage.spent_cost_usd),
        probe_runs=tuple(m.run for m in measured),
        probe_examples=tuple(indices),
        expected=expected,
        worst=worst.times(total_examples),
        worst_calls_per_example=calls_per_example,
        worst_input_per_call=input_per_call + growth,
        worst_output_per_call=output_per_call,
        racing=_racing(expected) if races else None,
        unpriced_models=usage.unpriced_models if unpriced else (),
        unbounded=tuple(unbounded),
        notes=tuple(notes),
        **steps,
    )


@dataclass(frozen=True)
class _PerExample:
    """The worst case of one example: its calls, each with so many tokens, at most so many USD."""

    calls: float
    tokens_per_call: float
    usd_per_call: float | None

    def times(self, n: int) -> Spend:
        calls = self.calls * n
        return Spend(
            calls=math.ceil(calls - 1e-9),
            tokens=math.ceil(calls * self.tokens_per_call - 1e-6),
            usd=None if self.usd_per_call is None else calls * self.usd_per_call,
        )


def _worst_case(
    ran: Sequence[_Measured], calls: float, inputs: float, outputs: float, unpriced: bool, notes: list[str]
) -> _PerExample:
    """One example's worst case, priced as the probe's calls allow (a note when the price had to be bounded)."""
    usd_per_call: float | None = None
    if not unpriced:
        usd_per_call, guessed = _worst_call_usd(ran, inputs, outputs)
        if guessed:
            notes.append(
                "the probe's calls do not tell input from output prices (every call in the same proportion, or "
                "several prices): the worst case prices each token at the dearer of the two"
            )
    return _PerExample(calls, inputs + outputs, usd_per_call)


def _input_growth(
    sites: Sequence[InstructionSite], propose: object | None, bootstrap: Bootstrap | None, dataset: Sequence[Any]
) -> tuple[float, list[str]]:
    """Input tokens per call the trials may gain from what the steps will add, which no probe has seen."""
    growth, notes = 0.0, []
    if sites and isinstance(propose, Proposer):
        cap = proposer_max_tokens(propose.lm) or math.ceil(propose.max_chars / CHARS_PER_TOKEN)
        growth += cap * len(sites)
        notes.append(
            f"the trials' worst case adds {cap} input tokens per call for each of the {len(sites)} instruction "
            f"site(s): a proposed text may be that long"
        )
    elif sites:
        notes.append("the trials' worst case does not count proposed texts: this proposer's cap is not known")
    if bootstrap is not None:
        longest = max(text_tokens(str(example)) for example in dataset)
        growth += bootstrap.max_demos * longest
        notes.append(
            f"the trials' worst case adds {bootstrap.max_demos} bootstrapped demos (max_demos) of up to {longest} "
            f"tokens each per call (the longest example, {CHARS_PER_TOKEN} characters a token)"
        )
    return growth, notes


def _steps(
    propose: object | None,
    bootstrap: Bootstrap | None,
    stored: Sequence[str],
    sites: Sequence[InstructionSite],
    dataset: Sequence[Any],
    typical: Sequence[_Measured],
    ran: Sequence[_Measured],
    unpriced: bool,
    as_it_is: _PerExample,
) -> dict[str, StepCost]:
    """The proposals' and the bootstrap's lines: stored (nothing to spend), estimated, or absent."""
    steps: dict[str, StepCost] = {}
    if "proposals" in stored:
        steps["proposals"] = stored_step("proposals")
    elif propose is not None:
        steps["proposals"] = proposing_cost(sites, dataset, propose)
    if "bootstrap" in stored:
        steps["bootstrap"] = stored_step("bootstrap")
    elif bootstrap is not None:
        runs = len(bootstrap.pick(len(dataset)))
        program = [m for m in ran if m.run.role == "as it is"] or typical
        steps["bootstrap"] = bootstrap_cost(
            bootstrap, len(dataset), _per_example(program, runs, unpriced), as_it_is.times(runs)
        )
    return steps


def _probe_failures(measured: Sequence[_Measured]) -> list[str]:
    """Notes on the probe runs that failed whole (left out) or on some examples (paid for all the same)."""
    notes = []
    for m in measured:
        if m.run.error is not None:
            notes.append(f"{_role_words(m.run.role)} failed in the probe ({m.run.error}): left out")
        elif m.run.failures:
            notes.append(
                f"{m.run.failures} of {m.run.n_examples} probe examples failed on {_role_words(m.run.role)} "
                f"(paid for all the same)"
            )
    return notes


def _not_bounded(
    space: Space,
    no_limit: bool,
    calls_per_example: float,
    input_per_call: float,
    output_per_call: float,
    grows: bool = False,
) -> list[str]:
    """What the space does not bound, in words: the worst case then counts the most the probe saw.

    ``grows``: proposals or demos still to come bound the input instead (said in the notes).
    """
    said = [
        f"calls per example: the space does not bound them; the worst case counts the most the probe saw "
        f"({calls_per_example:.3g})"
    ]
    if no_limit:
        said.append(
            f"output tokens: no max_tokens-like knob in the space; the worst case counts the most the probe "
            f"saw ({output_per_call:.0f} per call)"
        )
    if not grows and not any(_is_text(v) or _is_demo_sets(v) or _is_demo_count(v) for v in space.searched):
        said.append(
            f"input tokens: no candidate texts or demo sets in the space; the worst case counts the most the "
            f"probe saw ({input_per_call:.0f} per call)"
        )
    others = _unclassified(space)
    if others:
        said.append(
            f"{', '.join(others)}: the space does not say how they change tokens; only what the probe saw of "
            f"them is counted"
        )
    return said


def _racing(expected: Spend) -> RacingRange:
    """From the fewest calls the benchmark measured to no savings at all."""
    fraction = BENCHMARK_CALL_FRACTIONS[0]
    low = Spend(
        calls=round(expected.calls * fraction),
        tokens=round(expected.tokens * fraction),
        usd=None if expected.usd is None else expected.usd * fraction,
    )
    return RacingRange(fraction=fraction, low=low, high=expected)


def _longest_example_ratio(dataset: Sequence[Any], probed: Sequence[int]) -> float:
    """How much longer (in characters) the dataset's longest example is than the longest probed one."""
    longest_probed = max(len(str(dataset[i])) for i in probed)
    return max(len(str(example)) for example in dataset) / max(longest_probed, 1)


# -- words ---------------------------------------------------------------------------------------------


def _words(configuration: Mapping[str, object], limit: int = 24) -> str:
    def short(value: object) -> str:
        text = f"{value:.3g}" if isinstance(value, float) else str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return ", ".join(f"{name}={short(value)}" for name, value in configuration.items()) or "(no knobs)"


def _count(value: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:,}"


def _usd(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:.2f}"
    return f"${value:.{max(2, 1 - math.floor(math.log10(value)))}f}"


def _row(label: str, calls: str, tokens: str, usd: str) -> str:
    room = max(len(label), 18)  # "proposals, worst case" needs more, a racing range's calls all they get
    return f"  {label:<{room}}{calls:>{35 - room}}{tokens:>21}{usd:>21}"


def _spend_row(label: str, spend: Spend) -> str:
    return _row(label, _count(spend.calls), _count(spend.tokens), _usd(spend.usd))


def _spend_table(estimate: Estimate) -> list[str]:
    """The trials' expected and worst case, each step's before the search, their totals, racing's range."""
    steps = estimate.steps
    trials = "trials, " if steps else ""
    lines = [
        _row("", "calls", "tokens", "USD"),
        _spend_row(f"{trials}expected", estimate.expected),
        _spend_row(f"{trials}worst case", estimate.worst),
    ]
    for step in steps:
        if not step.stored:
            lines += [
                _spend_row(f"{step.step}, expected", step.expected),
                _spend_row(f"{step.step}, worst case", step.worst),
            ]
    if steps:
        lines += [
            _spend_row("total, expected", estimate.total_expected),
            _spend_row("total, worst case", estimate.total_worst),
        ]
    racing = estimate.racing
    if racing is not None:
        low, high = racing.low, racing.high
        lines.append(
            _row(
                f"racing {racing.fraction:g}x-1x",
                f"{_count(low.calls)}-{_count(high.calls)}",
                f"{_count(low.tokens)}-{_count(high.tokens)}",
                "unknown" if low.usd is None else f"{_usd(low.usd)}-{_usd(high.usd)}",
            )
        )
    return lines


def _render(estimate: Estimate, width: int) -> str:
    def wrap(text: str, indent: str = "") -> list[str]:
        return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent + "  ")

    probe = estimate.probe
    lines = wrap(
        f"{estimate.n_trials} trials x {estimate.n_examples} examples = "
        f"{estimate.n_trials * estimate.n_examples:,} example evaluations, every trial in full"
    )
    lines += wrap(
        f"probe (nothing stored): {len(estimate.probe_runs)} configurations x "
        f"{estimate.probe_runs[0].n_examples} examples cost {probe.calls:,} calls, {probe.tokens:,} tokens, "
        f"{_usd(probe.usd)}"
    )
    for run in estimate.probe_runs:
        failed = f" (failed: {run.error})" if run.error else ""
        lines += wrap(f"{run.role}: {_words(run.configuration)}{failed}", "  ")
    lines += wrap(f"probed examples (dataset indices): {', '.join(map(str, estimate.probe_examples))}", "  ")
    lines += _spend_table(estimate)
    racing = estimate.racing
    if racing is not None:
        lines += wrap(
            f"racing is a range, not a promise: from no savings to the fewest calls the benchmark measured "
            f"({racing.measured[0]:g} to {racing.measured[1]:g} of TPE's, docs/benchmark.md)"
            + ("; it saves nothing before the search" if estimate.steps else "")
        )
    else:
        lines += wrap("this study's search does not race here: every trial runs in full")
    lines += wrap(
        f"worst case per example: {estimate.worst_calls_per_example:.3g} call(s), each of up to "
        f"{estimate.worst_input_per_call:,.0f} input and {estimate.worst_output_per_call:,.0f} output tokens"
    )
    if estimate.probe.usd is None:
        models = ", ".join(map(repr, estimate.unpriced_models)) or "a model"
        lines += wrap(
            f"USD unknown: no price for {models}; give the adapter one (prices={{name: stacktune.Price(...)}}, "
            f"or stacktune.FREE for a model on your machine)"
        )
    for step in estimate.steps:
        lines += wrap(f"{step.step}: {step.how}")
        lines += [line for item in step.assumptions for line in wrap(f"- {item}", "  ")]
    for title, items in (("not bounded:", estimate.unbounded), ("notes:", estimate.notes)):
        if items:
            lines.append(title)
            lines += [line for item in items for line in wrap(f"- {item}", "  ")]
    return "\n".join(lines)


__all__ = [
    "BENCHMARK_CALL_FRACTIONS",
    "CHARS_PER_TOKEN",
    "Estimate",
    "ProbeRun",
    "RacingRange",
    "Spend",
    "StepCost",
    "bootstrap_cost",
    "call_price_bound",
    "estimate_spend",
    "heaviest_input",
    "output_limit",
    "probe_plan",
    "proposer_max_tokens",
    "proposing_cost",
    "stored_step",
    "text_tokens",
]
