"""Gumbel-max sampling and the multiple Gumbel-softmax of SLF (paper Eq. 5–10).

All functions take *unnormalised* log-probabilities ``logits`` (``log p`` up to an additive
constant, which the softmax ignores) over the last dimension, an optional ``torch.Generator``
(deterministic runs) and return tensors in ``logits``' dtype and device.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import torch

from losskit.core import _random
from losskit.core._validation import check_number


def check_k(K: object, name: str = "K") -> int:
    """``K`` (number of Gumbel samples, Eq. 9) as an ``int ≥ 1``; ``ValueError`` otherwise."""
    if isinstance(K, bool) or not isinstance(K, Integral) or int(K) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {K!r}")
    return int(K)


def check_tau(tau: object, name: str = "tau") -> float:
    """A temperature as a finite ``float > 0``; ``ValueError`` naming ``name`` otherwise."""
    return check_number(tau, name, low=0.0, low_open=True)


def sample_gumbel(
    shape: tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard Gumbel noise ``G = -log(-log U)``, ``U ~ U[0, 1)`` (the paper's Eq. 5 noise).

    The uniforms are drawn on ``generator``'s device when one is given (so a seeded generator
    gives the same stream wherever the result goes) and then moved to ``device``.
    """
    return -_neg_gumbel(shape, generator=generator, device=device, dtype=dtype)


