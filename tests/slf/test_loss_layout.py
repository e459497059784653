"""``losskit.slf.loss`` split along its concepts: the candidates, the settings, the call's
record and the one-node objective live in their own modules; the old import paths still work,
and no module of the package exceeds 600 lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import losskit.slf
from losskit.slf import candidates, loss, objective, record, settings

MOVED = {
    "PAPER_LOSSES": candidates, "parse_loss_list": candidates, "parse_weights": candidates,
    "FunctionLoss": candidates, "PAPER_SETTINGS": settings, "MODES": settings,
    "GRANULARITIES": settings, "NORMALIZATIONS": settings, "read_last": record,
    "SampleObjective": objective,
}


@pytest.mark.parametrize("name", sorted(MOVED))
def test_old_import_paths_reach_the_moved_objects(name: str) -> None:
    assert getattr(loss, name) is getattr(MOVED[name], name)
    assert name in loss.__all__


def test_old_private_names_still_resolve() -> None:
    assert loss._FunctionLoss is candidates.FunctionLoss
    assert loss._SampleObjective is objective.SampleObjective


def test_package_exports_are_the_same_objects() -> None:
    assert losskit.slf.StochasticLoss is loss.StochasticLoss
    assert losskit.slf.PAPER_LOSSES is candidates.PAPER_LOSSES
    assert losskit.slf.PAPER_SETTINGS is settings.PAPER_SETTINGS


def test_build_candidate_refuses_a_reducing_module_per_sample() -> None:
    module = torch.nn.L1Loss()  # reduction="mean"
    with pytest.raises(ValueError, match="reduction='none'"):
        candidates.build_candidate(module, 3, None, per_sample=True)
    assert candidates.build_candidate(module, 3, None, per_sample=False) is module
    wrapped = candidates.build_candidate(len, 3, None, per_sample=True)
    assert isinstance(wrapped, candidates.FunctionLoss)
    assert candidates.candidate_task(wrapped) is len
    built = candidates.build_candidate("prob_mse", 3, None, per_sample=True)
    assert built.reduction == "none" and candidates.candidate_task(built) is built


@pytest.mark.parametrize("package", ["slf", "losses"])
def test_no_module_is_over_600_lines(package: str) -> None:
    root = Path(losskit.slf.__file__).parents[1] / package
    sizes = {p.name: len(p.read_text().splitlines()) for p in root.glob("*.py")}
    assert sizes and all(n <= 600 for n in sizes.values()), sizes
