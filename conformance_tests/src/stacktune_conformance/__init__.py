"""stacktune-conformance: the suite every stacktune adapter must pass.

Subclass :class:`OptimizableTests` and give three fixtures (``optimizable``, ``dataset``,
``metric``); reuse :mod:`stacktune_conformance.strategies` in your own property tests.
"""

from stacktune_conformance import faults, strategies
from stacktune_conformance._recording import ConformanceStop, hypothesis_settings
from stacktune_conformance.faults import FaultServer, refused_url
from stacktune_conformance.strategies import InvalidCase, configurations, invalid_configurations
from stacktune_conformance.suite import OptimizableTests

__version__ = "0.1.0"

__all__ = [
    "ConformanceStop",
    "FaultServer",
    "InvalidCase",
    "OptimizableTests",
    "configurations",
    "faults",
    "hypothesis_settings",
    "invalid_configurations",
    "refused_url",
    "strategies",
]
