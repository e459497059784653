"""Interpolation (UniLoss §3.4): sigmoid for ``h`` (eq. 9) and IDW for ``g`` (eq. 10).

Sigmoid relaxation and the scale of the scores
    ``b̃ = sigmoid(c / T)``. The authors' networks end in a sigmoid and their code relaxes
    differences of its outputs with ``T = 1``: differences in ``(−1, 1)``, ``b̃ ∈ (0.27, 0.73)``
    — the relaxed configuration stays well inside the cube, far from every anchor
    (``relaxation="authors"`` reproduces it: ``tanh(s/2)`` squashing, ``T = 2``). By default
    (``"logit"``) we compare *un-squashed* logits, whose differences grow during training;
    ``T`` rescales them. Small ``T`` makes ``b̃`` saturate to exact bits (``b̃`` reaches an
    anchor, where the gradient vanishes, like a satisfied hinge); large ``T`` keeps ``b̃`` near
    ½ (every anchor about equally far, a weak signal that acts like a sigmoid-margin loss).

IDW (Shepard 1968)
    ``g̃(u) = Σ_i w_i g(a_i) / Σ_i w_i`` with ``w_i = d(u, a_i)^(−p)``, computed as
    ``softmax(−p · log d)`` (no overflow for tiny distances or large ``p``). At an anchor
    (``d = 0``) the value is exactly ``g(a_i)`` (the mean over coinciding anchors) with a zero,
    finite gradient; the distances are kept away from 0 in the unused branch so that no NaN
    leaks into the backward pass.
"""

from __future__ import annotations

import torch

from losskit.core._validation import check_number
from losskit.uniloss.accumulate import accumulate_
from losskit.uniloss.anchors import Anchors, _as_float, _extend

DISTANCES = ("euclidean", "manhattan")


def check_positive(value: object, name: str) -> float:
    """``float(value)`` if it is a finite number > 0, else ``ValueError`` naming ``name``."""
    return check_number(value, name, low=0.0, low_open=True)


