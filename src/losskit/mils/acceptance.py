"""Gradient-based acceptance tests for auxiliary updates (beyond the paper).

MILS (paper §4) judges an auxiliary update by the observation accuracy after it, which costs two
observation forwards and a snapshot per attempt. Du et al. 2018 ("Adapting auxiliary losses
using gradient similarity") judge it before it is made: the auxiliary gradient ``g_a`` helps the
primary objective to first order iff its cosine with the primary gradient ``g_p`` on the same
batch is positive. One forward serves both losses; the test costs one extra backward and no
snapshot, rollback or observation set.

* ``accept="gradient"``: the auxiliary update is made iff ``cos(g_a, g_p) > 0`` (ties — a cosine
  of exactly 0, e.g. a zero auxiliary gradient — follow ``accept_ties``); otherwise the primary
  gradient trains the batch, as after a MILS rollback.
* ``accept="project"`` (PCGrad, Yu et al. 2020, for one pair of tasks): a conflicting auxiliary
  gradient is not discarded but has its component along ``g_p`` removed,
  ``g_a ← g_a − (g_a·g_p / ‖g_p‖²) g_p``, and that update is made.
* ``norm_cap=True`` (default): the auxiliary gradient that is applied is scaled down, where it
  is longer, to the primary gradient's norm. The cosine test is first-order — it vouches for a
  small step — and the learning rate was chosen for the primary's gradients; uncapped, an
  auxiliary whose gradients are ten times larger (L-GM on unnormalised features) passes the
  test and then wrecks the model (Fashion-MNIST LeNet: chance accuracy after one epoch).
  Du et al. weight the auxiliary gradient by a tuned ``λ`` instead.

The cosine is taken over the parameters both losses reach (a parameter only one of them touches
— e.g. an auxiliary's class statistics — has no conflict to measure): float32 dot products and
norms per tensor, summed in float64.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

ACCEPTS = ("observation", "gradient", "project")

Grads = Sequence[torch.Tensor | None]


def _sq_norms(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Squared L2 norms (float64) of the tensors; not finite when an element is NaN / Inf or the
    norm overflows its dtype (float32: elements ≳ 1e19 — no usable weight or gradient)."""
    return torch.stack([n.double() for n in torch._foreach_norm(list(tensors))]).square()


def all_finite(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """0-dim bool tensor: every tensor is finite in the sense of :func:`_sq_norms` (one fused
    norm per tensor list — a max-norm would be exact but is several times slower on CPU; no
    host synchronisation)."""
    if not tensors:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(_sq_norms(tensors)).all()


@dataclass
class GradientTest:
    """Outcome of comparing ``g_a`` with ``g_p`` on their shared parameters: ``cosine`` (0
    when a norm is 0 or not finite), ``dot``, ``primary_sq_norm``, the two norms, and
    ``finite``: the auxiliary loss and gradient are finite."""

    cosine: float
    dot: float
    primary_sq_norm: float
    finite: bool
    primary_norm: float = 0.0
    aux_norm: float = 0.0

    def cap_scale(self, projected: bool = False) -> float:
        """Factor that brings the (projected) auxiliary gradient's norm on the shared
        parameters down to the primary gradient's norm (1 when it is not larger)."""
        norm = self.aux_norm
        if projected and self.primary_sq_norm > 0.0:
            norm = math.sqrt(max(norm * norm - self.dot * self.dot / self.primary_sq_norm, 0.0))
        return self.primary_norm / norm if norm > self.primary_norm > 0.0 else 1.0

    @property
    def tie(self) -> bool:
        return self.finite and self.dot == 0.0


def gradient_test(primary: Grads, aux: Grads, aux_loss: torch.Tensor) -> GradientTest:
    """Cosine of the auxiliary gradient with the primary one over their shared parameters
    (per-tensor dot products and norms, no concatenated copy; one host synchronisation)."""
    present = [i for i, a in enumerate(aux) if a is not None]
    shared = [k for k, i in enumerate(present) if primary[i] is not None]
    finite = torch.isfinite(aux_loss.detach()).reshape(())
    if not present:
        stats = torch.cat([torch.zeros(3, dtype=torch.float64), finite.double().view(1)])
    else:
        ga = [aux[i].detach() for i in present]  # type: ignore[union-attr]
        sq_a_all = _sq_norms(ga)  # also the finiteness of every auxiliary gradient
        finite = finite.to(sq_a_all.device) & torch.isfinite(sq_a_all).all()
        zero = sq_a_all.new_zeros(())
        if shared:
            gs = [primary[present[k]].detach() for k in shared]  # type: ignore[union-attr]
            dot = torch.stack([torch.dot(g.reshape(-1), ga[k].reshape(-1)).double()
                               for g, k in zip(gs, shared, strict=True)]).sum()
            sq_p, sq_a = _sq_norms(gs).sum(), sq_a_all[shared].sum()
        else:
            dot = sq_p = sq_a = zero
        stats = torch.stack([dot, sq_p, sq_a, finite.double()])
    dot_v, sq_p_v, sq_a_v, ok = stats.tolist()
    ok = bool(ok) and all(math.isfinite(v) for v in (dot_v, sq_p_v, sq_a_v))
    if not ok:
        return GradientTest(0.0, 0.0, 0.0, False)
    n_p, n_a = math.sqrt(sq_p_v), math.sqrt(sq_a_v)
    cosine = dot_v / (n_p * n_a) if n_p > 0 and n_a > 0 else 0.0
    return GradientTest(cosine, dot_v, sq_p_v, True, n_p, n_a)


def project(primary: Grads, aux: Grads, test: GradientTest) -> list[torch.Tensor | None]:
    """``aux`` with its component along ``primary`` removed on the shared parameters (PCGrad);
    unchanged when ``primary`` is zero."""
    if test.primary_sq_norm <= 0.0:
        return list(aux)
    coef = test.dot / test.primary_sq_norm
    out: list[torch.Tensor | None] = []
    for p, a in zip(primary, aux, strict=True):
        out.append(a - coef * p if a is not None and p is not None else a)
    return out


def capped(aux: Grads, primary: Grads, scale: float) -> list[torch.Tensor | None]:
    """``aux`` multiplied by ``scale`` on the parameters it shares with ``primary``."""
    if scale >= 1.0:
        return list(aux)
    return [a * scale if a is not None and p is not None else a
            for p, a in zip(primary, aux, strict=True)]
