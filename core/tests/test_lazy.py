"""stacktune.lazy: a package's public names imported on first use."""

from __future__ import annotations

import sys
import types

import pytest

from stacktune.lazy import lazy_exports


def test_names_are_imported_on_first_use_and_unknown_ones_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("lazy_pkg")
    monkeypatch.setitem(sys.modules, "lazy_pkg", package)
    package.__getattr__, package.__dir__ = lazy_exports("lazy_pkg", {"dedent": "textwrap"})  # type: ignore[attr-defined]
    assert "dedent" not in vars(package)
    import textwrap

    assert package.dedent is textwrap.dedent
    assert vars(package)["dedent"] is textwrap.dedent  # cached: no second lookup
    assert "dedent" in package.__dir__()
    with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'nope'"):
        _ = package.nope


def test_stacktune_itself_imports_its_names_and_submodules_on_first_use() -> None:
    import subprocess

    code = (
        "import sys, stacktune\n"
        "assert 'optuna' not in sys.modules and 'stacktune.study' not in sys.modules\n"
        "assert stacktune.create_study.__name__ == 'create_study' and 'optuna' in sys.modules\n"
        "assert stacktune.testing.ToyProgram.__name__ == 'ToyProgram'\n"  # a submodule, as an eager __init__ had it
        "assert 'Study' in dir(stacktune)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
