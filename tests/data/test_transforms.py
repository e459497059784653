"""Augmentation in plain torch: the crop-flip recipe against a hand computation, seeded and
deterministic, new draws every epoch and in every worker; transforms on datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from losskit.data.base import DataSplits
from losskit.data.transforms import (
    Compose,
    RandomCropFlip,
    TransformDataset,
    crop_flip_batch,
    with_transforms,
)
from losskit.train import TrainConfig, Trainer, fit

IMAGES = torch.arange(6 * 2 * 5 * 7, dtype=torch.float32).reshape(6, 2, 5, 7)


def test_crop_flip_batch_is_pad_crop_flip_per_image():
    x = IMAGES
    got = crop_flip_batch(x, torch.Generator().manual_seed(3), padding=2, flip=0.5, fill=-1.0)
    g = torch.Generator().manual_seed(3)  # the same draws: offsets, then flips
    offsets = torch.randint(0, 5, (6, 2), generator=g)
    flips = torch.rand(6, generator=g) < 0.5
    for i in range(6):
        padded = F.pad(x[i], (2, 2, 2, 2), value=-1.0)
        r, c = offsets[i].tolist()
        want = padded[:, r : r + 5, c : c + 7]
        assert torch.equal(got[i], want.flip(-1) if flips[i] else want)
    assert flips.any() and not flips.all()  # both branches ran


def test_crop_flip_edge_cases():
    g = torch.Generator().manual_seed(0)
    assert torch.equal(crop_flip_batch(IMAGES, g, padding=0, flip=0.0), IMAGES)
    assert torch.equal(crop_flip_batch(IMAGES, g, padding=0, flip=1.0), IMAGES.flip(-1))
    one = crop_flip_batch(IMAGES[0], torch.Generator().manual_seed(1))
    assert one.shape == IMAGES[0].shape
    with pytest.raises(ValueError, match="padding"):
        crop_flip_batch(IMAGES, g, padding=-1)
    with pytest.raises(ValueError, match="flip"):
        crop_flip_batch(IMAGES, g, flip=2.0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        crop_flip_batch(torch.zeros(4, 5), g)


def _crops(num_workers: int, seed: int, epochs: int = 2, persistent: bool = False):
    same = IMAGES[:1].expand(16, -1, -1, -1).clone()  # identical images: crops tell the draws
    ds = TransformDataset(TensorDataset(same, torch.zeros(16)), RandomCropFlip(seed=seed))
    loader = DataLoader(ds, batch_size=4, num_workers=num_workers,
                        persistent_workers=persistent,
                        generator=torch.Generator().manual_seed(seed))
    return [torch.cat([x for x, _ in loader]) for _ in range(epochs)]


@pytest.mark.parametrize("num_workers,persistent", [(0, False), (2, False), (2, True)])
def test_random_crop_flip_is_seeded_and_new_every_epoch(num_workers, persistent):
    first = _crops(num_workers, seed=5, persistent=persistent)
    again = _crops(num_workers, seed=5, persistent=persistent)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))  # deterministic
    assert not torch.equal(first[0], first[1])  # epoch 2 draws new crops
    assert not torch.equal(first[0], _crops(num_workers, seed=6)[0])  # the seed matters


def test_workers_draw_different_crops():
    epoch = _crops(2, seed=0, epochs=1)[0]
    worker0, worker1 = epoch[:4], epoch[4:8]  # batch 0 from worker 0, batch 1 from worker 1
    assert not torch.equal(worker0, worker1)


def test_transform_dataset_tuples_dicts_and_with_transforms():
    ds = TensorDataset(IMAGES, torch.arange(6), torch.ones(6))
    t = TransformDataset(ds, lambda x: x + 1, lambda y: y * 10)
    x, y, extra = t[2]
    assert torch.equal(x, IMAGES[2] + 1) and int(y) == 20 and float(extra) == 1.0

    class Dicts(torch.utils.data.Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return {"image": IMAGES[i], "label": i, "id": "x"}

    d = TransformDataset(Dicts(), Compose([lambda x: x * 2, lambda x: x - 1]), None,
                         input_key="image", target_key="label")[3]
    assert torch.equal(d["image"], IMAGES[3] * 2 - 1) and d["label"] == 3 and d["id"] == "x"
    splits = DataSplits("s", ds, None, ds, 6, (2, 5, 7))
    assert with_transforms(splits) is splits
    wrapped = with_transforms(splits, target_transform=lambda y: y + 1)
    assert wrapped.val is None and int(wrapped.test[0][1]) == 1
    with pytest.raises(ValueError, match="callable"):
        TransformDataset(ds, transform="flip")


def _image_data() -> DataSplits:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (64,), generator=g)
    x = torch.randn(64, 1, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()
    return DataSplits("img", TensorDataset(x[:48], y[:48]), None, TensorDataset(x[48:], y[48:]),
                      2, (1, 8, 8), {"task": "classification"})


def test_augment_in_memory_is_seeded_new_every_epoch_and_resumes_exactly(tmp_path):
    cfg = TrainConfig(model="mlp", augment="crop-flip", epochs=2, batch_size=16, seed=4,
                      progress=False)
    first = Trainer(cfg, data=_image_data())
    epoch1, epoch2 = list(first._train_batches(0)), list(first._train_batches(1))
    again = list(Trainer(cfg, data=_image_data())._train_batches(0))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(epoch1, again, strict=True))
    plain = list(Trainer(TrainConfig(model="mlp", batch_size=16, seed=4, progress=False),
                         data=_image_data())._train_batches(0))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(epoch1, plain, strict=True))  # same order
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(epoch1, plain, strict=True))
    assert not torch.equal(torch.cat([b[0] for b in epoch1]), torch.cat([b[0] for b in epoch2]))

    full = fit(cfg, data=_image_data())
    fit(TrainConfig(**{**cfg.all_fields(), "epochs": 1, "out_dir": str(tmp_path)}),
        data=_image_data())
    resumed = fit(TrainConfig(**{**cfg.all_fields(), "out_dir": str(tmp_path)}),
                  data=_image_data())
    assert resumed.resumed_from == 1
    for p, q in zip(full.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(p, q)


def test_augment_on_a_streamed_dataset_and_its_errors():
    data = _image_data()
    streamed = DataSplits("img", TransformDataset(data.train), None, data.test, 2, (1, 8, 8),
                          data.meta)
    run = fit(TrainConfig(model="mlp", augment="crop-flip", epochs=1, batch_size=16,
                          num_workers=2, progress=False), data=streamed)
    assert 0.0 <= run.final["test_acc"] <= 1.0
    with pytest.raises(ValueError, match="augment"):
        fit(TrainConfig(augment="blur"), data=data)
    with pytest.raises(ValueError, match=r"needs images \(N, C, H, W\)"):
        flat = DataSplits("f", TensorDataset(torch.randn(8, 4), torch.zeros(8).long()), None,
                          TensorDataset(torch.randn(8, 4), torch.zeros(8).long()), 2, (4,))
        fit(TrainConfig(model="mlp", augment="crop-flip"), data=flat)
    with pytest.raises(ValueError, match="map-style Dataset"):
        fit(TrainConfig(model="mlp", augment="crop-flip", num_classes=2),
            train=DataLoader(TransformDataset(data.train)))


def _plus_one(x):
    return x + 1


@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "cifar10", "svhn"])
def test_built_in_loaders_take_transform_and_target_transform(tmp_path, monkeypatch, name):
    from losskit import data
    from tests.data.helpers import write_cifar_batch, write_mnist_folder

    root = tmp_path / name
    kwargs: dict = {"root": str(root)}
    if name in ("fashion-mnist", "mnist"):
        write_mnist_folder(root)
        if name == "mnist":
            kwargs["check"] = False  # a small folder in the MNIST layout
    elif name == "cifar10":
        root.mkdir()
        rng = np.random.default_rng(0)
        for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            write_cifar_batch(root / f, rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                              [0, 1, 2, 3], b"labels")
    else:
        from scipy.io import savemat

        root.mkdir()
        rng = np.random.default_rng(0)
        for f in ("train_32x32.mat", "test_32x32.mat"):
            savemat(root / f, {"X": rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8),
                               "y": np.array([[1], [2], [10], [4], [5]])})
    plain = data.load(name, **kwargs)
    wrapped = data.load(name, transform=_plus_one, target_transform=_plus_one, **kwargs)
    assert isinstance(plain.train, TensorDataset)  # no transform: the in-memory fast path
    assert isinstance(wrapped.train, TransformDataset) and wrapped.input_shape == plain.input_shape
    x, y = wrapped.test[1]
    assert torch.equal(x, plain.test.tensors[0][1] + 1)
    assert int(y) == int(plain.test.tensors[1][1]) + 1
