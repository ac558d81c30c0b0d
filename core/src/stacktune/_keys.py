"""Where stacktune keeps its records in an Optuna study: user attribute names and record fields.

In a module of their own so that ``study`` and ``racing`` (which ``study`` imports) share them.
"""

ATTR_OBJECTIVES = "stacktune:objectives"
ATTR_SPACE = "stacktune:space"
# A trial's record is ONE attribute (a dict written once when the trial ends): each write is a storage
# transaction. It holds the configuration, the evaluation summary, the per-example scores and the trial's fate.
ATTR_TRIAL = "stacktune"
ESTIMATE_KEY = "estimated_score"  # in a raced-out trial's record: its estimated score over the whole dataset
