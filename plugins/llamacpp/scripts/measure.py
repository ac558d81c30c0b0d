"""Print the local model's figures: load time, tokens/s in-process and through the server, server peak RSS.

Run: .venv/bin/python plugins/llamacpp/scripts/measure.py  (about 20 s on 2 cores)
"""

from __future__ import annotations

import time
from pathlib import Path

import openai

from stacktune_llamacpp import LocalModel, serve

MESSAGES = [{"role": "user", "content": "Write a short paragraph about the sea."}]
MAX_TOKENS = 64
REPEATS = 3


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    """Load the model, time generation in-process and through the server, and print the figures."""
    model = LocalModel()
    started = time.perf_counter()
    model.load()
    print(f"model: {model.model_path.name} ({model.model_path.stat().st_size / 1e6:.1f} MB)")
    print(f"in-process load time: {time.perf_counter() - started:.2f} s")
    model.create_chat_completion(messages=MESSAGES, max_tokens=4)  # warm-up
    tokens, elapsed = 0, 0.0
    for seed in range(REPEATS):
        started = time.perf_counter()
        response = model.create_chat_completion(messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=0.7, seed=seed)
        elapsed += time.perf_counter() - started
        tokens += response["usage"]["completion_tokens"]
    print(
        f"in-process: {tokens / elapsed:.1f} completion tokens/s ({tokens} tokens in {elapsed:.2f} s, "
        f"prompt {response['usage']['prompt_tokens']} tokens)"
    )
    model.close()

    started = time.perf_counter()
    with serve() as server:
        print(f"server start (process up, model loaded, /models answers): {time.perf_counter() - started:.2f} s")
        client = openai.OpenAI(base_url=server.base_url, api_key="local")
        client.chat.completions.create(model=server.model, messages=MESSAGES, max_tokens=4)  # type: ignore[arg-type]
        tokens, elapsed = 0, 0.0
        for seed in range(REPEATS):
            started = time.perf_counter()
            reply = client.chat.completions.create(
                model=server.model,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
                temperature=0.7,
                seed=seed,
            )
            elapsed += time.perf_counter() - started
            tokens += reply.usage.completion_tokens if reply.usage else 0
        print(
            f"server (HTTP, openai client): {tokens / elapsed:.1f} completion tokens/s "
            f"({tokens} tokens in {elapsed:.2f} s)"
        )
        assert server.pid is not None
        print(f"server peak RSS (VmHWM): {_peak_rss_mb(server.pid):.0f} MB")


if __name__ == "__main__":
    main()
