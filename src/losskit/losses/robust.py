"""Losses robust to label noise: generalized cross-entropy, symmetric cross-entropy, and the
normalized / active-passive losses. Functional forms and ``nn.Module`` forms, registered as
``gce``, ``sce``, ``rce``, ``nce`` and ``nce+rce``.

With ``p = softmax(z)`` and the label ``y``:

* ``gce`` (Zhang & Sabuncu 2018, Eq. 6): ``L_q = (1 − p_y^q) / q``, ``q ∈ (0, 1]``; ``q → 0``
  is cross-entropy, ``q = 1`` is ``1 − p_y`` (= MAE ``Σ_k |p_k − onehot_k|`` / 2);
* ``rce`` (Wang et al. 2019, Eq. 3): reverse cross-entropy ``−Σ_k p_k log q_k`` of the one-hot
  label distribution ``q`` with ``log 0`` replaced by ``A``: ``−A (1 − p_y)``;
* ``sce`` (Wang et al. 2019, Eq. 4): ``α·CE + β·RCE``;
* ``nce`` (Ma et al. 2020, Eq. 4): normalized cross-entropy
  ``(−log p_y) / (−Σ_k log p_k)`` ∈ ``(0, 1]``;
* ``nce+rce`` (Ma et al. 2020, Eq. 6, the "active-passive loss" APL): ``α·NCE + β·RCE``.

They follow the cross-entropy family's conventions (:mod:`losskit.losses.family`) for
class-index targets: ``input`` ``(N, C)`` or ``(N, C, d1, …)``, ``target`` ``(N,)`` /
``(N, d1, …)``, ``weight`` (``"mean"`` divides by ``Σ weight[y]``), ``ignore_index``; the module
forms also take ``class_balanced_beta`` / ``drw_epoch`` (:mod:`losskit.losses.priors`). Soft
(class-probability) targets are refused: the papers define these losses for labels.

==========================  ====================================  ==========================
paper                       our default                           options
==========================  ====================================  ==========================
GCE ``q = 0.7``             ``q = 0.7``                           ``q ∈ (0, 1]``; the
(Zhang & Sabuncu, all       ``p_y^q`` as ``exp(q·log p_y)``, no   truncated ``L_trunc`` is
experiments)                clamp (the APL code clamps p ≥ 1e-7)  not provided
SCE CIFAR-10: α = 0.1,      ``alpha = 0.1, beta = 1.0``           CIFAR-100: α = 6, β = 0.1;
β = 1.0, ``A = −4``         ``log_zero = −4`` (the paper's A)     the authors' code clamps
                                                                  q ≥ 1e-4:
                                                                  ``log_zero=log(1e-4)``
                                                                  (≈ −9.21)
NCE+RCE: α, β per data set  ``alpha = 1, beta = 1`` (CIFAR-10)    authors' configs: MNIST
                            ``log_zero = −4``                     α = 1, β = 10; CIFAR-100
                                                                  α = 10, β = 0.1
==========================  ====================================  ==========================
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from losskit.core._validation import check_number, checks, number
from losskit.losses.family import FamilyLoss, class_index_loss
from losskit.losses.registry import LOSSES

__all__ = ["gce", "rce", "sce", "nce", "nce_rce",
           "GCELoss", "RCELoss", "SCELoss", "NCELoss", "NCERCELoss"]

#: the paper's ``A`` (Wang et al. 2019, Sec. 3.2): ``log 0`` of the one-hot label distribution
LOG_ZERO = -4.0


def _negative(value: object, name: str) -> float:
    value = check_number(value, name)
    if value >= 0:
        raise ValueError(f"{name} must be < 0 (it stands for log 0), got {value}")
    return value


def _nll(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``−log p_y`` per element of the logits ``z``."""
    return F.cross_entropy(z, y, reduction="none")


def _rce_of_nll(nll: torch.Tensor, log_zero: float) -> torch.Tensor:
    """``−A (1 − p_y)`` from ``−log p_y`` (``1 − p_y = −expm1(log p_y)``)."""
    return log_zero * torch.expm1(-nll)


def _nce_parts(z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(−log p_y, −Σ_k log p_k)`` per element, from one log-softmax."""
    logp = F.log_softmax(z, dim=1)
    return -logp.gather(1, y.unsqueeze(1)).squeeze(1), -logp.sum(dim=1)


def _nce_values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    nll, normalizer = _nce_parts(z, y)
    return nll / normalizer


@checks(q=number(low=0.0, low_open=True, high=1.0))
def gce(
    input: torch.Tensor,
    target: torch.Tensor,
    q: float = 0.7,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Generalized cross-entropy (Zhang & Sabuncu 2018, Eq. 6): ``(1 − p_y^q) / q``.

    ``q ∈ (0, 1]``: the Box-Cox transform of ``p_y``; ``q → 0`` gives cross-entropy ``−log p_y``,
    ``q = 1`` gives ``1 − p_y`` (MAE up to the factor 2). Computed as
    ``−expm1(−q·(−log p_y)) / q``, accurate for small ``q``.
    """

    def values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -torch.expm1(-q * _nll(z, y)) / q

    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "gce", values)


