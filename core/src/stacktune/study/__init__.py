"""Studies: Optuna's search and storage, applied to LLM programs.

- :mod:`~stacktune.study.create`: ``create_study``, ``load_study``, ``study_summaries``;
- :mod:`~stacktune.study.study`: the :class:`Study` and its results;
- :mod:`~stacktune.study.results`: :class:`TrialResult`, one trial as users see it;
- :mod:`~stacktune.study.budget`: :class:`Budget`;
- :mod:`~stacktune.study.verify`: the chosen trials evaluated again on held-out examples;
- :mod:`~stacktune.study.importance`: which variables mattered, per objective;
- ``_trials``: the trial loop and its per-example stoppers; ``_progress``: the progress line.
"""

from stacktune.records import dataset_fingerprint
from stacktune.study.budget import Budget, Spent
from stacktune.study.create import DEFAULT_STORAGE, create_study, delete_study, load_study, study_summaries
from stacktune.study.importance import Importance
from stacktune.study.results import TrialResult
from stacktune.study.study import Study
from stacktune.study.verify import Verification

__all__ = [
    "DEFAULT_STORAGE",
    "Budget",
    "Importance",
    "Spent",
    "Study",
    "TrialResult",
    "Verification",
    "create_study",
    "dataset_fingerprint",
    "delete_study",
    "load_study",
    "study_summaries",
]