def _neg_gumbel(
    shape: tuple[int, ...] | torch.Size,
    *,
    generator: torch.Generator | None,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``-G = log(-log U)``: the noise with its sign flipped, so that ``x - (-G)`` adds the
    noise with one op fewer (``x - y`` is exactly ``x + (-y)`` in floating point)."""
    draw_device = generator.device if generator is not None else device
    u = torch.rand(shape, generator=generator, device=draw_device, dtype=dtype)
    neg_g = _log_neg_log(u)
    return neg_g if device is None else neg_g.to(device)


def _log_neg_log(u: torch.Tensor) -> torch.Tensor:
    """``log(-log U)`` of uniforms ``u`` (clamped in place away from 0)."""
    return torch.log(-torch.log(u.clamp_(min=torch.finfo(u.dtype).tiny)))


def gumbel_argmax(
    logits: torch.Tensor, num_samples: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Gumbel-max trick (Eq. 5): ``argmax_k log p_k + G_k``, ``num_samples`` draws.

    Returns int64 indices of shape ``(num_samples, *logits.shape[:-1])``; each index ``i`` is
    drawn with probability ``softmax(logits)_i`` (Eq. 8).
    """
    g = sample_gumbel(
        (num_samples, *logits.shape), generator=generator, device=logits.device, dtype=logits.dtype
    )
    return (logits.detach().unsqueeze(0) + g).argmax(-1)


def gumbel_softmax(
    logits: torch.Tensor,
    tau: float = 1.0,
    num_samples: int = 1,
    hard: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``num_samples`` Gumbel-softmax draws ``𝒢(p)`` (Eq. 6–7), shape
    ``(num_samples, *logits.shape)``.

    ``hard=True`` (SLF): the forward value is *exactly* the one-hot vector of the Gumbel-max
    winner (Eq. 7), while the gradient is the relaxed softmax's ``softmax((log p + G) / tau)``
    (straight-through estimator), so the decision network learns through the samples.
    ``hard=False`` returns the relaxed samples themselves.
    """
    tau = check_tau(tau)
    num_samples = check_k(num_samples)
    g = sample_gumbel(
        (num_samples, *logits.shape), generator=generator, device=logits.device, dtype=logits.dtype
    )
    scores = logits.unsqueeze(0) + g
    soft = torch.softmax(scores / tau, dim=-1)
    if not hard:
        return soft
    index = scores.detach().argmax(-1, keepdim=True)
    one_hot = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    # one_hot + (soft - soft.detach()) is exactly one_hot in the forward pass (x - x == 0)
    # and carries soft's gradient in the backward pass.
    return one_hot + (soft - soft.detach())


class _MultiGumbelSoftmax(torch.autograd.Function):
    """``p̂`` of :func:`multi_gumbel_softmax` as one autograd node: the forward builds only the
    one-hot means (no relaxed softmax, no ``soft - soft.detach()``); the backward recomputes
    the relaxed softmax and applies exactly the ops autograd would (mean, softmax, ``/ tau``
    and the broadcast sum backward), so values and gradients equal :func:`gumbel_softmax`'s
    ``.mean(0)`` bitwise."""

    @staticmethod
    def forward(ctx, logits, neg_noise, tau):  # noqa: ANN001, ANN205
        p_hat, scores = straight_through_forward(logits, neg_noise)
        save_with_tau(ctx, tau, scores)
        return p_hat

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        tau, scores = saved_with_tau(ctx)
        return straight_through_backward(scores, tau, grad), None, None


def save_with_tau(ctx: Any, tau: float | torch.Tensor, *tensors: torch.Tensor) -> None:
    """``ctx.save_for_backward(*tensors)`` and ``tau``: a tensor temperature is saved with
    them (a tensor kept as a ``ctx`` attribute is not traced right by ``torch.compile``)."""
    is_tensor = isinstance(tau, torch.Tensor)
    ctx.tau = None if is_tensor else tau
    ctx.save_for_backward(*tensors, *((tau,) if is_tensor else ()))


def saved_with_tau(ctx: Any) -> tuple[float | torch.Tensor, ...]:
    """``(tau, *tensors)`` saved by :func:`save_with_tau`."""
    saved = ctx.saved_tensors
    if ctx.tau is None:
        return (saved[-1], *saved[:-1])
    return (ctx.tau, *saved)


def straight_through_forward(
    logits: torch.Tensor, neg_noise: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p̂, scores)``: the mean of the one-hot Gumbel-max winners of ``scores = logits + G``
    (``neg_noise = -G``, shape ``(K, *logits.shape)``), and the scores the backward needs."""
    scores = logits - neg_noise  # (K, ..., n) = log p + G (broadcast)
    one_hot = torch.zeros_like(scores).scatter_(-1, scores.argmax(-1, keepdim=True), 1.0)
    return one_hot.mean(0), scores


def straight_through_backward(
    scores: torch.Tensor, tau: float | torch.Tensor, grad: torch.Tensor, mean_first: bool = True
) -> torch.Tensor:
    """Gradient w.r.t. ``logits`` of ``Σ grad ⊙ p̂``: that of the relaxed
    ``mean_k softmax(scores_k / tau)``, by the ops autograd would apply (``mean_first``;
    else the mean over the ``K`` draws is taken last: one op fewer, equal up to rounding).
    A temperature of exactly 1 skips its divisions (``x / 1 == x``)."""
    unit = not isinstance(tau, torch.Tensor) and tau == 1.0
    soft = torch.softmax(scores if unit else scores / tau, dim=-1)
    g = (grad / scores.shape[0] if mean_first else grad).expand_as(soft)
    d = torch._softmax_backward_data(g, soft, -1, soft.dtype)
    d = d if unit else d / tau
    return d.sum(0) if mean_first else d.mean(0)


def multi_gumbel_softmax(
    logits: torch.Tensor,
    K: int = 3,
    tau: float | torch.Tensor = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SLF's weights ``p̂ = (1/K) Σ_k 𝒢(p)_k`` (Eq. 9–10), same shape as ``logits``.

    Each entry of the forward value is a multiple of ``1/K`` and the entries sum to 1: with
    ``K = 1`` a single loss is selected; as ``K → ∞``, ``p̂ → p = softmax(logits)`` (the
    SLF-Softmax limit), with ``E|p̂_i − p_i| = O(1/√K)``. Gradients are straight-through
    (those of :func:`gumbel_softmax` ``(hard=True).mean(0)``, computed by one fused node).
    ``tau`` may be a 0-dim tensor (a schedule evaluated on a step-counter tensor).
    """
    K = check_k(K)
    if not isinstance(tau, torch.Tensor):
        tau = check_tau(tau)
    neg_noise = _neg_gumbel(
        (K, *logits.shape), generator=generator, device=logits.device, dtype=logits.dtype
    )
    return _MultiGumbelSoftmax.apply(logits, neg_noise, tau)


def multi_gumbel_softmax_keyed(
    logits: torch.Tensor, K: int, tau: float | torch.Tensor, key: int
) -> torch.Tensor:
    """:func:`multi_gumbel_softmax` drawing from the generator registered under ``key``
    (:func:`losskit.core._random.register_generator`; 0: torch's default generator), so that
    ``torch.compile(fullgraph=True)`` traces it and compiled code draws eager's numbers.
    ``K`` and ``tau`` are the caller's, already checked."""
    return _MultiGumbelSoftmax.apply(logits, neg_gumbel_noise(logits, K, key), tau)


def neg_gumbel_noise(like: torch.Tensor, K: int, key: int) -> torch.Tensor:
    """``-G`` of shape ``(K, *like.shape)`` in ``like``'s dtype and device, drawn from the
    generator registered under ``key`` (traceable, see :mod:`losskit.core._random`)."""
    return _log_neg_log(_random.uniform(key, (K, *like.shape), like))
