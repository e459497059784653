"""Your table: a CSV file with a header row, numeric feature columns and one target column.

``losskit train --data csv --data-arg path=FILE,target=COLUMN --model mlp`` (or
``data.load("csv", path=…, target=…)``). The task follows the target column unless ``task``
says: text labels, or integer labels, are classes (``"binary"`` for two, else
``"classification"``; labels are numbered in sorted order, ``meta["classes"]``); other numbers
are a regression target. The test split is ``test_path`` (a second CSV with the same columns)
or a seeded ``test_fraction`` of the rows (stratified for classes); ``val_fraction`` of the
rest is held out for validation. Features are standardised with the training rows' mean and
standard deviation. Rows are served by a map-style :class:`TabularDataset` through the same
``DataLoader`` path as every user dataset. Every problem with the file is one
:class:`~losskit.core.errors.ConfigError` naming the argument, the column and the row.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from losskit.core.errors import ConfigError
from losskit.data.base import DATASETS, DataSplits
from losskit.data.sklearn_sets import standardize
from losskit.data.splits import (
    check_fraction,
    check_seed,
    generator,
    random_split,
    stratified_split,
)

TASKS = ("classification", "binary", "regression")


def _error(what: str) -> ConfigError:
    return ConfigError(f"data_kwargs {what}", "data_kwargs")


class TabularDataset(Dataset):
    """Rows ``(x (D,) float32, y)`` of in-memory feature and target tensors."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


def read_csv(path: Any, target: str, name: str = "path"
             ) -> tuple[list[str], list[list[float]], list[str]]:
    """``(feature names, feature rows, target strings)`` of the CSV ``path``."""
    if path is None or not isinstance(path, (str, os.PathLike)):
        raise _error(f"{name} must be a CSV file, got {path!r} (--data-arg {name}=FILE)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise _error(f"{name}={str(file)!r} is not a file")
    with open(file, newline="") as fh:
        rows = list(csv.reader(fh))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise _error(f"{name}={str(file)!r} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise _error(f"target={target!r} is not a column of {file.name}; columns: "
                     f"{', '.join(header)}")
    t = header.index(target)
    features = [h for i, h in enumerate(header) if i != t]
    if not features:
        raise _error(f"{file.name} has no feature column besides the target {target!r}")
    xs, ys = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise _error(f"{file.name} line {line} has {len(row)} fields, the header "
                         f"{len(header)}")
        values = []
        for i, cell in enumerate(row):
            if i == t:
                continue
            try:
                value = float(cell)
            except ValueError:
                raise _error(f"{file.name} line {line}, column {header[i]!r}: {cell!r} is not "
                             "a number (feature columns must be numeric)") from None
            if not math.isfinite(value):
                raise _error(f"{file.name} line {line}, column {header[i]!r}: {cell!r} is not "
                             "finite")
            values.append(value)
        xs.append(values)
        ys.append(row[t].strip())
    return features, xs, ys


def _task(labels: list[str], task: str | None) -> str:
    if task is not None:
        if task not in TASKS:
            raise _error(f"task must be one of {', '.join(TASKS)} or left out, got {task!r}")
        return task
    try:
        numbers = [float(v) for v in labels]
    except ValueError:
        numbers = None
    if numbers is not None and not all(v.is_integer() for v in numbers):
        return "regression"
    return "binary" if len(set(labels)) == 2 else "classification"


def _targets(labels: list[str], task: str, classes: list[str] | None, where: str
             ) -> tuple[torch.Tensor, list[str] | None]:
    if task == "regression":
        try:
            return torch.tensor([float(v) for v in labels], dtype=torch.float32), None
        except ValueError:
            raise _error(f"target column of {where} must be numeric for task 'regression'"
                         ) from None
    if classes is None:
        try:  # numeric labels in numeric order (2 < 10), others as text
            classes = sorted(set(labels), key=float)
        except ValueError:
            classes = sorted(set(labels))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise _error(f"target labels {unknown} of {where} are not in the training labels "
                     f"{classes}")
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[v] for v in labels], dtype=torch.int64), classes


@DATASETS.register("csv", help="your table: path=FILE,target=COLUMN (numeric features; "
                               "classification or regression)")
def load_csv(
    path: str | None = None,
    target: str | None = None,
    test_path: str | None = None,
    test_fraction: float = 0.2,
    val_fraction: float = 0.0,
    task: str | None = None,
    standardize_features: bool = True,
    seed: int = 0,
) -> DataSplits:
    """The CSV ``path`` with target column ``target`` as :class:`TabularDataset` splits
    (module doc)."""
    if not isinstance(target, str) or not target:
        raise _error(f"target must name the target column, got {target!r} "
                     "(--data-arg path=FILE,target=COLUMN)")
    seed = check_seed(seed)
    val_fraction = check_fraction(val_fraction, "val_fraction")
    features, xs, labels = read_csv(path, target)
    task = _task(labels, task)
    y, classes = _targets(labels, task, None, "path")
    x = torch.tensor(xs, dtype=torch.float64)
    stratify = task != "regression"

    def split(n_or_y: torch.Tensor, fraction: float, stream: str
              ) -> tuple[torch.Tensor, torch.Tensor]:
        if stratify:
            return stratified_split(n_or_y, fraction, generator(seed, stream))
        return random_split(len(n_or_y), fraction, generator(seed, stream))

    if test_path is not None:
        test_features, test_xs, test_labels = read_csv(test_path, target, "test_path")
        if test_features != features:
            raise _error(f"test_path columns {test_features} differ from path's {features}")
        x_test = torch.tensor(test_xs, dtype=torch.float64)
        y_test = _targets(test_labels, task, classes, "test_path")[0]
    else:
        fraction = check_fraction(test_fraction, "test_fraction", allow_zero=False)
        keep, held = split(y, fraction, "test")
        x, y, x_test, y_test = x[keep], y[keep], x[held], y[held]
    x_val = y_val = None
    if val_fraction > 0:
        keep, held = split(y, val_fraction, "val")
        x, y, x_val, y_val = x[keep], y[keep], x[held], y[held]
    if len(x) == 0 or len(x_test) == 0:
        raise _error("leaves no training or no test row; give more rows or other fractions")
    if standardize_features:
        mean, std, (x, x_test, *rest) = standardize(x, x_test, *(
            [x_val] if x_val is not None else []))
        x_val = rest[0] if rest else None
        stats = {"feature_mean": mean.tolist(), "feature_std": std.tolist()}
    else:
        x, x_test = x.float(), x_test.float()
        x_val = None if x_val is None else x_val.float()
        stats = {}
    return DataSplits(
        name="csv", train=TabularDataset(x, y),
        val=None if x_val is None else TabularDataset(x_val, y_val),
        test=TabularDataset(x_test, y_test),
        num_classes=1 if classes is None else len(classes), input_shape=(len(features),),
        meta={"task": task, "features": features, "target": target, "classes": classes,
              **stats},
    )
