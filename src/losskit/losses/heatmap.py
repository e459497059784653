"""Keypoint heatmap regression: the usual pose-estimation MSE against a Gaussian heatmap
(e.g. Tompson et al. 2014, "Joint Training of a Convolutional Network and a Graphical Model for
Human Pose Estimation"; the baseline of UniLoss's PCK experiment, Liu et al. 2020).

:func:`gaussian_heatmap` renders the target heatmaps; :func:`heatmap_mse` takes raw scores
``(N, H·W)`` of a square heatmap and the true pixel index ``(N,)``. Module form (registry
name): :class:`HeatmapMSELoss` (``heatmap_mse``).
"""

from __future__ import annotations

import math

import torch

from losskit.core._validation import checks, number, reduce
from losskit.losses._common import check_classification
from losskit.losses.mirror import FunctionalLoss
from losskit.losses.registry import LOSSES

__all__ = ["gaussian_heatmap", "heatmap_mse", "HeatmapMSELoss"]


def gaussian_heatmap(
    target: torch.Tensor, side: int, sigma: float, like: torch.Tensor
) -> torch.Tensor:
    """Flattened ``(N, side*side)`` Gaussian heatmaps, peak 1 at pixel ``target`` (row-major)."""
    coords = torch.arange(side, dtype=like.dtype, device=like.device)
    t = target.long().to(like.device)
    rows, cols = (t // side).to(like.dtype), (t % side).to(like.dtype)
    dr = (coords.unsqueeze(0) - rows.unsqueeze(1)).pow(2)  # (N, side)
    dc = (coords.unsqueeze(0) - cols.unsqueeze(1)).pow(2)
    sq = dr.unsqueeze(2) + dc.unsqueeze(1)  # (N, side, side)
    return torch.exp(-sq / (2.0 * sigma * sigma)).reshape(target.shape[0], side * side)


@checks(sigma=number(low=0.0, low_open=True))
def heatmap_mse(
    input: torch.Tensor,
    target: torch.Tensor,
    sigma: float = 1.0,
    reduction: str = "mean",
    *,
    validate_args: bool | None = None,
) -> torch.Tensor:
    """Keypoint heatmap regression loss (the usual pose-estimation MSE; UniLoss' PCK baseline).

    ``input``: raw scores ``(N, H·W)`` of a square ``H = W`` heatmap (row-major pixels);
    ``target``: the true pixel index ``(N,)``. The target heatmap is a Gaussian with standard
    deviation ``sigma`` pixels and peak 1 at the true pixel; per sample the mean over pixels of
    ``(z - heatmap)²``.
    """
    check_classification(input, target, reduction, "heatmap_mse", validate_args)
    side = math.isqrt(input.shape[1])
    if side * side != input.shape[1]:
        raise ValueError(
            "input must have a square number H*W of columns (a square heatmap), "
            f"got {input.shape[1]}"
        )
    heat = gaussian_heatmap(target, side, sigma, input)
    return reduce((input - heat).pow(2).mean(dim=1), reduction)


@LOSSES.register("heatmap_mse", help="MSE between pixel scores and a Gaussian keypoint heatmap")
class HeatmapMSELoss(FunctionalLoss):
    """MSE between pixel scores and a Gaussian keypoint heatmap of standard deviation
    ``sigma`` pixels, the module form of :func:`heatmap_mse`."""

    function = staticmethod(heatmap_mse)

    def __init__(self, sigma: float = 1.0, reduction: str = "mean", *,
                 validate_args: bool | None = None) -> None:
        super().__init__(reduction, validate_args=validate_args)
        self._set_hyperparameters(sigma=sigma)
