"""SLF — Stochastic Loss Function (Liu & Lai, AAAI 2020; ``shared/papers/slf.txt``).

A decision network ``h(f(x; w); v)`` turns the model's output into probabilities ``p`` over
candidate losses; ``K`` one-hot Gumbel-softmax samples are averaged into weights ``p̂``
(Eq. 9–10) and the loss is ``H = Σ_i p̂_i · l_i`` (Eq. 11), minimised over ``w`` and ``v``
together (Algorithm 1). Importing this package registers the ``"slf"`` training method.

>>> import torch
>>> from losskit.slf import StochasticLoss
>>> slf = StochasticLoss("ce,mse,mae", num_outputs=4, K=3, generator=0)
>>> slf(torch.randn(8, 4), torch.randint(0, 4, (8,))).shape
torch.Size([])
"""

from __future__ import annotations

from losskit.slf.decision import DecisionNet
from losskit.slf.gumbel import gumbel_argmax, gumbel_softmax, multi_gumbel_softmax, sample_gumbel
from losskit.slf.loss import StochasticLoss
from losskit.slf.method import SLFMethod, selection_share
from losskit.slf.schedule import TauSchedule

__all__ = [
    "DecisionNet",
    "SLFMethod",
    "StochasticLoss",
    "TauSchedule",
    "gumbel_argmax",
    "gumbel_softmax",
    "multi_gumbel_softmax",
    "sample_gumbel",
    "selection_share",
]
