"""UniLoss (Liu, Wang & Deng): a metric refactored into signs of score differences, relaxed
by a sigmoid and interpolated over anchors by IDW — a surrogate loss for any such metric.

>>> from losskit.uniloss import UniLoss
>>> loss = UniLoss("accuracy")(logits, target)  # doctest: +SKIP
>>> loss = UniLoss("ap")(logits, labels)  # logits (N,) or (N, 2)  # doctest: +SKIP

How UniLoss is computed here, in the paper and in the authors' code (princeton-vl/uniloss):

=============  =====================  =========================  ===========================
aspect         paper                  authors' code              ours: default → options
=============  =====================  =========================  ===========================
scores         network outputs ``s``  sigmoid outputs ``σ(s)``   raw logits (``relaxation=
compared                              (networks end in one)      "logit"``) → ``"authors"``:
                                                                 ``tanh(s/2) = 2σ(s) − 1``
relaxation     ``sigmoid(c)``         ``sigmoid(σ_i − σ_j)``     ``sigmoid(c/T)``, ``T = 1``;
``h̃``           (eq. 9)                (``2·sigmoid − 1`` in      ``"authors"``: squash and
                                      their ±1 coding)           ``T = 2``, theirs exactly
hard           ``[c > 0]``: a tie     ``sign(c)``: a tie is 0,   ``[c > 0]`` on raw scores
binaries       is lost                neither won nor lost       (``binarize``, one rule)
IDW ``g̃``       Euclidean, ``1/d``     Euclidean, ``1/d`` in ±1   Euclidean, ``power = 1`` →
(eq. 10)                              space (same weights)       ``power``, ``"manhattan"``
IDW            —                      hand-written; the 2nd      exact (closed form,
gradient                              quotient-rule term has     ``gradcheck``; = theirs
                                      the wrong sign             with the sign fixed)
anchors        truth + 16 good, bad,  same                       16 per kind + the truth
               nearby (5, 10 tried)                              (``num_anchors``, …)
good           truth, some bits       truth, 1 random bit        ``flip_bits = 1`` random
               flipped                flipped                    bit
bad            random bits            random bits                random bits
nearby         current, some bits     AP, accuracy: 1 *wrong*    ``"random"``: 1 random bit
               flipped; pose: all     bit flipped to right;      → ``"toward_truth"``; PCK:
               bits of one pixel      pose: one pixel's bits     one whole pixel (``nearby_
               (appendix A)           set (8 pos., 8 neg.)       unit="score"``), as theirs
subsampling    CIFAR-100: 20 % of     CIFAR-100: the 20 top-     none → int ``k``: top-k
               the binaries           scoring classes            (as the code); fraction:
                                                                 random columns, seeded
loss           ``−g̃``                 ``−g̃``                     ``1 − g̃`` (same gradient)
=============  =====================  =========================  ===========================

``last_surrogate`` is ``g̃`` at the relaxed configuration — the value the loss descends, a
*surrogate*, not an estimate of the metric; ``last_metric`` is the exact ``g(h(f(s, y)))`` of
the batch.

Binary metrics (AP, ROC-AUC, precision@k, F1, binary accuracy) take one logit per sample
(``(N,)`` or ``(N, 1)``, the BCE convention) or two-class logits ``(N, 2)``, whose score is
``logit_1 − logit_0``, with 0/1 targets (bool, integer or float).

``torch.compile(UniLoss(...), fullgraph=True)`` compiles every metric (the ranking metrics with
static shapes, see :mod:`losskit.uniloss.refactor`), except ``subsample`` with a ranking
metric, which is refused while compiling.
"""

from losskit.uniloss.anchors import Anchors, sample_anchors
from losskit.uniloss.interpolation import idw, sigmoid_relaxation
from losskit.uniloss.loss import RELAXATIONS, UniLoss
from losskit.uniloss.method import UniLossMethod
from losskit.uniloss.metrics import METRICS, Metric, custom_metric, resolve_metric
from losskit.uniloss.refactor import Comparisons, DegenerateBatchError, binary_scores, subsample

__all__ = [
    "METRICS",
    "RELAXATIONS",
    "Anchors",
    "Comparisons",
    "DegenerateBatchError",
    "Metric",
    "UniLoss",
    "UniLossMethod",
    "binary_scores",
    "custom_metric",
    "idw",
    "resolve_metric",
    "sample_anchors",
    "sigmoid_relaxation",
    "subsample",
]