@checks(log_zero=_negative)
def rce(
    input: torch.Tensor,
    target: torch.Tensor,
    log_zero: float = LOG_ZERO,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Reverse cross-entropy (Wang et al. 2019, Eq. 3): ``−Σ_k p_k log q_k`` with the one-hot
    label distribution ``q`` and ``log 0 := log_zero`` (the paper's ``A = −4``), i.e.
    ``−A·(1 − p_y)``. A bounded, symmetric ("passive") loss."""

    def values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _rce_of_nll(_nll(z, y), log_zero)

    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "rce", values)


@checks(alpha=number(low=0.0), beta=number(low=0.0), log_zero=_negative)
def sce(
    input: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 0.1,
    beta: float = 1.0,
    log_zero: float = LOG_ZERO,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Symmetric cross-entropy (Wang et al. 2019, Eq. 4): ``α·CE + β·RCE``,
    ``RCE = −A·(1 − p_y)`` (:func:`rce`). Defaults: the paper's CIFAR-10 setting ``α = 0.1,
    β = 1``, ``A = −4`` (CIFAR-100: ``α = 6, β = 0.1``)."""

    def values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nll = _nll(z, y)
        return alpha * nll + beta * _rce_of_nll(nll, log_zero)

    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "sce", values)


def nce(
    input: torch.Tensor,
    target: torch.Tensor,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Normalized cross-entropy (Ma et al. 2020, Eq. 4):
    ``(−log p_y) / (−Σ_k log p_k)`` ∈ ``(0, 1]``; noise-tolerant (Theorem 1) but
    underfits alone — pair it with a passive loss (:func:`nce_rce`)."""
    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "nce", _nce_values)


@checks(alpha=number(low=0.0), beta=number(low=0.0), log_zero=_negative)
def nce_rce(
    input: torch.Tensor,
    target: torch.Tensor,
    alpha: float = 1.0,
    beta: float = 1.0,
    log_zero: float = LOG_ZERO,
    reduction: str = "mean",
    *,
    weight: torch.Tensor | None = None,
    ignore_index: int = -100,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """The active-passive loss NCE+RCE (Ma et al. 2020, Eq. 6): ``α·NCE + β·RCE``.

    Defaults ``α = β = 1`` (the authors' CIFAR-10 setting; their configs use MNIST ``α = 1,
    β = 10`` and CIFAR-100 ``α = 10, β = 0.1``); ``RCE`` with ``A = log_zero = −4``.
    """

    def values(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        nll, normalizer = _nce_parts(z, y)
        return alpha * nll / normalizer + beta * _rce_of_nll(nll, log_zero)

    return class_index_loss(input, target, reduction, weight, ignore_index, validate_args,
                            "nce+rce", values)


# --------------------------------------------------------------------------- modules
@LOSSES.register("gce", help="generalized cross-entropy (1 - p_y^q)/q (Zhang & Sabuncu 2018)")
class GCELoss(FamilyLoss):
    """Generalized cross-entropy, see :func:`gce`."""

    function = staticmethod(gce)

    def __init__(self, q: float = 0.7, reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(q=q)


@LOSSES.register("rce", help="reverse cross-entropy -A (1 - p_y), A = -4 (Wang et al. 2019)")
class RCELoss(FamilyLoss):
    """Reverse cross-entropy, see :func:`rce`."""

    function = staticmethod(rce)

    def __init__(self, log_zero: float = LOG_ZERO, reduction: str = "mean",
                 **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(log_zero=log_zero)


@LOSSES.register("sce", help="symmetric cross-entropy alpha CE + beta RCE (Wang et al. 2019)")
class SCELoss(FamilyLoss):
    """Symmetric cross-entropy, see :func:`sce` (defaults: the paper's CIFAR-10 setting)."""

    function = staticmethod(sce)

    def __init__(self, alpha: float = 0.1, beta: float = 1.0, log_zero: float = LOG_ZERO,
                 reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(alpha=alpha, beta=beta, log_zero=log_zero)


@LOSSES.register("nce", help="normalized cross-entropy (Ma et al. 2020)")
class NCELoss(FamilyLoss):
    """Normalized cross-entropy, see :func:`nce`."""

    function = staticmethod(nce)

    def __init__(self, reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)


@LOSSES.register("nce+rce", help="active-passive loss alpha NCE + beta RCE (Ma et al. 2020)")
class NCERCELoss(FamilyLoss):
    """The active-passive loss NCE+RCE, see :func:`nce_rce`."""

    function = staticmethod(nce_rce)

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, log_zero: float = LOG_ZERO,
                 reduction: str = "mean", **family: Any) -> None:
        super().__init__(reduction, **family)
        self._set_hyperparameters(alpha=alpha, beta=beta, log_zero=log_zero)
