"""The UniLoss module: value, gradients (vs finite differences), behaviour, validation."""

from __future__ import annotations

import pytest
import torch

from losskit.uniloss import METRICS, UniLoss, custom_metric


def logits_and_labels(n=24, c=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=dtype), torch.randint(0, c, (n,), generator=g)


def binary_problem(n=20, seed=0, two_logits=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2 if two_logits else 1, generator=g, dtype=torch.float64).squeeze(-1)
    y = (torch.arange(n) % 5 == 0).long()
    return x, y


def heatmaps(n=3, side=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, side * side, generator=g, dtype=torch.float64),
        torch.randint(0, side * side, (n,), generator=g),
    )


CASES = {
    "accuracy": (lambda: logits_and_labels(), {}),
    "topk": (lambda: logits_and_labels(), {"k": 2}),
    "ap": (lambda: binary_problem(two_logits=True), {}),
    "auc": (lambda: binary_problem(), {}),
    "precision_at_k": (lambda: binary_problem(), {"k": 4}),
    "f1": (lambda: binary_problem(), {}),
    "pck": (lambda: heatmaps(), {"radius": 1.0}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_with_fixed_anchors(name):
    make, kw = CASES[name]
    x, y = make()
    loss = UniLoss(name, num_anchors=6, temperature=2.0, seed=0, **kw)
    anchors = loss.sample_anchors(loss.comparisons(x, y))
    x = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda s: loss.surrogate(s, y, anchors=anchors), (x,), eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("subsample", [None, 0.5, 2])
@pytest.mark.parametrize("power", [1.0, 2.0])
def test_gradcheck_with_seed_reset_per_call(subsample, power):
    """Anchors (and random subsampling) drawn from a generator re-seeded at every call."""
    x, y = logits_and_labels(n=16, c=6, seed=3)
    g = torch.Generator()
    loss = UniLoss("accuracy", power=power, subsample=subsample, generator=g)

    def f(s):
        g.manual_seed(11)
        return loss(s, y)

    assert torch.autograd.gradcheck(f, (x.clone().requires_grad_(True),), eps=1e-6, atol=1e-7)


def test_value_is_one_minus_surrogate_and_reproducible():
    x, y = logits_and_labels(n=64, c=10, dtype=torch.float32)
    a, b, c = UniLoss(seed=5), UniLoss(seed=5), UniLoss(seed=6)
    la, lb, lc = a(x, y), b(x, y), c(x, y)
    assert la.dim() == 0 and la.dtype == torch.float32
    assert float(la) == float(lb) and float(la) != float(lc)
    assert float(la) == pytest.approx(1 - float(a.last_surrogate))
    assert 0.0 <= float(la) <= 1.0


def test_dtype_follows_input():
    x, y = logits_and_labels(dtype=torch.float64)
    assert UniLoss(seed=0)(x, y).dtype == torch.float64


def test_perfect_saturated_batch_hits_the_truth_anchor():
    y = torch.arange(8) % 4
    x = torch.nn.functional.one_hot(y, 4).double() * 100.0  # sigmoid(±100) == 1/0 exactly
    x.requires_grad_(True)
    loss = UniLoss("accuracy", seed=0)
    out = loss(x, y)
    out.backward()
    assert float(out.detach()) == 0.0 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ["accuracy", "ap"])
def test_loss_decreases_as_scores_move_toward_ground_truth(name):
    """Scores interpolated from random to ground-truth-aligned: the loss decreases monotonically
    (same seeded anchors at every point)."""
    if name == "accuracy":
        start, y = logits_and_labels(n=32, c=6, seed=2)
        aligned = torch.nn.functional.one_hot(y, 6).double() * 4.0
    else:
        start, y = binary_problem(n=40, seed=2)
        aligned = (2.0 * y - 1.0) * 4.0
    values = []
    for t in torch.linspace(0, 1, 11):
        loss = UniLoss(name, seed=0)
        values.append(float(loss((1 - t) * start + t * aligned, y)))
    assert all(b < a for a, b in zip(values, values[1:], strict=False)), values
    assert values[-1] < 0.5 * values[0]


def test_gradient_raises_target_scores():
    """One SGD step on the logits increases the target-class margin on average."""
    x, y = logits_and_labels(n=64, c=10, seed=4)
    x.requires_grad_(True)
    UniLoss(seed=0)(x, y).backward()
    onehot = torch.nn.functional.one_hot(y, 10).bool()
    assert float(x.grad[onehot].mean()) < 0 < float(x.grad[~onehot].mean())
    assert torch.allclose(x.grad.sum(1), torch.zeros(64, dtype=x.dtype), atol=1e-12)


def test_ap_accepts_two_logits_or_one_score():
    x2, y = binary_problem(n=30, two_logits=True)
    diff = x2[:, 1] - x2[:, 0]
    vals = [float(UniLoss("ap", seed=1)(v, y)) for v in (x2, diff, diff[:, None])]
    assert vals[0] == pytest.approx(vals[1], abs=1e-12) and vals[1] == vals[2]


def test_custom_metric_equals_builtin():
    x, y = logits_and_labels(n=32, c=6)

    def my_accuracy(b):
        return b.amin(dim=(2, 3)).mean(dim=1)  # a sample is right iff all its binaries are 1

    custom = UniLoss(my_accuracy, seed=3)
    builtin = UniLoss("accuracy", seed=3)
    assert float(custom(x, y)) == pytest.approx(float(builtin(x, y)), abs=1e-12)
    m = custom_metric(my_accuracy)
    assert m.hard(x, y) == METRICS.get("accuracy").hard(x, y)


def test_custom_metric_with_wrong_output_shape():
    x, y = logits_and_labels()
    with pytest.raises(ValueError, match="one value per"):
        UniLoss(lambda b: b.mean(), seed=0)(x, y)


def test_subsampling_shapes():
    x, y = logits_and_labels(n=8, c=21)
    assert UniLoss(subsample=5).comparisons(x, y).shape == (8, 1, 5)
    assert UniLoss(subsample=0.25, seed=0).comparisons(x, y).shape == (8, 1, 5)
    assert UniLoss(subsample=1.0).comparisons(x, y).shape == (8, 1, 20)
    comps = UniLoss(subsample=3).comparisons(x, y)
    others = x.masked_fill(torch.nn.functional.one_hot(y, 21).bool(), -torch.inf)
    assert torch.equal(comps.neg.sort(1).values, others.topk(3).values.sort(1).values)
    # random columns differ between draws of one generator
    loss = UniLoss(subsample=0.25, seed=0)
    assert not torch.equal(loss.comparisons(x, y).neg, loss.comparisons(x, y).neg)
    x_hm, t_hm = heatmaps(n=2, side=6)
    comps = UniLoss("pck", subsample=4).comparisons(x_hm, t_hm)
    assert comps.shape == (2, 5, 4) and bool(comps.valid.all())


def test_anchor_counts_per_kind():
    x, y = logits_and_labels()
    loss = UniLoss(num_anchors=4, num_bad=0, num_nearby=2, flip_bits=2, seed=0)
    anchors = loss.sample_anchors(loss.comparisons(x, y))
    assert anchors.counts() == {"truth": 1, "good": 4, "bad": 0, "nearby": 2}


def test_pck_gradient_only_on_pixels_that_matter():
    x, t = heatmaps(n=2, side=6)
    x.requires_grad_(True)
    UniLoss("pck", radius=1.0, subsample=3, seed=0)(x, t).backward()
    # positives (≤ 5 per heatmap) and the 3 kept negatives get gradient; the rest none
    assert int((x.grad != 0).sum(1).max()) <= 8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"metric": "nope"}, "unknown uniloss metric"),
        ({"metric": 3}, "metric"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"power": -1}, "power"),
        ({"num_anchors": -1}, "num_anchors"),
        ({"subsample": 0}, "subsample"),
        ({"subsample": 1.5}, "subsample"),
        ({"subsample": True}, "subsample"),
        ({"k": 0}, "k"),
        ({"metric": "pck", "radius": -1.0}, "radius"),
        ({"flip_bits": 0}, "flip_bits"),
        ({"nearby": "x"}, "nearby"),
        ({"distance": "cos"}, "distance"),
        ({"generator": 5}, "generator"),
        ({"num_anchors": 0, "include_truth": False}, "num_anchors"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UniLoss(**kwargs)


def test_bad_inputs():
    x, y = logits_and_labels(n=6, c=4)
    acc = UniLoss("accuracy", seed=0)
    with pytest.raises(ValueError, match="target must contain only 0"):
        acc(x[:, 0], y)  # one logit per sample: binary accuracy needs 0/1 targets
    with pytest.raises(ValueError, match="target"):
        acc(x, y[:3])
    with pytest.raises(ValueError, match="target"):
        acc(x, y + 10)
    with pytest.raises(ValueError, match=r"k must be smaller than the number of classes \(2"):
        UniLoss("topk", k=2)(x[:, 0], (y > 1).long())
    with pytest.raises(ValueError, match="NaN"):
        acc(torch.full_like(x, float("nan")), y)
    scores, yb = binary_problem(n=10)
    ap = UniLoss("ap", seed=0)
    with pytest.raises(ValueError, match="no positive"):
        ap(scores, torch.zeros(10, dtype=torch.long))
    with pytest.raises(ValueError, match="no negative"):
        ap(scores, torch.ones(10, dtype=torch.long))
    with pytest.raises(ValueError, match="only 0"):
        ap(scores, yb * 2)
    with pytest.raises(ValueError, match="binary scores"):
        ap(torch.randn(10, 3), yb)
    with pytest.raises(ValueError, match="target must contain only 0 .* other float values"):
        ap(scores, yb.double() * 0.5)
    with pytest.raises(ValueError, match=r"target must have shape \(N,\) or \(N, 1\)"):
        ap(scores, yb.reshape(2, 5))
    with pytest.raises(ValueError, match="k must be"):
        UniLoss("precision_at_k", k=11, seed=0)(scores, yb)
    hm, t = heatmaps(n=2, side=4)
    pck = UniLoss("pck", seed=0)
    with pytest.raises(ValueError, match="without a keypoint"):
        pck(hm, torch.tensor([3, -1]))
    with pytest.raises(ValueError, match="perfect-square"):
        pck(hm[:, :15], t)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        pck(hm, torch.tensor([3, 16]))
    with pytest.raises(ValueError, match="covers the whole 4×4 heatmap"):
        UniLoss("pck", radius=10.0, seed=0)(hm, t)
    with pytest.raises(ValueError, match="anchors must have shape"):
        acc.surrogate(x, y, anchors=torch.ones(3, 6, 1, 2, dtype=torch.bool))


def test_metrics_registry_lists_the_metrics():
    assert {"accuracy", "topk", "ap", "auc", "precision_at_k", "f1", "pck"} <= set(
        METRICS.names()
    )
    assert all(METRICS.describe().values())


def test_degenerate_ap_batch_raises_or_gives_a_zero_loss():
    from losskit.uniloss import DegenerateBatchError

    scores = torch.randn(6, requires_grad=True)
    negatives = torch.zeros(6, dtype=torch.long)
    with pytest.raises(DegenerateBatchError, match="no positive"):
        UniLoss("ap", seed=0)(scores, negatives)
    assert issubclass(DegenerateBatchError, ValueError)
    loss_fn = UniLoss("ap", seed=0, on_degenerate="zero")
    loss = loss_fn(scores, negatives)
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(scores.grad, torch.zeros(6))
    assert loss_fn.last_surrogate is None
    with pytest.raises(ValueError, match="on_degenerate"):
        UniLoss("ap", on_degenerate="skip")


@pytest.mark.parametrize("metric", ["accuracy", "ap"])
def test_squash_keeps_the_exact_metric_and_bounds_differences(metric):
    g = torch.Generator().manual_seed(5)
    if metric == "accuracy":
        x, y = 3 * torch.randn(40, 5, generator=g), torch.randint(0, 5, (40,), generator=g)
    else:
        x, y = 3 * torch.randn(40, generator=g), (torch.arange(40) % 4 == 0).long()
    x = x.double().requires_grad_(True)
    plain, squashed = UniLoss(metric, seed=0), UniLoss(metric, seed=0, squash=True)
    plain(x, y)
    loss = squashed(x, y)
    assert squashed.last_metric == plain.last_metric  # signs kept: same exact batch metric
    assert squashed.comparisons(x, y).differences().abs().max() <= 2.0
    loss.backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="squash"):
        UniLoss(metric, squash=1)


