"""Secrets stay secret: API keys never reach a study's storage, its logs, its reports or the terminal.

Two rules, applied by :func:`redact` to every text and mapping stacktune stores or prints:

- **Known values.** Adapters call :func:`register_secret` with every secret they see (an
  ``api_key``, a header or keyword argument whose name says it is one); any occurrence of a
  registered value, wherever it appears (an error body that echoes the key, a repr), becomes
  ``***``.
- **Secret-looking fields.** A field whose name has the word key, token, secret,
  authorization, password or credential in it (``api_key``, ``X-Api-Key``,
  ``access_token``; not ``max_tokens`` or ``keys``) has its text value replaced, in a mapping
  and in ``name=value`` / ``"name": "value"`` text (there a bare ``key`` or ``token`` is too
  common to count: ``api_key=`` is masked, ``key=`` is not); ``Bearer <token>`` loses its token.

The registry is per process (worker processes register what their own adapters see).
The ``stacktune`` logger carries a :class:`RedactingFilter`, so what stacktune logs is
redacted before any handler formats it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

#: What a secret is replaced with.
MASK = "***"
#: Shorter values are not registered: replacing every "abc" in a study would garble it, not protect it.
MIN_SECRET_LENGTH = 6
#: The words that make a field name secret-looking (whole words of the name, any case).
SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "authorization", "password", "passwd", "credential"})

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None

# name = value, name: value, "name": "value" (the value quoted or up to a separator)
_FIELD = re.compile(r"""(?P<name>[A-Za-z_][\w-]*)(?P<sep>["']?\s*[:=]\s*)(?P<value>"[^"]*"|'[^']*'|[^\s,;&)}\]"']+)""")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")

_T = TypeVar("_T")


def is_secret_name(name: object) -> bool:
    """True when a field name says it holds a secret (``api_key``, ``X-Api-Key``, ``accessToken``)."""
    if not isinstance(name, str):
        return False
    return any(word.lower() in SECRET_WORDS for word in _WORD.findall(name))


def _is_secret_name_in_text(name: str) -> bool:
    """In free text, a bare ``key=`` or ``token:`` is too common to mean a secret: ask for a fuller name."""
    words = [word.lower() for word in _WORD.findall(name)]
    return any(w in SECRET_WORDS - {"key", "token"} for w in words) or (len(words) > 1 and is_secret_name(name))


def register_secret(value: object) -> None:
    """Remember a secret so that :func:`redact` masks it wherever it appears, in this process.

    Values that are not strings, and strings shorter than :data:`MIN_SECRET_LENGTH`, are ignored
    (a header like ``Bearer`` prefix is registered without it too).
    """
    global _pattern
    if not isinstance(value, str):
        return
    values = {value.strip()}
    scheme, _, rest = value.strip().partition(" ")
    if rest and scheme.lower() in {"bearer", "basic", "token"}:
        values.add(rest.strip())
    fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - _secrets
    if not fresh:
        return
    with _lock:
        _secrets.update(fresh)
        ordered = sorted(_secrets, key=len, reverse=True)  # the longest first: a key inside another is masked whole
        _pattern = re.compile("|".join(map(re.escape, ordered)))


def register_secrets_in(fields: Mapping[str, Any] | None) -> None:
    """Register the values of a mapping's secret-looking fields (an LM client's kwargs or headers), nested too."""
    if not isinstance(fields, Mapping):
        return
    for name, value in fields.items():
        if isinstance(value, Mapping):
            register_secrets_in(value)
        elif is_secret_name(name):
            reveal = getattr(value, "get_secret_value", None)
            register_secret(reveal() if callable(reveal) else value)


def register_secrets_of(client: object) -> None:
    """Register the secrets an LM client object holds: secret-typed fields (pydantic's ``SecretStr``), the
    values of secret-looking attributes, and of secret-looking entries of its mappings (headers, kwargs).

    For adapters: call it on every client object a program or a candidate holds (a LangChain chat model,
    an SDK client), so that an error echoing its key never reaches storage or the terminal.
    """
    try:
        fields = dict(vars(client))
    except TypeError:  # no __dict__ (a builtin, a slotted object): nothing to read
        return
    for name, value in fields.items():
        secret = getattr(value, "get_secret_value", None)
        if callable(secret):
            register_secret(secret())
        elif isinstance(value, Mapping):
            register_secrets_in(value)
        elif is_secret_name(name):
            register_secret(value)


def forget_secrets() -> None:
    """Forget every registered secret (for tests)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def _redact_text(text: str) -> str:
    text = redact_known(text)

    def field(match: re.Match[str]) -> str:
        if not _is_secret_name_in_text(match.group("name")) or MASK in match.group("value"):
            return match.group(0)
        value = match.group("value")
        quote = value[0] if value[:1] in {'"', "'"} else ""
        return f"{match.group('name')}{match.group('sep')}{quote}{MASK}{quote}"

    return _FIELD.sub(field, text)


def redact_known(text: str) -> str:
    """``text`` with the registered secret values and bearer tokens masked, nothing else.

    For a whole document that carries code (the report's HTML embeds plotly.js): the
    secret-looking-field rule would rewrite ``keyCode=13`` there. Its data were redacted
    when they were stored.
    """
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact(value: _T) -> _T:
    """``value`` with every secret masked: texts, and mappings/lists/tuples of them, recursively.

    In a mapping, a secret-looking key's text value is masked whatever it is; numbers, booleans
    and None are kept. Other objects are returned as they are.
    """
    if isinstance(value, str):
        return _redact_text(value)  # type: ignore[return-value]
    if isinstance(value, Mapping):
        return {  # type: ignore[return-value]
            key: (MASK if is_secret_name(key) and isinstance(item, str) and item else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(redact(item) for item in value)  # type: ignore[return-value]
    return value


def redact_all(values: Iterable[str]) -> list[str]:
    """Each text redacted."""
    return [_redact_text(text) for text in values]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message (with its arguments merged in) before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the secrets in the message; never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed record is the logging module's business, not ours
            return True
        redacted = _redact_text(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = _redact_text(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = RedactingFilter()


def install_log_redaction(logger: logging.Logger | str = "stacktune") -> None:
    """Put the redacting filter on a logger (once); the ``stacktune`` logger gets it on import."""
    target = logging.getLogger(logger) if isinstance(logger, str) else logger
    if _FILTER not in target.filters:
        target.addFilter(_FILTER)


class RedactingStream:
    """A text stream that redacts what is written to it before passing it on (the CLI's stdout and stderr)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` with its secrets masked."""
        self._stream.write(_redact_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


install_log_redaction()

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SECRET_WORDS",
    "RedactingFilter",
    "RedactingStream",
    "forget_secrets",
    "install_log_redaction",
    "is_secret_name",
    "redact",
    "redact_all",
    "redact_known",
    "register_secret",
    "register_secrets_in",
    "register_secrets_of",
]
