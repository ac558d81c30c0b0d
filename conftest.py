"""Settings every test directory shares (pytest reads this file first, from the repository root)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Property tests must not flake on a loaded machine (CI has two shared cores): no deadline, no
# "too slow" health check, and the same examples on every run.
settings.register_profile(
    "stacktune", deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)
settings.load_profile("stacktune")
