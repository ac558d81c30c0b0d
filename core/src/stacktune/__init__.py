"""stacktune: Optuna for LLM applications.

Tune every knob of an LLM program (model, sampling parameters, prompt text, demos,
reasoning strategy, components) against your metric, on several objectives at once.
"""

from stacktune.errors import (
    BudgetError,
    BudgetExhausted,
    InvalidConfiguration,
    InvalidVariable,
    MetricError,
    NoAdapterFound,
    RunStopped,
    StacktuneError,
    Terminated,
    TimeoutReached,
)
from stacktune.evaluation import (
    Evaluation,
    ExampleFailure,
    Metric,
    ResultCallback,
    aevaluate_examples,
    evaluate_examples,
    score_prediction,
)
from stacktune.knobs import SAMPLING_KNOBS, SamplingKnob, find_knob, knob_variable, leaves_unset
from stacktune.objectives import BUILTIN_OBJECTIVES, Objective
from stacktune.plugins import (
    create_plugin_manager,
    get_plugin_manager,
    hookimpl,
    hookspec,
    optimizable,
)
from stacktune.pricing import FREE, Price, Prices, call_cost, price_for
from stacktune.proposals import (
    Bootstrap,
    BootstrappedDemos,
    InstructionSite,
    Proposals,
    Proposer,
    ProposerLM,
    ProposesInstructions,
    SupportsInstructionProposals,
)
from stacktune.protocol import Optimizable, SupportsAsyncEvaluate, SupportsExport, is_optimizable
from stacktune.racing import RacingPolicy
from stacktune.ratelimit import RateLimit, RateLimiter
from stacktune.search import OptunaSearch, Racing, Search
from stacktune.space import Configuration, Constraint, Space, constraint
from stacktune.study import (
    Budget,
    Importance,
    Spent,
    Study,
    TrialResult,
    Verification,
    create_study,
    delete_study,
    load_study,
)
from stacktune.tasks import Task, TaskSetup
from stacktune.usage import Usage, UsageMeter, metering, record_usage
from stacktune.variables import Categorical, Float, Int, OpaqueChoice, Primitive, Variable

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_OBJECTIVES",
    "FREE",
    "SAMPLING_KNOBS",
    "Bootstrap",
    "BootstrappedDemos",
    "Budget",
    "BudgetError",
    "BudgetExhausted",
    "Categorical",
    "Configuration",
    "Constraint",
    "Evaluation",
    "ExampleFailure",
    "Float",
    "Importance",
    "InstructionSite",
    "Int",
    "InvalidConfiguration",
    "InvalidVariable",
    "Metric",
    "MetricError",
    "NoAdapterFound",
    "Objective",
    "OpaqueChoice",
    "Optimizable",
    "OptunaSearch",
    "Price",
    "Prices",
    "Primitive",
    "Proposals",
    "Proposer",
    "ProposerLM",
    "ProposesInstructions",
    "Racing",
    "RacingPolicy",
    "RateLimit",
    "RateLimiter",
    "ResultCallback",
    "RunStopped",
    "SamplingKnob",
    "Search",
    "Space",
    "Spent",
    "StacktuneError",
    "Study",
    "SupportsAsyncEvaluate",
    "SupportsExport",
    "SupportsInstructionProposals",
    "Task",
    "TaskSetup",
    "Terminated",
    "TimeoutReached",
    "TrialResult",
    "Usage",
    "Verification",
    "UsageMeter",
    "Variable",
    "aevaluate_examples",
    "call_cost",
    "constraint",
    "create_plugin_manager",
    "create_study",
    "delete_study",
    "evaluate_examples",
    "find_knob",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "is_optimizable",
    "knob_variable",
    "leaves_unset",
    "load_study",
    "metering",
    "optimizable",
    "price_for",
    "record_usage",
    "score_prediction",
]
