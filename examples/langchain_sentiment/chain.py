"""The LangChain app as its author wrote it, and what stacktune is told about it.

The chain is ordinary LangChain: a prompt with two declared alternatives (zero-shot or
few-shot), a ChatOpenAI model pointed at any OpenAI-compatible server, a parser.
Nothing in it mentions stacktune.
"""

from __future__ import annotations

from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import ConfigurableField, Runnable
from langchain_openai import ChatOpenAI

INSTRUCTION = "Classify the sentiment of the review as positive or negative. Answer with one word."

#: Other instructions to try for the zero-shot prompt's system message.
INSTRUCTION_CANDIDATES = [
    "You are a sentiment classifier. Reply with exactly one word: positive or negative.",
    "Read the customer review. Is the customer happy? Say positive if happy, negative if unhappy.",
    "Sentiment analysis. Output only 'positive' or 'negative'.",
]


def build_chain(base_url: str, model: str = "smollm2", api_key: str = "local") -> Runnable[Any, str]:
    """prompt (zero-shot | few-shot, declared) | ChatOpenAI (undeclared knobs) | parser."""
    zero_shot = ChatPromptTemplate([("system", INSTRUCTION), ("human", "Review: {text}")])
    few_shot = ChatPromptTemplate(
        [
            ("system", INSTRUCTION),
            ("human", "Review: I use it every day and it works great."),
            ("ai", "positive"),
            ("human", "Review: It broke after one use."),
            ("ai", "negative"),
            ("human", "Review: {text}"),
        ]
    )
    prompt = zero_shot.configurable_alternatives(
        ConfigurableField(id="prompt_style", description="zero-shot or few-shot prompt"),
        default_key="zero_shot",
        few_shot=few_shot,
    )
    # ChatOpenAI sends max_tokens as `max_completion_tokens`; stacktune_llamacpp's server maps it to
    # the `max_tokens` llama.cpp reads (another llama.cpp server: extra_body={"max_tokens": 4}).
    llm = ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=api_key,  # type: ignore[arg-type]
        temperature=0.8,
        max_tokens=4,
        timeout=60,
        max_retries=1,
    )
    return prompt | llm | StrOutputParser()


def accuracy(example: dict[str, str], prediction: str) -> float:
    """1 when the answer names the right label and not the other one."""
    answer = prediction.lower()
    other = "negative" if example["label"] == "positive" else "positive"
    return 1.0 if example["label"] in answer and other not in answer else 0.0