def sigmoid_relaxation(
    c: torch.Tensor, temperature: float = 1.0, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``h̃(c) = sigmoid(c / T)`` (eq. 9); entries with ``valid = False`` are the constant 1."""
    u = torch.sigmoid(c / temperature) if temperature != 1.0 else torch.sigmoid(c)
    if valid is not None:
        u = u.masked_fill(~valid, 1.0)
    return u


def _weights(q: torch.Tensor, values: torch.Tensor, exponent: float):
    """IDW from distances ``q`` ``(A,)`` (≥ 0) with weights ``q^(−exponent)``, without a host
    sync: ``(value, w, safe_q, at_anchor, smooth)``.

    ``smooth = softmax(−exponent · log q)·values``; where some ``q_i = 0`` (at an anchor; in
    practice ``q_i`` ≤ the smallest normal float) the value is that anchor's: every anchor hit
    is the configuration ``u`` itself, so they all have the same value and the nearest one
    (``argmin q``) gives it.
    """
    tiny = torch.finfo(q.dtype).tiny
    safe = q.clamp_min(tiny)
    w = torch.softmax(safe.log().mul_(-exponent), dim=0)
    smooth = w.dot(values)
    nearest, index = safe.min(0, keepdim=True)
    at_anchor = (nearest <= tiny).squeeze(0)
    exact = values.gather(0, index).squeeze(0)  # no host sync (unlike values[index])
    return torch.where(at_anchor, exact, smooth), w, safe, at_anchor, smooth


def _gamma(grad, values, w, safe, at_anchor, smooth, exponent: float, scale: float = 1.0):
    """``γ_i = ∂g̃/∂q_i = −exponent · w_i (v_i − g̃) / q_i`` times ``grad · scale``; 0 at an
    anchor."""
    gamma = (values - smooth).mul_(w).div_(safe).mul_(grad).mul_(-exponent * scale)
    return gamma.masked_fill_(at_anchor, 0.0)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


class _EuclideanIDW(torch.autograd.Function):
    """IDW with Euclidean distances to dense anchors in one autograd node.

    Forward: ``q_i = ‖u − a_i‖² = ‖u‖² − 2 a_i·u + ‖a_i‖²`` (one matrix-vector product
    instead of an ``(A, L)`` difference tensor), ``w = softmax(−(p/2) log q)``, ``g̃ = w·v``; at
    an anchor (``q_i = 0``) its value. Backward (checked against finite differences with
    ``torch.autograd.gradcheck`` in the tests):

    ``∂g̃/∂u = Σ_i γ_i · 2(u − a_i) = 2(u Σ_i γ_i − aᵀγ)``,
    ``γ_i = ∂g̃/∂q_i = −(p/2) · w_i (v_i − g̃) / q_i``; zero at an anchor.
    """

    @staticmethod
    def forward(ctx, u, anchors, values, power):  # type: ignore[override]
        dtype = _compute_dtype(u.dtype)
        a = _as_float(anchors, dtype)
        uc = u.to(dtype)
        a_sq = a.sum(1) if anchors.dtype == torch.bool else a.square().sum(1)
        q = (a_sq + uc.dot(uc)).sub_(a @ uc, alpha=2.0)
        v = values.to(dtype)
        out, w, safe, at_anchor, smooth = _weights(q, v, 0.5 * power)
        ctx.save_for_backward(uc, a, v, w, safe, at_anchor, smooth)
        ctx.power, ctx.u_dtype = power, u.dtype
        return out.to(u.dtype)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        uc, a, v, w, safe, at_anchor, smooth = ctx.saved_tensors
        gamma = _gamma(grad.to(uc.dtype), v, w, safe, at_anchor, smooth, 0.5 * ctx.power)
        grad_u = (uc * gamma.sum()).sub_(gamma @ a).mul_(2.0)
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
    """IDW value from anchor distances ``q`` (``d²`` for Euclidean, ``d`` for Manhattan) by
    plain autograd: weights ``d^(−p) / Σ d^(−p)``; at an anchor (some ``q_i = 0``) its value,
    with nothing NaN in the backward pass."""
    exponent = 0.5 * power if distance == "euclidean" else power
    return _weights(q, values.to(q.dtype), exponent)[0]


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
    ``u``'s dtype. Euclidean distance takes the fused path (:class:`_EuclideanIDW`, float64 for
    float64 ``u``, else float32), Manhattan plain autograd (:func:`anchor_distances` +
    :func:`interpolate`).
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


# ----------------------------------------------------------------------------- fused UniLoss
def _relax(c: torch.Tensor, valid: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """``u = sigmoid(c / T)`` ``(G, P, Q)``, invalid comparisons (``valid``, broadcastable to
    ``(G, P, Q)``) set to 1."""
    u = torch.sigmoid(c / temperature if temperature != 1.0 else c)
    return u if valid is None else u.masked_fill(~valid, 1.0)


def _relax_backward(grad_u: torch.Tensor, u: torch.Tensor):
    """``(∂/∂pos, ∂/∂neg)`` from ``T·∂g̃/∂u`` (the ``γ`` of :func:`_gamma` scaled by ``2/T``):
    ``∂u/∂c = u(1 − u)/T`` (0 for invalid comparisons, where ``u = 1``), ``∂c/∂pos = Σ_j``,
    ``∂c/∂neg = −Σ_i``."""
    grad_c = torch.ops.aten.sigmoid_backward(grad_u.reshape(u.shape), u)
    return grad_c.sum(2), grad_c.sum(1).neg_()


class _DenseAnchorIDW(torch.autograd.Function):
    """``g̃(sigmoid(c / T))`` with ``c = pos[:, :, None] − neg[:, None, :]`` over anchors given
    as bits ``(A, L)``, in one autograd node (the fused form of :func:`sigmoid_relaxation`
    followed by Euclidean :func:`idw`; distances and backward as :class:`_EuclideanIDW`).
    The fewest ops for small ``A·L``."""

    @staticmethod
    def forward(ctx, pos, neg, c, valid, bits, values, temperature, power):  # type: ignore[override]
        u = _relax(c, valid, temperature)
        uf = u.reshape(-1)
        a = _as_float(bits, uf.dtype)
        q = (a.sum(1) + uf.dot(uf)).sub_(a @ uf, alpha=2.0)
        out, w, safe, at_anchor, smooth = _weights(q, values, 0.5 * power)
        ctx.save_for_backward(u, a, values, w, safe, at_anchor, smooth)
        ctx.temperature, ctx.power = temperature, power
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        u, a, values, w, safe, at_anchor, smooth = ctx.saved_tensors
        gamma = _gamma(grad, values, w, safe, at_anchor, smooth, 0.5 * ctx.power,
                       2.0 / ctx.temperature)
        grad_u = (u.reshape(-1) * gamma.sum()).sub_(gamma @ a)
        return (*_relax_backward(grad_u, u), None, None, None, None, None, None)


class _AnchorIDW(torch.autograd.Function):
    """``g̃(sigmoid(c / T))`` for :class:`~losskit.uniloss.anchors.Anchors` stored by structure,
    with ``c = pos[:, :, None] − neg[:, None, :]``, in one autograd node.

    Distances (``u = sigmoid(c/T)`` flattened, invalid entries 1; ``h`` the base of the nearby
    rows): ``‖u − 1‖²`` for the truth; ``‖u − 1‖² + Σ_edits (b_p − v_p)(2u_p − b_p − v_p)`` for
    a good row (base ``b = 1``, edits to ``v``) and likewise from ``‖u − h‖²`` for a nearby row;
    ``‖u‖² − 2 r·u + Σ r`` for a dense row ``r`` — one matrix-vector product for the dense rows,
    gathers for the edited ones, never an ``(A, L)`` tensor for them (``dense_mask``: the dense
    rows hold 0 where it is False and ``u`` is read as 0 there, so that padding adds exact zeros
    instead of ``1 + 1 − 2``). Backward:
    ``∂g̃/∂u = 2 Σ_k γ_k (u − a_k)`` assembled from the same structure, then
    ``∂u/∂c = u(1 − u)/T`` (0 for invalid comparisons, where ``u = 1``), ``∂c/∂pos = Σ_j``,
    ``∂c/∂neg = −Σ_i``.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, pos, neg, c, valid, truth, good_pos, good_val, dense, dense_ones, base, near_pos,
        near_val, padded, values, temperature, power, dense_mask,
    ):
        u = _relax(c, valid, temperature)
        uf = u.reshape(-1)
        length = uf.shape[0]
        e = 1.0 - uf
        q_ones = e.dot(e)
        parts = [q_ones.unsqueeze(0)] if truth else []
        # padding edits (position L) read an extra element equal to their value
        extend = _extend if padded else _same
        u_ext = extend(uf, 1.0) if good_pos is not None or near_pos is not None else None
        if good_pos is not None:
            change, step = _edit_terms(u_ext, 1.0, good_val.to(uf.dtype), good_pos)
            parts.append(q_ones + (change * step).sum(1))
        if dense is not None:
            ud = uf if dense_mask is None else uf.masked_fill(~dense_mask, 0.0)
            parts.append((dense_ones + ud.dot(ud)).sub_(dense @ ud, alpha=2.0))
        base_ext = None
        if near_pos is not None:
            base_ext = extend(base.to(uf.dtype), 1.0)
            dh = uf - base_ext[:length]
            change, step = _edit_terms(u_ext, base_ext[near_pos], near_val.to(uf.dtype), near_pos)
            parts.append(dh.dot(dh) + (change * step).sum(1))
        q = torch.cat(parts)
        out, w, safe, at_anchor, smooth = _weights(q, values, 0.5 * power)
        ctx.save_for_backward(
            u, good_pos, good_val, dense, base_ext, near_pos, near_val, values, w, safe,
            at_anchor, smooth,
        )
        ctx.truth, ctx.padded, ctx.temperature, ctx.power = truth, padded, temperature, power
        return out

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (u, good_pos, good_val, dense, base_ext, near_pos, near_val, values, w, safe, at_anchor,
         smooth) = ctx.saved_tensors
        gamma = _gamma(grad, values, w, safe, at_anchor, smooth, 0.5 * ctx.power,
                       2.0 / ctx.temperature)
        uf = u.reshape(-1)
        length = uf.shape[0]
        t = int(ctx.truth)
        ng = 0 if good_pos is None else good_pos.shape[0]
        nd = 0 if dense is None else dense.shape[0]
        # 2 Σ_k γ_k (u − a_k): the u term, then each block's Σ γ_k a_k
        ones = gamma[: t + ng].sum()
        grad_u = uf * gamma.sum() - ones
        edits = None  # Σ γ_k (a_k − base) at the edited positions (accumulate_: see its module)
        size = length + int(ctx.padded)
        if good_pos is not None:
            change = good_val.to(uf.dtype) - 1.0
            edits = accumulate_(
                torch.zeros(size, dtype=uf.dtype, device=uf.device), 0, good_pos.reshape(-1),
                (gamma[t : t + ng, None] * change).reshape(-1), "index_add",
            )
        if dense is not None:
            grad_u = grad_u - gamma[t + ng : t + ng + nd] @ dense
        if near_pos is not None:
            gn = gamma[t + ng + nd :]
            grad_u = grad_u - gn.sum() * base_ext[:length]
            if edits is None:
                edits = torch.zeros(size, dtype=uf.dtype, device=uf.device)
            change = near_val.to(uf.dtype) - base_ext[near_pos]
            edits = accumulate_(edits, 0, near_pos.reshape(-1),
                                (gn.unsqueeze(1) * change).reshape(-1), "index_add")
        if edits is not None:
            grad_u = grad_u - edits[:length]
        return (*_relax_backward(grad_u, u), *(None,) * 15)


