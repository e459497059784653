"""``nn.Module`` mirrors of :mod:`losskit.losses.functional`, registered in ``LOSSES``.

Each mirror is built by :func:`loss_module` from its functional form — the hyper-parameters,
their defaults and checks are the function's (:func:`~losskit._validation.checks`):
checked at construction (one ``ValueError`` naming the argument), stored as attributes, shown
by ``repr`` and passed to the function at every call. The parametric losses (center, L-GM) own
their parameters and are written out. Registry names:

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

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from losskit._validation import check_choice, check_declared, check_finite_float, check_int
from losskit.losses import functional as LF
from losskit.losses.base import Loss
from losskit.losses.priors import class_balanced_weights
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
    "loss_module",
]


_Param = inspect.Parameter
#: the arguments of a functional loss that are the call's, not hyper-parameters
_CALL_ARGS = ("input", "target", "features", "reduction", "validate_args", "weight",
              "ignore_index")


def loss_module(
    fn: Callable[..., torch.Tensor],
    class_name: str,
    *,
    task: str = "classification",
    base: type[Loss] | None = None,
    doc: str | None = None,
    **attributes: Any,
) -> type[Loss]:
    """The ``nn.Module`` mirror of the functional loss ``fn`` (as torchmetrics pairs its
    modules with their functions).

    ``__init__(*hyper-parameters, reduction="mean", *, <base keywords>, validate_args=None)``:
    ``fn``'s hyper-parameters (its arguments besides input, target, reduction and the
    ``base``'s keywords) with ``fn``'s defaults, checked with ``fn``'s declared checks and
    stored as attributes (set them again through the constructor: ``forward`` does not
    re-check them); ``forward(input, target, features=None)`` calls ``fn`` with them.
    ``base``: :class:`Loss` or a subclass adding keyword arguments (``_CrossEntropyFamily``:
    ``weight``, ``ignore_index``). ``attributes``: class attributes (``class_index_fallback``).
    """
    base = base or Loss
    params = inspect.signature(fn).parameters.values()
    hyper = [p for p in params if p.name not in _CALL_ARGS
             and p.kind is _Param.POSITIONAL_OR_KEYWORD]
    names = tuple(p.name for p in hyper)
    keywords = [p for p in inspect.signature(base.__init__).parameters.values()
                if p.kind is _Param.KEYWORD_ONLY]
    signature = inspect.Signature(
        [*hyper, _Param("reduction", _Param.POSITIONAL_OR_KEYWORD, default="mean",
                        annotation=str), *keywords]
    )

    def __init__(self: Loss, *args: Any, **kwargs: Any) -> None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{class_name}.__init__() {exc}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        base.__init__(self, values.pop("reduction"),
                      **{p.name: values.pop(p.name) for p in keywords})
        for name, value in check_declared(fn, **values).items():
            setattr(self, name, value)

    compute = getattr(fn, "__wrapped__", fn)  # the hyper-parameters were checked at __init__

    def forward(self: Loss, input: torch.Tensor, target: torch.Tensor,
                features: torch.Tensor | None = None) -> torch.Tensor:
        return compute(input, target, *self._hyper_values(), self.reduction,
                       **self._call_kwargs())

    def _hyper_values(self: Loss) -> list[Any]:
        """The hyper-parameters passed to the functional form, in its argument order."""
        return [getattr(self, name) for name in names]

    def extra_repr(self: Loss) -> str:
        own = "".join(f"{name}={getattr(self, name)!r}, " for name in names)
        return own + base.extra_repr(self)

    namespace = {
        "__init__": __init__, "__signature__": signature, "__doc__": doc or (
            f"``nn.Module`` form of :func:`~losskit.losses.functional.{fn.__name__}`."),
        "__module__": __name__, "__qualname__": class_name, "forward": forward,
        "_hyper_values": _hyper_values, "extra_repr": extra_repr, "task": task,
        "_hyperparameter_names": names, **attributes,
    }
    return type(class_name, (base,), namespace)


class _CrossEntropyFamily(Loss):
    """``weight`` (a ``(C,)`` buffer, moved with the module) and ``ignore_index`` as in
    ``torch.nn.CrossEntropyLoss`` (see :mod:`losskit.losses.functional`).

    Class-balanced weights (Cui et al. 2019, :func:`~losskit.losses.priors.
    class_balanced_weights`): ``class_balanced_beta=β`` fills ``weight`` from
    ``class_counts`` (the training methods pass them, :mod:`losskit.losses.priors`);
    ``drw_epoch=k`` defers them to epochs ``>= k`` (Cao et al. 2019's DRW; the training
    method calls :meth:`set_epoch`). ``"mean"`` then divides by ``Σ w_y`` (torch's and Cao et
    al.'s convention; Cui et al. divide by ``N``: use ``focal``'s per-class ``alpha``)."""

    weight: torch.Tensor | None

    def __init__(
        self,
        reduction: str = "mean",
        *,
        weight: torch.Tensor | Sequence[float] | None = None,
        ignore_index: int = -100,
        class_balanced_beta: float | None = None,
        drw_epoch: int | None = None,
        class_counts: torch.Tensor | Sequence[float] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.class_balanced_beta = class_balanced_beta
        self.drw_epoch = None if drw_epoch is None else check_int(drw_epoch, "drw_epoch", low=0)
        if class_balanced_beta is None:
            if drw_epoch is not None:
                raise ValueError("drw_epoch needs class_balanced_beta (the re-weighting it "
                                 "defers; Cao et al. use 0.9999)")
            self.register_buffer("weight", None if weight is None else _class_weights(weight))
            return
        if weight is not None:
            raise ValueError("give weight or class_balanced_beta, not both")
        balanced = class_balanced_weights(class_counts, class_balanced_beta)
        self.register_buffer("balanced_weight", balanced, persistent=False)
        # the active weight: derived from the counts, so not saved (DRW switches it on)
        self.register_buffer("weight", balanced if self.drw_epoch in (None, 0) else None,
                             persistent=False)

    @property
    def uses_epoch(self) -> bool:
        """Whether :meth:`set_epoch` changes the loss (deferred re-weighting)."""
        return self.drw_epoch is not None

    def set_epoch(self, epoch: int) -> None:
        """Deferred re-weighting: the class-balanced weights from epoch ``drw_epoch`` on."""
        if self.drw_epoch is not None:
            self.weight = self.balanced_weight if epoch >= self.drw_epoch else None

    def _call_kwargs(self) -> dict[str, Any]:
        return {"weight": self.weight, "ignore_index": self.ignore_index,
                "validate_args": self.validate_args}

    def extra_repr(self) -> str:
        balanced = self.class_balanced_beta is not None
        extra = "" if self.weight is None or balanced else f", weight={self.weight.tolist()}"
        if self.ignore_index != -100:
            extra += f", ignore_index={self.ignore_index}"
        if balanced:
            extra += f", class_balanced_beta={self.class_balanced_beta}"
        if self.drw_epoch is not None:
            extra += f", drw_epoch={self.drw_epoch}"
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


def _mirror(name: str, fn: Callable[..., torch.Tensor], class_name: str, help: str,
            **kwargs: Any) -> Any:
    """:func:`loss_module` of ``fn``, registered in ``LOSSES`` as ``name``."""
    return LOSSES.register(name, loss_module(fn, class_name, **kwargs), help=help)


_CE = {"base": _CrossEntropyFamily}
_REGRESSION = {"task": "regression"}
_FALLBACK = {"task": "regression", "class_index_fallback": True}  # deprecated prob_*, until 0.2

CrossEntropyLoss = _mirror("ce", LF.cross_entropy, "CrossEntropyLoss",
                           "softmax cross-entropy (the MILS primary / 'softmax loss')", **_CE)
ProbBCELoss = _mirror("prob_bce", LF.prob_bce, "ProbBCELoss",
                      "binary cross-entropy of softmax probabilities vs one-hot (SLF)")
ProbMSELoss = _mirror("prob_mse", LF.prob_mse, "ProbMSELoss",
                      "mean squared error of softmax probabilities vs one-hot (SLF)")
ProbMAELoss = _mirror("prob_mae", LF.prob_mae, "ProbMAELoss",
                      "mean absolute error of softmax probabilities vs one-hot (SLF)")
HingeLoss = _mirror("hinge", LF.hinge, "HingeLoss",
                    "multi-class hinge on logits (crammer_singer | ova_squared)")
CosineLoss = _mirror("cosine", LF.cosine, "CosineLoss",
                     "1 - cosine(softmax probabilities, one-hot) (SLF)")
BinaryFocalLoss = _mirror("binary_focal", LF.binary_focal, "BinaryFocalLoss",
                          "sigmoid focal loss (Lin et al. 2017, Eq. 5)")
MultiMarginLoss = _mirror("multi_margin", LF.multi_margin, "MultiMarginLoss",
                          "multi-class margin loss (torch MultiMarginLoss)")
LabelSmoothingLoss = _mirror("label_smoothing", LF.label_smoothing, "LabelSmoothingLoss",
                             "cross-entropy with label smoothing", **_CE)
Poly1Loss = _mirror("poly1", LF.poly1, "Poly1Loss",
                    "Poly-1 cross-entropy CE + epsilon (1 - p_t) (Leng et al. 2022)", **_CE)
HeatmapMSELoss = _mirror("heatmap_mse", LF.heatmap_mse, "HeatmapMSELoss",
                         "MSE between pixel scores and a Gaussian keypoint heatmap")
MSELoss = _mirror("mse", LF.mse, "MSELoss",
                  "mean squared error, regression (torch F.mse_loss)", **_FALLBACK)
MAELoss = _mirror("mae", LF.mae, "MAELoss",
                  "mean absolute error, regression (torch F.l1_loss)", **_FALLBACK)
HuberLoss = _mirror("huber", LF.huber, "HuberLoss",
                    "Huber loss with threshold delta, regression (torch F.huber_loss)",
                    **_REGRESSION)
SmoothL1Loss = _mirror("smooth_l1", LF.smooth_l1, "SmoothL1Loss",
                       "smooth L1 with threshold beta, regression (F.smooth_l1_loss)",
                       **_REGRESSION)
LogCoshLoss = _mirror("log_cosh", LF.log_cosh, "LogCoshLoss",
                      "log(cosh(input - target)), regression", **_REGRESSION)


class FocalLoss(loss_module(LF.focal, "FocalLoss", base=_CrossEntropyFamily)):  # type: ignore[misc]
    """Multi-class focal loss, see :func:`~losskit.losses.functional.focal`; a per-class
    ``alpha`` is also kept as a buffer (moved with the module, no tensor built per call)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        alpha_t = torch.tensor(self.alpha) if isinstance(self.alpha, list) else None
        self.register_buffer("alpha_weights", alpha_t, persistent=False)

    def _hyper_values(self) -> list[Any]:
        return [self.gamma, self.alpha if self.alpha_weights is None else self.alpha_weights]


LOSSES.register("focal", FocalLoss,
                help="softmax focal loss -alpha_t (1-p_t)^gamma log p_t (Lin et al.)")

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
        self.activation = check_choice(activation, BCE_ACTIVATIONS, "activation")

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        fn = LF.prob_bce if self.activation == "softmax" else LF.binary_cross_entropy_with_logits
        return fn(input, target, reduction=self.reduction, **self._call_kwargs())

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, {super().extra_repr()}"


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
        self.num_classes = _context_int(num_classes, "num_classes")
        self.feature_dim = _context_int(feature_dim, "feature_dim")
        checked = check_declared(LF.center, lambda_=lambda_, ce_weight=ce_weight)
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
        self.num_classes = _context_int(num_classes, "num_classes")
        self.feature_dim = _context_int(feature_dim, "feature_dim")
        checked = check_declared(LF.lgm, alpha=alpha, lambda_=lambda_,
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
