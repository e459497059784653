"""Class statistics of parametric auxiliaries (centres, L-GM means): estimated from the batch,
never rolled back — so MILS+L-GM accepts updates, where rolling them back never does."""

from __future__ import annotations

import pytest
import torch

from losskit import losses, models
from losskit.data import fashion_mnist as fm
from losskit.mils import MILS, class_statistics, estimate_class_means


def test_estimate_class_means_by_hand() -> None:
    loss = losses.build("lgm", {"num_classes": 4, "feature_dim": 3})
    old = loss.means.detach().clone()
    f = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, 0.0, 6.0], [5.0, 5.0, 5.0]])
    y = torch.tensor([0, 0, 2, 0])
    estimate_class_means(loss, f, y)
    assert loss.means[0].tolist() == [3.0, 3.0, 3.0]
    assert loss.means[2].tolist() == [0.0, 0.0, 6.0]
    assert torch.equal(loss.means[1], old[1]) and torch.equal(loss.means[3], old[3])
    assert [id(p) for p in class_statistics(loss)] == [id(loss.means)]  # log_covs: None
    kept = loss.means.detach().clone()
    estimate_class_means(loss, torch.full_like(f, float("nan")), y)  # ignored, no sync needed
    assert torch.equal(loss.means, kept)
    estimate_class_means(losses.get("focal"), f, y)  # no statistics: nothing to do


def test_center_is_the_term_alone_and_ce_center_the_joint() -> None:
    ctx = {"num_classes": 3, "feature_dim": 4}
    torch.manual_seed(0)
    center = losses.build("center", ctx)
    torch.manual_seed(0)
    joint = losses.build("ce_center", ctx)
    z, y, f = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0]), torch.randn(5, 4)
    term = 0.01 * 0.5 * (f - center.centers[y]).pow(2).sum(1).mean()
    torch.testing.assert_close(center(z, y, features=f), term)
    torch.testing.assert_close(joint(z, y, features=f), losses.get("ce")(z, y) + term)
    assert center.class_statistics == ("centers",) and center.ce_weight == 0.0


FASHION = fm.resolve_root(None)
needs_fashion = pytest.mark.skipif(
    not all((FASHION / f"{s}.gz").is_file() for s in fm.mnist_style.FILES.values()),
    reason=f"Fashion-MNIST not installed at {FASHION}",
)


@pytest.fixture(scope="module")
def fashion() -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _, _ = fm.fashion_mnist_tensors()
    return x, y


def _lgm_accepted(fashion, seed: int, statistics: str) -> int:
    """LeNet trained 60 CE steps on Fashion-MNIST (≈ 70 % observation accuracy), then 20
    L-GM attempts judged on a 256-sample observation set: how many are kept."""
    x, y = fashion
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: 256 + 80 * 64]
    xs, ys = x[idx], y[idx]
    batches = [(xs[256 + 64 * i : 320 + 64 * i], ys[256 + 64 * i : 320 + 64 * i])
               for i in range(80)]
    torch.manual_seed(seed)
    model = models.build("lenet", (1, 28, 28), 10)
    aux = losses.build("lgm", {"num_classes": 10, "feature_dim": model.feature_dim})
    opt = torch.optim.SGD([*model.parameters(), *aux.parameters()], lr=0.05, momentum=0.9)
    warm = MILS(model, opt, "ce", {"lgm": aux}, 0.0, None)
    for xb, yb in batches[:60]:
        warm.step(xb, yb)
    mils = MILS(model, opt, "ce", {"lgm": aux}, 1.0, (xs[:256], ys[:256]),
                statistics=statistics)
    for xb, yb in batches[60:]:
        mils.step(xb, yb)
    assert mils.stats.attempts == 20 and mils.stats.nonfinite == 0
    return mils.stats.successes


@needs_fashion
def test_lgm_auxiliary_learns_and_is_accepted(fashion) -> None:
    """Every seed keeps some L-GM updates; with the means rolled back (the old behaviour)
    none is ever kept."""
    assert all(_lgm_accepted(fashion, seed, "learn") > 0 for seed in range(3))
    assert _lgm_accepted(fashion, 0, "rollback") == 0
