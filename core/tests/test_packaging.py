"""What users of the published packages meet: license, classifiers, project URLs, long descriptions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ["core", "conformance_tests", "adapters/prompt", "adapters/dspy", "adapters/langchain", "plugins/llamacpp"]


@pytest.fixture(params=PUBLISHED)
def distribution(request: pytest.FixtureRequest) -> Path:
    folder = ROOT / request.param
    if not (folder / "pyproject.toml").is_file():
        pytest.skip(f"{folder} is not there (installed outside the monorepo)")
    return folder


def test_each_published_distribution_has_license_classifiers_and_urls(distribution: Path) -> None:
    project = tomllib.loads((distribution / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (distribution / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    assert "Typing :: Typed" in project["classifiers"]
    assert not [c for c in project["classifiers"] if c.startswith("License ::")], "PEP 639: the SPDX license only"
    assert {"Homepage", "Documentation", "Source", "Issues"} <= set(project["urls"])
    assert all(url.startswith("https://") for url in project["urls"].values())


def test_long_descriptions_have_no_repository_relative_links(distribution: Path) -> None:
    readme = (distribution / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", readme)
    relative = [t for t in targets if not re.match(r"^(https?://|#|mailto:)", t)]
    assert relative == [], f"{distribution.name}/README.md links {relative}: PyPI cannot follow them"
