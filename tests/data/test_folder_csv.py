"""Your files: an image folder (Pillow, lazy) and a CSV table, through the loaders, fit and the
CLI (a bad layout: one line, exit code 2)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from losskit import cli
from losskit.core.errors import ConfigError
from losskit.data import load
from losskit.train import TrainConfig, fit

Image = pytest.importorskip("PIL.Image")
CLASSES = ("circle", "square", "stripe")


def _image(c: int, rng: np.random.Generator, size: tuple[int, int] = (12, 12)) -> np.ndarray:
    a = (rng.random(size) * 60).astype(np.uint8)
    if c == 0:
        a[3:9, 3:9] += 150
    elif c == 1:
        a[:, :6] += 150
    else:
        a[::2] += 150
    return a


def make_folder(root: Path, parts=(("train", 10), ("test", 4)), mode: str = "L") -> Path:
    rng = np.random.default_rng(0)
    for part, n in parts:
        for c, name in enumerate(CLASSES):
            (root / part / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.fromarray(_image(c, rng), "L").convert(mode)
                img.save(root / part / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_folder_reads_images_lazily_with_labels_by_sorted_class(tmp_path):
    root = make_folder(tmp_path)
    splits = load("folder", root=str(root))
    assert splits.num_classes == 3 and splits.input_shape == (1, 12, 12)
    assert splits.meta["classes"] == list(CLASSES) and splits.meta["task"] == "classification"
    assert len(splits.train) == 30 and len(splits.test) == 12 and splits.val is None
    path, label = splits.train.samples[11]
    x, y = splits.train[11]
    want = torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32)) / 255
    assert torch.equal(x, want.unsqueeze(0)) and int(y) == label == CLASSES.index(path.parent.name)
    rgb = load("folder", root=str(root), channels=3, size=[8, 6], mean=0.5, std=[0.5, 0.5, 0.5])
    x3, _ = rgb.test[0]
    assert x3.shape == (3, 8, 6) and rgb.input_shape == (3, 8, 6) and x3.min() >= -1.0
    held = load("folder", root=str(root), val_fraction=0.2)
    assert len(held.val) == 6 and len(held.train) == 24  # stratified: 2 of each class


def test_folder_val_folder_and_colour_images(tmp_path):
    root = make_folder(tmp_path, parts=(("train", 4), ("val", 2), ("test", 2)), mode="RGB")
    splits = load("folder", root=str(root))
    assert splits.input_shape == (3, 12, 12) and len(splits.val) == 6
    with pytest.raises(ConfigError, match="val/ folder"):
        load("folder", root=str(root), val_fraction=0.1)


@pytest.mark.parametrize("breakage,message", [
    (lambda r: None, "has no train/ folder"),
    (lambda r: make_folder(r, parts=(("train", 2),)), "has no test/ folder"),
    (lambda r: (make_folder(r), (r / "train" / "empty").mkdir()), "train/empty/ holds no image"),
    (lambda r: (make_folder(r), (r / "test" / "bird").mkdir(), Image.fromarray(
        np.zeros((12, 12), np.uint8)).save(r / "test" / "bird" / "0.png")),
     r"class folder\(s\) \['bird'\]"),
    (lambda r: (make_folder(r), Image.fromarray(np.zeros((9, 9), np.uint8)).save(
        r / "test" / "circle" / "x.png")), "images differ in size"),
    (lambda r: (r / "train" / "a").mkdir(parents=True), "train/a/ holds no image"),
])
def test_bad_folder_layouts_are_one_config_error(tmp_path, breakage, message, capsys):
    root = tmp_path / "data"
    root.mkdir()
    breakage(root)
    with pytest.raises(ConfigError, match=message):
        load("folder", root=str(root))
    code = cli.main(["train", "--data", "folder", "--data-arg", f"root={root}", "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("losskit: error: --data-arg root=")


def test_cli_trains_on_an_image_folder(tmp_path, capsys):
    root = make_folder(tmp_path / "imgs")
    code = cli.main(["train", "--data", "folder", "--data-arg", f"root={root}", "--model",
                     "lenet", "--epochs", "2", "--batch-size", "8", "--augment",
                     "--num-workers", "2", "--out", str(tmp_path / "run"), "--threads", "1",
                     "--log-format", "json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    final = json.loads(lines[-1])["final"]
    again = fit(TrainConfig(data="folder", data_kwargs={"root": str(root)}, model="lenet",
                            epochs=2, batch_size=8, augment="crop-flip", num_workers=2,
                            progress=False))
    # per-worker augmentation streams are seeded by the run: the same numbers again
    assert again.final["test_loss"] == final["test_loss"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["num_workers"] == 2


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _table(n: int = 120, seed: int = 0, labels=("no", "yes")) -> list[list]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    return [[*row[:2], labels[int(row[0] + row[1] > 0)], row[2]] for row in x]


def test_csv_classification_binary_and_regression(tmp_path):
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "label", "c"], _table())
    splits = load("csv", path=str(path), target="label", val_fraction=0.25)
    assert splits.meta["task"] == "binary" and splits.meta["classes"] == ["no", "yes"]
    assert splits.input_shape == (3,) and splits.num_classes == 2
    assert len(splits.test) == 24 and len(splits.val) == 24 and len(splits.train) == 72
    x = torch.stack([splits.train[i][0] for i in range(len(splits.train))])
    assert torch.allclose(x.mean(0), torch.zeros(3), atol=1e-6)  # standardised with train stats
    three = _write_csv(tmp_path / "3.csv", ["a", "b", "y", "c"], _table(labels=(2, 10)) + [
        [0, 0, 7, 0]] * 5)
    classes = load("csv", path=str(three), target="y")
    assert classes.meta["task"] == "classification" and classes.num_classes == 3
    rng = np.random.default_rng(1)
    reg = _write_csv(tmp_path / "r.csv", ["a", "y"],
                     [[v, 2 * v + 0.5] for v in rng.normal(size=80)])
    test = _write_csv(tmp_path / "rt.csv", ["a", "y"], [[v, 2 * v + 0.5] for v in [0.1, 0.2]])
    r = load("csv", path=str(reg), target="y", test_path=str(test))
    assert r.meta["task"] == "regression" and len(r.test) == 2 and len(r.train) == 80
    run = fit(TrainConfig(data="csv", data_kwargs={"path": str(reg), "target": "y"},
                          model="mlp", method_kwargs={"loss": "mse"}, optimizer="adam",
                          lr=0.01, epochs=30, batch_size=16, progress=False))
    assert run.final["test_mse"] < 0.5  # y = 2a + 0.5: an MLP fits it


def test_csv_classes_are_numbered_in_numeric_order(tmp_path):
    path = _write_csv(tmp_path / "n.csv", ["a", "y"], [[i, [2, 10, 7][i % 3]] for i in range(30)])
    assert load("csv", path=str(path), target="y").meta["classes"] == ["2", "7", "10"]


@pytest.mark.parametrize("rows,kwargs,message", [
    ([[1, "x", 0]], {"target": "y"}, "column 'b': 'x' is not a number"),
    ([[1, 2]], {"target": "y"}, "line 2 has 2 fields"),
    ([[1, 2, 0]], {"target": "z"}, "target='z' is not a column"),
    ([[1, 2, 0]], {}, "target must name the target column"),
    ([[1, "nan", 0]], {"target": "y"}, "is not finite"),
    ([[1, 2, 0.5]], {"target": "y", "task": "classes"}, "task must be one of"),
])
def test_bad_csv_files_are_one_config_error(tmp_path, rows, kwargs, message, capsys):
    path = _write_csv(tmp_path / "bad.csv", ["a", "b", "y"], rows * 10)
    with pytest.raises(ConfigError, match=message):
        load("csv", path=str(path), **kwargs)
    args = ",".join(f"{k}={v}" for k, v in {"path": path, **kwargs}.items())
    code = cli.main(["train", "--data", "csv", "--data-arg", args, "--model", "mlp"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--data-arg" in err[0]


def test_cli_trains_on_a_csv_file(tmp_path, capsys):
    path = _write_csv(tmp_path / "t.csv", ["a", "b", "label", "c"], _table(200))
    code = cli.main(["train", "--data", "csv", "--data-arg", f"path={path},target=label",
                     "--model", "mlp", "--epochs", "3", "--threads", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "test_ap=" in out and "test_auc=" in out
    assert float(out.split("final: test_acc=")[1].split(",")[0]) > 0.8
