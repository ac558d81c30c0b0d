"""The cross_framework task: ``stacktune optimize cross_framework`` tunes the same task written three ways.

One study over ``{"dspy": ..., "langchain": ..., "prompt": ...}`` (programs.py): its space is the
choice of program and each program's knobs under its choice; one dataset of plain mappings, one
metric, one Pareto front (score against tokens) across the three; the front is then checked on
held-out questions. The programs talk to SmolLM2-135M through a local server started for the run,
or to ``--option base_url=http://127.0.0.1:PORT/v1``; ``--option offline=true`` uses the fake
server of fake.py instead (the whole study in seconds, no model).
"""

from __future__ import annotations

from typing import Any

from stacktune import Task, TaskSetup
from stacktune_examples._shared import check_options, flag, server_url

OPTIONS = {
    "base_url": "an OpenAI-compatible server serving smollm2 (default: start one)",
    "offline": "true for a fake OpenAI-compatible server that knows capitals instead of a model",
}

#: The chain's system text, as stacktune names it (path in the chain + role).
SYSTEM_KNOB = "step0.prompt.system"

_fakes: list[Any] = []  # fake servers started for a task run until the process exits


def alternatives(base_url: str) -> dict[str, Any]:
    """The three programs as alternatives, each with the knobs its adapter may search."""
    from stacktune_dspy import DSPyAdapter
    from stacktune_examples.cross_framework.programs import (
        INSTRUCTION_CANDIDATES,
        dspy_lm,
        dspy_program,
        langchain_chain,
        plain_prompt,
    )
    from stacktune_langchain import LangChainAdapter

    return {
        "dspy": DSPyAdapter(
            dspy_program(),
            lm=dspy_lm(base_url),
            instructions={"*": INSTRUCTION_CANDIDATES},
            adapters=("chat", "json"),
            max_tokens=(16, 160),
            top_p=None,
        ),
        "langchain": LangChainAdapter(
            langchain_chain(base_url),
            prompts={SYSTEM_KNOB: INSTRUCTION_CANDIDATES},
            exclude=["*.max_tokens", "*.human", "*.top_p"],
        ),
        "prompt": plain_prompt(base_url),
    }


def build(base_url: str | None = None, offline: str | None = None, **unknown: Any) -> TaskSetup:
    check_options("cross_framework", unknown, OPTIONS)
    from stacktune_examples.cross_framework.programs import DEV, HOLDOUT, examples, names_the_city

    if flag("offline", offline):
        from stacktune_examples.cross_framework import fake

        server, base_url = fake.start()
        _fakes.append(server)
    return TaskSetup(
        target=alternatives(server_url(base_url)),
        dataset=examples(DEV),
        metric=names_the_city,
        holdout=examples(HOLDOUT),
    )


task = Task(
    name="cross_framework",
    description="capital-city QA written three ways (DSPy, LangChain, a Prompt), tuned together in one study",
    build=build,
    objectives=("score", "tokens"),
    options=OPTIONS,
)
