"""The langchain_sentiment task: ``stacktune optimize langchain_sentiment`` tunes the chain of chain.py.

The chain's ChatOpenAI talks to SmolLM2-135M through a local OpenAI-compatible server
started for the run, or to ``--option base_url=http://127.0.0.1:PORT/v1``. It tunes on the
dev split of data.py. LangChain is imported only when the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stacktune import Task, TaskSetup
from stacktune_examples._shared import check_options, server_url

if TYPE_CHECKING:
    from stacktune_langchain import LangChainAdapter

#: The zero-shot prompt's system message, as stacktune names it (path in the chain + role).
INSTRUCTION_KNOB = "step0.prompt_style==zero_shot.prompt.system"
#: The chat model's answer length (ChatOpenAI's max_tokens, honoured by stacktune_llamacpp's server).
MAX_TOKENS_KNOB = "step1.model.max_tokens"

OPTIONS = {"base_url": "an OpenAI-compatible server serving smollm2 (default: start one)"}


def make_optimizable(base_url: str) -> LangChainAdapter:
    """The chain as its author wrote it, with the instruction candidates and the knobs left alone."""
    from stacktune_examples.langchain_sentiment.chain import INSTRUCTION_CANDIDATES, build_chain
    from stacktune_langchain import LangChainAdapter

    return LangChainAdapter(
        build_chain(base_url),
        prompts={INSTRUCTION_KNOB: INSTRUCTION_CANDIDATES},
        # one-word answers: a few tokens are enough; the example texts stay fixed
        bounds={MAX_TOKENS_KNOB: (2, 8)},
        exclude=["*.human*", "*.ai*"],
    )


def build(base_url: str | None = None, **unknown: Any) -> TaskSetup:
    check_options("langchain_sentiment", unknown, OPTIONS)
    from stacktune_examples.langchain_sentiment.chain import accuracy
    from stacktune_examples.langchain_sentiment.data import split

    _, dev = split()
    return TaskSetup(target=make_optimizable(server_url(base_url)), dataset=dev, metric=accuracy)


task = Task(
    name="langchain_sentiment",
    description="positive/negative reviews, a LangChain chain (the stacktune-langchain example)",
    build=build,
    objectives=("score", "tokens"),
    options=OPTIONS,
)
