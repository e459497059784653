"""The loss zoo as pure functions: ``loss(input, target, ..., reduction="mean")``, one
namespace over the family modules that define them.

Every function validates its arguments (one ``ValueError`` naming the argument), computes one
loss value per sample and reduces it with ``reduction`` (``"mean" | "sum" | "none"``; ``"none"``
gives the per-sample values, shape ``(N,)``). The output follows the input's dtype and device.

**Classification** losses take logits ``input`` of shape ``(N, C)`` and integer class indices
``target`` of shape ``(N,)``. The SLF paper's candidate set (Sec. "Experiments": mean squared,
mean absolute, hinge, cosine proximity, binary cross-entropy) compares **softmax
probabilities** ``p = softmax(input)`` with the **one-hot** target: :func:`prob_mse`,
:func:`prob_mae`, :func:`prob_bce`, :func:`cosine` (:func:`hinge` works on the logits).

**Regression** losses (:func:`mse`, :func:`mae`, :func:`huber`, :func:`smooth_l1`,
:func:`log_cosh`) take real-valued predictions ``input`` ``(N,)`` or ``(N, D)`` and a
floating-point ``target`` of the same shape (``(N, 1)`` against ``(N,)`` is accepted either
way round, never broadcast to ``(N, N)``). Per sample they average over the ``D`` outputs, so
``reduction="mean"`` equals torch's ``F.mse_loss`` / ``F.l1_loss`` / ``F.huber_loss`` /
``F.smooth_l1_loss``; ``"sum"`` sums the per-sample means (torch's ``"sum"`` divided by ``D``).

A target of the wrong task (real values for a classification loss — other than class
probabilities of the input's shape for the cross-entropy family —, class indices for a
regression loss) raises one ``ValueError`` naming the loss. **Deprecated until losskit 0.2**:
:func:`mse` / :func:`mae` called with ``(N, C ≥ 2)`` logits and integer class indices ``(N,)``
— the old meaning of these names — compute :func:`prob_mse` / :func:`prob_mae` (same numbers as
before) and emit a :class:`~losskit.losses.base.LosskitDeprecationWarning` (a
``DeprecationWarning``); from 0.2 that call raises the regression loss's ``ValueError``.

The cross-entropy family (:func:`cross_entropy`, :func:`label_smoothing`, :func:`focal`,
:func:`poly1`) follows ``torch.nn.functional.cross_entropy``'s conventions, so it is a drop-in:
``input`` ``(N, C)`` or ``(N, C, d1, …)``; ``target`` class indices ``(N,)`` / ``(N, d1, …)`` or
class probabilities of ``input``'s shape (soft targets); ``weight`` ``(C,)`` multiplies each
element's loss by ``weight[y]`` (soft targets: ``weight_c`` inside the sum over classes);
elements whose label is ``ignore_index`` (default ``-100``) contribute 0; ``"mean"`` divides by
``Σ weight[y]`` over the elements not ignored (their count without ``weight``; soft targets:
the number of elements); ``"none"`` returns shape ``(N, d1, …)``.

Value checks (NaN/Inf scan of the inputs, label range) read tensor values, i.e. synchronise
with the device. They follow :func:`losskit.check_values`: each function takes
``validate_args`` (``None``: the global switch :func:`losskit.set_validate_args`); they are off
while ``torch.compile`` traces. **Non-finite inputs**: with value checks on they raise
``ValueError``; with value checks off the losses follow torch and return inf/nan (which is what
an fp16 ``GradScaler`` needs to skip an overflowing step: the training loop evaluates losses
with value checks off while a ``GradScaler`` is in use). Shape and dtype checks always run.

The families (each module holds the functional forms, their module forms and the papers):

==============================================  ==============================================
module                                          functions
==============================================  ==============================================
:mod:`~losskit.losses.cross_entropy`            ``cross_entropy``, ``label_smoothing``,
                                                ``poly1``, ``focal``
:mod:`~losskit.losses.binary`                   ``binary_cross_entropy_with_logits``,
                                                ``binary_focal``
:mod:`~losskit.losses.probability`              ``prob_mse``, ``prob_mae``, ``prob_bce``,
                                                ``cosine``, ``log1m_softmax`` (SLF candidates)
:mod:`~losskit.losses.margin`                   ``hinge``, ``multi_margin``
:mod:`~losskit.losses.regression`               ``mse``, ``mae``, ``huber``, ``smooth_l1``,
                                                ``log_cosh``
:mod:`~losskit.losses.feature`                  ``center``, ``lgm``, ``lgm_logits``
:mod:`~losskit.losses.heatmap`                  ``heatmap_mse``, ``gaussian_heatmap``
:mod:`~losskit.losses.robust` (label noise)     ``gce``, ``sce``, ``rce``, ``nce``, ``nce_rce``
:mod:`~losskit.losses.imbalance`                ``logit_adjusted_ce``, ``ldam``
==============================================  ==============================================

This namespace re-exports the first seven families (``from losskit.losses.functional import
focal``); the label-noise and imbalance losses live in their own modules.
"""

from __future__ import annotations

from losskit.losses.binary import binary_cross_entropy_with_logits, binary_focal
from losskit.losses.cross_entropy import cross_entropy, focal, label_smoothing, poly1
from losskit.losses.family import at_target as _at_target  # noqa: F401 - the old private name
from losskit.losses.family import ce_args as _ce_args  # noqa: F401 - the old private name
from losskit.losses.family import ce_reduce as _ce_reduce  # noqa: F401 - the old private name
from losskit.losses.feature import center, lgm, lgm_logits
from losskit.losses.heatmap import gaussian_heatmap, heatmap_mse
from losskit.losses.margin import HINGE_VARIANTS, hinge, multi_margin
from losskit.losses.probability import cosine, log1m_softmax, prob_bce, prob_mae, prob_mse
from losskit.losses.regression import huber, log_cosh, mae, mse, smooth_l1

__all__ = [
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "prob_mse",
    "prob_mae",
    "prob_bce",
    "log1m_softmax",
    "mse",
    "mae",
    "huber",
    "smooth_l1",
    "log_cosh",
    "hinge",
    "cosine",
    "focal",
    "binary_focal",
    "multi_margin",
    "label_smoothing",
    "poly1",
    "center",
    "lgm",
    "lgm_logits",
    "heatmap_mse",
    "gaussian_heatmap",
    "HINGE_VARIANTS",
]
