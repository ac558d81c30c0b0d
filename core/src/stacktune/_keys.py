"""Where stacktune keeps its records in an Optuna study: user attribute names and record fields.

In a module of their own so that ``study`` and ``racing`` (which ``study`` imports) share them.
"""

ATTR_OBJECTIVES = "stacktune:objectives"
ATTR_SPACE = "stacktune:space"
ATTR_TRIAL = "stacktune"  # one record per trial: configuration, evaluation summary, per-example scores, fate
ESTIMATE_KEY = "estimated_score"  # in a raced-out trial's record: its estimated score over the whole dataset
