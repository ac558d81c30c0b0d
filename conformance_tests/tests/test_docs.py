"""The docs cannot rot: their code is the tested code, and every standard test is documented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from stacktune_conformance import OptimizableTests

ROOT = Path(__file__).resolve().parents[2]
ADAPTER_DOC = ROOT / "docs" / "writing-an-adapter.md"
CONFORMANCE_DOC = ROOT / "docs" / "conformance.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```python\n(?P<code>.*?)```", re.DOTALL)


def file_blocks() -> dict[str, str]:
    return {m["path"]: m["code"] for m in FILE_BLOCK.finditer(ADAPTER_DOC.read_text())}


def test_adapter_doc_shows_the_framework_the_adapter_and_its_test() -> None:
    assert set(file_blocks()) == {
        "conformance_tests/tests/toy_framework.py",
        "conformance_tests/tests/toy_framework_adapter.py",
        "conformance_tests/tests/test_toy_framework_conformance.py",
    }


@pytest.mark.parametrize("path", sorted(file_blocks()))
def test_doc_code_is_the_tested_file(path: str) -> None:
    assert file_blocks()[path] == (ROOT / path).read_text(), f"docs/writing-an-adapter.md is out of date for {path}"


def test_the_adapter_is_under_80_lines() -> None:
    assert len(file_blocks()["conformance_tests/tests/toy_framework_adapter.py"].splitlines()) < 80


def test_the_conformance_test_is_only_a_subclass_with_fixtures() -> None:
    tree = ast.parse(file_blocks()["conformance_tests/tests/test_toy_framework_conformance.py"])
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert len(classes) == 1 and [ast.unparse(b) for b in classes[0].bases] == ["OptimizableTests"]
    methods = [node for node in classes[0].body if isinstance(node, ast.FunctionDef)]
    assert {m.name for m in methods} == {"optimizable", "dataset", "metric", "failing_example"}
    assert all(ast.unparse(m.decorator_list[0]) == "pytest.fixture" for m in methods)


def test_adapter_doc_declares_the_entry_point() -> None:
    text = ADAPTER_DOC.read_text()
    assert '[project.entry-points."stacktune.plugins"]' in text
    assert 'toy = "toy_framework_adapter"' in text


@pytest.mark.parametrize("name", OptimizableTests.standard_tests())
def test_every_standard_test_is_documented(name: str) -> None:
    assert f"| `{name}` |" in CONFORMANCE_DOC.read_text(), f"docs/conformance.md does not describe {name}"


@pytest.mark.parametrize("name", OptimizableTests.standard_tests())
def test_every_standard_test_says_what_it_proves(name: str) -> None:
    doc = getattr(OptimizableTests, name).__doc__
    assert doc and len(doc.split()) >= 10
