"""Experiments: declarative specs, a resumable runner, statistics and the report.

``losskit reproduce SUITE`` → :func:`reproduce` (run what is missing, then regenerate the report);
``losskit report RESULTS`` → :func:`build_report`. The paper experiments themselves live in
``losskit.experiments.catalog`` (registered on import when that module exists).
"""

from importlib.util import find_spec as _find_spec

from losskit.experiments.report import build_report, readme_table, update_readme
from losskit.experiments.runner import (
    CorruptResultsError,
    RunFailure,
    RunSummary,
    read_results,
    reproduce,
    run_experiments,
)
from losskit.experiments.spec import (
    EXPERIMENTS,
    SUITES,
    Experiment,
    RunSpec,
    Variant,
    get,
    register,
    register_suite,
    resolve,
    run_key,
    sweep_variants,
)
from losskit.experiments.stats import PairedDifference, Summary, paired_difference, summarize

if _find_spec("losskit.experiments.catalog") is not None:  # the lead's paper experiments
    from losskit.experiments import catalog  # noqa: F401

__all__ = [
    "EXPERIMENTS",
    "SUITES",
    "CorruptResultsError",
    "Experiment",
    "PairedDifference",
    "RunFailure",
    "RunSpec",
    "RunSummary",
    "Summary",
    "Variant",
    "build_report",
    "get",
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
