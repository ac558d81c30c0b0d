"""Instruction candidates that write themselves: a proposer LM, grounded on the data and the program.

Adapters say where instructions live (:class:`InstructionSite`, through
:class:`SupportsInstructionProposals`); a :class:`Proposer` asks an LM for new texts for each
site, grounded on a summary of a few training examples, the site's structure (its current
text, the inputs it sees, the outputs it must produce, its role in the pipeline) and a tip;
``Study.optimize(..., propose=Proposer(...))`` turns them into choices of each instruction knob
(:mod:`stacktune.study.study`), stores them in the study with what they cost
(:class:`Proposals`), and never asks again for that study.

The proposer LM is anything callable as ``lm(prompt) -> text`` (:class:`ProposerLM`) that
reports what each call cost with :func:`stacktune.record_usage`, as adapters do for their
calls: that is how the study's budget and records see the proposer's spend.
``stacktune_prompt.ChatProposerLM`` is one for an OpenAI-compatible endpoint or an in-process
model; :class:`stacktune.testing.ScriptedLM` a scripted fake.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, runtime_checkable

import optuna
from pydantic import BaseModel, ConfigDict, Field

from stacktune.protocol import Optimizable
from stacktune.usage import Usage, example_usage

if TYPE_CHECKING:
    import pluggy

logger = logging.getLogger("stacktune")

#: The study user attribute holding the proposals (:class:`Proposals`).
ATTR_PROPOSALS = "stacktune:proposals"

#: What the proposer LM is told to aim for, one tip per proposal in turn (as MIPROv2 varies its tips).
DEFAULT_TIPS: tuple[str, ...] = (
    "Keep it short and direct.",
    "Ask for careful step-by-step thinking before the final answer.",
    "Say exactly what form the answer must take, and nothing else.",
    "Describe the task clearly, as you would to a new colleague.",
    "Point out the mistakes the examples suggest are easy to make.",
    "Give the model a role suited to the task.",
)


class InstructionSite(BaseModel):
    """One instruction knob as its adapter describes it: what a proposer needs to write for it.

    ``name`` is the variable name of the knob in the adapter's space (created if the adapter
    had no variable for it); ``current`` the text the program has now (always kept as a
    choice); ``inputs`` / ``outputs`` the field names the step reads and writes; ``role`` the
    step's place in the pipeline, in words. A text that is a template lists the
    ``placeholders`` every candidate must keep; with ``template`` no other braces are allowed.
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    current: str
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    role: str = ""
    placeholders: tuple[str, ...] = ()
    template: bool = False


@runtime_checkable
class SupportsInstructionProposals(Protocol):
    """An Optimizable that says where its instructions live and takes candidates for them."""

    def instruction_sites(self) -> Sequence[InstructionSite]:
        """Every instruction knob of the program, its current text included."""
        ...

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> Optimizable:
        """A new Optimizable whose space offers these texts (by site name) next to the current one."""
        ...


@runtime_checkable
class ProposerLM(Protocol):
    """The LM that writes candidates: ``lm(prompt) -> text``; it reports its cost with ``record_usage``."""

    def __call__(self, prompt: str) -> str:
        """The LM's answer to one prompt."""
        ...


@runtime_checkable
class ProposesInstructions(Protocol):
    """What ``optimize(propose=...)`` takes: :class:`Proposer`, or a plugin's own."""

    def propose(self, site: InstructionSite, examples: Sequence[object]) -> Sequence[str]:
        """New candidate texts for one site (the current text need not be among them)."""
        ...


# -- grounding ------------------------------------------------------------------------------------------
def _fields_of(example: object) -> Mapping[str, Any] | None:
    to_dict = getattr(example, "toDict", None)  # dspy.Example
    if callable(to_dict):
        try:
            data = to_dict()
        except Exception:  # noqa: BLE001 - a summary is best effort
            data = None
        if isinstance(data, Mapping):
            return data
    return example if isinstance(example, Mapping) else None


