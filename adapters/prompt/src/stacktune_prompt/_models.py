"""Where answers come from: OpenAI-compatible endpoints and in-process clients.

A *model* is any object with ``create_chat_completion(**kwargs) -> dict`` answering in
OpenAI's chat-completion format (``stacktune_llamacpp.LocalModel`` and
``llama_cpp.Llama`` are such objects). :class:`Endpoint` is one too: it speaks HTTP to
any OpenAI-compatible server. Keeping one interface means the cache, the retries and
the usage accounting are written once, whatever the model is.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import httpx
import tenacity

from stacktune import register_secret, register_secrets_in
from stacktune.pricing import Price, Prices, call_cost
from stacktune.ratelimit import RateLimit, RateLimiter, estimate_tokens


@runtime_checkable
class ChatModel(Protocol):
    """Anything that answers an OpenAI-style chat request in-process (or over HTTP)."""

    def create_chat_completion(self, **kwargs: Any) -> Mapping[str, Any]: ...


class TransientError(Exception):
    """A failure worth retrying: timeout, lost connection, 429, 5xx.

    In-process clients may raise it (or ``TimeoutError``/``ConnectionError``) to ask for a retry.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EndpointError(Exception):
    """A definitive refusal from an endpoint (a 4xx other than 429): retrying would not help."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


def is_transient(exc: BaseException) -> bool:
    """True for errors a retry may cure."""
    return isinstance(exc, (TransientError, TimeoutError, ConnectionError))


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible ``/chat/completions`` endpoint.

    The API key is read from the environment variable ``api_key_env`` at call time; it is
    never stored on the object, in the cache or in any repr, and it is registered with
    ``stacktune.register_secret`` so that an error that echoes it is stored and printed
    masked. ``headers`` are sent with every request (secret-looking ones, such as
    ``api-key`` or ``X-Api-Key``, are registered the same way and hidden from the repr).
    ``timeout`` bounds the whole HTTP call in seconds: connecting, sending and reading the
    body, however slowly the server sends it. ``price`` overrides the price table (``stacktune.pricing``) for this
    endpoint (e.g. ``FREE`` for a server on your own machine). ``rate_limit`` paces every HTTP
    attempt to this URL and model, shared by the threads of the process and, inside a study's
    trials, by every worker of the study (``stacktune.RateLimit``). ``transport`` lets tests plug
    in ``httpx.MockTransport``.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout: float = 60.0
    price: Price | None = None
    rate_limit: RateLimit | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    transport: httpx.BaseTransport | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"Endpoint base_url must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("Endpoint model must be a non-empty model name")
        if self.timeout <= 0:
            raise ValueError(f"Endpoint timeout must be > 0 seconds, got {self.timeout!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        object.__setattr__(self, "headers", dict(self.headers))  # a copy: the caller's dict may change
        register_secrets_in(self.headers)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in {"_client", "_limiter"}}  # no live pool

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        register_secrets_in(self.headers)  # a worker process masks the secrets it was handed

    @property
    def name(self) -> str:
        return self.model

    @property
    def cache_identity(self) -> str:
        """What the cache knows this model by: URL and model name (never the key)."""
        return f"endpoint:{self.base_url}|{self.model}"

    @cached_property
    def _client(self) -> httpx.Client:
        # One pooled client per endpoint object; httpx.Client is thread-safe.
        return httpx.Client(timeout=self.timeout, transport=self.transport)

    def close(self) -> None:
        """Close the pooled connections now, not whenever the garbage collector gets to them.

        Safe to call twice; a later call opens a new pool.
        """
        client = self.__dict__.pop("_client", None)
        if client is not None:
            client.close()

    def _headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.api_key_env is None:
            return headers
        key = os.environ.get(self.api_key_env)
        if not key:
            raise EndpointError(
                401, f"environment variable {self.api_key_env!r} (the API key for {self.base_url}) is not set"
            )
        register_secret(key)  # an error body that echoes it is masked wherever it is stored or printed
        return {**headers, "Authorization": f"Bearer {key}"}

    @cached_property
    def _limiter(self) -> RateLimiter | None:
        return RateLimiter(f"{self.base_url}|{self.model}", self.rate_limit) if self.rate_limit else None

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        """POST the request; 429/5xx/timeouts raise TransientError, other 4xx EndpointError."""
        url = f"{self.base_url}/chat/completions"
        if self._limiter is not None:
            reservation = self._limiter.acquire(estimate_tokens(kwargs.get("messages"), kwargs.get("max_tokens")))
            data = self._post(url, kwargs)
            reservation.settle(int((data.get("usage") or {}).get("total_tokens") or reservation.tokens))
            return data
        return self._post(url, kwargs)

    def _post(self, url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        headers = self._headers()
        try:
            # Each read is bounded by what is left of the call; the loop below bounds them together.
            with self._client.stream(
                "POST", url, json={"model": self.model, **kwargs}, headers=headers, timeout=self.timeout
            ) as response:
                body = self._read_body(response, url, deadline)
        except httpx.TimeoutException as exc:
            raise TransientError(f"{url} timed out after {self.timeout}s ({type(exc).__name__})") from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise TransientError(f"cannot reach {url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        text = body.decode("utf-8", errors="replace")
        if status == 429 or status >= 500:
            raise TransientError(
                f"{url} answered {status}: {text[:200]}",
                retry_after=_retry_after(response.headers.get("retry-after")),
            )
        if status >= 400:
            raise EndpointError(status, f"{url} answered {status}: {text[:300]}")
        try:
            data = json.loads(body)
        except ValueError:
            raise EndpointError(
                status, f"{url} answered {status} with a body that is not JSON; it begins {body[:200]!r}"
            ) from None
        if not isinstance(data, dict) or not data.get("choices"):
            raise EndpointError(status, f"{url} answered without choices: {text[:200]}")
        return data

    def _read_body(self, response: httpx.Response, url: str, deadline: float) -> bytes:
        """The whole body, or a timeout once the call's deadline passes (a server dripping bytes included)."""
        chunks: list[bytes] = []
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise TransientError(
                    f"{url} timed out after {self.timeout}s: the body was still arriving "
                    f"({sum(map(len, chunks))} bytes so far)"
                )
        return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the usual backoff applies (raising here would turn a 429 into a final error)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # HTTP dates are GMT
    return max(0.0, parsed.timestamp() - time.time())


