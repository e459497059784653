"""Feature-space losses: parametric losses on penultimate-layer features ``(N, D)`` that own
per-class parameters (MILS's center and L-GM auxiliaries).

* :func:`center` — joint softmax + center loss (Wen et al. 2016, "A Discriminative Feature
  Learning Approach for Deep Face Recognition", Eq. 2 and 5): class centres ``(C, D)``;
* :func:`lgm` — the large-margin Gaussian-mixture loss (Wan et al. 2018, "Rethinking Feature
  Distribution for Loss Functions in Image Classification", Eq. 9-10): class means and
  (diagonal) covariances; :func:`lgm_logits` are its posterior logits (Eq. 6/9).

Module forms (registry names): :class:`CenterLoss` (``ce_center``: the joint supervision),
:func:`center_term` (``center``: the centre term alone), :class:`LGMLoss` (``lgm``). They need
features (``needs_features = True``) and own ``nn.Parameter`` s (``has_parameters = True``) that
must be handed to the optimizer (``LossMethod.parameters()`` does this); the Trainer passes
``num_classes`` and ``feature_dim`` as context.
"""

from __future__ import annotations

import torch
from torch import nn

from losskit.core._validation import (
    check_choice,
    check_declared,
    check_finite_float,
    check_int,
    checks,
    number,
    reduce,
)
from losskit.losses._common import check_classification, one_hot, per_sample_ce
from losskit.losses.base import Loss
from losskit.losses.registry import LOSSES

__all__ = ["center", "lgm", "lgm_logits", "CenterLoss", "center_term", "LGMLoss"]


def _check_features(
    features: torch.Tensor | None, n: int, dim: int, dim_name: str,
    validate_args: bool | None = None,
) -> torch.Tensor:
    if features is None:
        raise ValueError("features must be given (penultimate-layer features (N, D)), got None")
    check_finite_float(features, "features", validate_args)
    if features.dim() != 2 or features.shape[0] != n or features.shape[1] != dim:
        raise ValueError(
            f"features must have shape (N, D) = ({n}, {dim}) (N from input, D from {dim_name}), "
            f"got {tuple(features.shape)}"
        )
    return features


def _check_class_params(
    value: torch.Tensor, name: str, num_classes: int, like: torch.Tensor,
    validate_args: bool | None = None,
) -> None:
    check_finite_float(value, name, validate_args)
    if value.dim() != 2 or value.shape[0] != num_classes:
        raise ValueError(
            f"{name} must have shape (C, D) with C = {num_classes} classes, "
            f"got {tuple(value.shape)}"
        )
    if value.dtype != like.dtype:
        raise ValueError(f"{name} must have dtype {like.dtype} like input, got {value.dtype}")


