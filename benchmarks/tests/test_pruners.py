"""Optuna's pruners through stacktune save examples, and the best configuration survives."""

from __future__ import annotations

import pytest
from pruners import PRUNERS, compare, main
from replay import Table


def test_every_pruner_saves_examples_and_keeps_the_best() -> None:
    rows = {name: (saved, kept) for name, saved, kept in compare(Table.load("sentiment"), trials=40, seeds=range(3))}
    assert rows["none (full)"] == (0.0, 1.0)
    for name in PRUNERS:
        if name != "none (full)":
            saved, kept = rows[name]
            assert saved > 0.1, f"{name} saves examples"
            assert kept > 0.9, f"{name} keeps the best configuration"


def test_main_prints_one_row_per_pruner(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--trials", "12", "--seeds", "1"])
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in PRUNERS)
