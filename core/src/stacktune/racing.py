"""Racing: stacktune's default way to spend fewer LLM calls per trial.

Every trial is compared example by example with the *incumbent*, the best complete trial
so far, whose per-example scores are kept in memory (never evaluated again). A trial
stops as soon as it is unlikely to end strictly above the incumbent on the whole dataset;
a trial that leads so far is never stopped, nor before ``min_examples`` (no pruning on noise).

Each trial sees the examples in its own shuffled order, fixed by its number. Pairing with
the incumbent, known on every example, gives the precision of common random numbers in
any order; separate orders make the race's mistakes independent. A good configuration
stopped by an unlucky start gets a fresh start when the sampler proposes it (or a
neighbour) again, where one shared order would give every trial the same unlucky start.

How unlikely: for 0/1 scores the remaining examples are split by the incumbent's score
on them; ``P(candidate right | incumbent right)`` and ``P(candidate right | incumbent
wrong)`` get Beta posteriors from the examples seen so far, and the candidate's final
total is the sum of two beta-binomials, computed exactly. Other scores use a normal
predictive on the paired differences with a shrunk variance. The trial stops when the
probability of beating the incumbent falls under ``delta``.

The study hands the trial's order to the runner (:func:`stacktune.evaluation.planned`),
which reports each score with its dataset index. A stopped trial is stored as pruned, its
estimated final score in its record; the sampler
(:class:`~stacktune.racing_sampler.RacingSampler`) learns from that estimate as if the
trial were complete.
Decisions are made in memory (tens of microseconds per example); storage is written
once per trial.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field


class RacingPolicy(BaseModel):
    """The knobs of the race (the defaults are what the benchmark in ``benchmarks/`` measured).

    - ``delta``: stop when P(candidate ends strictly above the incumbent) < delta.
    - ``min_examples``: never stop before this many examples.
    - ``min_dataset``: smaller datasets are evaluated in full (too few examples to race on).
    - ``disagreement`` and ``strength``: the 0/1 model's prior. A priori the candidate is as good
      as the incumbent and disagrees with it on a ``disagreement`` share of the examples (half
      each way); the Beta priors on its two rates weigh as ``strength`` examples each.
    - ``same_prior``: the prior probability that a candidate behaves exactly like the incumbent
      (samplers often propose the incumbent again, or a neighbour that answers the same): a
      candidate that agrees on every example so far soon stops, as a copy cannot win.
    - ``order_seed``: with the trial's number, the seed of the trial's example order.
    - ``dense_checks``: check after every example up to this many, then about every
      ``examples / dense_checks`` examples (keeps the cost per example flat on big datasets).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    delta: float = Field(0.2, gt=0.0, lt=1.0)
    min_examples: int = Field(5, ge=1)
    min_dataset: int = Field(30, ge=1)
    disagreement: float = Field(0.2, gt=0.0, lt=1.0)
    strength: float = Field(4.0, gt=0.0)
    same_prior: float = Field(0.5, ge=0.0, lt=1.0)
    order_seed: int = 0
    dense_checks: int = Field(64, ge=1)


DEFAULT_POLICY = RacingPolicy()


def _is_binary(score: float) -> bool:
    return score == 0.0 or score == 1.0


def trial_order(n: int, trial_number: int, policy: RacingPolicy) -> tuple[int, ...]:
    """The examples' order for one trial: a shuffle fixed by the trial's number (and ``policy.order_seed``)."""
    order = list(range(n))
    random.Random(f"{policy.order_seed}/{trial_number}").shuffle(order)
    return tuple(order)


class Race:
    """The race of one ``optimize`` call: the incumbent, and each trial's example order.

    Thread-safe: parallel trials each get a :class:`Lane` holding the incumbent as it was
    when they started.
    """

    def __init__(self, n_examples: int, policy: RacingPolicy = DEFAULT_POLICY) -> None:
        if n_examples < 1:
            raise ValueError(f"a race needs at least one example, got {n_examples}")
        self.n = n_examples
        self.policy = policy
        self._lock = threading.Lock()
        self._incumbent: tuple[float, ...] | None = None
        self._incumbent_total = -math.inf

    # -- the incumbent -----------------------------------------------------------------
    @property
    def incumbent(self) -> tuple[float, ...] | None:
        """The per-example scores to beat (dataset order); None until a trial completes."""
        with self._lock:
            return self._incumbent

    @property
    def incumbent_total(self) -> float:
        """The incumbent's total score (minus infinity before there is one)."""
        with self._lock:
            return self._incumbent_total

    def offer(self, scores: Sequence[float]) -> bool:
        """A complete trial's per-example scores (dataset order); it becomes the incumbent if strictly better."""
        if len(scores) != self.n:
            return False
        total = math.fsum(scores)
        with self._lock:
            if total > self._incumbent_total:
                self._incumbent = tuple(float(s) for s in scores)
                self._incumbent_total = total
                return True
        return False

    def order(self, trial_number: int) -> tuple[int, ...]:
        """The order trial ``trial_number`` evaluates the examples in (position -> dataset index)."""
        return trial_order(self.n, trial_number, self.policy)

    def lane(self, trial_number: int) -> Lane:
        """Trial ``trial_number``'s view of the race: its example order, and the incumbent as it is now."""
        order = self.order(trial_number)
        with self._lock:
            return Lane(self.policy, self._incumbent, order=order)


