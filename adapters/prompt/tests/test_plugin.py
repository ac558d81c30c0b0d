"""The plugin wraps Prompts and nothing else: it never executes files found around its install location."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import stacktune_prompt
from stacktune import create_plugin_manager
from stacktune_prompt import Prompt, PromptAdapter
from stacktune_prompt.plugin import stacktune_optimizable

# Runs in the child: the copied package must be the one imported, then its plugin alone is asked for tasks.
_CHILD = """
import json, sys
import stacktune_prompt, stacktune_prompt.plugin
from stacktune import create_plugin_manager
from stacktune.tasks import available_tasks
assert stacktune_prompt.__file__.startswith(sys.argv[1]), stacktune_prompt.__file__
manager = create_plugin_manager(load_entry_points=False, plugins=[stacktune_prompt.plugin])
print(json.dumps(sorted(available_tasks(manager))))
"""


def test_the_plugin_wraps_prompts_only(make_prompt: Callable[..., Prompt]) -> None:
    assert isinstance(stacktune_optimizable(make_prompt()), PromptAdapter)
    assert stacktune_optimizable("not a prompt") is None


def test_the_plugin_registers_no_task() -> None:
    manager = create_plugin_manager(load_entry_points=False, plugins=[stacktune_prompt.plugin])
    implementers = [impl.plugin_name for impl in manager.hook.stacktune_register_tasks.get_hookimpls()]
    assert implementers == ["stacktune.builtin"]


def test_an_examples_task_file_above_the_installed_package_is_never_executed(tmp_path: Path) -> None:
    # A user's project with examples/sentiment/task.py, and a virtualenv inside it holding stacktune-prompt.
    marker = tmp_path / "executed"
    task_file = tmp_path / "examples" / "sentiment" / "task.py"
    task_file.parent.mkdir(parents=True)
    task_file.write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit('a user file was executed')\n")
    site_packages = tmp_path / ".venv" / "lib" / "site-packages"
    shutil.copytree(Path(stacktune_prompt.__file__).parent, site_packages / "stacktune_prompt")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site_packages), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(site_packages)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["toy"]  # the core's own task only
    assert not marker.exists()


def test_loading_the_plugin_does_not_import_the_adapter() -> None:
    import subprocess
    import sys

    code = (
        "import sys, stacktune_prompt.plugin\n"
        "assert 'stacktune_prompt._adapter' not in sys.modules\n"
        "from stacktune_prompt import Prompt\n"
        "assert 'stacktune_prompt._prompt' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
