"""``nn.Module`` mirrors of :mod:`losskit.losses.functional`, registered in ``LOSSES``.

Each class stores its hyper-parameters (validated at construction: one ``ValueError`` naming
the argument), declares its ``task`` and calls the functional form in :meth:`forward`.
Registry names:

* classification: ``ce, bce, prob_mse, prob_mae, prob_bce, hinge, cosine, focal,
  binary_focal, multi_margin, label_smoothing, poly1, center, ce_center, lgm, heatmap_mse``
  (``center`` is the centre term alone; ``ce_center`` the joint CE + centre loss);
* regression: ``mse, mae, huber, smooth_l1, log_cosh`` (torch's meaning of these names).

``mse`` / ``mae`` given class indices fall back to ``prob_mse`` / ``prob_mae`` with a
deprecation warning until losskit 0.2 (see :mod:`losskit.losses.functional`).

The two parametric losses (``center``, ``lgm``) need penultimate features
(``needs_features = True``) and own ``nn.Parameter`` s (``has_parameters = True``) that must be
handed to the optimizer (``LossMethod.parameters()`` does this).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from losskit._validation import check_finite_float
from losskit.losses import functional as LF
from losskit.losses.base import Loss
from losskit.losses.registry import LOSSES

__all__ = [
    "CrossEntropyLoss",
    "BinaryCrossEntropyLoss",
    "ProbMSELoss",
    "ProbMAELoss",
    "ProbBCELoss",
    "MSELoss",
    "MAELoss",
    "HuberLoss",
    "SmoothL1Loss",
    "LogCoshLoss",
    "HingeLoss",
    "CosineLoss",
    "FocalLoss",
    "BinaryFocalLoss",
    "MultiMarginLoss",
    "LabelSmoothingLoss",
    "Poly1Loss",
    "CenterLoss",
    "center_term",
    "LGMLoss",
    "HeatmapMSELoss",
]


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{name} must be a positive integer, got {value!r} (the Trainer passes it as context)"
        )
    return int(value)


class _CrossEntropyFamily(Loss):
    """``weight`` (a ``(C,)`` buffer, moved with the module) and ``ignore_index`` as in
    ``torch.nn.CrossEntropyLoss`` (see :mod:`losskit.losses.functional`)."""

    weight: torch.Tensor | None

    def __init__(
        self,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        if isinstance(ignore_index, bool) or not isinstance(ignore_index, int):
            raise ValueError(f"ignore_index must be an int, got {ignore_index!r}")
        self.ignore_index = ignore_index
        self.register_buffer("weight", None if weight is None else _class_weights(weight))

    def _ce_kwargs(self) -> dict[str, Any]:
        return {"weight": self.weight, "ignore_index": self.ignore_index,
                "validate_args": self.validate_args}

    def extra_repr(self) -> str:
        extra = "" if self.weight is None else f", weight={self.weight.tolist()}"
        if self.ignore_index != -100:
            extra += f", ignore_index={self.ignore_index}"
        return super().extra_repr() + extra


def _class_weights(weight: torch.Tensor | Sequence[float]) -> torch.Tensor:
    """Class weights as a float tensor, validated once (finite, ``>= 0``, 1-D)."""
    try:
        w = torch.as_tensor(weight).detach().clone()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"weight must be a sequence of numbers, got {weight!r}") from exc
    if not w.is_floating_point():
        w = w.float()
    if w.dim() != 1 or not bool((torch.isfinite(w) & (w >= 0)).all()):
        raise ValueError(f"weight must be one finite weight >= 0 per class, got {weight!r}")
    return w


@LOSSES.register("ce", help="softmax cross-entropy (the MILS primary / 'softmax loss')")
class CrossEntropyLoss(_CrossEntropyFamily):
    """Softmax cross-entropy, see :func:`~losskit.losses.functional.cross_entropy`."""

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.cross_entropy(input, target, reduction=self.reduction, **self._ce_kwargs())


BCE_ACTIVATIONS = ("sigmoid", "softmax")


@LOSSES.register("bce", help="one-vs-all binary cross-entropy (activation sigmoid | softmax)")
class BinaryCrossEntropyLoss(Loss):
    """One-vs-all binary cross-entropy.

    ``activation="sigmoid"`` (default): a sigmoid per output, binary / multi-hot / class-index
    targets, see :func:`~losskit.losses.functional.binary_cross_entropy_with_logits`.
    ``activation="softmax"``: binary cross-entropy of the softmax probabilities against the
    one-hot class target, the SLF paper's "binary cross-entropy" candidate on a softmax
    classifier (= ``prob_bce``, :func:`~losskit.losses.functional.prob_bce`).
    """

    def __init__(
        self,
        activation: str = "sigmoid",
        reduction: str = "mean",
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        if activation not in BCE_ACTIVATIONS:
            raise ValueError(f"activation must be one of {BCE_ACTIVATIONS}, got {activation!r}")
        self.activation = activation

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        fn = LF.prob_bce if self.activation == "softmax" else LF.binary_cross_entropy_with_logits
        return fn(input, target, reduction=self.reduction, validate_args=self.validate_args)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, {super().extra_repr()}"


class _Functional(Loss):
    """A loss without hyper-parameters: ``forward`` calls the functional form ``_fn``
    (a ``staticmethod`` set by the subclass)."""

    _fn: Callable[..., torch.Tensor]

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return type(self)._fn(
            input, target, reduction=self.reduction, validate_args=self.validate_args
        )


@LOSSES.register("prob_bce", help="binary cross-entropy of softmax probabilities vs one-hot (SLF)")
class ProbBCELoss(_Functional):
    """BCE of softmax probabilities vs one-hot, see :func:`~losskit.losses.functional.prob_bce`."""

    _fn = staticmethod(LF.prob_bce)


@LOSSES.register("prob_mse", help="mean squared error of softmax probabilities vs one-hot (SLF)")
class ProbMSELoss(_Functional):
    """MSE of softmax probabilities vs one-hot, see :func:`~losskit.losses.functional.prob_mse`."""

    _fn = staticmethod(LF.prob_mse)


@LOSSES.register("prob_mae", help="mean absolute error of softmax probabilities vs one-hot (SLF)")
class ProbMAELoss(_Functional):
    """MAE of softmax probabilities vs one-hot, see :func:`~losskit.losses.functional.prob_mae`."""

    _fn = staticmethod(LF.prob_mae)


# --------------------------------------------------------------------------- regression
@LOSSES.register("mse", help="mean squared error, regression (torch F.mse_loss)")
class MSELoss(_Functional):
    """Mean squared error, see :func:`~losskit.losses.functional.mse` (class-index targets:
    deprecated ``prob_mse`` fallback until losskit 0.2)."""

    task = "regression"
    class_index_fallback = True  # deprecated prob_* call, until 0.2
    _fn = staticmethod(LF.mse)


@LOSSES.register("mae", help="mean absolute error, regression (torch F.l1_loss)")
class MAELoss(_Functional):
    """Mean absolute error, see :func:`~losskit.losses.functional.mae` (class-index targets:
    deprecated ``prob_mae`` fallback until losskit 0.2)."""

    task = "regression"
    class_index_fallback = True  # deprecated prob_* call, until 0.2
    _fn = staticmethod(LF.mae)


@LOSSES.register("log_cosh", help="log(cosh(input - target)), regression")
class LogCoshLoss(_Functional):
    """Log-cosh loss, see :func:`~losskit.losses.functional.log_cosh`."""

    task = "regression"
    _fn = staticmethod(LF.log_cosh)


@LOSSES.register("huber", help="Huber loss with threshold delta, regression (torch F.huber_loss)")
class HuberLoss(Loss):
    """Huber loss, see :func:`~losskit.losses.functional.huber`."""

    task = "regression"

    def __init__(
        self, delta: float = 1.0, reduction: str = "mean", *, validate_args: bool | None = None
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.delta = LF._check_number(delta, "delta", low=0.0, low_open=True)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.huber(input, target, delta=self.delta, reduction=self.reduction,
                        validate_args=self.validate_args)

    def extra_repr(self) -> str:
        return f"delta={self.delta}, {super().extra_repr()}"


@LOSSES.register("smooth_l1", help="smooth L1 with threshold beta, regression (F.smooth_l1_loss)")
class SmoothL1Loss(Loss):
    """Smooth L1 loss, see :func:`~losskit.losses.functional.smooth_l1`."""

    task = "regression"

    def __init__(
        self, beta: float = 1.0, reduction: str = "mean", *, validate_args: bool | None = None
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.beta = LF._check_number(beta, "beta", low=0.0)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.smooth_l1(input, target, beta=self.beta, reduction=self.reduction,
                            validate_args=self.validate_args)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, {super().extra_repr()}"


@LOSSES.register("hinge", help="multi-class hinge on logits (crammer_singer | ova_squared)")
class HingeLoss(Loss):
    """Multi-class hinge, see :func:`~losskit.losses.functional.hinge`."""

    def __init__(
        self,
        variant: str = "crammer_singer",
        reduction: str = "mean",
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        if variant not in LF.HINGE_VARIANTS:
            raise ValueError(f"variant must be one of {LF.HINGE_VARIANTS}, got {variant!r}")
        self.variant = variant

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.hinge(
            input, target, variant=self.variant, reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, {super().extra_repr()}"


@LOSSES.register("cosine", help="1 - cosine(softmax probabilities, one-hot) (SLF)")
class CosineLoss(Loss):
    """Cosine-proximity loss, see :func:`~losskit.losses.functional.cosine`."""

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.cosine(
            input, target, reduction=self.reduction, validate_args=self.validate_args
        )


@LOSSES.register("focal", help="softmax focal loss -alpha_t (1-p_t)^gamma log p_t (Lin et al.)")
class FocalLoss(_CrossEntropyFamily):
    """Multi-class focal loss, see :func:`~losskit.losses.functional.focal`."""

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | Sequence[float] | None = None,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(
            reduction, weight=weight, ignore_index=ignore_index, validate_args=validate_args
        )
        self.gamma = LF._check_number(gamma, "gamma", low=0.0)
        if alpha is None or (isinstance(alpha, (int, float)) and not isinstance(alpha, bool)):
            self.alpha = None if alpha is None else LF._check_number(alpha, "alpha", low=0.0)
        else:
            try:
                weights = [float(a) for a in alpha]  # type: ignore[union-attr]
            except (TypeError, ValueError) as exc:
                raise ValueError(f"alpha must be a number or a sequence, got {alpha!r}") from exc
            for a in weights:
                LF._check_number(a, "alpha", low=0.0)
            self.alpha = weights
        # per-class alpha as a buffer: moved with the module, no tensor built per call
        alpha_t = torch.tensor(self.alpha) if isinstance(self.alpha, list) else None
        self.register_buffer("alpha_weights", alpha_t, persistent=False)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        alpha = self.alpha if self.alpha_weights is None else self.alpha_weights
        return LF.focal(
            input, target, gamma=self.gamma, alpha=alpha, reduction=self.reduction,
            **self._ce_kwargs(),
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, {super().extra_repr()}"


@LOSSES.register("binary_focal", help="sigmoid focal loss (Lin et al. 2017, Eq. 5)")
class BinaryFocalLoss(Loss):
    """Sigmoid focal loss, see :func:`~losskit.losses.functional.binary_focal`."""

    def __init__(
        self, gamma: float = 2.0, alpha: float | None = 0.25, reduction: str = "mean", *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.gamma = LF._check_number(gamma, "gamma", low=0.0)
        self.alpha = None if alpha is None else LF._check_number(alpha, "alpha", low=0.0, high=1.0)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.binary_focal(
            input, target, gamma=self.gamma, alpha=self.alpha, reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, alpha={self.alpha}, {super().extra_repr()}"


@LOSSES.register("multi_margin", help="multi-class margin loss (torch MultiMarginLoss)")
class MultiMarginLoss(Loss):
    """Multi-class margin loss, see :func:`~losskit.losses.functional.multi_margin`."""

    def __init__(
        self,
        p: int = 1, margin: float = 1.0,
        reduction: str = "mean",
        *,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        if isinstance(p, bool) or p not in (1, 2):
            raise ValueError(f"p must be 1 or 2, got {p!r}")
        self.p = int(p)
        self.margin = LF._check_number(margin, "margin")

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.multi_margin(
            input, target, p=self.p, margin=self.margin, reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"p={self.p}, margin={self.margin}, {super().extra_repr()}"


@LOSSES.register("label_smoothing", help="cross-entropy with label smoothing")
class LabelSmoothingLoss(_CrossEntropyFamily):
    """Label-smoothed cross-entropy, see :func:`~losskit.losses.functional.label_smoothing`."""

    def __init__(
        self,
        smoothing: float = 0.1,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(
            reduction, weight=weight, ignore_index=ignore_index, validate_args=validate_args
        )
        self.smoothing = LF._check_number(smoothing, "smoothing", low=0.0, high=1.0)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.label_smoothing(
            input, target, smoothing=self.smoothing, reduction=self.reduction,
            **self._ce_kwargs(),
        )

    def extra_repr(self) -> str:
        return f"smoothing={self.smoothing}, {super().extra_repr()}"


@LOSSES.register("poly1", help="Poly-1 cross-entropy CE + epsilon (1 - p_t) (Leng et al. 2022)")
class Poly1Loss(_CrossEntropyFamily):
    """Poly-1 cross-entropy, see :func:`~losskit.losses.functional.poly1`."""

    def __init__(
        self,
        epsilon: float = 1.0,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(
            reduction, weight=weight, ignore_index=ignore_index, validate_args=validate_args
        )
        self.epsilon = LF._check_number(epsilon, "epsilon")

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.poly1(
            input, target, epsilon=self.epsilon, reduction=self.reduction, **self._ce_kwargs()
        )

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, {super().extra_repr()}"


@LOSSES.register("ce_center", help="softmax CE + lambda * center loss (Wen et al. 2016)")
class CenterLoss(Loss):
    """Joint supervision ``ce_weight·CE + λ·½||f - c_y||²`` (Wen et al. 2016, Eq. 5).

    Owns the class centres ``centers`` ``(num_classes, feature_dim)`` (an ``nn.Parameter``
    initialised from a standard normal, trained by the optimizer together with the model:
    the paper's separate centre learning rate ``α`` becomes the optimizer's). The default
    ``ce_weight = 1`` makes the loss train a classifier on its own (the "center loss" baseline
    of MILS Table 1 is this joint supervision); use ``ce_weight = 0`` for the bare centre term
    as an auxiliary loss next to a separate CE. ``lambda_`` defaults to 0.01 (Wen et al. use
    0.003-0.1). See :func:`~losskit.losses.functional.center`. Registered as ``ce_center``;
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
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.feature_dim = _positive_int(feature_dim, "feature_dim")
        self.lambda_ = LF._check_number(lambda_, "lambda_", low=0.0)
        self.ce_weight = LF._check_number(ce_weight, "ce_weight", low=0.0)
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
        return LF.center(
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
    :func:`~losskit.losses.functional.lgm`.
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
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.feature_dim = _positive_int(feature_dim, "feature_dim")
        self.alpha = LF._check_number(alpha, "alpha", low=0.0)
        self.lambda_ = LF._check_number(lambda_, "lambda_", low=0.0)
        self.ce_weight = LF._check_number(ce_weight, "ce_weight", low=0.0)
        if covariance not in ("identity", "diagonal"):
            raise ValueError(f"covariance must be 'identity' or 'diagonal', got {covariance!r}")
        self.covariance = covariance
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
        return LF.lgm_logits(features, means, log_covs)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if features is None:
            raise ValueError("features must be given: L-GM loss needs penultimate features")
        means, log_covs = self._params(input.dtype)
        return LF.lgm(
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


@LOSSES.register("heatmap_mse", help="MSE between pixel scores and a Gaussian keypoint heatmap")
class HeatmapMSELoss(Loss):
    """Keypoint heatmap MSE, see :func:`~losskit.losses.functional.heatmap_mse`."""

    def __init__(
        self, sigma: float = 1.0, reduction: str = "mean", *, validate_args: bool | None = None
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.sigma = LF._check_number(sigma, "sigma", low=0.0, low_open=True)

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        return LF.heatmap_mse(
            input, target, sigma=self.sigma, reduction=self.reduction,
            validate_args=self.validate_args,
        )

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}, {super().extra_repr()}"