class Lane:
    """One trial racing the incumbent: feed it each example's score, it says when to stop."""

    def __init__(self, policy: RacingPolicy, incumbent: tuple[float, ...] | None, *, order: Sequence[int]) -> None:
        self.policy = policy
        self.order = tuple(order)  # the dataset indices in the order this trial evaluates them
        self.incumbent = incumbent
        self.incumbent_total = math.fsum(incumbent) if incumbent is not None else 0.0
        self.n = len(incumbent) if incumbent is not None else 0
        self.binary = incumbent is not None and all(_is_binary(s) for s in incumbent)
        self.incumbent_ones = sum(1 for s in incumbent or () if s == 1.0)
        self.seen = 0
        self.same_so_far = incumbent is not None  # answered exactly like the incumbent on every example seen
        self.total = 0.0  # the candidate's sum over the examples seen
        self.diff_sum = 0.0  # sum of (candidate - incumbent) over the examples seen
        self.diff_sq = 0.0
        self.pairs = [0, 0, 0, 0]  # (candidate, incumbent) = (1,1), (0,1), (1,0), (0,0)
        # Beta priors (alpha, beta) of P(candidate right | incumbent right) and P(candidate right | incumbent
        # wrong), centred on "as good as the incumbent": as many losses expected as gains.
        ones, zeros = self.incumbent_ones, self.n - self.incumbent_ones
        half = policy.disagreement * self.n / 2
        lose = min(0.95, half / ones) if ones else 0.5
        gain = min(0.95, half / zeros) if zeros else 0.5
        self.keep_prior = ((1 - lose) * policy.strength, lose * policy.strength)
        self.gain_prior = (gain * policy.strength, (1 - gain) * policy.strength)
        # The normal model's prior variance of a paired difference (twice the incumbent's variance, floored).
        self.prior_var = prior_variance(incumbent, policy) if incumbent else 0.0
        self.stopped = False
        self.probability = 1.0  # P(ends strictly above the incumbent) at the last check

    def in_flight(self, max_concurrency: int) -> int:
        """How many examples may be in flight: all while the trial's odds are fair, fewer as they fall.

        Below twice ``delta`` the share of ``max_concurrency`` follows the odds, down to one: a trial
        about to be stopped does not have many answers on the way that nobody will use.
        """
        if self.incumbent is None or self.probability >= 2 * self.policy.delta:
            return max_concurrency
        return max(1, math.ceil(max_concurrency * self.probability / (2 * self.policy.delta)))

    @property
    def racing(self) -> bool:
        """False when there is no incumbent to race (the trial runs in full)."""
        return self.incumbent is not None

    def add(self, index: int, score: float) -> bool:
        """Record the score of example ``index`` (dataset order); True means: stop this trial."""
        if self.incumbent is None or self.stopped:
            return self.stopped
        self.record(index, score)
        if self.seen < self.policy.min_examples or self.seen >= self.n or self.diff_sum > 0:
            return False  # too early, nothing left to save, or leading so far: never stopped on noise
        if not self._due():
            return False
        self.probability = self._outlook()
        self.stopped = self.probability < self.policy.delta
        return self.stopped

    def record(self, index: int, score: float) -> None:
        """Only record the score of example ``index`` (the race on several objectives decides itself)."""
        if self.incumbent is None:
            return
        other = self.incumbent[index]
        self.seen += 1
        self.total += score
        difference = score - other
        self.same_so_far = self.same_so_far and difference == 0.0
        self.diff_sum += difference
        self.diff_sq += difference * difference
        if self.binary and _is_binary(score):
            self.pairs[(0 if score == 1.0 else 1) + (0 if other == 1.0 else 2)] += 1
        else:
            self.binary = False

    def _due(self) -> bool:
        dense = self.policy.dense_checks
        if self.seen <= dense:
            return True
        return self.seen % max(1, self.n // dense) == 0

    # -- the statistics ---------------------------------------------------------------
    def _outlook(self) -> float:
        """P(the candidate ends strictly above the incumbent)."""
        chance = self._binary_outlook() if self.binary else self._normal_outlook()
        return chance * (1.0 - self._same_posterior())

    def _same_posterior(self) -> float:
        """P(the candidate is a copy of the incumbent | its answers so far).

        A copy cannot win. A sampler often proposes a configuration again, or a neighbour that
        answers the same; one different answer rules it out. The alternative "a different
        configuration that happened to agree" has the likelihood of agreeing on the examples seen
        under the disagreement prior.
        """
        prior = self.policy.same_prior
        if prior == 0.0 or not self.same_so_far:
            return 0.0
        compared = self.seen
        strength = self.policy.strength
        agree, disagree = (1.0 - self.policy.disagreement) * strength, self.policy.disagreement * strength
        likelihood = math.exp(_log_beta(agree + compared, disagree) - _log_beta(agree, disagree))
        return prior / (prior + (1.0 - prior) * likelihood)

    def _remaining(self) -> tuple[int, int]:
        """How many unseen examples the incumbent got right, and wrong."""
        both, only_inc, _, _ = self.pairs
        remaining_ones = self.incumbent_ones - both - only_inc
        return remaining_ones, (self.n - self.seen) - remaining_ones

    def _binary_outlook(self) -> float:
        """P(final total > incumbent's) under the paired beta-binomial model."""
        both, only_inc, only_cand, neither = self.pairs
        remaining_ones, remaining_zeros = self._remaining()
        gap = round(self.incumbent_total - self.total)  # what the candidate must make up on the rest
        if gap >= remaining_ones + remaining_zeros:
            return 0.0
        (ka, kb), (ga, gb) = self.keep_prior, self.gain_prior
        keep = _beta_binomial_pmf(remaining_ones, ka + both, kb + only_inc)  # right where the incumbent is right
        gain = _beta_binomial_pmf(remaining_zeros, ga + only_cand, gb + neither)  # right where it is wrong
        size = len(keep)
        tail = [0.0] * (size + 1)  # tail[j] = P(keep >= j)
        for j in range(size - 1, -1, -1):
            tail[j] = tail[j + 1] + keep[j]
        chance = 0.0
        for y, p in enumerate(gain):
            # the candidate wins when keep > gap - y
            chance += p * tail[min(max(gap - y + 1, 0), size)]
        return min(1.0, chance)

    def _normal_outlook(self) -> float:
        """The same under a normal predictive of the paired differences, variance shrunk to the incumbent's."""
        return _normal_chance(self.diff_sum, self.diff_sq, self.seen, self.n, self.prior_var)

    def chance(self) -> float:
        """P(the candidate ends strictly above the incumbent), computed now (what ``add`` checks)."""
        return self._outlook() if self.seen else 1.0

    def estimate(self) -> float:
        """The candidate's estimated mean score over the whole dataset (what the sampler is told)."""
        if self.incumbent is None or self.seen == 0:
            return self.total / self.seen if self.seen else 0.0
        if self.binary:
            (ka, kb), (ga, gb) = self.keep_prior, self.gain_prior
            both, only_inc, only_cand, neither = self.pairs
            remaining_ones, remaining_zeros = self._remaining()
            expected = (
                self.total
                + remaining_ones * (ka + both) / (ka + kb + both + only_inc)
                + remaining_zeros * (ga + only_cand) / (ga + gb + only_cand + neither)
            )
            return expected / self.n
        return (self.incumbent_total + self.diff_sum * self.n / self.seen) / self.n


def prior_variance(values: Sequence[float], policy: RacingPolicy, *, floor: bool = True) -> float:
    """The normal model's prior variance of a paired difference with these values (graded scores, costs...).

    Twice their variance (two independent configurations alike). For scores (``floor``), never less
    than what the 0/1 model's prior assumes: differing by the scores' scale on a ``disagreement``
    share of the examples. Without the floor, an incumbent whose scores barely vary (a judge that
    gives 3 of 5 everywhere) would make a few small differences look certain: stopped on noise.
    """
    n = len(values)
    mean = math.fsum(values) / n
    variance = 2.0 * math.fsum((v - mean) ** 2 for v in values) / n
    if not floor:
        return variance
    scale = max(abs(v) for v in values)
    return max(variance, policy.disagreement * scale * scale)


def _normal_chance(diff_sum: float, diff_sq: float, seen: int, n: int, prior_var: float) -> float:
    """P(the final sum of paired differences is > 0), normal predictive, variance shrunk towards ``prior_var``."""
    k, remaining = seen, n - seen
    if remaining <= 0:
        return 1.0 if diff_sum > 0 else 0.0
    mean = diff_sum / k
    prior_weight = 2.0
    sum_sq = max(0.0, diff_sq - k * mean * mean)
    variance = (sum_sq + prior_weight * prior_var) / (k - 1 + prior_weight)
    spread = math.sqrt(max(variance, 1e-300) * remaining * (1.0 + remaining / k))
    z = (diff_sum + remaining * mean) / spread
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_binomial_pmf(m: int, a: float, b: float) -> list[float]:
    """P(X = x) for x = 0..m, X ~ BetaBinomial(m, a, b), by the ratio of consecutive terms."""
    if m <= 0:
        return [1.0]
    log_first = math.lgamma(m + b) + math.lgamma(a + b) - math.lgamma(a + m + b) - math.lgamma(b)
    pmf = [math.exp(log_first)]
    for x in range(m):
        pmf.append(pmf[-1] * (m - x) / (x + 1) * (x + a) / (m - x - 1 + b))
    total = math.fsum(pmf)
    return [p / total for p in pmf]


__all__ = ["DEFAULT_POLICY", "Lane", "Race", "RacingPolicy", "prior_variance", "trial_order"]
