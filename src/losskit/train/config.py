"""Configuration of one training run (what the CLI, experiments and benchmarks all build)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from losskit.errors import ConfigError

#: Fields that do not change what a run computes: a run resumes (and an experiment's finished
#: run is found again) whatever their values.
NON_SEMANTIC_FIELDS = frozenset({"progress", "threads", "resume", "out_dir"})


@dataclass
class TrainConfig:
    """One training run: data × model × method × optimisation × seed.

    ``data_kwargs`` / ``model_kwargs`` / ``method_kwargs`` go to the registered factories.
    ``train_size`` takes a seeded random subset of the training split (CPU-scale experiments).
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

    def to_dict(self) -> dict[str, Any]:
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
