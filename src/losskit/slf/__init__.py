"""SLF — Stochastic Loss Function (Liu & Lai, AAAI 2020; ``shared/papers/slf.txt``).

A decision network ``h(f(x; w); v)`` turns the model's output into probabilities ``p`` over
candidate losses; ``K`` one-hot Gumbel-softmax samples are averaged into weights ``p̂``
(Eq. 9–10) and the loss is ``H = Σ_i p̂_i · l_i`` (Eq. 11), minimised over ``w`` and ``v``
together (Algorithm 1). Importing this package registers the ``"slf"`` training method.

>>> import torch
>>> from losskit.slf import StochasticLoss
>>> slf = StochasticLoss.paper(num_outputs=4, generator=0)  # the paper's setting
>>> slf(torch.randn(8, 4), torch.randint(0, 4, (8,))).shape
torch.Size([])
>>> reg = StochasticLoss("mse,mae,huber", num_outputs=1, generator=0)  # regression
>>> reg(torch.randn(8, 1), torch.randn(8, 1)).shape
torch.Size([])

Every interpretation we made, and where the paper is silent (``StochasticLoss`` /
``--method slf`` arguments in the last column; "ours" marks what is not in the paper):

================================  ====================================  ==========================
paper element                     our default                           options
================================  ====================================  ==========================
candidate set (Sec. Experiments:  ``PAPER_LOSSES`` = ``prob_mse,          ``losses``: any zoo names,
MSE, MAE, hinge, cosine           prob_mae, hinge, cosine, prob_bce``:    modules, callables;
proximity, binary CE)             MSE/MAE/cosine/BCE of softmax           regression: ``mse, mae,
                                  probabilities vs one-hot; hinge =       huber, smooth_l1,
                                  Crammer–Singer on the logits (the       log_cosh``;
                                  paper does not say on what)             ``bce`` (sigmoid) …
regression (DPP4; candidates      none: name them, e.g. ``mse,mae,        —
not stated)                       huber``; ``num_outputs`` = outputs
p = h(f(x; w); v) per sample      ``granularity="sample"``: one p, one    ``"batch"`` (ours): p =
(Eq. 4, 11)                       p̂ (K draws) per sample, H = mean_j      batch mean, K draws per
                                  Σ_i p̂_ji l_i(x_j)                       batch
h: architecture not given         MLP num_outputs→32→n, ReLU, last        ``hidden``,
                                  layer zero (p uniform at start); input  ``decision_net``
                                  = the model's logits / predictions
gradient of H w.r.t. w (Alg. 1    through the losses *and* through h      ``detach_input=True``
line 10; nothing stopped)         (``detach_input=False``)                (ours)
𝒢: Gumbel-max one-hot (Eq. 5, 7,  forward: one-hot argmax(log p + G);     ``mode="softmax"`` (the
8), relaxed by Eq. 6 for          backward: straight-through via          SLF-Softmax ablation),
gradients                         softmax((log p + G)/τ)                  ``mode="fixed"`` + weights
K draws averaged (Eq. 9–10);      ``K=3``                                 ``k``
K=3 best on MNIST (Fig. 2a)
temperature τ (Eq. 6; value not   ``τ=1``                                 ``tau``: number,
given)                                                                    ``TauSchedule``, callable
w and v: one optimizer, minimise  ``update="joint"``: one optimizer step  ``update="bilevel"``
H jointly (Alg. 1)                on H over [w, v], same learning rate    (ours): v follows the
                                                                          validation alignment
                                                                          (:mod:`~losskit.slf.
                                                                          bilevel`)
bilevel view (Eq. 1: min over v   first-order: ``val_loss`` follows the   ``val_loss="ce"|"mse"|``
of the loss at w*)                first candidate's task (``ce`` /        name / callable;
                                  ``mse``); batch from the data's         ``val_batch_size``
                                  validation split, else the training set
                                  (logged ``slf_val_split``)
loss scales                       raw (``normalize="none"``)              ``"running_mean"`` (ours)
YOLO λ balancing (Sec. Object     ``StochasticLoss.from_parts``: p̂ as     —
Detection)                        the λs (they sum to 1)
================================  ====================================  ==========================

Measured here (not hidden; ``heavy-tail`` regression, ``mse, mae, huber``, 3 seeds): joint
minimisation of ``H`` over ``v`` prefers the numerically smallest candidate — Huber (≤ both
others for every residual) in every late step, which happens to be a good loss there.
``update="bilevel"`` does not collapse onto a small but harmful candidate (a scaled-down MAE,
``tests/slf/test_regression.py``), but its first-order criterion ``Σ p̂_i ∇l_i·d`` rewards the
candidate with the *largest* aligned gradient: it selects MSE, the wrong loss under heavy-tailed
noise; with ``normalize="running_mean"`` (losses on one scale) it selects Huber.
"""

from __future__ import annotations

from losskit.slf.bilevel import ValidationLoss
from losskit.slf.decision import DecisionNet
from losskit.slf.guard import COLLAPSE_SHARE, SLFCollapseWarning
from losskit.slf.gumbel import gumbel_argmax, gumbel_softmax, multi_gumbel_softmax, sample_gumbel
from losskit.slf.loss import PAPER_LOSSES, PAPER_SETTINGS, StochasticLoss
from losskit.slf.method import SLFMethod, selection_share
from losskit.slf.schedule import TauSchedule

__all__ = [
    "COLLAPSE_SHARE",
    "PAPER_LOSSES",
    "PAPER_SETTINGS",
    "DecisionNet",
    "SLFCollapseWarning",
    "SLFMethod",
    "StochasticLoss",
    "TauSchedule",
    "ValidationLoss",
    "gumbel_argmax",
    "gumbel_softmax",
    "multi_gumbel_softmax",
    "sample_gumbel",
    "selection_share",
]
