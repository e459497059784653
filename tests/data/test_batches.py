import pytest
import torch

from losskit.core.errors import ConfigError
from losskit.data.batches import BatchKeys, unpack_batch


def test_tuple_list_and_dict_batches_give_the_same_pair():
    x, y = torch.randn(4, 3), torch.arange(4)
    for batch in [(x, y), [x, y, torch.zeros(4)], {"input": x, "target": y}]:
        got_x, got_y = unpack_batch(batch)
        assert got_x is x and got_y is y


def test_custom_keys_and_one_clear_error():
    x, y = torch.randn(2, 3), torch.arange(2)
    assert unpack_batch({"image": x, "label": y}, BatchKeys("image", "label"))[1] is y
    with pytest.raises(ConfigError, match=r"^batch .*missing \['target'\]"):
        unpack_batch({"input": x})
    with pytest.raises(ConfigError, match="^batch must be"):
        unpack_batch(x)