# --------------------------------------------------------------------------- edge cases
def test_topk_needs_fewer_than_k_classes():
    x, y = logits_and_labels(n=8, c=5)
    with pytest.raises(ValueError, match="k must be smaller than the number of classes"):
        UniLoss("topk", k=5, seed=0)(x, y)
    assert float(UniLoss("topk", k=4, seed=0)(x, y)) >= 0.0


@pytest.mark.parametrize("on_degenerate", ["raise", "zero"])
def test_no_comparison_left_follows_on_degenerate(on_degenerate):
    """PCK whose radius covers every heatmap: every binary is constant."""
    from losskit.uniloss import DegenerateBatchError

    x = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([4, 4])
    loss_fn = UniLoss("pck", radius=2.0, seed=0, on_degenerate=on_degenerate)
    if on_degenerate == "raise":
        with pytest.raises(DegenerateBatchError, match="every sample"):
            loss_fn(x, target)
        return
    loss = loss_fn(x, target)
    loss.backward()
    assert float(loss.detach()) == 0.0 and bool((x.grad == 0).all())
    assert loss_fn.last_surrogate is None


def test_ap_squash_floor():
    """Documented: squashed scores never reach the ground-truth anchor (relaxed binaries stay
    ≤ sigmoid(2/T)), so the loss keeps a floor > 0 even for perfect, large-margin scores."""
    y = (torch.arange(40) % 5 == 0).long()
    floors = []
    for margin in (10.0, 100.0):
        x = (2.0 * y - 1.0).double() * margin
        assert float(UniLoss("ap", seed=0)(x, y)) < 1e-5  # logits: → 0 with the margin
        floors.append(float(UniLoss("ap", relaxation="authors", seed=0)(x, y)))
        assert float(UniLoss("ap", squash=True, seed=0)(x, y)) > 0.01
    assert floors[0] > 0.05 and floors[0] == pytest.approx(floors[1], rel=1e-3)


