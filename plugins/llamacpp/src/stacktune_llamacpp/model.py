"""``LocalModel``: SmolLM2 (or any GGUF) in this process through ``llama_cpp.Llama``."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacktune_llamacpp.paths import DEFAULT_ALIAS, default_threads, resolve_model_path

if TYPE_CHECKING:
    from llama_cpp import Llama


class LocalModel:
    """An in-process chat model with the OpenAI chat-completion shape, safe to share between threads.

    The weights load on the first call (or :meth:`load`), so creating one is free. ``Llama`` is not
    thread-safe, so every call holds a lock: concurrent callers queue. ``seed`` is used for calls
    that pass none, so a call's answer never depends on what was asked before it.
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        seed: int = 0,
        n_threads: int | None = None,
        model_alias: str = DEFAULT_ALIAS,
    ) -> None:
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be a positive number of tokens, got {n_ctx!r}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads!r}")
        self.model_path: Path = resolve_model_path(model_path)
        self.n_ctx = n_ctx
        self.seed = seed
        self.n_threads = n_threads
        self.model = model_alias
        self._lock = threading.RLock()
        self._llama: Llama | None = None

    def __repr__(self) -> str:
        state = "loaded" if self.is_loaded else "not loaded"
        return f"LocalModel({self.model!r}, path={str(self.model_path)!r}, n_ctx={self.n_ctx}, {state})"

    @property
    def is_loaded(self) -> bool:
        """True once the weights are in memory (:meth:`load`, or the first completion)."""
        return self._llama is not None

    def load(self) -> Llama:
        """Load the weights now (idempotent) and return the underlying ``Llama``."""
        with self._lock:
            if self._llama is None:
                from llama_cpp import Llama

                generation, batch = default_threads()
                if self.n_threads is not None:
                    generation = batch = self.n_threads
                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=generation,
                    n_threads_batch=batch,
                    seed=self.seed,
                    verbose=False,
                )
            return self._llama

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        """One chat completion (``messages=[...]``, temperature, top_p, max_tokens, seed, stop, ...).

        Accepts ``Llama.create_chat_completion``'s keywords; returns the OpenAI-format dict with
        ``choices[0]["message"]["content"]`` and ``usage``. Streaming is not offered here.
        """
        if "messages" not in kwargs:
            raise TypeError("create_chat_completion() needs messages=[{'role': ..., 'content': ...}, ...]")
        if kwargs.get("stream"):
            raise ValueError("LocalModel.create_chat_completion does not stream; use the server (serve()) for that")
        kwargs.pop("stream", None)
        if kwargs.get("seed") is None:
            kwargs["seed"] = self.seed
        kwargs.setdefault("model", self.model)
        with self._lock:
            llama = self.load()
            response = llama.create_chat_completion(**kwargs)
        return dict(response)  # type: ignore[arg-type]

    def close(self) -> None:
        """Free the weights; the next call loads them again."""
        with self._lock:
            llama, self._llama = self._llama, None
        if llama is not None:
            llama.close()
