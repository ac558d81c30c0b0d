"""Racing on several objectives: a trial races the Pareto front, not one incumbent.

With several objectives that are per-example means (score, cost, latency, tokens, or a custom
objective with ``per_example``), each complete trial on the front keeps its per-example values.
A new trial is compared example by example with every front member, paired on the same
examples, and stops once it is unlikely to end *on* the front: for some member m it is
unlikely to end strictly better than m on any objective (a copy of a member adds nothing to the
front).

How unlikely, for one member m: the chance of ending strictly better on objective j is the
single-objective race's (the exact paired beta-binomial for 0/1 scores, with its copy prior;
a normal predictive on the paired differences otherwise, and a copy prior for exact ties, such
as the same token counts). The chance of not being dominated by m is at most the sum of those
chances over the objectives (a union bound, whatever the objectives' dependence), and the
chance of ending on the front at most the smallest of these over the members. The trial stops
when that bound falls under ``delta``: a trial is only stopped when it is unlikely to be on the
front however its objectives move together. It is never stopped before ``min_examples``, nor
while, on the examples seen, it is strictly better than every member somewhere.

The bound is only needed when it is small, so each check stops summing a member's chances once
they cannot lower it (the cheap normal chances first, the exact 0/1 one last): the same
decisions for a fraction of the work per example (docs/benchmark.md, "Overhead per example").
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

from stacktune.racing import (
    DEFAULT_POLICY,
    Lane,
    RacingPolicy,
    _log_beta,
    _normal_chance,
    prior_variance,
    trial_order,
)

#: Per objective, per example (dataset order): one trial's values.
Values = tuple[tuple[float, ...], ...]


def _binary(values: Sequence[float]) -> bool:
    return all(v == 0.0 or v == 1.0 for v in values)


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good as ``b`` everywhere and strictly better somewhere (values oriented: higher wins)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


class FrontRace:
    """The race of one ``optimize`` call with several objectives: the front so far, and each trial's order.

    ``signs`` orient the objectives (+1 maximize, -1 minimize). Thread-safe: parallel trials each get
    a :class:`FrontLane` holding the front as it was when they started.
    """

    def __init__(self, n_examples: int, signs: Sequence[int], policy: RacingPolicy = DEFAULT_POLICY) -> None:
        if n_examples < 1:
            raise ValueError(f"a race needs at least one example, got {n_examples}")
        self.n = n_examples
        self.policy = policy
        self.signs = tuple(signs)
        self._front: list[tuple[Values, tuple[float, ...]]] = []  # (values, oriented means)
        self._front_lock = threading.Lock()

    def order(self, trial_number: int) -> tuple[int, ...]:
        """The order trial ``trial_number`` evaluates the examples in (as the single-objective race)."""
        return trial_order(self.n, trial_number, self.policy)

    def means(self, values: Sequence[Sequence[float]]) -> tuple[float, ...]:
        """A trial's oriented means (higher wins on every objective)."""
        return tuple(sign * math.fsum(v) / self.n for sign, v in zip(self.signs, values, strict=True))

    @property
    def front(self) -> list[Values]:
        """The per-example values of the trials on the front so far."""
        with self._front_lock:
            return [values for values, _ in self._front]

    def offer_values(self, values: Sequence[Sequence[float]]) -> bool:
        """A complete trial's per-example values (per objective); it joins the front unless dominated."""
        if len(values) != len(self.signs) or any(len(v) != self.n for v in values):
            return False
        frozen = tuple(tuple(float(x) for x in v) for v in values)
        means = self.means(frozen)
        with self._front_lock:
            if any(dominates(other, means) or other == means for _, other in self._front):
                return False
            self._front = [(v, m) for v, m in self._front if not dominates(means, m)] + [(frozen, means)]
            return True

    def lane(self, trial_number: int) -> FrontLane:
        """Trial ``trial_number``'s view of the race: its order, and the front as it is now."""
        return FrontLane(self.policy, self.front, self.signs, order=self.order(trial_number))


class _Pairing:
    """The candidate against one member on one objective, oriented so that higher wins."""

    def __init__(self, member: Sequence[float], sign: int, policy: RacingPolicy, order: Sequence[int]) -> None:
        self.sign = sign
        self.member = tuple(sign * v for v in member)
        self.n = len(member)
        self.policy = policy
        self.lane = Lane(policy, tuple(member), order=order) if sign > 0 and _binary(member) else None
        # a maximized objective is a quality (score): its prior variance has the race's floor; costs, tokens and
        # latency vary little around their scale, and an exact tie there is weighed by the tie posterior below
        self.prior_var = prior_variance(self.member, policy, floor=sign > 0)
        self.diff_sum = 0.0
        self.diff_sq = 0.0
        self.seen = 0
        self.tied = True  # equal on every example so far

    def add(self, index: int, value: float) -> None:
        self.seen += 1
        difference = self.sign * value - self.member[index]
        self.diff_sum += difference
        self.diff_sq += difference * difference
        self.tied = self.tied and difference == 0.0
        if self.lane is not None:
            self.lane.record(index, value)

    def chance(self) -> float:
        """P(the candidate ends strictly better than the member on this objective)."""
        if self.lane is not None and self.lane.binary:
            return self.lane.chance()
        chance = _normal_chance(self.diff_sum, self.diff_sq, self.seen, self.n, self.prior_var)
        if self.tied:  # an exact tie so far: likely the same on every example (a copy, or a knob that does not matter)
            chance *= 1.0 - _tie_posterior(self.policy, self.seen)
        return chance


