from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from losskit import data
from losskit.data.keypoints import make_keypoints


def _pck(pred: torch.Tensor, y: torch.Tensor, size: int, radius: float = 1.0) -> float:
    dr, dc = pred // size - y // size, pred % size - y % size
    return float(((dr.square() + dc.square()).float().sqrt() <= radius).float().mean())


def test_loader_contract():
    d = data.load("keypoints", n_train=50, n_test=30, size=12, seed=0, val_fraction=0.2)
    x, y = d.train.tensors
    assert x.shape == (40, 1, 12, 12) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(d.val) == 10 and len(d.test) == 30
    assert d.num_classes == 144 and d.input_shape == (1, 12, 12)
    assert d.meta == {"task": "keypoints", "heatmap_size": 12, "pck_radius": 1.0}
    assert int(y.min()) >= 0 and int(y.max()) < 144
    assert data.load("keypoints", n_train=5, n_test=5, pck_radius=2).meta["pck_radius"] == 2.0


@pytest.mark.parametrize("size", [8, 16, 24])
def test_target_is_argmax_of_noise_free_canvas(size):
    x, y = make_keypoints(4000, size, torch.Generator().manual_seed(size), noise_std=0.0)
    assert torch.equal(x.flatten(1).argmax(1), y)


def test_distractor_is_present_and_dimmer():
    x, y = make_keypoints(500, 16, torch.Generator().manual_seed(1), noise_std=0.0)
    img = x[:, 0]
    peak = img.flatten(1).max(1).values
    # Local maxima other than the keypoint: a second, dimmer blob exists in every image.
    pooled = F.max_pool2d(img.unsqueeze(1), 3, 1, 1)[:, 0]
    is_max = (img == pooled).flatten(1)
    is_max[torch.arange(500), y] = False
    second = torch.where(is_max, img.flatten(1), torch.full_like(img.flatten(1), -1)).max(1).values
    background = img.flatten(1).min(1).values
    assert torch.all(second < peak)
    assert torch.all(second - background > 0.2 * (peak - background))


def test_targets_cover_the_canvas():
    y = make_keypoints(5000, 16, torch.Generator().manual_seed(0))[1]
    assert set((y // 16).tolist()) == set(range(16)) and set((y % 16).tolist()) == set(range(16))


def test_deterministic_by_seed_and_test_independent_of_n_train():
    a = data.load("keypoints", n_train=100, n_test=40, seed=3)
    b = data.load("keypoints", n_train=100, n_test=40, seed=3)
    c = data.load("keypoints", n_train=100, n_test=40, seed=4)
    d = data.load("keypoints", n_train=300, n_test=40, seed=3)
    assert torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert torch.equal(a.test.tensors[1], b.test.tensors[1])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    assert torch.equal(a.test.tensors[0], d.test.tensors[0])
    assert not torch.equal(a.train.tensors[0][:40], a.test.tensors[0])  # independent streams


def test_not_trivial_but_neighbourhood_helps():
    """Brightest pixel is often wrong; smoothing (what a conv layer can do) recovers much of it."""
    x, y = make_keypoints(3000, 16, torch.Generator().manual_seed(9))
    raw = x.flatten(1).argmax(1)
    k = torch.exp(-torch.arange(-3, 4).float().square() / 2.25)
    kernel = (k[:, None] * k[None, :]) / (k.sum() ** 2)
    smooth = F.conv2d(x, kernel[None, None], padding=3).flatten(1).argmax(1)
    assert _pck(raw, y, 16) < 0.6
    assert _pck(smooth, y, 16) > _pck(raw, y, 16) + 0.1


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"size": 4}, "size"),
        ({"n_train": 0}, "n must be a positive int"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"pck_radius": -1}, "pck_radius"),
        ({"seed": "a"}, "seed"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        data.load("keypoints", **{"n_train": 10, "n_test": 10, **kwargs})


def test_small_conv_net_learns_it():
    """3 epochs of a 3-layer conv net: test PCK@1 ~0.69 vs ~0.51 for the brightest pixel."""
    torch.manual_seed(0)
    d = data.load("keypoints", n_train=3000, n_test=1000, seed=0)
    x, y = d.train.tensors
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 32, 3, padding=2, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 1, 3, padding=1),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(3):
        for b in torch.randperm(len(y)).split(64):
            loss = F.cross_entropy(net(x[b]).flatten(1), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = net(d.test.tensors[0]).flatten(1).argmax(1)
    raw = d.test.tensors[0].flatten(1).argmax(1)
    assert _pck(pred, d.test.tensors[1], 16) > _pck(raw, d.test.tensors[1], 16) + 0.1
