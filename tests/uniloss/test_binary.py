"""Binary models with UniLoss: one logit per sample (``(N,)`` / ``(N, 1)``, the BCE convention)
or two-class logits ``(N, 2)`` (score ``logit_1 − logit_0``), with 0/1 targets of any real
dtype, for every binary-capable metric; exact metrics against sklearn / hand computation."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from losskit.uniloss import METRICS, UniLoss
from losskit.uniloss.refactor import ranking_comparisons

BINARY = ("ap", "auc", "precision_at_k", "f1", "accuracy")
K = 3


def _problem(n: int = 30, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=g, dtype=torch.float64)  # no ties, no zeros (a.s.)
    labels = (torch.rand(n, generator=g) < 0.3).long()
    labels[0], labels[1] = 1, 0
    return scores, labels


def _expected(name: str, s: torch.Tensor, y: torch.Tensor) -> float:
    """The metric by sklearn or by hand from scores ``s`` and 0/1 labels ``y``."""
    s_np, y_np = s.numpy(), y.numpy()
    if name == "ap":
        return float(average_precision_score(y_np, s_np))
    if name == "auc":
        return float(roc_auc_score(y_np, s_np))
    if name == "f1":
        return float(f1_score(y_np, (s_np > 0).astype(int)))
    if name == "accuracy":
        return float(((s > 0).long() == y).double().mean())
    top = torch.argsort(s, descending=True)[:K]  # precision@k: positives among the k highest
    return float(y[top].double().sum() / K)


def _forms(s: torch.Tensor):
    """The same scores as ``(N,)``, ``(N, 1)`` and two-class logits ``(N, 2)`` = ``[0, s]``."""
    return {"(N,)": s, "(N, 1)": s.unsqueeze(1), "(N, 2)": torch.stack([torch.zeros_like(s), s], 1)}


def _targets(y: torch.Tensor):
    return {"long": y, "bool": y.bool(), "float32": y.float(), "float64": y.double(),
            "(N, 1) float": y.float().unsqueeze(1)}


def _loss(name: str) -> UniLoss:
    return UniLoss(name, seed=0, **({"k": K} if name == "precision_at_k" else {}))


@pytest.mark.parametrize("name", BINARY)
def test_every_input_form_and_target_dtype_gives_the_exact_metric(name):
    s, y = _problem()
    expected = _expected(name, s, y)
    reference = _loss(name)
    reference_value = reference(s, y)
    for form, x in _forms(s).items():
        for kind, t in _targets(y).items():
            loss = _loss(name)
            value = loss(x, t)
            assert float(loss.last_metric) == pytest.approx(expected, abs=1e-12), (form, kind)
            # same binaries, same anchors: the same loss whatever the form
            torch.testing.assert_close(value, reference_value, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", BINARY)
def test_two_logit_gradient_is_the_score_gradient_split(name):
    """``s = l_1 − l_0``: ``∂/∂l_1 = ∂/∂s`` and ``∂/∂l_0 = −∂/∂s``; a single logit ``(N, 1)``
    gets the ``(N,)`` gradient."""
    s, y = _problem(seed=1)
    x1 = s.clone().requires_grad_(True)
    _loss(name)(x1, y).backward()
    x2 = torch.stack([torch.zeros_like(s), s], 1).requires_grad_(True)
    _loss(name)(x2, y.float()).backward()
    x3 = s.unsqueeze(1).clone().requires_grad_(True)
    _loss(name)(x3, y.unsqueeze(1).float()).backward()
    assert bool(x1.grad.abs().sum() > 0)
    torch.testing.assert_close(x2.grad[:, 1], x1.grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(x2.grad[:, 0], -x1.grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(x3.grad[:, 0], x1.grad, rtol=1e-12, atol=1e-15)


def test_ap_at_anchors_matches_sklearn():
    """``g`` of AP on binaries of other rankings of the same labels — the metric at anchor
    configurations that are rankings — equals sklearn's AP of those rankings."""
    s, y = _problem(n=25, seed=2)
    metric = METRICS.build("ap", {})
    comps = ranking_comparisons(s, y)
    g = torch.Generator().manual_seed(0)
    rankings = [s] + [torch.randn(25, generator=g, dtype=torch.float64) for _ in range(6)]
    bits = torch.stack([ranking_comparisons(r, y).hard_binaries() for r in rankings])
    values = metric.evaluate(bits, comps)
    expected = [average_precision_score(y.numpy(), r.numpy()) for r in rankings]
    torch.testing.assert_close(values, torch.tensor(expected, dtype=values.dtype),
                               rtol=1e-12, atol=1e-12)
    assert float(metric.evaluate(torch.ones_like(bits[:1]), comps)[0]) == 1.0  # the truth


@pytest.mark.parametrize("name", ("ap", "auc", "precision_at_k", "f1"))
def test_more_than_two_columns_is_refused(name):
    s, y = _problem()
    with pytest.raises(ValueError, match=r"input must hold binary scores .* got \(30, 3\)"):
        _loss(name)(torch.randn(30, 3, dtype=torch.float64), y)


@pytest.mark.parametrize("name", BINARY)
def test_targets_other_than_zero_one_are_refused(name):
    s, y = _problem()
    with pytest.raises(ValueError, match="target must contain only 0 .* other float values"):
        _loss(name)(s, y.double() * 0.5)
    with pytest.raises(ValueError, match="target must contain only 0"):
        _loss(name)(s, y * 2)
    with pytest.raises(ValueError, match=r"target must have shape \(N,\) or \(N, 1\)"):
        _loss(name)(s, torch.stack([y, y], 1))


def test_binary_accuracy_is_defined_without_positives():
    """Unlike F1 or AP, binary accuracy needs no positive sample."""
    s, _ = _problem()
    loss = _loss("accuracy")
    loss(s, torch.zeros(30))
    assert float(loss.last_metric) == pytest.approx(float((s < 0).double().mean()))


def test_multiclass_accuracy_still_needs_integer_labels():
    x = torch.randn(8, 3)
    with pytest.raises(ValueError, match="target must be an integer class-index tensor"):
        UniLoss("accuracy")(x, torch.zeros(8))
