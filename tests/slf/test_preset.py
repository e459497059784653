"""The SLF paper's setting one call away: ``StochasticLoss.paper`` and ``preset="paper"``."""

from __future__ import annotations

import inspect

import pytest
import torch

from losskit.losses import functional as LF
from losskit.slf import PAPER_LOSSES, PAPER_SETTINGS, SLFMethod, StochasticLoss
from losskit.train import METHODS, TrainConfig, fit
from tests.conftest import TinyNet, make_blobs


def test_paper_candidates_are_the_papers_five_on_probabilities():
    """MSE, MAE, hinge, cosine proximity, binary cross-entropy (Sec. "Experiments")."""
    assert PAPER_LOSSES == ("prob_mse", "prob_mae", "hinge", "cosine", "prob_bce")
    slf = StochasticLoss.paper(6).double()
    g = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(10, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 6, (10,), generator=g)
    expected = torch.stack([f(z, y, reduction="none") for f in (
        LF.prob_mse, LF.prob_mae, LF.hinge, LF.cosine, LF.prob_bce)], -1)
    torch.testing.assert_close(slf.loss_values(z, y), expected)  # per sample: (N, 5)
    assert len(slf._fused) == 5  # all five from one shared softmax
    assert slf.tasks == ["classification"] * 5


def test_paper_settings_are_the_defaults_of_the_module_and_the_method():
    slf = StochasticLoss.paper(4)
    assert (slf.K, slf.tau, slf.mode, slf.granularity, slf.normalize, slf.detach_input) == (
        3, 1.0, "gumbel", "sample", "none", False)
    module_defaults = inspect.signature(StochasticLoss).parameters
    assert {k: module_defaults[k].default for k in PAPER_SETTINGS} == PAPER_SETTINGS
    method_defaults = inspect.signature(SLFMethod).parameters
    renamed = {"K": "k"}
    assert {k: method_defaults[renamed.get(k, k)].default for k in PAPER_SETTINGS} == (
        PAPER_SETTINGS)
    assert SLFMethod().loss_specs == list(PAPER_LOSSES)


def test_paper_composes_with_overrides():
    slf = StochasticLoss.paper(4, k=4, mode="softmax", granularity="batch", generator=1)
    assert (slf.K, slf.mode, slf.granularity) == (4, "softmax", "batch")
    fixed = StochasticLoss.paper(4, mode="fixed", weights=[0.4, 0.3, 0.1, 0.1, 0.1])
    assert fixed.decision_net is None and fixed.loss_names == list(PAPER_LOSSES)
    with pytest.raises(ValueError, match="candidate losses"):
        StochasticLoss.paper(4, losses="ce,prob_mse")


def test_method_preset_as_experiment_specs_write_it():
    m = METHODS.get("slf", preset="paper", k=4, mode="softmax", update="bilevel")
    assert isinstance(m, SLFMethod) and m.loss_specs == list(PAPER_LOSSES) and m.options.k == 4
    fixed = METHODS.get("slf", preset="paper", mode="fixed", weights=[0.2] * 5)
    assert fixed.options.mode == "fixed"
    with pytest.raises(ValueError, match="preset"):
        SLFMethod(preset="paper", losses="ce,prob_mse")
    with pytest.raises(ValueError, match="preset"):
        SLFMethod(preset="Paper")


def test_paper_preset_trains_blobs_with_the_gradient_through_h():
    torch.manual_seed(0)
    method = SLFMethod(preset="paper", k=3, seed=0)
    result = fit(TrainConfig(epochs=6, batch_size=32, lr=0.05, seed=0, progress=False),
                 data=make_blobs(), model=TinyNet(), method=method)
    assert result.final["test_acc"] > 0.8
    assert result.history[-1]["slf_losses"] == list(PAPER_LOSSES)
    assert not method.slf.detach_input and method.slf.granularity == "sample"
