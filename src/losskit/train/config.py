"""Configuration of one training run (what the CLI, experiments and benchmarks all build)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from losskit.errors import ConfigError

#: Fields that do not change what a run computes: a run resumes (and an experiment's finished
#: run is found again) whatever their values.
NON_SEMANTIC_FIELDS = frozenset({"progress", "threads", "resume", "out_dir", "pin_memory"})

#: Fields added after run keys and checkpoints were first written, with the value every older
#: run had: :meth:`TrainConfig.to_dict` leaves them out while they hold it (so a recorded run
#: keeps its record and run key) and a checkpoint that does not name them is read as having
#: it (an older run still resumes).
LATER_FIELD_DEFAULTS: dict[str, Any] = {
    "num_workers": 0, "pin_memory": False, "persistent_workers": False,
    "input_key": "input", "target_key": "target", "augment": None, "task": None,
    "num_classes": None,
}


def key_fields(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`LATER_FIELD_DEFAULTS` fields that hold their default."""
    return {k: v for k, v in config.items()
            if not (k in LATER_FIELD_DEFAULTS and v == LATER_FIELD_DEFAULTS[k])}


@dataclass
class TrainConfig:
    """One training run: data × model × method × optimisation × seed.

    ``data_kwargs`` / ``model_kwargs`` / ``method_kwargs`` go to the registered factories.
    ``train_size`` takes a seeded random subset of the training split (CPU-scale experiments).

    Data loading (datasets that are not in-memory ``TensorDataset`` s, see
    :func:`~losskit.train.fit`): ``num_workers``, ``pin_memory``, ``persistent_workers`` go to
    the ``DataLoader`` built for each split; ``input_key`` / ``target_key`` name a dict
    batch's input and target. ``augment="crop-flip"``: random crop of the 4-pixel-padded image
    + horizontal flip of every training image (:mod:`losskit.data.transforms`). ``task``
    (``"classification"``, ``"binary"``, ``"regression"``, …) and ``num_classes`` say what the
    data cannot (default: the dataset's, else inferred from the targets and the model's
    outputs).
    """

    data: str = "fashion-mnist"
    model: str = "lenet"
    method: str = "loss"
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"  # "sgd" | "adam"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"  # "none" | "step" | "cosine"
    step_size: int = 10  # for schedule="step" (epochs)
    gamma: float = 0.1  # for schedule="step"
    epochs: int = 1
    batch_size: int = 128
    eval_batch_size: int = 1024
    seed: int = 0
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    train_size: int | None = None
    test_size: int | None = None
    device: str = "cpu"
    amp: str | None = None  # None | "bf16" | "fp16"
    progress: bool | None = None  # tqdm bar per epoch; None: only when stderr is a TTY
    out_dir: str | None = None  # metrics.jsonl, config.json, checkpoint.pt written here
    resume: bool = True  # resume from out_dir/checkpoint.pt if present
    num_workers: int = 0  # DataLoader worker processes (datasets that are not in memory)
    pin_memory: bool = False
    persistent_workers: bool = False
    input_key: str = "input"  # dict batches: where the input is
    target_key: str = "target"  # dict batches: where the target is
    augment: str | None = None  # None | "crop-flip" (pad 4 + random crop + horizontal flip)
    task: str | None = None  # None: the dataset's, else inferred
    num_classes: int | None = None  # None: the dataset's, else the model's output width

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict — what experiment records store and run keys hash — without
        the :data:`LATER_FIELD_DEFAULTS` fields that hold their default (``all_fields()`` has
        every field)."""
        return key_fields(asdict(self))

    def all_fields(self) -> dict[str, Any]:
        """Every field (what a run directory's ``config.json`` records)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(
                f"unknown TrainConfig fields: {sorted(unknown)}; expected some of: "
                f"{', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**d)
