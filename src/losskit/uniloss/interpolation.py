"""Interpolation (UniLoss §3.4): sigmoid for ``h`` (eq. 9) and IDW for ``g`` (eq. 10).

Sigmoid relaxation and the scale of the scores
    ``b̃ = sigmoid(c / T)``. The paper uses ``T = 1`` on networks that end in a sigmoid, so its
    score differences lie in ``[−1, 1]`` and ``b̃ ∈ [0.27, 0.73]``: the relaxed configuration
    stays well inside the cube, far from every anchor. Our models output *un-squashed* logits,
    whose differences grow during training; ``T`` rescales them. Small ``T`` makes ``b̃``
    saturate to exact bits (``b̃`` reaches an anchor, where the gradient vanishes, like a
    satisfied hinge); large ``T`` keeps ``b̃`` near ½ (every anchor about equally far, a weak
    signal that acts like a sigmoid-margin loss). Differences of a few logits are typical, so
    ``T`` of the order of 1 works; see ``losskit.uniloss.loss`` for the defaults we measured.

IDW (Shepard 1968)
    ``g̃(u) = Σ_i w_i g(a_i) / Σ_i w_i`` with ``w_i = d(u, a_i)^(−p)``, computed as
    ``softmax(−p · log d)`` (no overflow for tiny distances or large ``p``). At an anchor
    (``d = 0``) the value is exactly ``g(a_i)`` (the mean over coinciding anchors) with a zero,
    finite gradient; the distances are kept away from 0 in the unused branch so that no NaN
    leaks into the backward pass.
"""

from __future__ import annotations

import math

import torch

from losskit.uniloss.anchors import Anchors

DISTANCES = ("euclidean", "manhattan")


def check_positive(value: object, name: str) -> float:
    """``float(value)`` if it is a finite number > 0, else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def sigmoid_relaxation(
    c: torch.Tensor, temperature: float = 1.0, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``h̃(c) = sigmoid(c / T)`` (eq. 9); entries with ``valid = False`` are the constant 1."""
    u = torch.sigmoid(c / temperature) if temperature != 1.0 else torch.sigmoid(c)
    if valid is not None:
        u = u.masked_fill(~valid, 1.0)
    return u


HIT_TOLERANCE = 1e-12
"""Squared Euclidean distances ≤ this count as "at the anchor" (the float64 expansion
‖u‖² − 2a·u + ‖a‖² is exact when ``u`` is itself binary and loses ~1e-13 to cancellation
otherwise, so closer points are indistinguishable from the anchor)."""


def _as_float64(bits: torch.Tensor) -> torch.Tensor:
    # bool → float is a slow path on CPU; through a uint8 view it is ~3× faster
    if bits.dtype == torch.bool:
        bits = bits.view(torch.uint8)
    return bits.to(torch.float64)


