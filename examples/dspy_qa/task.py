"""The dspy_qa task: ``stacktune optimize dspy_qa`` tunes :class:`CapitalQA` (program.py) as written.

The program talks to SmolLM2-135M through a local OpenAI-compatible server started for
the run, or to ``--option base_url=http://127.0.0.1:PORT/v1`` (a server serving
``smollm2``); ``--option offline=true`` uses a scripted LM instead (the wiring in seconds).
DSPy is imported only when the task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stacktune import Task, TaskSetup
from stacktune_examples._shared import check_options, flag, server_url

if TYPE_CHECKING:
    from stacktune_dspy import DSPyAdapter, LMSpec

OPTIONS = {
    "base_url": "an OpenAI-compatible server serving smollm2 (default: start one)",
    "offline": "true for a scripted LM instead of a model",
}


def lm_choices(base_url: str | None, offline: bool) -> dict[str, LMSpec]:
    """The LMs to choose from, as specs. With one local model: greedy or sampled decoding."""
    from stacktune_dspy import LMSpec
    from stacktune_examples.dspy_qa.program import DEV, TRAIN

    endpoint_kwargs: dict[str, Any]
    if offline:
        from stacktune_dspy.testing import ScriptedEngine

        def respond(prompt: str, fields: Sequence[str]) -> dict[str, str]:
            city = next((c for country, c in {**DEV, **TRAIN}.items() if country in prompt), "unknown")
            return {name: (city if name == "answer" else "It is well known.") for name in fields}

        model, endpoint_kwargs = "scripted/capitals", {"engine": ScriptedEngine(respond)}
    else:
        model, endpoint_kwargs = "openai/smollm2", {"api_base": base_url, "api_key": "local"}
    common = {**endpoint_kwargs, "cache": False, "num_retries": 0}
    return {
        name: LMSpec(model, {**common, "temperature": temperature}, name=name)
        for name, temperature in (("greedy", 0.0), ("sampled", 0.7))
    }


def make_optimizable(lms: dict[str, LMSpec]) -> DSPyAdapter:
    """CapitalQA as written, with the knobs stacktune may search on it."""
    from stacktune_dspy import DSPyAdapter
    from stacktune_examples.dspy_qa.program import INSTRUCTION_CANDIDATES, TRAIN, CapitalQA, examples

    return DSPyAdapter(
        CapitalQA(),
        lm=lms["greedy"],
        lms=lms,
        trainset=examples(TRAIN),
        max_demos=3,
        instructions={"*": INSTRUCTION_CANDIDATES},
        max_tokens=(16, 160),
    )


def build(base_url: str | None = None, offline: str | None = None, **unknown: Any) -> TaskSetup:
    check_options("dspy_qa", unknown, OPTIONS)
    scripted = flag("offline", offline)
    from stacktune_examples.dspy_qa.program import DEV, examples, names_the_city

    lms = lm_choices(None if scripted else server_url(base_url), scripted)
    return TaskSetup(target=make_optimizable(lms), dataset=examples(DEV), metric=names_the_city)


task = Task(
    name="dspy_qa",
    description="capital-city QA, a DSPy ChainOfThought (the stacktune-dspy example)",
    build=build,
    objectives=("score", "tokens"),
    options=OPTIONS,
)
