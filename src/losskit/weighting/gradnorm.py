"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018, "GradNorm: Gradient Normalization
for Adaptive Loss Balancing in Deep Multitask Networks", Sec. 3, Algorithm 1).

Learned weights ``w_i`` (start 1). At step ``t``, on the last shared layer's weight ``W``:

* ``G_i = ‖∇_W w_i L_i‖₂``, ``Ḡ = mean_i G_i``;
* ``L̃_i = L_i(t) / L_i(0)`` (``L_i(0)``: the losses of the first training step),
  ``r_i = L̃_i / mean_j L̃_j``;
* ``L_grad = Σ_i |G_i − Ḡ · r_i^α|`` with ``Ḡ · r_i^α`` held constant (Eq. 2); ``w`` descends
  ``∇_w L_grad`` only, the model descends ``∇ Σ_i w_i L_i`` only;
* after the optimizer step ``w`` is renormalised to ``Σ_i w_i = K`` (:meth:`GradNorm.
  after_step`).

Both gradients come from one backward: the objective is ``Σ_i sg(w_i) L_i + (L_grad −
sg(L_grad))`` (``sg``: stop-gradient), whose value is the weighted loss and whose gradient is
``∇ Σ w_i L_i`` for the model and ``∇_w L_grad`` for ``w`` — so the step seam
(:func:`losskit.core.step.loss_step`: scaler, autocast, DDP hooks) applies unchanged. The ``K``
norms cost ``K`` partial backward passes, each only as far as ``W``.

"Last shared layer": all candidates here are losses of one output, so every layer is shared;
the default ``W`` is the model's last ``nn.Linear``'s weight (a losskit classifier's ``head``;
name another parameter with ``layer=``).

=====================================  ===============================  =====================
paper                                  ours                             options
=====================================  ===============================  =====================
``α = 1.5`` (NYUv2; 0.12 on their      ``alpha = 1.5``                  ``alpha ≥ 0``
synthetic tasks)
``W``: last shared layer of a          the last ``nn.Linear``'s         ``layer=``: a
multi-head network                     weight                           parameter name
``w`` by gradient descent, then        ``w`` in the model's optimizer   —
renormalised to ``Σ w = K``            (its learning rate), clamped to
                                       ``≥ 1e-6`` then renormalised
                                       (ours: no negative weight)
=====================================  ===============================  =====================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from losskit.core._validation import checks, number
from losskit.weighting.base import LossSpec, LossWeighting

__all__ = ["GradNorm", "shared_parameter"]

#: floor of a weight before renormalisation (ours: keeps every weight positive)
MIN_WEIGHT = 1e-6


def shared_parameter(model: nn.Module, layer: str | None = None) -> nn.Parameter:
    """GradNorm's ``W``: the parameter named ``layer`` (as in ``model.named_parameters()``; a
    DDP / feature wrapper's prefix is looked through), default the weight of the model's last
    ``nn.Linear``. ``ValueError`` naming ``layer`` when there is none."""
    inner = model
    while isinstance(getattr(inner, "module", None), nn.Module):
        inner = inner.module  # DistributedDataParallel, FeatureModel
    if layer is not None:
        params = dict(inner.named_parameters())
        if layer not in params:
            names = ", ".join(list(params)[-6:])
            raise ValueError(f"layer must name a parameter of the model, got {layer!r} "
                             f"(its last ones: {names})")
        return params[layer]
    linears = [m for m in inner.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("layer: the model has no nn.Linear; name GradNorm's shared parameter "
                         "(layer='<parameter name>')")
    return linears[-1].weight


class GradNorm(LossWeighting):
    """GradNorm: ``L = Σ_i w_i L_i`` with ``w`` (``loss_weights``, an ``nn.Parameter``)
    balancing the gradient norms on ``shared`` (``W``) by ``alpha`` (see the module docs).

    ``shared``: ``W`` (default: set by the training method, or :meth:`set_shared`). In your
    own loop: ``opt.zero_grad(); gn(logits, y).backward(); opt.step(); gn.after_step()`` with
    ``gn.parameters()`` in ``opt``.
    """

    has_parameters = True

    @checks(alpha=number(low=0.0))
    def __init__(
        self,
        losses: str | Sequence[LossSpec],
        alpha: float = 1.5,
        shared: nn.Parameter | None = None,
        *,
        context: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(losses, context=context, names=names)
        self.alpha = float(alpha)
        self.loss_weights = nn.Parameter(torch.ones(self.num_losses))
        # L_i(0), saved for exact resume (zeros: not taken yet)
        self.register_buffer("initial_losses", torch.zeros(self.num_losses))
        self._has_initial: bool | None = None  # read from the buffer once
        self._shared: list[nn.Parameter] = []  # the model's, so not registered here
        if shared is not None:
            self.set_shared(shared)

    def set_shared(self, shared: nn.Parameter) -> None:
        """Use ``shared`` as ``W``."""
        if not isinstance(shared, torch.Tensor) or not shared.requires_grad:
            raise ValueError(f"shared must be a parameter that requires grad, got {shared!r}")
        self._shared = [shared]

    def weights(self) -> torch.Tensor:
        return self.loss_weights

    def _initial(self, values: torch.Tensor) -> torch.Tensor:
        """``L(0)``: taken at the first training step (one host read, then a flag)."""
        if self._has_initial is None:
            self._has_initial = bool((self.initial_losses != 0).all())
        if not self._has_initial:
            self.initial_losses.copy_(values.detach())
            self._has_initial = True
        return self.initial_losses.to(values.dtype)

    def combine(self, values: torch.Tensor) -> torch.Tensor:
        w = self.loss_weights.to(values.dtype)
        total = (w.detach() * values).sum()
        if not (self.training and torch.is_grad_enabled() and values.requires_grad):
            return total
        if not self._shared:
            raise ValueError("shared: GradNorm needs the last shared layer's parameter W; "
                             "pass shared= or call set_shared() (the training method does)")
        (W,) = self._shared
        norms = torch.stack([
            g.norm() if g is not None else values.new_zeros(())
            for g in (torch.autograd.grad(v, W, retain_graph=True, allow_unused=True)[0]
                      for v in values)
        ]).to(values.dtype)
        G = w * norms  # ‖∇_W w_i L_i‖ = w_i ‖∇_W L_i‖: differentiable in w only
        ratio = values.detach() / self._initial(values).clamp_min(torch.finfo(values.dtype).tiny)
        target = G.detach().mean() * (ratio / ratio.mean()).pow(self.alpha)
        l_grad = (G - target).abs().sum()
        return total + (l_grad - l_grad.detach())

    def load_state_dict(self, *args: Any, **kwargs: Any) -> Any:
        self._has_initial = None
        return super().load_state_dict(*args, **kwargs)

    @torch.no_grad()
    def after_step(self) -> None:
        """Renormalise ``w`` to ``Σ_i w_i = K`` (each first floored at :data:`MIN_WEIGHT`)."""
        w = self.loss_weights
        w.clamp_(min=MIN_WEIGHT).mul_(self.num_losses / w.sum())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, alpha={self.alpha}"
