"""The Optimizable for a :class:`~stacktune_prompt.Prompt`: its knobs, applying them, evaluating.

This is the reference adapter: the three protocol methods, each a few lines, with the
hard parts (concurrency, failures, on_result, budgets) left to
:func:`stacktune.evaluate_examples`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from stacktune import (
    SAMPLING_KNOBS,
    Categorical,
    Evaluation,
    InstructionSite,
    InvalidConfiguration,
    Metric,
    ModelCall,
    ResultCallback,
    Space,
    Variable,
    evaluate_examples,
    knob_variable,
)
from stacktune.knobs import demo_variables
from stacktune_prompt._prompt import Prompt, template_fields

#: The name of the Prompt's one instruction site (its system text), as in its space.
INSTRUCTIONS = "instructions"


class PromptAdapter:
    """Tunes a Prompt: instructions, demos, sampling, model and parser.

    **How demos are searched.** ``n_demos`` (Int 0..pool size, or ``max_demos``) says
    how many demos are shown; ``demo_order`` (a Categorical, active when ``n_demos >= 1``)
    says which ones and in what order: the first ``n_demos`` of one of a few fixed
    orderings of the pool (the pool's own order, then seeded shuffles). That keeps the
    search two-dimensional, however large the pool, while still trying different demos
    and orders; nested prefixes mean TPE learns "how many" independently of "which".
    Per-demo inclusion flags would add one variable per demo (far too many for a few
    dozen trials) and ignore order; a Categorical of all subsets would explode. The
    ordering keys carry a hash of the pool, so a stored study refuses a changed pool.
    """

    def __init__(self, prompt: Prompt) -> None:
        if not isinstance(prompt, Prompt):
            raise TypeError(f"PromptAdapter wraps a stacktune_prompt.Prompt, got {type(prompt).__name__}")
        self.prompt = prompt

    def __repr__(self) -> str:
        return f"PromptAdapter({self.prompt!r})"

    def extract_variables(self) -> Space:
        """Every knob of the Prompt, each with its current value as default."""
        p = self.prompt
        variables: list[Variable] = []
        if len(p.instruction_candidates) > 1:
            variables.append(
                Categorical.with_current(
                    "instructions", p.instruction_candidates, p.instructions, description="the system text"
                )
            )
        if p.demo_limit > 0:  # the core catalogue's demo knobs, as every adapter with a demo pool has them
            variables += demo_variables(
                "",
                limit=p.demo_limit,
                pool_size=len(p.demos),
                digest=p.pool_digest,
                n_demos=p.n_demos,
                order=p.demo_order,
                orders=p.demo_orders,
            )
        for knob in ("temperature", "top_p", "max_tokens"):
            bounds = getattr(p.ranges, knob)
            if bounds is not None:  # the catalogue's rules; the user's grid for the knobs that have one
                spec = SAMPLING_KNOBS[knob]
                spec = spec.model_copy(update={"step": p.ranges.step}) if spec.step is not None else spec
                variables.append(knob_variable(knob, spec, getattr(p, knob), bounds=bounds))
        if len(p.models) > 1:
            variables.append(Categorical("model", list(p.models), default=p.model))
        if len(p.parsers) > 1:
            variables.append(Categorical("parser", list(p.parsers), default=p.parser))
        return Space(variables)

    def apply_configuration(self, configuration: Mapping[str, object]) -> PromptAdapter:
        """A new adapter around a new Prompt; the original Prompt is frozen and stays as it is."""
        space = self.extract_variables()
        # keys become their choice (a text, an ordering, a model or parser name), numbers their kind
        changes: dict[str, Any] = space.resolve(space.validate_configuration(configuration))
        return PromptAdapter(dataclasses.replace(self.prompt, **changes))

    def instruction_sites(self) -> list[InstructionSite]:
        """The system text: the one instruction of a single-call program, with the fields it sees and answers."""
        p = self.prompt
        fmt = p.output_format
        answer = fmt.answer if fmt.answer is not None else p.answer
        role = f"the system text of a single-call prompt program; its user message is {p.template!r}"
        if fmt.instructions:
            role += f"; the system text is followed by the output instructions {fmt.instructions!r}"
        return [
            InstructionSite(
                name=INSTRUCTIONS,
                current=p.instructions,
                inputs=p.template_fields,
                outputs=template_fields(answer, "answer template"),
                role=role,
            )
        ]

    def with_instruction_candidates(self, candidates: Mapping[str, Sequence[str]]) -> PromptAdapter:
        """A new adapter whose ``instructions`` knob also offers these texts (the current text stays a choice)."""
        for name, texts in candidates.items():
            if name != INSTRUCTIONS:
                raise InvalidConfiguration(name, texts, f"candidates for {INSTRUCTIONS!r}", reason="unknown site")
            for index, text in enumerate(texts):
                if not isinstance(text, str) or not text.strip():
                    raise InvalidConfiguration(name, text, "non-empty texts", reason=f"candidate #{index} is no text")
        added = list(candidates.get(INSTRUCTIONS, ()))
        p = self.prompt
        return PromptAdapter(dataclasses.replace(p, instruction_candidates=(*p.instruction_candidates, *added)))

    def with_bootstrapped_demos(self, demos: Sequence[object], max_demos: int) -> PromptAdapter:
        """A new adapter whose demo pool also holds these examples (ones the Prompt answered right).

        They join the pool after the Prompt's own demos (repeats left out); the search shows up
        to ``max_demos`` of them (``n_demos``, ``demo_order``); the Prompt as it is shows as many as before.
        """
        p = self.prompt
        pool = list(p.demos)
        for index, demo in enumerate(demos):
            if not isinstance(demo, Mapping):
                raise InvalidConfiguration("demos", demo, "examples that are mappings", reason=f"demo #{index}")
            if dict(demo) not in [dict(d) for d in pool]:
                pool.append(demo)
        limit = max(p.demo_limit, min(max_demos, len(pool)))
        return PromptAdapter(dataclasses.replace(p, demos=tuple(pool), max_demos=limit))

    def evaluate(
        self,
        dataset: Sequence[object],
        metric: Metric,
        *,
        on_result: ResultCallback | None = None,
        max_concurrency: int = 1,
    ) -> Evaluation:
        """One call per example (or a cache hit); a failing example scores 0 and is counted."""
        prompt = self.prompt

        def run_example(example: object) -> Any:
            return prompt.reply(example).prediction

        return evaluate_examples(dataset, run_example, metric, on_result=on_result, max_concurrency=max_concurrency)

    # -- plain-mapping examples (stacktune.alternatives) ---------------------------
    def to_input(self, example: Mapping[str, Any]) -> dict[str, Any]:
        """A Prompt takes the mapping itself (its template's fields); a copy, so each example has its own."""
        if not isinstance(example, Mapping):
            raise TypeError(f"a Prompt's example is a mapping of its template's fields, got {type(example).__name__}")
        return dict(example)

    def from_output(self, prediction: object) -> object:
        """A Prompt's prediction is already plain: what its parser made of the answer."""
        return prediction

    def check_input(self, example: object) -> None:
        """Raise KeyError naming the first template field the example lacks (nothing is called)."""
        if not isinstance(example, Mapping):
            raise TypeError(f"a Prompt's example is a mapping of its template's fields, got {type(example).__name__}")
        missing = [name for name in self.prompt.template_fields if name not in example]
        if missing:
            raise KeyError(missing[0])

    def model_calls(self, example: object, native: object | None = None) -> list[ModelCall]:
        """The one call a Prompt makes for an example (through the response cache), or ``native``'s."""
        prompt = self.prompt if native is None else native
        if not isinstance(prompt, Prompt):
            raise TypeError(f"a Prompt exports a Prompt, got {type(prompt).__name__}")
        request = prompt.request(example)
        reply = prompt.reply(example)
        parameters = {key: value for key, value in request.items() if key != "messages"}
        parameters["model"] = prompt.model
        parameters["parser"] = prompt.parser
        messages = tuple((m["role"], m["content"]) for m in request["messages"])
        return [ModelCall(messages, parameters, reply.text)]

    def to_native(self) -> Prompt:
        """The configured Prompt, ready to use in the application."""
        return self.prompt


__all__ = ["PromptAdapter"]
