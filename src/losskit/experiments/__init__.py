"""Experiments: declarative specs, a resumable runner, statistics and the report.

``losskit reproduce SUITE`` → :func:`reproduce` (plan, run what is missing, then regenerate the
report); ``losskit report RESULTS`` → :func:`build_report`. The experiments themselves live in
``losskit.experiments.catalog``: suite ``paper`` (real MNIST, the papers' protocols), ``quick``
(the Fashion-MNIST-subset proxies), ``smoke`` (seconds, for tests); ``all`` = every registered
experiment (``quick`` + ``paper-full``).
"""

from losskit.experiments import catalog, paper  # noqa: F401  (register the suites)
from losskit.experiments.estimate import Estimator
from losskit.experiments.plan import Choice, Outcome, Plan, outcome
from losskit.experiments.report import build_report, readme_table, update_readme
from losskit.experiments.results import CorruptResultsError, read_results
from losskit.experiments.runner import (
    ResultsLockedError,
    RunFailure,
    RunSummary,
    reproduce,
    run_experiments,
)
from losskit.experiments.spec import (
    EXPERIMENTS,
    SUITES,
    Experiment,
    RunSpec,
    Tuning,
    Variant,
    get,
    register,
    register_suite,
    resolve,
    run_key,
    sweep_variants,
)
from losskit.experiments.stats import (
    PairedDifference,
    Summary,
    holm,
    paired_difference,
    summarize,
)

__all__ = [
    "EXPERIMENTS",
    "SUITES",
    "Choice",
    "CorruptResultsError",
    "Estimator",
    "Experiment",
    "Outcome",
    "PairedDifference",
    "Plan",
    "ResultsLockedError",
    "RunFailure",
    "RunSpec",
    "RunSummary",
    "Summary",
    "Tuning",
    "Variant",
    "build_report",
    "get",
    "holm",
    "outcome",
    "paired_difference",
    "read_results",
    "readme_table",
    "register",
    "register_suite",
    "reproduce",
    "resolve",
    "run_experiments",
    "run_key",
    "summarize",
    "sweep_variants",
    "update_readme",
]
