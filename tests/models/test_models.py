from __future__ import annotations

import pytest
import torch
from torch import nn

from losskit import models
from losskit.models import MODELS, Classifier, HeatmapNet, PixelHead, ResNet

IMAGE_SHAPES = [(1, 28, 28), (3, 32, 32)]
CLASSIFIERS = ["linear", "mlp", "lenet", "resnet8", "resnet20", "resnet32"]
FLAT_OK = ["linear", "mlp"]


def _build(name: str, shape: tuple[int, ...], num_classes: int = 10, **kw) -> Classifier:
    torch.manual_seed(0)
    return models.build(name, shape, num_classes, **kw)


def test_all_models_registered():
    assert set(models.names()) >= {*CLASSIFIERS, "heatmap"}
    assert models.names() == MODELS.names()


@pytest.mark.parametrize("shape", IMAGE_SHAPES)
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_image_output_and_feature_shapes(name, shape):
    model = _build(name, shape, 7)
    assert isinstance(model, Classifier)
    assert model.num_classes == 7
    x = torch.randn(3, *shape)
    logits = model(x)
    assert logits.shape == (3, 7)
    logits2, feats = model(x, return_features=True)
    assert feats.shape == (3, model.feature_dim)
    model.eval()
    assert torch.equal(model.head(model.features(x)), model(x))


@pytest.mark.parametrize("name", FLAT_OK)
def test_flat_inputs(name):
    model = _build(name, (20,), 4)
    logits, feats = model(torch.randn(5, 20), return_features=True)
    assert logits.shape == (5, 4) and feats.shape == (5, model.feature_dim)


def test_flat_square_inputs_are_read_as_one_channel_images():
    conv = _build("lenet", (784,), 10)
    assert conv.input_shape == (1, 28, 28)
    x = torch.randn(2, 1, 28, 28)
    conv.eval()
    assert torch.equal(conv(x), conv(x.flatten(1)))


def test_feature_dims():
    assert _build("linear", (1, 28, 28)).feature_dim == 784
    assert _build("mlp", (1, 28, 28)).feature_dim == 300
    assert _build("mlp", (1, 28, 28), hidden="64").feature_dim == 64
    assert _build("lenet", (3, 32, 32)).feature_dim == 84
    assert _build("resnet8", (3, 32, 32)).feature_dim == 64
    assert _build("resnet8", (3, 32, 32), width=8).feature_dim == 32


def test_mlp_parameter_count_matches_784_500_300_10():
    model = models.build("mlp", (1, 28, 28), 10)
    expected = 784 * 500 + 500 + 500 * 300 + 300 + 300 * 10 + 10
    assert sum(p.numel() for p in model.parameters()) == expected == 545_810


def test_mlp_hidden_forms_agree():
    a = _build("mlp", (8,), 3, hidden=[16, 12])
    b = _build("mlp", (8,), 3, hidden="16, 12")
    c = _build("mlp", (8,), 3, hidden=(16, 12))
    for other in (b, c):
        sa, so = a.state_dict(), other.state_dict()
        assert sa.keys() == so.keys() and all(torch.equal(sa[k], so[k]) for k in sa)


def test_mlp_dropout_and_batchnorm_layers():
    model = _build("mlp", (8,), 3, hidden=(16,), dropout=0.5, batchnorm=True)
    kinds = [type(m) for m in model.body]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert model.body[0].bias is None  # BatchNorm's shift replaces the bias
    model.eval()  # dropout off, BN running stats: deterministic
    x = torch.randn(4, 8)
    assert torch.equal(model(x), model(x))


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


@pytest.mark.parametrize("depth", [8, 20, 32])
def test_resnet_has_6n_plus_2_weighted_layers(depth):
    model = _build(f"resnet{depth}", (3, 32, 32))
    assert isinstance(model, ResNet)
    assert len(_weighted_layers(model)) == depth
    n = (depth - 2) // 6
    assert len(model.stages) == 3 * n


def test_resnet20_parameter_count_matches_paper():
    # He et al. 2016, Table 6: ResNet-20 has 0.27M parameters (option A shortcuts).
    model = _build("resnet20", (3, 32, 32))
    count = sum(p.numel() for p in model.parameters())
    assert count == 269_722
    assert 0.265e6 < count < 0.275e6


def test_resnet_option_b_adds_two_projection_convs():
    model = _build("resnet20", (3, 32, 32), shortcut="B")
    # the two stage transitions get a 1×1 conv each
    assert len(_weighted_layers(model)) == 22
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    one_by_one = [m for m in convs if m.kernel_size == (1, 1)]
    assert len(one_by_one) == 2


def test_resnet_option_a_shortcut_is_subsample_and_zero_pad():
    model = _build("resnet8", (1, 28, 28))
    block = model.stages[1]  # first block of stage 2: 16 → 32 channels, stride 2
    x = torch.randn(2, 16, 28, 28)
    out = block.shortcut(x)
    assert out.shape == (2, 32, 14, 14)
    assert torch.equal(out[:, :16], x[:, :, ::2, ::2])
    assert torch.count_nonzero(out[:, 16:]) == 0


