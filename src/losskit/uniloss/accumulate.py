"""Scatter-adds that ``torch.compile`` keeps in order: an opaque op while tracing.

Why (torch 2.13, Inductor's CPU backend): a scatter-add into a fresh buffer (``index_add_`` /
``scatter_add_``, lowered to a mutation of the buffer) and a pointwise reader of that buffer can
be emitted in the wrong order. Fusing two pointwise nodes whose loop ranges differ,
``CppScheduling._align_compatible_range_nodes`` calls ``SchedulerNode.recompute_size_and_body``,
which re-derives the node's reads from its loop body — by the buffer's *original* name — and
re-applies the node's mutation renames only when it has fake (weak / star) dependencies. The
reader then depends on the zero-fill alone and runs before the scatter-adds, reading zeros.

In UniLoss this hit the backward of the fused IDW (:class:`~losskit.uniloss.interpolation.
_AnchorIDW`): ``∂g̃/∂u`` reads the good and nearby anchors' edits, scattered into a buffer, and
is fused with the recomputed relaxation ``u`` (a ``(G, P, Q)`` loop against the flat ``(L,)``
one). With ``squash=True`` (``relaxation="authors"``) ``u = sigmoid(tanh(·) − tanh(·))`` is
recomputed in the backward and fused with that reader: compiled PCK gradients lost the edit
terms (off by up to several percent on most entries); with ``squash=False`` the nodes did not
fuse this way in the cases measured. Inductor's ``ir_post_fusion`` dump shows the fused node
depending on the pre-mutation buffer.

Here the scatter-add is an opaque custom op while compiling (its output a new tensor: no
mutation for the scheduler to track); in eager mode the same in-place op runs directly, so
eager values are unchanged, and compiled values equal them bit for bit.
"""

from __future__ import annotations

import torch

_HOW = ("index_add", "scatter_add")


@torch.library.custom_op("losskit::accumulate", mutates_args=())
def _accumulate_op(
    base: torch.Tensor, dim: int, index: torch.Tensor, source: torch.Tensor, how: str
) -> torch.Tensor:
    out = base.clone()
    return out.index_add_(dim, index, source) if how == "index_add" else out.scatter_add_(
        dim, index, source
    )


@_accumulate_op.register_fake
def _(base, dim, index, source, how):  # noqa: ANN001, ANN202
    return torch.empty_like(base)


def accumulate_(
    base: torch.Tensor, dim: int, index: torch.Tensor, source: torch.Tensor, how: str
) -> torch.Tensor:
    """``base.index_add_(dim, index, source)`` (``how="index_add"``) or
    ``base.scatter_add_(dim, index, source)`` (``"scatter_add"``): in place in eager mode, an
    opaque op returning a new tensor while ``torch.compile`` traces (see the module docs). Use
    the result; ``base`` must be a fresh buffer nobody else reads."""
    if how not in _HOW:
        raise ValueError(f"how must be one of {_HOW}, got {how!r}")
    if torch.compiler.is_compiling():
        return _accumulate_op(base, dim, index, source, how)
    if how == "index_add":
        return base.index_add_(dim, index, source)
    return base.scatter_add_(dim, index, source)


__all__ = ["accumulate_"]
