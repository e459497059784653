"""The value-check switch: global, per call, and off while torch.compile traces."""

import pytest
import torch

import losskit
from losskit._validation import check_finite_float, check_labels, check_values


def test_value_checks_follow_the_switches():
    bad = torch.tensor([[0.0, float("nan")]])
    with pytest.raises(ValueError, match="input contains NaN"):
        check_finite_float(bad, "input")
    check_finite_float(bad, "input", validate_args=False)  # per call: off
    with losskit.validate_args(False):
        assert not check_values()
        check_finite_float(bad, "input")
        check_labels(torch.zeros(1, 2), torch.tensor([5]))  # range not read
        assert check_values(True)  # per call overrides the global switch
    assert losskit.validate_args_enabled()
    with pytest.raises(ValueError, match=r"target values must lie in \[0, 2\)"):
        check_labels(torch.zeros(1, 2), torch.tensor([5]))


def test_metadata_checks_stay_on():
    with losskit.validate_args(False), pytest.raises(ValueError, match="floating-point"):
        check_finite_float(torch.zeros(2, dtype=torch.long), "input")


def test_set_validate_args_rejects_non_bool():
    with pytest.raises(ValueError, match="enabled must be a bool"):
        losskit.set_validate_args("no")
