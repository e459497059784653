"""The value-check switch: global, per call, and off while torch.compile traces."""

import pytest
import torch

import losskit
from losskit.core._validation import check_finite_float, check_labels, check_values


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


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_finite_flag_equals_isfinite_all(dtype):
    """The one-reduction finiteness test agrees with ``isfinite(x).all()``: the largest finite
    values of each dtype (whose own-dtype sum would overflow) are finite, and every kind of
    non-finite entry is seen, also +Inf next to −Inf (whose sum is NaN)."""
    from losskit.core._validation import finite_flag

    big = torch.finfo(dtype).max
    cases = [torch.full((4096, 3), big, dtype=dtype), torch.full((7,), -big, dtype=dtype),
             torch.randn(5, 4).to(dtype), torch.zeros(0, dtype=dtype)]
    for bad in (float("inf"), float("-inf"), float("nan")):
        x = torch.randn(64, 10).to(dtype)
        x[17, 3] = bad
        cases.append(x)
    pair = torch.zeros(8, dtype=dtype)
    pair[2], pair[5] = float("inf"), float("-inf")
    cases.append(pair)
    for x in cases:
        flag = finite_flag(x)
        assert flag.dtype == torch.bool and flag.dim() == 0
        assert bool(flag) == bool(torch.isfinite(x).all()), x


def test_checked_functions_trace_fullgraph_under_torch_compile():
    """``@checks`` wraps losses that are called inside compiled models: Dynamo must trace the
    wrapper without a graph break (a ContextVar read once broke center / L-GM compiles)."""
    from losskit.core._validation import checked_upstream, checks, number

    @checks(scale=number(low=0.0))
    def scaled(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        return x * scale

    compiled = torch.compile(scaled, fullgraph=True, backend="eager")
    assert torch.equal(compiled(torch.ones(3), scale=2.0), torch.full((3,), 2.0))
    with checked_upstream():
        scaled(torch.ones(1), scale=-1.0)  # trusted once: not checked again
    with pytest.raises(ValueError, match="scale"):
        scaled(torch.ones(1), scale=-1.0)