def cache_identity(model: object) -> str:
    """A model's identity for the cache: its own ``cache_identity`` or its class and model path."""
    own = getattr(model, "cache_identity", None)
    if isinstance(own, str) and own:
        return own
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    path = getattr(model, "model_path", None)
    return f"client:{kind}" + (f"|{path}" if path else "")


def model_call_cost(model: object, input_tokens: int, output_tokens: int, prices: Prices) -> float | None:
    """USD for one call of a model object, or None when its price is unknown (an unpriced call).

    A model's own ``price`` wins; an :class:`Endpoint` is priced by its model name (the
    user's ``prices`` first, then ``stacktune.pricing``'s table); an in-process model runs
    on your machine, so it is free unless it carries a ``price``.
    """
    own = getattr(model, "price", None)
    if isinstance(own, Price):
        return own.cost(input_tokens, output_tokens)
    if isinstance(model, Endpoint):
        return call_cost(model.model, input_tokens, output_tokens, prices=prices)
    return 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff on transient errors: waits ``initial_wait * 2**n`` up to ``max_wait``.

    ``attempts`` counts every try (1 = no retry). A server's Retry-After is honoured up to
    ``max_wait``. ``sleep`` is replaceable so tests can observe the waits without waiting.
    """

    attempts: int = 4
    initial_wait: float = 0.5
    max_wait: float = 8.0
    jitter: float = 0.1
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be >= 1, got {self.attempts}")
        if self.initial_wait < 0 or self.max_wait < 0 or self.jitter < 0:
            raise ValueError("RetryPolicy waits must be >= 0")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        backoff = tenacity.wait_exponential(multiplier=self.initial_wait, max=self.max_wait)(state)
        if self.jitter:
            backoff += tenacity.wait_random(0, self.jitter)(state)
        outcome = state.outcome.exception() if state.outcome else None
        hinted = getattr(outcome, "retry_after", None)
        if isinstance(hinted, (int, float)):
            backoff = max(backoff, min(float(hinted), self.max_wait))
        return float(backoff)

    def call(self, function: Callable[[], Any]) -> Any:
        """Run ``function``, retrying transient errors; the last error propagates."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception(is_transient),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(function)


__all__ = [
    "ChatModel",
    "Endpoint",
    "EndpointError",
    "RetryPolicy",
    "TransientError",
    "cache_identity",
    "is_transient",
    "model_call_cost",
]