def _tie_posterior(policy: RacingPolicy, compared: int) -> float:
    """P(the values are the same on every example | equal on ``compared`` examples), as the copy prior says."""
    prior = policy.same_prior
    if prior == 0.0:
        return 0.0
    agree, disagree = (1.0 - policy.disagreement) * policy.strength, policy.disagreement * policy.strength
    likelihood = math.exp(_log_beta(agree + compared, disagree) - _log_beta(agree, disagree))
    return prior / (prior + (1.0 - prior) * likelihood)


class FrontLane:
    """One trial racing the front: feed it each example's values (per objective), it says when to stop."""

    def __init__(
        self, policy: RacingPolicy, front: Sequence[Values], signs: Sequence[int], *, order: Sequence[int]
    ) -> None:
        self.policy = policy
        self.order = tuple(order)
        self.signs = tuple(signs)
        self.n = len(self.order)
        self.members = [[_Pairing(member[j], signs[j], policy, order) for j in range(len(signs))] for member in front]
        # per member, its pairings with the cheap chances (normal, O(1)) before the exact 0/1 ones (O(examples))
        self._by_cost = [sorted(pairings, key=lambda p: p.lane is not None) for pairings in self.members]
        self._limiting = 0  # the member that bounded the outlook at the last check: looked at first
        self.sums = [0.0] * len(signs)
        self.seen = 0
        self.stopped = False
        self.probability = 1.0  # the bound on P(ends on the front) at the last check

    @property
    def racing(self) -> bool:
        """False when there is no front to race yet (the trial runs in full)."""
        return bool(self.members)

    def add(self, index: int, values: Sequence[float]) -> bool:
        """Record example ``index``'s value of each objective; True means: stop this trial."""
        if not self.members or self.stopped:
            return self.stopped
        self.seen += 1
        for j, value in enumerate(values):
            self.sums[j] += value
        for pairings in self.members:
            for pairing, value in zip(pairings, values, strict=True):
                pairing.add(index, value)
        if self.seen < self.policy.min_examples or self.seen >= self.n or self._on_front_so_far():
            return False
        if not self._due():
            return False
        self.probability = self._outlook(enough=2 * self.policy.delta)
        self.stopped = self.probability < self.policy.delta
        return self.stopped

    def _due(self) -> bool:
        dense = self.policy.dense_checks
        return self.seen <= dense or self.seen % max(1, self.n // dense) == 0

    def _on_front_so_far(self) -> bool:
        """On the examples seen (paired), the candidate is strictly better than each member somewhere.

        Never stopped then. A candidate equal to a member everywhere so far (a copy) is not: it can
        only join the front by being strictly better somewhere later, which the statistics weigh.
        """
        return all(any(p.diff_sum > 0 for p in pairings) for pairings in self.members)

    def _outlook(self, enough: float = math.inf) -> float:
        """An upper bound on P(the candidate ends on the front): exact when below ``enough``, else some value >= it.

        The race only needs the bound when it is small (stop under ``delta``; fewer examples in
        flight under twice that), so a member whose partial sum of chances already reaches the
        smallest bound so far (or ``enough``) cannot matter: its other, costlier chances are
        skipped. Same decisions as summing everything, at a fraction of the cost per example.
        """
        members = self._by_cost
        first = self._limiting
        bound = 1.0
        for offset in range(len(members)):
            at = (first + offset) % len(members)
            cutoff = min(bound, enough)
            total = 0.0
            for pairing in members[at]:
                total += pairing.chance()
                if total >= cutoff:
                    break
            if total < bound:
                bound, self._limiting = total, at
                if bound < self.policy.delta:  # stopped whatever the other members say
                    break
        return bound

    def in_flight(self, max_concurrency: int) -> int:
        """How many examples may be in flight: all while the odds are fair, fewer as they fall (as :class:`Lane`)."""
        if not self.members or self.probability >= 2 * self.policy.delta:
            return max_concurrency
        return max(1, math.ceil(max_concurrency * self.probability / (2 * self.policy.delta)))

    def estimate(self) -> list[float]:
        """The candidate's estimated mean of each objective over the whole dataset (what the sampler is told).

        Paired with each member (its mean plus the candidate's mean difference so far), averaged.
        """
        if self.seen == 0:
            return [0.0] * len(self.signs)
        if not self.members:
            return [total / self.seen for total in self.sums]
        estimates = []
        for j, sign in enumerate(self.signs):
            paired = [sign * (math.fsum(p[j].member) / self.n + p[j].diff_sum / self.seen) for p in self.members]
            estimates.append(math.fsum(paired) / len(paired))
        return estimates


__all__ = ["FrontLane", "FrontRace", "dominates"]
