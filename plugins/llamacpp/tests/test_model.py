"""LocalModel without the real weights: a fake Llama records what reaches it."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import llama_cpp
import pytest

from stacktune_llamacpp import LocalModel, ModelNotFound, default_model_path

MESSAGES = [{"role": "user", "content": "hi"}]


class FakeLlama:
    """Records constructor and call keywords; notices overlapping calls."""

    instances: ClassVar[list[FakeLlama]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.calls: list[dict[str, Any]] = []
        self.active = 0
        self.max_active = 0
        self.closed = False
        FakeLlama.instances.append(self)

    def create_chat_completion(self, **kwargs: Any) -> dict[str, Any]:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        time.sleep(0.005)  # widen the window in which an unlocked caller would overlap
        self.calls.append(kwargs)
        self.active -= 1
        return {
            "object": "chat.completion",
            "model": kwargs.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"seed {kwargs['seed']}"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_llama(monkeypatch: pytest.MonkeyPatch) -> type[FakeLlama]:
    FakeLlama.instances = []
    monkeypatch.setattr(llama_cpp, "Llama", FakeLlama)
    return FakeLlama


def test_nothing_loads_until_the_first_call(fake_llama: type[FakeLlama]) -> None:
    model = LocalModel()
    assert not model.is_loaded and fake_llama.instances == []
    assert model.model == "smollm2" and model.model_path == default_model_path()
    model.create_chat_completion(messages=MESSAGES)
    assert model.is_loaded and len(fake_llama.instances) == 1


def test_llama_gets_the_path_context_threads_and_quiet(fake_llama: type[FakeLlama]) -> None:
    LocalModel(n_ctx=512, n_threads=2, seed=7).load()
    kwargs = fake_llama.instances[0].init_kwargs
    assert kwargs["model_path"] == str(default_model_path())
    assert kwargs["n_ctx"] == 512 and kwargs["seed"] == 7
    assert kwargs["n_threads"] == kwargs["n_threads_batch"] == 2
    assert kwargs["verbose"] is False


def test_sampling_parameters_reach_llama(fake_llama: type[FakeLlama]) -> None:
    model = LocalModel()
    response = model.create_chat_completion(
        messages=MESSAGES, temperature=0.7, top_p=0.5, max_tokens=9, seed=42, stop=["\n"]
    )
    call = fake_llama.instances[0].calls[0]
    assert call == {
        "messages": MESSAGES,
        "temperature": 0.7,
        "top_p": 0.5,
        "max_tokens": 9,
        "seed": 42,
        "stop": ["\n"],
        "model": "smollm2",
    }
    assert response["choices"][0]["message"]["content"] == "seed 42"
    assert response["usage"]["completion_tokens"] == 2


@pytest.mark.parametrize("given", [{}, {"seed": None}])
def test_calls_without_a_seed_use_the_model_seed(fake_llama: type[FakeLlama], given: dict[str, Any]) -> None:
    model = LocalModel(seed=11)
    model.create_chat_completion(messages=MESSAGES, **given)
    assert fake_llama.instances[0].calls[0]["seed"] == 11


def test_calls_are_serialised_and_load_once(fake_llama: type[FakeLlama]) -> None:
    model = LocalModel()
    barrier = threading.Barrier(8)

    def call(i: int) -> str:
        barrier.wait()
        response = model.create_chat_completion(messages=MESSAGES, seed=i)
        return str(response["choices"][0]["message"]["content"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, range(8)))
    assert answers == [f"seed {i}" for i in range(8)]
    assert len(fake_llama.instances) == 1
    assert fake_llama.instances[0].max_active == 1


def test_bad_calls_are_refused(fake_llama: type[FakeLlama]) -> None:
    model = LocalModel()
    with pytest.raises(TypeError, match="messages"):
        model.create_chat_completion(temperature=0.1)
    with pytest.raises(ValueError, match="does not stream"):
        model.create_chat_completion(messages=MESSAGES, stream=True)
    assert fake_llama.instances == []


def test_close_frees_and_the_next_call_reloads(fake_llama: type[FakeLlama]) -> None:
    model = LocalModel()
    model.load()
    model.close()
    assert fake_llama.instances[0].closed and not model.is_loaded
    model.create_chat_completion(messages=MESSAGES)
    assert len(fake_llama.instances) == 2


@pytest.mark.parametrize(("kwargs", "culprit"), [({"n_ctx": 0}, "n_ctx"), ({"n_threads": 0}, "n_threads")])
def test_bad_settings_are_named(kwargs: dict[str, int], culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        LocalModel(**kwargs)  # type: ignore[arg-type]


def test_a_missing_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"absent\.gguf"):
        LocalModel(tmp_path / "absent.gguf")
