"""The same small task written three ways: a DSPy module, a LangChain chain and a plain Prompt.

Each is what its framework's user would write, pointed at one OpenAI-compatible server
(SmolLM2-135M through llama.cpp on 127.0.0.1, or the offline fake of fake.py). None of
them knows stacktune; the data is plain mappings ``{"question": ..., "answer": ...}``, which
is what ``stacktune.alternatives`` hands each framework in its own form.
"""

from __future__ import annotations

from typing import Any

from stacktune_examples.capitals import DEV as DEV
from stacktune_examples.capitals import INSTRUCTION_CANDIDATES as INSTRUCTION_CANDIDATES
from stacktune_examples.capitals import MORE

#: Never seen by the search: the held-out check of what it chose (``study.verify``).
HOLDOUT = MORE

INSTRUCTION = "Answer the question with the name of a city."


def examples(pairs: dict[str, str]) -> list[dict[str, str]]:
    """Plain mappings, the one dataset every alternative reads."""
    return [{"question": f"What is the capital of {country}?", "answer": city} for country, city in pairs.items()]


def names_the_city(example: dict[str, str], answer: object) -> float:
    """1 when the answer mentions the right city (the model is tiny: be lenient on form)."""
    return 1.0 if example["answer"].lower() in str(answer).lower() else 0.0


def dspy_program() -> Any:
    """A DSPy module: one Predict, the instruction in its signature."""
    import dspy

    class CapitalQA(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.answer = dspy.Predict(dspy.Signature("question -> answer", INSTRUCTION))

        def forward(self, question: str) -> dspy.Prediction:
            return self.answer(question=question)

    return CapitalQA()


def dspy_lm(base_url: str) -> Any:
    """The DSPy LM on the server (no cache, so every trial really asks)."""
    import dspy

    return dspy.LM("openai/smollm2", api_base=base_url, api_key="local", temperature=0.7, cache=False, num_retries=0)


def langchain_chain(base_url: str) -> Any:
    """prompt | ChatOpenAI | parser, as a LangChain user writes it."""
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=base_url,
        model="smollm2",
        api_key="local",  # type: ignore[arg-type]
        temperature=0.7,
        extra_body={"max_tokens": 16},  # llama.cpp's server ignores max_completion_tokens
        timeout=60,
        max_retries=1,
    )
    return ChatPromptTemplate([("system", INSTRUCTION), ("human", "{question}")]) | llm | StrOutputParser()


def plain_prompt(base_url: str) -> Any:
    """A stacktune_prompt.Prompt: instructions, a template, an endpoint."""
    from stacktune_prompt import Endpoint, Prompt, SearchRanges

    return Prompt(
        instructions=INSTRUCTION,
        instruction_candidates=INSTRUCTION_CANDIDATES,
        template="{question}",
        model=Endpoint(base_url=base_url, model="smollm2"),
        temperature=0.7,
        max_tokens=16,
        ranges=SearchRanges(max_tokens=None),
        cache=False,
    )
