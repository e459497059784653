"""MILS — Multiple Independent Losses Scheduling (paper in ``shared/papers/mils.txt``).

A primary loss trains most steps; with probability ``participation`` an auxiliary loss trains a
step instead, and its update is kept only if the accuracy on an observation set does not drop —
otherwise everything is rolled back bitwise and the primary loss trains that batch. Beyond the
paper, ``accept="gradient"`` / ``"project"`` judge the auxiliary gradient by its cosine with the
primary one instead (no observation set, no rollback). Where we interpret or depart from the
paper: the table in :mod:`losskit.mils.scheduling`.

>>> from losskit.mils import MILS  # MILS(model, optimizer, "ce", "multi_margin", 0.1, (x, y))
"""

from losskit.mils.acceptance import ACCEPTS, GradientTest, gradient_test
from losskit.mils.counters import MILSStats
from losskit.mils.guards import check_optimizer_owner, warn_all_ties
from losskit.mils.method import MILSMethod
from losskit.mils.observation import (
    check_label_width,
    check_observation,
    materialise,
    observation_counts,
    observation_set_from,
    sample_observation,
)
from losskit.mils.scheduling import MILS, MILSStepResult, resolve_auxiliaries, resolve_loss
from losskit.mils.selection import AuxSelector
from losskit.mils.snapshot import TrainingStateSnapshot
from losskit.mils.statistics import class_statistics, estimate_class_means

__all__ = [
    "ACCEPTS",
    "MILS",
    "AuxSelector",
    "GradientTest",
    "MILSMethod",
    "MILSStats",
    "MILSStepResult",
    "TrainingStateSnapshot",
    "check_label_width",
    "check_observation",
    "check_optimizer_owner",
    "class_statistics",
    "estimate_class_means",
    "gradient_test",
    "materialise",
    "observation_counts",
    "observation_set_from",
    "resolve_auxiliaries",
    "resolve_loss",
    "sample_observation",
    "warn_all_ties",
]
