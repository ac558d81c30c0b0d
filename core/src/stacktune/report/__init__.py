"""The study's report: one self-contained HTML file that a person opens after a study.

:func:`write_report` (``study.report(path)``, ``stacktune report STUDY -o report.html``)
writes a page with plotly charts, plotly.js embedded (it opens offline, from a file or an
e-mail): the Pareto front or the best-so-far curve, every point hovering its configuration
in words; the score against the LLM calls and USD spent, trials the race stopped drawn as
such; parameter importance per objective; the best configuration against the baseline,
example by example, with inputs and answers for the first examples; and what was spent.
Everything it shows is read from the storage: any stored study can be reported, later and
elsewhere. :func:`report_data` gives the same content as data.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING

from stacktune.errors import StacktuneError
from stacktune.secrets import redact_known

if TYPE_CHECKING:
    from stacktune.report._data import ReportData
    from stacktune.study.study import Study

#: What to install when plotly is missing.
INSTALL_HINT = "pip install 'stacktune[report]'"


def require_plotly() -> None:
    """Raise a :class:`~stacktune.StacktuneError` saying what to install when plotly is missing."""
    if importlib.util.find_spec("plotly") is None:
        raise StacktuneError(f"the report draws its charts with plotly, which is not installed: {INSTALL_HINT}")


def report_data(study: Study) -> ReportData:
    """Everything the report shows, as data (see :mod:`stacktune.report._data`)."""
    from stacktune.report._data import report_data as build

    return build(study)


def write_report(study: Study, path: str | os.PathLike[str]) -> Path:
    """Write ``study``'s report to ``path`` (one HTML file, nothing else) and return its absolute path."""
    require_plotly()
    from stacktune.report._page import render

    target = Path(path).expanduser().resolve()
    if target.is_dir():
        raise StacktuneError(f"report path {str(target)!r} is a directory: give a file name such as report.html")
    if not target.parent.is_dir():
        raise StacktuneError(
            f"cannot write the report to {str(target)!r}: the directory {str(target.parent)!r} does not exist"
        )
    # Registered secrets masked over the whole page; the data were redacted when stored (the
    # secret-looking-field rule would break the embedded plotly.js: ``keyCode=13``).
    target.write_text(redact_known(render(report_data(study))), encoding="utf-8")
    return target


__all__ = ["INSTALL_HINT", "report_data", "require_plotly", "write_report"]
