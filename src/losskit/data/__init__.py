"""Datasets: every loader returns a :class:`DataSplits`; ``load(name, **kw)`` builds one by name.

Importing this package registers: fashion-mnist, fashion-mnist-binary, digits, breast-cancer,
wine, mnist, mnist-binary, cifar10, cifar100, svhn, keypoints; regression: diabetes, heavy-tail;
your own files: folder (images, :mod:`losskit.data.folder`), csv (:mod:`losskit.data.tabular`).
Any other ``torch.utils.data.Dataset`` / ``DataLoader`` goes to ``fit(train=…)`` directly
(:mod:`losskit.data.loading`).
"""

from __future__ import annotations

from losskit.data import fashion_mnist as _fashion_mnist  # noqa: F401  (registers loaders)
from losskit.data import files as _files  # noqa: F401
from losskit.data import folder as _folder  # noqa: F401
from losskit.data import keypoints as _keypoints  # noqa: F401
from losskit.data import mnist as _mnist  # noqa: F401
from losskit.data import regression as _regression  # noqa: F401
from losskit.data import sklearn_sets as _sklearn_sets  # noqa: F401
from losskit.data import tabular as _tabular  # noqa: F401
from losskit.data.base import DATASETS, DataSplits, as_tensors, availability, load, names
from losskit.data.binary import one_vs_rest
from losskit.data.fashion_mnist import load_fashion_mnist, load_fashion_mnist_binary
from losskit.data.files import (
    load_cifar10,
    load_cifar100,
    load_svhn,
    read_cifar_batches,
    read_svhn,
)
from losskit.data.idx import parse_idx, read_idx, write_idx
from losskit.data.keypoints import load_keypoints, make_keypoints
from losskit.data.mnist import load_mnist, load_mnist_binary
from losskit.data.regression import load_diabetes, load_heavy_tail, make_heavy_tail
from losskit.data.sklearn_sets import standardize, tabular_splits
from losskit.data.splits import (
    generator,
    imbalance,
    make_splits,
    random_split,
    retention_probabilities,
    stratified_split,
)

__all__ = [
    "DATASETS",
    "DataSplits",
    "as_tensors",
    "availability",
    "generator",
    "imbalance",
    "load",
    "load_cifar10",
    "load_cifar100",
    "load_diabetes",
    "load_fashion_mnist",
    "load_fashion_mnist_binary",
    "load_heavy_tail",
    "load_keypoints",
    "load_mnist",
    "load_mnist_binary",
    "load_svhn",
    "make_heavy_tail",
    "make_keypoints",
    "make_splits",
    "names",
    "one_vs_rest",
    "parse_idx",
    "random_split",
    "read_cifar_batches",
    "read_idx",
    "read_svhn",
    "retention_probabilities",
    "standardize",
    "stratified_split",
    "tabular_splits",
    "write_idx",
]