def _short(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summarize_examples(examples: Sequence[object], *, limit: int = 200) -> str:
    """A few training examples as the proposer LM reads them: one block per example, fields by name."""
    blocks = []
    for number, example in enumerate(examples, 1):
        fields = _fields_of(example)
        if fields is None:
            blocks.append(f"Example {number}: {_short(str(example), limit)}")
            continue
        lines = [f"  {key}: {_short(str(value), limit)}" for key, value in fields.items()]
        blocks.append(f"Example {number}:\n" + "\n".join(lines))
    return "\n".join(blocks)


def proposal_prompt(site: InstructionSite, summary: str, tip: str, *, number: int = 1, of: int = 1) -> str:
    """The prompt asking for one candidate: the site's structure, the data's summary, a tip."""
    parts = ["You are improving the instruction of one step of an LLM program."]
    if site.role:
        parts.append(f"The step: {site.role}")
    if site.inputs:
        parts.append(f"Inputs it reads: {', '.join(site.inputs)}")
    if site.outputs:
        parts.append(f"Outputs it must produce: {', '.join(site.outputs)}")
    parts.append(f'Its current instruction:\n"""\n{site.current}\n"""')
    if summary:
        parts.append(f"Examples of the task's data:\n{summary}")
    parts.append(f"Tip: {tip}")
    rule = "Write one new, better instruction for this step"
    if site.placeholders:
        kept = ", ".join("{" + p + "}" for p in site.placeholders)
        rule += f"; it must contain {kept} exactly as written"
    if site.template:
        rule += "; use no other curly braces"
    parts.append(f"{rule}. Reply with the instruction only (proposal {number} of {of}).")
    return "\n\n".join(parts)


# -- cleaning -------------------------------------------------------------------------------------------
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n```$", re.DOTALL)
_LABEL = re.compile(r"^(?:new |improved |better |proposed )?instruction\s*(?:\d+\s*)?:\s*", re.IGNORECASE)
_QUOTES = ('"""', '"', "'", "“", "`")
_BRACES = re.compile(r"\{([^{}]*)\}")


def _normalized(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def clean_candidate(text: str, site: InstructionSite, *, max_chars: int = 2000) -> str | None:
    """The LM's answer as an instruction, or None when it is unusable for this site.

    Strips code fences, an "Instruction:" label and surrounding quotes; refuses empty texts,
    texts over ``max_chars``, texts that drop a placeholder of the site, and (for a template)
    texts with braces that are not its placeholders.
    """
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    text = _LABEL.sub("", text).strip()
    for quote in _QUOTES:
        closing = "”" if quote == "“" else quote
        if len(text) > 2 * len(quote) and text.startswith(quote) and text.endswith(closing):
            text = text[len(quote) : -len(closing)].strip()
    text = re.sub(r"\n{3,}", "\n\n", text)
    if not text or len(text) > max_chars:
        return None
    if any("{" + p + "}" not in text for p in site.placeholders):
        return None
    if site.template:
        used = set(_BRACES.findall(text))
        stray = text.count("{") != len(_BRACES.findall(text)) or text.count("}") != text.count("{")
        if stray or not used <= set(site.placeholders):
            return None
    return text


# -- the proposer ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proposer:
    """Writes ``n`` instruction candidates per site with an LM (one call per candidate, a tip each).

    Each call sees the site's structure, ``n_examples`` training examples (drawn with
    ``seed``) and the next tip of ``tips``. Answers are cleaned (:func:`clean_candidate`) and
    deduplicated (the current text never counts as new); up to ``max_calls`` calls per site
    (default ``2 * n``) are made to reach ``n``. A call that raises is logged and skipped: a
    failing proposer LM never stops a study.
    """

    lm: ProposerLM
    n: int = 8
    tips: Sequence[str] = DEFAULT_TIPS
    n_examples: int = 3
    max_calls: int | None = None
    seed: int = 0
    max_chars: int = 2000
    failures: list[str] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.lm):
            raise TypeError(f"Proposer(lm=...) must be callable as lm(prompt) -> text, got {self.lm!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"Proposer(n=...) must be a whole number >= 1, got {self.n!r}")
        if isinstance(self.tips, str) or not self.tips or not all(isinstance(t, str) and t for t in self.tips):
            raise ValueError(f"Proposer(tips=...) must be a non-empty list of texts, got {self.tips!r}")
        if self.n_examples < 0:
            raise ValueError(f"Proposer(n_examples=...) must be >= 0, got {self.n_examples!r}")
        if self.max_calls is not None and self.max_calls < 1:
            raise ValueError(f"Proposer(max_calls=...) must be >= 1 or None, got {self.max_calls!r}")

    def grounding(self, examples: Sequence[object]) -> list[object]:
        """The training examples the prompts show (the same ones for every site)."""
        if len(examples) <= self.n_examples:
            return list(examples)
        picked = sorted(random.Random(self.seed).sample(range(len(examples)), self.n_examples))
        return [examples[i] for i in picked]

    def propose(self, site: InstructionSite, examples: Sequence[object]) -> list[str]:
        """Up to ``n`` new, distinct, clean candidates for ``site``."""
        summary = summarize_examples(self.grounding(examples))
        seen = {_normalized(site.current)}
        found: list[str] = []
        budget = self.max_calls if self.max_calls is not None else 2 * self.n
        for call in range(budget):
            if len(found) >= self.n:
                break
            tip = self.tips[call % len(self.tips)]
            prompt = proposal_prompt(site, summary, tip, number=call + 1, of=self.n)
            try:
                answer = self.lm(prompt)
            except Exception as exc:  # noqa: BLE001 - a failing proposer call never kills a study
                self.failures.append(f"{site.name}: {type(exc).__name__}: {exc}")
                logger.warning("proposer call for %s failed: %s: %s", site.name, type(exc).__name__, exc)
                continue
            text = clean_candidate(str(answer), site, max_chars=self.max_chars)
            if text is None or _normalized(text) in seen:
                continue
            seen.add(_normalized(text))
            found.append(text)
        return found

    def describe(self) -> dict[str, Any]:
        """What is stored with the proposals: how they were asked for."""
        return {
            "proposer": type(self).__name__,
            "lm": _label(self.lm),
            "n": self.n,
            "tips": list(self.tips),
            "n_examples": self.n_examples,
            "seed": self.seed,
        }


def _label(lm: object) -> str:
    for attribute in ("name", "model"):
        value = getattr(lm, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(lm).__name__


# -- what a study stores --------------------------------------------------------------------------------
class SiteProposals(BaseModel):
    """The candidates of one site: its text when proposed, then the new ones in order."""

    model_config = ConfigDict(frozen=True)

    current: str
    candidates: tuple[str, ...] = ()


_Stored = TypeVar("_Stored", bound="_StoredInStudy")


class _StoredInStudy(BaseModel):
    """A record a study keeps once in a user attribute (``attr``): its choices may never change."""

    attr: ClassVar[str]

    @classmethod
    def stored_in(cls: type[_Stored], optuna_study: optuna.Study) -> _Stored | None:
        """The record the study holds, or None."""
        raw = optuna_study.user_attrs.get(cls.attr)
        return cls.model_validate(raw) if raw is not None else None

    def store(self, optuna_study: optuna.Study) -> None:
        """Write it into the study (once: a study's choices may never change)."""
        optuna_study.set_user_attr(self.attr, self.model_dump(mode="json"))


class Proposals(_StoredInStudy):
    """A study's proposals: candidates by site name, what proposing cost, and how it was asked.

    Stored once in the study (user attribute :data:`ATTR_PROPOSALS`): every worker and every
    later ``optimize`` reads the same choices, and no proposer is called again.
    """

    attr: ClassVar[str] = ATTR_PROPOSALS
    model_config = ConfigDict(frozen=True)

    sites: dict[str, SiteProposals] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    proposer: dict[str, Any] = Field(default_factory=dict)
    failures: tuple[str, ...] = ()

    @property
    def candidates(self) -> dict[str, list[str]]:
        """``{site name: new candidate texts}``: what the adapter's ``with_instruction_candidates`` takes."""
        return {name: list(site.candidates) for name, site in self.sites.items() if site.candidates}


def instruction_sites(program: Optimizable) -> list[InstructionSite]:
    """The adapter's instruction sites; a clear error for an adapter that cannot take proposals."""
    if not isinstance(program, SupportsInstructionProposals):
        raise TypeError(
            f"optimize(propose=...) needs an adapter that describes its instructions; {type(program).__name__} "
            f"has no instruction_sites()/with_instruction_candidates() (stacktune.SupportsInstructionProposals)"
        )
    sites = list(program.instruction_sites())
    names = [site.name for site in sites]
    if len(set(names)) != len(names):
        raise ValueError(f"{type(program).__name__} described instruction sites with repeated names: {names}")
    return sites


def propose_all(
    sites: Sequence[InstructionSite],
    examples: Sequence[object],
    proposer: ProposesInstructions,
    *,
    plugin_manager: pluggy.PluginManager | None = None,
    stop: Any = None,
) -> Proposals:
    """Ask ``proposer`` (and every plugin's ``stacktune_propose`` hook) for each site's candidates.

    What the calls cost is what they reported with ``record_usage`` (they run in one usage
    scope, and every active meter, such as a study's budget, sees each call). ``stop()``,
    checked before each site, returns a reason to propose no more (a spent budget).
    """
    found: dict[str, SiteProposals] = {}
    failures: list[str] = getattr(proposer, "failures", [])
    already = len(failures)
    offered_failures: list[str] = []
    with example_usage() as spent:
        for site in sites:
            if stop is not None and stop():
                logger.info("proposals stopped before %s: %s", site.name, stop())
                found[site.name] = SiteProposals(current=site.current)
                continue
            texts = list(proposer.propose(site, examples))
            if plugin_manager is not None:
                texts += _offered(plugin_manager, site, examples, getattr(proposer, "n", 8), offered_failures)
            found[site.name] = SiteProposals(current=site.current, candidates=_unique(texts, site))
    describe = getattr(proposer, "describe", None)
    return Proposals(
        sites=found,
        usage=spent.total.without_latencies(),
        proposer=describe() if callable(describe) else {"proposer": type(proposer).__name__},
        failures=(*failures[already:], *offered_failures),
    )


def _offered(
    manager: pluggy.PluginManager, site: InstructionSite, examples: Sequence[object], n: int, failures: list[str]
) -> list[str]:
    """Every plugin's candidates for one site; a plugin that raises is logged and skipped."""
    try:
        offered = manager.hook.stacktune_propose(site=site, examples=examples, n=n)
    except Exception as exc:  # noqa: BLE001 - a failing proposer never kills a study
        failures.append(f"{site.name}: plugin: {type(exc).__name__}: {exc}")
        logger.warning("a stacktune_propose plugin failed for %s: %s: %s", site.name, type(exc).__name__, exc)
        return []
    return [text for group in offered for text in (group or ())]


def _unique(texts: Sequence[str], site: InstructionSite) -> tuple[str, ...]:
    seen = {_normalized(site.current)}
    kept = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            continue
        key = _normalized(text)
        if key not in seen:
            seen.add(key)
            kept.append(text.strip())
    return tuple(kept)


# -- bootstrapped demos ---------------------------------------------------------------------------------
#: The study user attribute holding the bootstrapped demos (:class:`BootstrappedDemos`).
ATTR_BOOTSTRAP = "stacktune:bootstrap"


@runtime_checkable
class SupportsBootstrappedDemos(Protocol):
    """An Optimizable that takes demos made from examples its program got right."""

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> Optimizable:
        """A new Optimizable whose demo knobs offer these demos (at most ``max_demos`` shown at once)."""
        ...


@runtime_checkable
class TracesDemos(Protocol):
    """An adapter whose demos are what its steps saw and said on an example (a trace), not the example itself.

    DSPy's predictors each see their own inputs (a later step sees an earlier one's output),
    and a chain's model step sees a rendered prompt: a demo is only right for the step that
    made it. The bootstrap calls :meth:`evaluate_with_traces` instead of ``evaluate``, keeps
    the traces of the examples that passed, stores them in the study (so they must be
    JSON-able) and hands them to ``with_bootstrapped_demos`` instead of dataset examples.
    """

    def evaluate_with_traces(self, dataset: Sequence[object], metric: Any) -> tuple[Any, list[Any]]:
        """``evaluate(dataset, metric)`` and, per example, its JSON-able trace (None when the run made none)."""
        ...


@dataclass(frozen=True)
class Bootstrap:
    """Run the program as it is on up to ``max_examples`` training examples (a ``seed``-ed sample) before the search.

    The examples whose run scores at least ``threshold`` (what the program can already
    reproduce) become demos the search may show, up to ``max_demos`` at once. What the runs
    cost counts toward the budget, like any trial's calls.
    """

    max_examples: int = 16
    threshold: float = 1.0
    max_demos: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_examples", "max_demos"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Bootstrap({name}=...) must be a whole number >= 1, got {value!r}")

    def pick(self, n: int) -> list[int]:
        """The dataset indices to run (sorted)."""
        if n <= self.max_examples:
            return list(range(n))
        return sorted(random.Random(self.seed).sample(range(n), self.max_examples))


class BootstrappedDemos(_StoredInStudy):
    """What a study stores of its bootstrap: the dataset indices tried and passed, and what running them cost."""

    attr: ClassVar[str] = ATTR_BOOTSTRAP
    model_config = ConfigDict(frozen=True)

    tried: tuple[int, ...] = ()
    passed: tuple[int, ...] = ()
    max_demos: int = 4
    usage: Usage = Field(default_factory=Usage)
    #: The passed examples themselves when JSON holds them (so a result applies without the dataset), else None;
    #: their traces when ``traced`` (:class:`TracesDemos`).
    examples: list[Any] | None = None
    #: True when ``examples`` are traces the adapter recorded (always stored), not dataset examples.
    traced: bool = False


__all__ = [
    "ATTR_BOOTSTRAP",
    "ATTR_PROPOSALS",
    "Bootstrap",
    "BootstrappedDemos",
    "SupportsBootstrappedDemos",
    "DEFAULT_TIPS",
    "InstructionSite",
    "Proposals",
    "Proposer",
    "ProposerLM",
    "ProposesInstructions",
    "SiteProposals",
    "SupportsInstructionProposals",
    "TracesDemos",
    "clean_candidate",
    "instruction_sites",
    "propose_all",
    "proposal_prompt",
    "summarize_examples",
]
