"""Every core module imports on its own, first, in a fresh interpreter: no import cycle can come back.

``import stacktune.x`` always runs ``stacktune/__init__.py`` first, which imports nearly
everything in one fixed order and so hides cycles between the submodules. These tests
replace the package's ``__init__`` with an empty package, import one module first, then
every other one, so each module is once the entry point of a fresh import graph.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import stacktune

PACKAGE_DIR = Path(stacktune.__file__).resolve().parent
MODULES = sorted(info.name for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="stacktune."))

#: Modules that need the study machinery when they are imported, not only when called.
NEEDS_STUDY = ("stacktune.study", "stacktune.cli", "stacktune.report", "stacktune.__main__")

# Runs in the child: an empty `stacktune` package, then `first`, then the rest in reverse order.
_CHILD = """
import importlib, json, sys, types
directory, first, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
package = types.ModuleType("stacktune")
package.__path__ = [directory]
sys.modules["stacktune"] = package
importlib.import_module(first)
study_loaded = sorted(name for name in sys.modules if name == "stacktune.study" or name.startswith("stacktune.study."))
for name in rest:
    importlib.import_module(name)
print(json.dumps(study_loaded))
"""


def _needs_study(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in NEEDS_STUDY)


def test_the_package_has_the_modules_it_is_known_to_have() -> None:
    assert {"stacktune.hookspecs", "stacktune.plugins", "stacktune._builtin", "stacktune.tasks"} <= set(MODULES)
    assert any(_needs_study(module) for module in MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_module_imports_first_in_a_fresh_interpreter(module: str) -> None:
    rest = [name for name in reversed(MODULES) if name != module]
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(PACKAGE_DIR), module, *rest],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    study_loaded = json.loads(done.stdout.strip().splitlines()[-1])
    if not _needs_study(module):
        assert study_loaded == [], f"importing {module} imported {study_loaded} at import time"


def test_the_package_itself_imports_in_a_fresh_interpreter_with_the_same_public_names() -> None:
    code = "import json, stacktune; print(json.dumps(sorted(stacktune.__all__)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    names = json.loads(done.stdout)
    assert {"hookimpl", "hookspec", "create_plugin_manager", "get_plugin_manager", "optimizable"} <= set(names)
    assert all(hasattr(stacktune, name) for name in names)