class _EuclideanIDW(torch.autograd.Function):
    """IDW with Euclidean distances in one autograd node, computed in float64.

    Forward: ``q_i = ‖u − a_i‖² = ‖u‖² − 2 a_i·u + ‖a_i‖²`` (one matrix-vector product
    instead of an ``(A, L)`` difference tensor), ``w = softmax(−(p/2) log q)``, ``g̃ = w·v``; at
    an anchor (``q_i ≤`` :data:`HIT_TOLERANCE`) the mean value of the anchors hit. Backward
    (checked against finite differences with ``torch.autograd.gradcheck`` in the tests):

    ``∂g̃/∂u = Σ_i γ_i · 2(u − a_i) = 2(u Σ_i γ_i − aᵀγ)``,
    ``γ_i = ∂g̃/∂q_i = −(p/2) · w_i (v_i − g̃) / q_i``; zero at an anchor.
    """

    @staticmethod
    def forward(ctx, u, anchors, values, power):  # type: ignore[override]
        a = _as_float64(anchors)
        u64 = u.to(torch.float64)
        a_sq = a.sum(1) if anchors.dtype == torch.bool else a.square().sum(1)
        q = (a_sq + u64.dot(u64)).sub_(a @ u64, alpha=2.0).clamp_min_(0.0)
        v = values.to(torch.float64)
        hit = q <= HIT_TOLERANCE
        ctx.u_dtype = u.dtype
        if bool(hit.any()):  # at an anchor: its exact value, zero gradient
            ctx.at_anchor = True
            ctx.save_for_backward(u)
            return v[hit].mean().to(u.dtype)
        ctx.at_anchor = False
        weights = torch.softmax(q.log().mul_(-0.5 * power), dim=0)
        out = weights.dot(v)
        ctx.save_for_backward(u64, a, q, weights, v, out)
        ctx.power = power
        return out.to(u.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        if ctx.at_anchor:
            (u,) = ctx.saved_tensors
            return torch.zeros_like(u), None, None, None
        u64, a, q, weights, v, out = ctx.saved_tensors
        gamma = (v - out).mul_(weights).div_(q).mul_(-0.5 * ctx.power)
        grad_u = (u64 * gamma.sum()).sub_(gamma @ a).mul_(2.0 * grad.to(torch.float64))
        return grad_u.to(ctx.u_dtype), None, None, None


def anchor_distances(
    u: torch.Tensor, anchors: torch.Tensor, distance: str = "euclidean"
) -> torch.Tensor:
    """Distances ``(A,)`` between ``u`` ``(L,)`` and ``anchors`` ``(A, L)`` by plain autograd:
    squared Euclidean (``"euclidean"``) or Manhattan (``"manhattan"``)."""
    diff = u.unsqueeze(0) - anchors.to(u.dtype)
    if distance == "euclidean":
        return diff.square().sum(1)
    if distance == "manhattan":
        return diff.abs().sum(1)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def interpolate(
    q: torch.Tensor, values: torch.Tensor, power: float = 1.0, distance: str = "euclidean"
) -> torch.Tensor:
    """IDW value from anchor distances ``q`` (``d²`` for Euclidean, ``d`` for Manhattan).

    Weights ``d^(−p) / Σ d^(−p)`` = ``softmax(−p · log d)``; where some ``q_i = 0`` the result
    is the mean of those anchors' values and nothing NaN reaches the backward pass.
    """
    hit = q <= 0
    safe = torch.where(hit, torch.ones_like(q), q)
    scale = 0.5 * power if distance == "euclidean" else power
    values = values.to(q.dtype)
    smooth = torch.softmax(safe.log() * -scale, dim=0).dot(values)
    hits = hit.to(q.dtype)
    exact = hits.dot(values) / hits.sum().clamp_min(1.0)
    return torch.where(hit.any(), exact, smooth)


def idw(
    u: torch.Tensor,
    anchors: Anchors | torch.Tensor,
    values: torch.Tensor,
    power: float = 1.0,
    distance: str = "euclidean",
) -> torch.Tensor:
    """Inverse-distance-weighted interpolation ``g̃(u; a)`` (paper eq. 10) — a scalar.

    ``u``: the (relaxed) configuration, any shape with ``L`` elements; ``anchors``:
    :class:`~losskit.uniloss.anchors.Anchors` or a tensor ``(A, …)`` with ``L`` elements per
    anchor (bool or float); ``values``: ``g(a_i)`` ``(A,)``; ``power`` ``p``. The result has
    ``u``'s dtype. Euclidean distance takes the fused float64 path (:class:`_EuclideanIDW`),
    Manhattan plain autograd (:func:`anchor_distances` + :func:`interpolate`).
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    flat = u.reshape(-1)
    bits = anchors.bits if isinstance(anchors, Anchors) else anchors
    bits = bits.reshape(bits.shape[0], -1)
    if bits.shape[1] != flat.shape[0]:
        raise ValueError(
            f"anchors must have {flat.shape[0]} elements each like u, got {bits.shape[1]}"
        )
    if values.shape != (bits.shape[0],):
        raise ValueError(f"values must have shape ({bits.shape[0]},), got {tuple(values.shape)}")
    if distance == "euclidean":
        return _EuclideanIDW.apply(flat, bits, values, float(power))
    return interpolate(anchor_distances(flat, bits, distance), values, power, distance)


class _RelaxedEuclideanIDW(torch.autograd.Function):
    """``g̃(sigmoid(c / T))`` with ``c = pos[:, :, None] − neg[:, None, :]`` in one autograd node
    (the fused form of :func:`sigmoid_relaxation` followed by Euclidean :func:`idw`).

    Backward: ``∂g̃/∂u`` as in :class:`_EuclideanIDW`, then ``∂u/∂c = u(1 − u)/T`` (0 for
    invalid comparisons), ``∂c/∂pos = Σ_j``, ``∂c/∂neg = −Σ_i``.
    """

    @staticmethod
    def forward(ctx, pos, neg, c, valid, anchors, values, temperature, power):  # type: ignore[override]
        u = torch.sigmoid(c / temperature if temperature != 1.0 else c)
        if valid is not None:
            u.masked_fill_(~valid, 1.0)
        flat = u.reshape(-1)
        u64 = flat if flat.dtype == torch.float64 else flat.to(torch.float64)
        a = _as_float64(anchors.reshape(anchors.shape[0], -1))
        q = (a.sum(1) + u64.dot(u64)).sub_(a @ u64, alpha=2.0).clamp_min_(0.0)
        v = values if values.dtype == torch.float64 else values.to(torch.float64)
        hit = q <= HIT_TOLERANCE
        ctx.at_anchor = bool(hit.any())
        ctx.dtype = pos.dtype
        if ctx.at_anchor:  # at an anchor: its exact value, zero gradient
            ctx.save_for_backward(pos, neg)
            return v[hit].mean().to(pos.dtype)
        weights = torch.softmax(q.log().mul_(-0.5 * power), dim=0)
        out = weights.dot(v)
        ctx.save_for_backward(u, u64, a, q, weights, v, out)
        ctx.valid, ctx.temperature, ctx.power = valid, temperature, power
        return out.to(pos.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        if ctx.at_anchor:
            pos, neg = ctx.saved_tensors
            return torch.zeros_like(pos), torch.zeros_like(neg), None, None, None, None, None, None
        u, u64, a, q, weights, v, out = ctx.saved_tensors
        gamma = (v - out).mul_(weights).div_(q).mul_(-0.5 * ctx.power)
        grad_u = (u64 * gamma.sum()).sub_(gamma @ a).mul_(2.0 * grad.to(torch.float64))
        grad_c = grad_u.to(ctx.dtype).reshape(u.shape).mul_(u).mul_(1.0 - u)
        if ctx.temperature != 1.0:
            grad_c.div_(ctx.temperature)
        if ctx.valid is not None:
            grad_c.masked_fill_(~ctx.valid, 0.0)
        return grad_c.sum(2), grad_c.sum(1).neg_(), None, None, None, None, None, None


def relaxed_idw(
    pos: torch.Tensor,
    neg: torch.Tensor,
    anchors: torch.Tensor,
    values: torch.Tensor,
    temperature: float = 1.0,
    power: float = 1.0,
    valid: torch.Tensor | None = None,
    c: torch.Tensor | None = None,
) -> torch.Tensor:
    """``idw(sigmoid_relaxation(pos[:, :, None] − neg[:, None, :], T, valid), anchors, values,
    power)`` (Euclidean) as one fused autograd node — the same value and gradient as the
    composition, with a fraction of its per-op overhead. ``c``: the differences if already
    computed (must equal ``pos[:, :, None] − neg[:, None, :]``)."""
    if c is None:
        with torch.no_grad():
            c = pos.unsqueeze(2) - neg.unsqueeze(1)
    if anchors.reshape(anchors.shape[0], -1).shape[1] != c.numel():
        raise ValueError(f"anchors must have {c.numel()} elements each, got {anchors[0].numel()}")
    return _RelaxedEuclideanIDW.apply(
        pos, neg, c.detach(), valid, anchors, values, float(temperature), float(power)
    )
