"""Loss weighting: train with ``L = Σ_i w_i L_i`` over several losses of one output, the
weights learned or scheduled.

* :class:`UncertaintyWeighting` — Kendall et al. 2018: ``Σ_i exp(−s_i) L_i + s_i``, learned
  log-variances ``s`` (``--method uncertainty``);
* :class:`DynamicWeightAverage` — Liu et al. 2019: weights from the last two epochs' loss
  ratios, temperature ``T = 2`` (``--method dwa``);
* :class:`GradNorm` — Chen et al. 2018: weights that balance the gradient norms on the last
  shared layer, ``α = 1.5`` (``--method gradnorm``);
* :class:`FixedWeighting` — constant weights, default 1 (``--method fixed``).

Each takes the candidate losses as SLF does (``"ce,prob_mae,rce"`` or a list of names, modules
or callables) and is called like a loss, ``weighting(logits, target) -> scalar``:

>>> import torch
>>> from losskit.weighting import UncertaintyWeighting
>>> uw = UncertaintyWeighting("ce,prob_mae", context={"num_classes": 3})
>>> loss = uw(torch.zeros(4, 3), torch.tensor([0, 1, 2, 0]))
>>> round(loss.item(), 4)  # s = 0: CE = log 3, prob_mae = 2 (1 − 1/3) / 3
1.5431
>>> uw.last_weights
tensor([1., 1.])

The training methods (:mod:`losskit.weighting.method`) build them with the run's context, put
their parameters in the optimizer and log the weights per epoch.
"""

from losskit.weighting.base import EpochMeans, LossWeighting, build_losses
from losskit.weighting.dwa import DynamicWeightAverage, dwa_weights
from losskit.weighting.fixed import FixedWeighting
from losskit.weighting.gradnorm import GradNorm, shared_parameter
from losskit.weighting.uncertainty import UncertaintyWeighting

__all__ = [
    "DynamicWeightAverage",
    "EpochMeans",
    "FixedWeighting",
    "GradNorm",
    "LossWeighting",
    "UncertaintyWeighting",
    "build_losses",
    "dwa_weights",
    "shared_parameter",
]