@checks(lambda_=number(low=0.0), ce_weight=number(low=0.0))
def center(
    input: torch.Tensor,
    target: torch.Tensor,
    features: torch.Tensor | None,
    centers: torch.Tensor,
    lambda_: float = 0.01,
    ce_weight: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Joint softmax + center loss (Wen et al. 2016, Eq. 2 and 5).

    Per sample: ``ce_weight · CE(z, y) + λ · ½ ||f - c_y||²`` with ``features`` ``f (N, D)`` and
    class ``centers`` ``(C, D)``. ``ce_weight = 1`` is the paper's joint supervision ("the
    module trains a classifier on its own"); ``ce_weight = 0, lambda_ = 1`` is the bare center
    term ``½ ||f - c_y||²`` (Eq. 2). Centers are ordinary tensors here: gradients flow to them
    (the paper's separate centre update rule, Eq. 4, is replaced by the optimizer).
    """

    check_classification(input, target, reduction, "center", validate_args)
    _check_class_params(centers, "centers", input.shape[1], input, validate_args)
    f = _check_features(features, input.shape[0], centers.shape[1], "centers", validate_args)
    c_y = centers[target.long()]
    values = lambda_ * 0.5 * (f - c_y).pow(2).sum(dim=1)
    if ce_weight != 0:
        values = values + ce_weight * per_sample_ce(input, target)
    return reduce(values, reduction)


def _mahalanobis_half(
    features: torch.Tensor, means: torch.Tensor, log_covs: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``d_k = ½ (f - μ_k)ᵀ Σ_k⁻¹ (f - μ_k)`` ``(N, C)`` and ``½ log|Σ_k|`` ``(C,)``,

    for diagonal ``Σ_k = diag(exp(log_covs_k))`` or identity ``Σ_k`` when ``log_covs`` is None.
    """
    diff = features.unsqueeze(1) - means.unsqueeze(0)  # (N, C, D)
    if log_covs is None:
        d = 0.5 * diff.pow(2).sum(dim=2)
        half_logdet = features.new_zeros(means.shape[0])
    else:
        d = 0.5 * (diff.pow(2) * torch.exp(-log_covs).unsqueeze(0)).sum(dim=2)
        half_logdet = 0.5 * log_covs.sum(dim=1)
    return d, half_logdet


def lgm_logits(
    features: torch.Tensor,
    means: torch.Tensor,
    log_covs: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    alpha: float = 0.0,
) -> torch.Tensor:
    """Gaussian-mixture logits of L-GM (Wan et al. 2018, Eq. 6/9), uniform class priors:

    ``logit_k = -d_k·(1 + α·[k = y]) - ½ log|Σ_k|`` (margin only where ``target`` is given).
    Without ``target`` (``alpha`` unused) these are the posterior logits used for prediction.
    """
    d, half_logdet = _mahalanobis_half(features, means, log_covs)
    if target is not None and alpha != 0:
        d = d * (1.0 + alpha * one_hot(target, means.shape[0], d))
    return -d - half_logdet.unsqueeze(0)


@checks(alpha=number(low=0.0), lambda_=number(low=0.0), ce_weight=number(low=0.0))
def lgm(
    input: torch.Tensor,
    target: torch.Tensor,
    features: torch.Tensor | None,
    means: torch.Tensor,
    log_covs: torch.Tensor | None = None,
    alpha: float = 0.1,
    lambda_: float = 0.1,
    ce_weight: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Large-margin Gaussian-mixture loss (Wan et al. 2018, Eq. 9-10) plus optional head CE.

    Per sample: ``L_cls + λ·L_lkd + ce_weight·CE(z, y)`` where
    ``L_cls = -log softmax(lgm_logits(f, μ, Σ, y, α))_y`` (margin-adjusted GM posterior, Eq. 9),
    ``L_lkd = d_y + ½ log|Σ_y|`` (negative log-likelihood of ``f`` under its class Gaussian, up to
    a constant, Eq. 10), ``d_k = ½ (f - μ_k)ᵀ Σ_k⁻¹ (f - μ_k)``. ``log_covs (C, D)``: log of
    diagonal covariances, or ``None`` for identity covariances. ``input`` are the model head's
    logits: L-GM replaces the head by the GM layer, so the head only learns through the
    ``ce_weight`` term (``ce_weight = 0`` gives the paper's loss alone).
    """
    check_classification(input, target, reduction, "lgm", validate_args)
    _check_class_params(means, "means", input.shape[1], input, validate_args)
    if log_covs is not None:
        _check_class_params(log_covs, "log_covs", input.shape[1], input, validate_args)
        if log_covs.shape != means.shape:
            raise ValueError(
                f"log_covs must have the shape of means {tuple(means.shape)}, "
                f"got {tuple(log_covs.shape)}"
            )
    f = _check_features(features, input.shape[0], means.shape[1], "means", validate_args)
    d, half_logdet = _mahalanobis_half(f, means, log_covs)
    onehot = one_hot(target, means.shape[0], d)
    logits = -d * (1.0 + alpha * onehot) - half_logdet.unsqueeze(0)
    cls = per_sample_ce(logits, target)
    lkd = (d * onehot).sum(dim=1) + half_logdet[target.long()]
    values = cls + lambda_ * lkd
    if ce_weight != 0:
        values = values + ce_weight * per_sample_ce(input, target)
    return reduce(values, reduction)


# --------------------------------------------------------------------------- module forms
def _context_int(value: object, name: str) -> int:
    try:
        return check_int(value, name, low=1)
    except ValueError as exc:
        raise ValueError(f"{exc} (the Trainer passes it as context)") from None


@LOSSES.register("ce_center", help="softmax CE + lambda * center loss (Wen et al. 2016)")
class CenterLoss(Loss):
    """Joint supervision ``ce_weight·CE + λ·½||f - c_y||²`` (Wen et al. 2016, Eq. 5).

    Owns the class centres ``centers`` ``(num_classes, feature_dim)`` (an ``nn.Parameter``
    initialised from a standard normal, trained by the optimizer together with the model:
    the paper's separate centre learning rate ``α`` becomes the optimizer's). The default
    ``ce_weight = 1`` makes the loss train a classifier on its own (the "center loss" baseline
    of MILS Table 1 is this joint supervision); use ``ce_weight = 0`` for the bare centre term
    as an auxiliary loss next to a separate CE. ``lambda_`` defaults to 0.01 (Wen et al. use
    0.003-0.1). See :func:`center`. Registered as ``ce_center``;
    the registry's ``center`` is the centre term alone (:func:`center_term`).
    """

    needs_features = True
    has_parameters = True
    class_statistics = ("centers",)  # per-class feature means (see losskit.mils.statistics)

    def __init__(
        self,
        num_classes: int | None = None,
        feature_dim: int | None = None,
        lambda_: float = 0.01,
        ce_weight: float = 1.0,
        reduction: str = "mean",
        generator: torch.Generator | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.num_classes = _context_int(num_classes, "num_classes")
        self.feature_dim = _context_int(feature_dim, "feature_dim")
        checked = check_declared(center, lambda_=lambda_, ce_weight=ce_weight)
        self.lambda_, self.ce_weight = checked["lambda_"], checked["ce_weight"]
        self.centers = nn.Parameter(
            torch.randn(self.num_classes, self.feature_dim, generator=generator)
        )

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features is None:
            raise ValueError("features must be given: center loss needs penultimate features")
        centers = self.centers
        if centers.dtype != input.dtype:
            centers = centers.to(input.dtype)
        return center(
            input, target, features, centers,
            lambda_=self.lambda_, ce_weight=self.ce_weight, reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, "
            f"lambda_={self.lambda_}, ce_weight={self.ce_weight}, {super().extra_repr()}"
        )


@LOSSES.register("center", help="the center term alone, lambda * ½||f - c_y||² (MILS auxiliary)")
def center_term(
    num_classes: int | None = None,
    feature_dim: int | None = None,
    lambda_: float = 0.01,
    reduction: str = "mean",
    generator: torch.Generator | None = None,
    *,
    validate_args: bool | None = None,
) -> CenterLoss:
    """The centre term alone, ``λ·½||f - c_y||²`` (Wen et al. 2016, Eq. 2): a
    :class:`CenterLoss` with ``ce_weight = 0`` — MILS's "only center loss involved" auxiliary,
    with the joint's ``λ`` (so ``ce_center`` = ``ce`` + ``center``). It does not train the
    classifier head; for the joint supervision use ``ce_center``."""
    return CenterLoss(
        num_classes, feature_dim, lambda_=lambda_, ce_weight=0.0, reduction=reduction,
        generator=generator, validate_args=validate_args,
    )


@LOSSES.register("lgm", help="large-margin Gaussian-mixture loss (Wan et al. 2018); learns means")
class LGMLoss(Loss):
    """L-GM loss ``L_cls(α) + λ·L_lkd + ce_weight·CE(head)`` (Wan et al. 2018, Eq. 9-10).

    Owns the class means ``means`` ``(num_classes, feature_dim)`` (standard-normal init) and,
    with ``covariance="diagonal"``, ``log_covs`` (zeros: identity start); ``"identity"`` keeps
    ``Σ_k = I`` (the paper's simplified variant). Defaults ``alpha = 0.1`` (the authors' start
    value for the margin) and ``lambda_ = 0.1``. The model's own head is trained by the
    ``ce_weight`` CE term (default 1, so a model trained with ``lgm`` alone still classifies with
    its head); predictions of the GM layer itself come from :meth:`logits`. See
    :func:`lgm`.
    """

    needs_features = True
    has_parameters = True
    class_statistics = ("means", "log_covs")  # see losskit.mils.statistics

    def __init__(
        self,
        num_classes: int | None = None,
        feature_dim: int | None = None,
        alpha: float = 0.1,
        lambda_: float = 0.1,
        ce_weight: float = 1.0,
        covariance: str = "identity",
        reduction: str = "mean",
        generator: torch.Generator | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.num_classes = _context_int(num_classes, "num_classes")
        self.feature_dim = _context_int(feature_dim, "feature_dim")
        checked = check_declared(lgm, alpha=alpha, lambda_=lambda_,
                                        ce_weight=ce_weight)
        self.alpha, self.lambda_ = checked["alpha"], checked["lambda_"]
        self.ce_weight = checked["ce_weight"]
        self.covariance = check_choice(covariance, ("identity", "diagonal"), "covariance")
        self.means = nn.Parameter(
            torch.randn(self.num_classes, self.feature_dim, generator=generator)
        )
        self.log_covs: nn.Parameter | None = (
            nn.Parameter(torch.zeros(self.num_classes, self.feature_dim))
            if covariance == "diagonal"
            else None
        )

    def _params(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        means = self.means if self.means.dtype == dtype else self.means.to(dtype)
        log_covs = self.log_covs
        if log_covs is not None and log_covs.dtype != dtype:
            log_covs = log_covs.to(dtype)
        return means, log_covs

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """GM posterior logits ``-d_k - ½ log|Σ_k|`` ``(N, C)`` (no margin) for prediction."""
        check_finite_float(features, "features", self.validate_args)
        if features.dim() != 2 or features.shape[1] != self.feature_dim:
            raise ValueError(
                f"features must have shape (N, {self.feature_dim}), got {tuple(features.shape)}"
            )
        means, log_covs = self._params(features.dtype)
        return lgm_logits(features, means, log_covs)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features is None:
            raise ValueError("features must be given: L-GM loss needs penultimate features")
        means, log_covs = self._params(input.dtype)
        return lgm(
            input, target, features, means, log_covs,
            alpha=self.alpha, lambda_=self.lambda_, ce_weight=self.ce_weight,
            reduction=self.reduction, validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, feature_dim={self.feature_dim}, "
            f"alpha={self.alpha}, lambda_={self.lambda_}, ce_weight={self.ce_weight}, "
            f"covariance={self.covariance!r}, {super().extra_repr()}"
        )
