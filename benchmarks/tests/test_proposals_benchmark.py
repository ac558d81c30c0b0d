"""benchmarks/proposals.py: which seeds a run measures, and how the gains over seeds are summed up."""

from __future__ import annotations

from proposals import parse, seeds, spread


def test_first_seed_splits_a_long_measurement_over_runs() -> None:
    assert list(seeds(parse([]))) == [0, 1]
    assert list(seeds(parse(["--first-seed", "6", "--seeds", "4"]))) == [6, 7, 8, 9]


def test_the_spread_says_mean_sd_standard_error_and_wins_ties_losses() -> None:
    text = spread([0.0, 0.125, 0.0, -0.125])
    assert "+0.000 over 4 seeds" in text
    assert "sd 0.102" in text and "standard error 0.051" in text  # sqrt(2 * 0.125**2 / 3), over sqrt(4)
    assert "1 won, 2 tied, 1 lost" in text


def test_one_seed_has_no_spread() -> None:
    assert "sd nan" in spread([0.125])