def _same(x: torch.Tensor, value: float) -> torch.Tensor:
    return x


def _edit_terms(u_ext, base_p, val, positions):
    """For edits ``positions`` ``(A, K)`` from base values ``base_p`` to ``val``: the factors
    ``(b − v)`` and ``(2u − b − v)`` whose product is the change of ``(u − a)²``."""
    up = u_ext[positions]
    change = base_p - val
    return change, (2.0 * up).sub_(base_p).sub_(val)


def relaxed_idw(
    pos: torch.Tensor,
    neg: torch.Tensor,
    anchors: Anchors | torch.Tensor,
    values: torch.Tensor,
    temperature: float = 1.0,
    power: float = 1.0,
    valid: torch.Tensor | None = None,
    c: torch.Tensor | None = None,
    dense_ones: torch.Tensor | None = None,
    exact_padding: bool = False,
) -> torch.Tensor:
    """``idw(sigmoid_relaxation(pos[:, :, None] − neg[:, None, :], T, valid), anchors, values,
    power)`` (Euclidean) as one fused autograd node — the same value and gradient as the
    composition, with a fraction of its per-op overhead.

    ``anchors``: bits ``(A, …)`` with ``L = G·P·Q`` elements each (:class:`_DenseAnchorIDW`),
    or :class:`~losskit.uniloss.anchors.Anchors`, used by structure without materialising
    their bits (:class:`_AnchorIDW`; ``dense_ones``: the number of ones of each dense row, if
    known). ``valid``: which comparisons are valid, broadcastable to ``(G, P, Q)`` (e.g. a
    column mask ``(G, 1, Q)``, :meth:`~losskit.uniloss.refactor.Comparisons.mask`); ``c``: the
    differences if already computed (must equal ``pos[:, :, None] − neg[:, None, :]``).
    ``exact_padding`` (structured anchors): compute the dense rows' distances over the valid
    comparisons only, so that many invalid ones (the static ranking layout) add exact zeros
    rather than cancelling terms. The computation runs in float64 for float64 scores, else
    float32; the result has ``pos``'s dtype.
    """
    dtype = _compute_dtype(pos.dtype)
    if c is None:
        with torch.no_grad():
            c = pos.unsqueeze(2) - neg.unsqueeze(1)
    if c.requires_grad:
        c = c.detach()
    if c.dtype != dtype:
        c, values = c.to(dtype), values.to(dtype)
    elif values.dtype != dtype:
        values = values.to(dtype)
    length = anchors.length if isinstance(anchors, Anchors) else anchors[0].numel()
    if length != c.numel():
        raise ValueError(f"anchors must have {c.numel()} elements each, got {length}")
    if not isinstance(anchors, Anchors):
        bits = anchors.reshape(anchors.shape[0], -1)
        out = _DenseAnchorIDW.apply(
            pos, neg, c, valid, bits, values, float(temperature), float(power)
        )
        return out if out.dtype == pos.dtype else out.to(pos.dtype)
    dense = None if anchors.dense is None else _as_float(anchors.dense, dtype)
    dense_mask = None
    if dense is not None and exact_padding and valid is not None:
        dense_mask = valid.expand(c.shape).reshape(-1)
        dense, dense_ones = dense * dense_mask, None
    if dense is not None:
        dense_ones = dense.sum(1) if dense_ones is None else dense_ones.to(dtype)
    out = _AnchorIDW.apply(
        pos, neg, c, valid, anchors.truth, anchors.good_pos, anchors.good_val, dense,
        dense_ones, anchors.base, anchors.nearby_pos, anchors.nearby_val, anchors.padded,
        values, float(temperature), float(power), dense_mask,
    )
    return out if out.dtype == pos.dtype else out.to(pos.dtype)
