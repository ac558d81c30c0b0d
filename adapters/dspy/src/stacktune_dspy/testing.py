"""A deterministic offline LM for tests: a DSPy engine that answers in the format the prompt asks for.

``scripted_lm(respond)`` is a real ``dspy.LM`` (DSPy's whole call path runs: adapters,
history, usage) whose engine reads the output fields and the adapter format (chat,
JSON or XML) from the prompt, asks ``respond(prompt, fields)`` for the values and
formats them. ``respond`` may return a raw string (to simulate malformed output) or
raise (to simulate an LM error). Token counts are the number of words, so tests can
assert on usage.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dspy
from dspy.adapters.chat_adapter import FieldInfoWithName
from dspy.lm15 import Message, Request, Response, TextPart, Usage, response_to_events
from dspy.signatures.field import OutputField

Respond = Callable[[str, Sequence[str]], "Mapping[str, Any] | str"]

_OUTPUT_FIELDS = re.compile(r"Your output fields are:\n(.*?)(?:\nAll interactions|\Z)", re.S)
_FIELD_NAME = re.compile(r"^\d+\. `(\w+)`", re.M)


@dataclass(frozen=True)
class ScriptedCall:
    """What the engine saw: the full prompt, the last user message, the format and the call settings."""

    system: str
    prompt: str
    format: str
    fields: tuple[str, ...]
    temperature: float | None
    max_tokens: int | None
    top_p: float | None


def _default_respond(prompt: str, fields: Sequence[str]) -> Mapping[str, Any]:
    return {
        name: f"{name} for: {prompt.splitlines()[1] if len(prompt.splitlines()) > 1 else prompt}" for name in fields
    }


def _format(values: Mapping[str, Any], style: str) -> str:
    fields = {FieldInfoWithName(name=name, info=OutputField()): value for name, value in values.items()}
    if style == "json":
        return str(dspy.JSONAdapter().format_field_with_value(fields, role="assistant"))
    if style == "xml":
        return str(dspy.XMLAdapter().format_field_with_value(fields))
    return str(dspy.ChatAdapter().format_field_with_value(fields)) + "\n\n[[ ## completed ## ]]"


class ScriptedEngine:
    """A DSPy engine (``complete(Request) -> Response``) with scripted, deterministic answers."""

    def __init__(self, respond: Respond | None = None) -> None:
        self.respond = respond or _default_respond
        self.calls: list[ScriptedCall] = []
        self._lock = threading.Lock()

    def complete(self, request: Request) -> Response:
        """Answer with ``respond`` in the format DSPy asked for (chat, JSON or XML), logging the call in ``calls``."""
        system = (
            request.system
            if isinstance(request.system, str)
            else "".join(getattr(part, "text", "") for part in (request.system or ()))
        )
        prompt = request.messages[-1].text or ""
        match = _OUTPUT_FIELDS.search(system)
        fields = tuple(_FIELD_NAME.findall(match.group(1))) if match else ()
        style = (
            "json" if "Respond with a JSON object" in prompt else "xml" if "wrapped in XML tags" in prompt else "chat"
        )
        config = request.config
        with self._lock:
            self.calls.append(
                ScriptedCall(system, prompt, style, fields, config.temperature, config.max_tokens, config.top_p)
            )
        answer = self.respond(prompt, fields)
        text = answer if isinstance(answer, str) else _format(answer, style)
        words_in = len(system.split()) + sum(len((m.text or "").split()) for m in request.messages)
        words_out = len(text.split())
        return Response(
            id=None,
            model="scripted",
            message=Message.assistant([TextPart(text)]),
            finish_reason="stop",
            usage=Usage(input_tokens=words_in, output_tokens=words_out, total_tokens=words_in + words_out),
        )

    def stream(self, request: Request) -> Iterator[Any]:
        """The scripted answer as stream events, for DSPy's streaming path."""
        return iter(response_to_events(self.complete(request)))

    def close(self) -> None:
        """Nothing to release: the engine holds no connection."""
        pass

    def __deepcopy__(self, memo: dict[int, Any]) -> ScriptedEngine:
        return self  # engines are borrowed by the LMs that use them: copies of a program share it

    def dump_state(self) -> dict[str, Any]:
        """Lets DSPy save a program using this engine; ``respond`` is code, so it is not saved."""
        return {}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> ScriptedEngine:
        """An engine with the default responder (pass ``allow_unsafe_lm_state=True`` to DSPy's load)."""
        return cls()


def scripted_lm(
    respond: Respond | None = None,
    *,
    model: str = "scripted/model",
    engine: ScriptedEngine | None = None,
    **kwargs: Any,
) -> dspy.LM:
    """A ``dspy.LM`` on a :class:`ScriptedEngine` (no cache, no retries: every call reaches the engine)."""
    kwargs.setdefault("cache", False)
    kwargs.setdefault("num_retries", 0)
    return dspy.LM(model, engine=engine or ScriptedEngine(respond), **kwargs)


__all__ = ["Respond", "ScriptedCall", "ScriptedEngine", "scripted_lm"]
