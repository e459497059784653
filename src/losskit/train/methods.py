"""The training methods known by name (``--method``, ``TrainConfig.method``, experiment specs,
``LossKitModule``): one registration line per method; each adapter lives next to its paper's
core (``losskit/<pkg>/method.py``)."""

from __future__ import annotations

from losskit.core.method import Method
from losskit.core.registry import Registry
from losskit.losses.method import LossMethod
from losskit.mils.method import MILSMethod
from losskit.slf.method import SLFMethod
from losskit.uniloss.method import UniLossMethod
from losskit.weighting.method import DWAMethod, FixedMethod, GradNormMethod, UncertaintyMethod

METHODS: Registry[Method] = Registry("method")
METHODS.register("loss", LossMethod, help="plain training with one loss from the zoo")
METHODS.register("slf", SLFMethod,
                 help="Stochastic Loss Function: learnt Gumbel selection of losses")
METHODS.register("uniloss", UniLossMethod,
                 help="UniLoss: a metric refactored into binaries + IDW surrogate")
METHODS.register("mils", MILSMethod,
                 help="MILS: primary loss + scheduled auxiliary losses (rollback)")
METHODS.register("uncertainty", UncertaintyMethod,
                 help="uncertainty weighting: sum exp(-s_i) L_i + s_i, s learned (Kendall)")
METHODS.register("dwa", DWAMethod,
                 help="Dynamic Weight Average: weights from epoch loss ratios (Liu et al.)")
METHODS.register("gradnorm", GradNormMethod,
                 help="GradNorm: weights balancing gradient norms on the last layer (Chen)")
METHODS.register("fixed", FixedMethod, help="fixed loss weights: sum w_i L_i (default w = 1)")