def test_lenet_small_inputs_are_padded_to_work():
    model = _build("lenet", (1, 8, 8))
    assert model.conv[0].padding == (12, 12)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_lenet_layers_and_padding():
    m28, m32 = _build("lenet", (1, 28, 28)), _build("lenet", (3, 32, 32))
    assert m28.conv[0].padding == (2, 2) and m32.conv[0].padding == (0, 0)
    # conv 6/16 5×5 then fc 400-120-84 in both cases
    for m in (m28, m32):
        assert [c.out_channels for c in m.conv if isinstance(c, nn.Conv2d)] == [6, 16]
        assert [(f.in_features, f.out_features) for f in m.fc if isinstance(f, nn.Linear)] == [
            (400, 120),
            (120, 84),
        ]


@pytest.mark.parametrize(
    ("name", "shape", "num_classes"),
    [
        ("linear", (1, 28, 28), 10),
        ("mlp", (1, 28, 28), 10),
        ("lenet", (1, 28, 28), 10),
        ("resnet8", (3, 32, 32), 10),
        ("heatmap", (1, 12, 12), 144),
    ],
)
def test_gradient_reaches_every_parameter(name, shape, num_classes):
    model = _build(name, shape, num_classes)
    x = torch.randn(4, *shape)
    logits, feats = model(x, return_features=True)
    loss = torch.nn.functional.cross_entropy(logits, torch.arange(4) % num_classes)
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", [*CLASSIFIERS, "heatmap"])
def test_construction_is_deterministic_under_seed(name):
    shape, nc = ((1, 10, 10), 100) if name == "heatmap" else ((1, 28, 28), 10)
    a, b = _build(name, shape, nc), _build(name, shape, nc)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    torch.manual_seed(1)
    c = models.build(name, shape, nc)
    floats = {k: v for k, v in c.state_dict().items() if v.is_floating_point()}
    assert any(not torch.equal(sa[k], v) for k, v in floats.items())


def test_kaiming_init_scale():
    # fan_in ReLU init: Var(w) = 2 / fan_in for the MLP's hidden layers
    model = models.build("mlp", (1, 28, 28), 10, hidden=(2000,))
    w = model.body[0].weight
    assert w.var().item() == pytest.approx(2 / 784, rel=0.02)
    assert torch.count_nonzero(model.body[0].bias) == 0


# ---- heatmap ----------------------------------------------------------------------------


def test_heatmap_shapes_and_head_mapping():
    model = _build("heatmap", (1, 16, 16), 256, channels=8, layers=3)
    assert isinstance(model, HeatmapNet) and isinstance(model.head, PixelHead)
    assert model.feature_dim == 8 * 16 * 16
    x = torch.randn(2, 1, 16, 16)
    logits, feats = model(x, return_features=True)
    assert logits.shape == (2, 256) and feats.shape == (2, model.feature_dim)
    # the head is a 1×1 conv to one channel on the feature map, flattened row-major
    fmap = feats.reshape(2, 8, 16, 16)
    conv = nn.Conv2d(8, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(model.head.weight.reshape(1, 8, 1, 1))
        conv.bias.copy_(model.head.bias)
    torch.testing.assert_close(logits, conv(fmap).flatten(1))


def test_heatmap_is_translation_equivariant_in_the_interior():
    model = _build("heatmap", (1, 20, 20), 400, channels=4, layers=2)
    model.eval()
    x = torch.zeros(1, 1, 20, 20)
    x[0, 0, 8, 8] = 1.0
    shifted = torch.roll(x, shifts=(2, 3), dims=(2, 3))
    a = model(x).reshape(20, 20)
    b = model(shifted).reshape(20, 20)
    # receptive field 5×5 keeps the response away from the border
    torch.testing.assert_close(b[7:14, 8:15], a[5:12, 5:12])


def test_heatmap_flat_input_shape():
    model = _build("heatmap", (64,), 64, channels=4, layers=1)
    assert model.input_shape == (1, 8, 8)
    assert model(torch.randn(3, 64)).shape == (3, 64)


def test_heatmap_dilation_keeps_resolution():
    model = _build("heatmap", (1, 12, 12), 144, channels=4, layers=3, dilation=2)
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 144)


# ---- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "nc", "kw", "match"),
    [
        ("mlp", (1, 28, 28), 0, {}, "num_classes"),
        ("mlp", (1, 28, 28), 10, {"hidden": "a,b"}, "hidden"),
        ("mlp", (1, 28, 28), 10, {"hidden": []}, "hidden"),
        ("mlp", (1, 28, 28), 10, {"dropout": 1.0}, "dropout"),
        ("linear", (0, 28), 10, {}, "input_shape"),
        ("linear", "abc", 10, {}, "input_shape"),
        ("lenet", (1, 0, 4), 10, {}, "input_shape"),
        ("lenet", (10,), 10, {}, "input_shape"),
        ("resnet8", (2, 3, 4, 5), 10, {}, "input_shape"),
        ("resnet8", (3, 32, 32), 10, {"shortcut": "C"}, "shortcut"),
        ("resnet8", (3, 32, 32), 10, {"width": 0}, "width"),
        ("heatmap", (1, 8, 8), 10, {}, "num_classes"),
        ("heatmap", (1, 8, 8), 64, {"layers": 0}, "layers"),
    ],
)
def test_bad_arguments_raise_value_error(name, shape, nc, kw, match):
    with pytest.raises(ValueError, match=match):
        models.build(name, shape, nc, **kw)


def test_resnet_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="depth"):
        models.resnet((3, 32, 32), 10, depth=21)
    assert len(_weighted_layers(models.resnet((3, 32, 32), 10, depth=14))) == 14