# --------------------------------------------------------------------------- the sign rule
def test_all_zero_logits_every_comparison_is_lost():
    """Ties are lost (h = [c > 0]): all-zero logits are wrong everywhere, for the exact metric,
    last_metric and the nearby anchors alike."""
    x, y = torch.zeros(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    loss = UniLoss("accuracy", num_good=0, num_bad=0, num_nearby=8, seed=0)
    loss(x, y)
    assert float(loss.last_metric) == 0.0 == loss.metric.hard(x, y)
    comps = loss.comparisons(x, y)
    anchors = loss.sample_anchors(comps)
    assert not bool(comps.hard_binaries().any())
    near = anchors.bits[1:]
    assert bool((near.flatten(1).sum(1) == 1).all())  # each: the all-lost base, one bit flipped


def test_target_tied_with_a_competitor_is_an_error():
    x = torch.tensor([[2.0, 2.0, 0.0], [3.0, 1.0, 0.0], [0.0, 5.0, 5.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 2])
    strict = float((x.gather(1, y[:, None]) > x).sum(1).eq(x.shape[1] - 1).double().mean())
    loss = UniLoss("accuracy", num_good=0, num_bad=0, num_nearby=4, seed=0)
    loss(x, y)
    assert strict == 1 / 3
    assert float(loss.last_metric) == strict == loss.metric.hard(x, y)
    current = loss.comparisons(x, y).hard_binaries()
    assert current.flatten().tolist() == [False, True, True, True, True, False]
    anchors = loss.sample_anchors(loss.comparisons(x, y))
    assert torch.equal(anchors.base, current.reshape(-1))  # nearby rows start from h(c)


def test_ap_tie_between_a_positive_and_a_negative_is_lost():
    scores = torch.tensor([1.0, 1.0, 0.0, 2.0], dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 0])
    loss = UniLoss("ap", seed=0)
    loss(scores, y)
    # the positive is tied with one negative and below another: 2 negatives at or above it
    assert float(loss.last_metric) == pytest.approx(1 / 3) == loss.metric.hard(scores, y)


# --------------------------------------------------------------------------- value checks
def test_value_checks_off_non_finite_scores_give_non_finite_loss_and_gradients():
    import losskit

    x, y = logits_and_labels(n=8, c=4, dtype=torch.float32)
    x[2, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN or Inf"):
        UniLoss(seed=0)(x, y)
    for make in (lambda: UniLoss(seed=0, validate_args=False), lambda: UniLoss(seed=0)):
        with losskit.validate_args(make().validate_args is not False and False):
            xs = x.clone().requires_grad_(True)
            loss = make()(xs, y)
            loss.backward()
            assert not torch.isfinite(loss) and not torch.isfinite(xs.grad).all()
    assert UniLoss(validate_args=True).validate_args is True
    with pytest.raises(ValueError, match="validate_args"):
        UniLoss(validate_args="no")


def test_unchecked_f1_without_positive_resolves_on_degenerate_in_the_graph():
    import losskit

    scores = torch.randn(6, dtype=torch.float64, requires_grad=True)
    negatives = torch.zeros(6, dtype=torch.long)
    with losskit.validate_args(False):
        zero = UniLoss("f1", seed=0, on_degenerate="zero")
        loss = zero(scores, negatives)
        loss.backward()
        assert float(loss.detach()) == 0.0 and bool((scores.grad == 0).all())
        assert torch.isnan(zero.last_surrogate) and torch.isnan(zero.last_metric)
        assert torch.isnan(UniLoss("f1", seed=0)(scores, negatives))
    from losskit.uniloss import DegenerateBatchError

    with pytest.raises(DegenerateBatchError, match="no positive"):
        UniLoss("f1", seed=0)(scores, negatives)


# --------------------------------------------------------------------------- two evaluations
STRUCTURE_CASES = [
    ("accuracy", {}),
    ("accuracy", {"relaxation": "authors", "power": 2.0}),
    ("accuracy", {"subsample": 0.5, "flip_bits": 3}),
    ("accuracy", {"nearby": "toward_truth", "temperature": 0.5}),
    ("topk", {"k": 2}),
    ("ap", {}),
    ("auc", {"num_bad": 0}),
    ("precision_at_k", {"k": 4, "include_truth": False}),
    ("f1", {}),
    ("pck", {"radius": 1.0}),
    ("pck", {"radius": 1.5, "nearby_unit": "bit", "flip_bits": 2}),
    ("pck", {"radius": 1.0, "nearby": "toward_truth", "subsample": 6}),
]


@pytest.mark.parametrize("name, kwargs", STRUCTURE_CASES)
def test_anchors_by_structure_equal_materialised_anchors(monkeypatch, name, kwargs):
    """Large problems use the anchors' structure, small ones their bits: same value and
    gradient (to rounding)."""
    import losskit.uniloss.loss as loss_module

    make, kw = CASES[name]
    x, y = make()
    results = []
    for limit in (0, 1 << 40):
        monkeypatch.setattr(loss_module, "DENSE_LIMIT", limit)
        xs = x.clone().requires_grad_(True)
        loss_fn = UniLoss(name, seed=1, **{**kw, **kwargs})
        value = loss_fn(xs, y)
        value.backward()
        results.append((value.detach(), xs.grad, loss_fn.last_metric))
    (v0, g0, m0), (v1, g1, m1) = results
    torch.testing.assert_close(v0, v1, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(g0, g1, rtol=1e-10, atol=1e-14)
    assert float(m0) == float(m1)
