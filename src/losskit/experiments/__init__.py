"""Experiments: declarative specs, a resumable runner, statistics and the report.

``losskit reproduce SUITE`` → :func:`reproduce` (plan, run what is missing, then regenerate the
report); ``losskit report RESULTS`` → :func:`build_report`. The experiments themselves live in
``losskit.experiments.catalog``: suite ``paper`` (real MNIST, the papers' protocols), ``quick``
(the Fashion-MNIST-subset proxies), ``imbalanced-ap`` (p7: the docs' relaxation advice),
``smoke`` (seconds, for tests); ``all`` = every registered experiment (``quick`` +
``paper-full`` + ``imbalanced-ap``).

Every comparison names the claim it tests and its evidence kind; the report applies Holm within
a primary family (the papers' direct claims) and one secondary family per paper
(:mod:`losskit.experiments.spec`). Every record carries its code version
(:mod:`losskit.experiments.version`), part of the run key.
"""

from losskit.experiments import catalog, choosing, paper  # noqa: F401  (register the suites)
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
    EVIDENCE,
    EXPERIMENTS,
    SUITES,
    Experiment,
    RunSpec,
    Tuning,
    Variant,
    config_key,
    get,
    log_grid,
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
    robust_outliers,
    sign_test,
    summarize,
    wilcoxon_signed_rank,
)
from losskit.experiments.version import CodeVersion, code_version, src_hash

__all__ = [
    "EVIDENCE",
    "EXPERIMENTS",
    "SUITES",
    "Choice",
    "CodeVersion",
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
    "code_version",
    "config_key",
    "get",
    "holm",
    "log_grid",
    "outcome",
    "paired_difference",
    "read_results",
    "readme_table",
    "register",
    "register_suite",
    "reproduce",
    "resolve",
    "robust_outliers",
    "run_experiments",
    "run_key",
    "sign_test",
    "src_hash",
    "summarize",
    "sweep_variants",
    "update_readme",
    "wilcoxon_signed_rank",
]
