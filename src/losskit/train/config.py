"""Configuration of one training run (what the CLI, experiments and benchmarks all build)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from losskit.core.errors import ConfigError
from losskit.core.options import (
    OptionSpec,
    default_of,
    joined_key_values,
    key_values,
    option,
    spec_of,
)

#: Fields that do not change what a run computes: a run resumes (and an experiment's finished
#: run is found again) whatever their values.
NON_SEMANTIC_FIELDS = frozenset({"progress", "threads", "resume", "out_dir", "pin_memory"})

#: Fields added after run keys and checkpoints were first written (their declared default is
#: what every older run had: :data:`LATER_FIELD_DEFAULTS`).
LATER_FIELDS = ("num_workers", "pin_memory", "persistent_workers", "input_key", "target_key",
                "augment", "task", "num_classes")

Check = Callable[[Any, str], Any]


# ---------------------------------------------------------------- the checks of run settings
def _rule(ok: Callable[[Any], bool], expected: str) -> Check:
    """A check: ``ok(value)``, else ``ValueError("NAME must be EXPECTED, got VALUE")``."""

    def check(value: Any, name: str) -> Any:
        try:
            good = bool(ok(value))
        except TypeError:  # e.g. a string compared with a number
            good = False
        if not good:
            raise ValueError(f"{name} must be {expected}, got {value!r}")
        return value

    return check


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(low: int | None = None, optional: str = "") -> Check:
    """An integer (``≥ low``); ``optional``: ``None`` passes too (and means ``optional``)."""
    bound = "" if low is None else f" ≥ {low}"
    return _rule(lambda v: bool(optional and v is None) or (
        isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low)),
        f"an integer{bound}" + (f" (or None: {optional})" if optional else ""))


def _one_of(*choices: Any) -> Check:
    return _rule(lambda v: any(v is c or (isinstance(v, str) and v == c) for c in choices),
                 f"one of {', '.join(str(c) for c in choices)}")


def _name(what: str) -> Check:
    return _rule(lambda v: isinstance(v, str) and v != "", f"a non-empty string ({what})")


def _key(v: Any) -> bool:
    return isinstance(v, str)


_FLAG = _rule(lambda v: isinstance(v, bool), "True or False")
_KWARGS = _rule(lambda v: isinstance(v, dict), "a dict of keyword arguments")


def _augment(value: Any, name: str) -> Any:
    from losskit.data.transforms import AUGMENTATIONS

    return _rule(lambda v: v is None or v in AUGMENTATIONS,
                 f"None or one of {', '.join(AUGMENTATIONS)}")(value, name)


def _task(value: Any, name: str) -> Any:
    from losskit.train.evaluation import EVALUATORS, TASK_METRICS

    names = sorted({*TASK_METRICS.names(), *EVALUATORS.names()})
    return _rule(lambda v: v is None or v in TASK_METRICS or v in EVALUATORS,
                 f"None or one of {', '.join(names)}")(value, name)


def _run_directory(value: Any, name: str) -> Any:
    if value is None:
        return value
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(f"{name} must be None or a directory path, got {value!r}")
    if Path(value).exists() and not Path(value).is_dir():
        raise ValueError(f"{name} {str(value)!r} is a file; expected a run directory (new or "
                         "existing)")
    return value


def setting(default: Any, help: str, *, check: Check, **cli: Any) -> Any:
    """A :class:`TrainConfig` field, declared once: default, one-line help, check, and how the
    command line spells and parses it (``cli``: ``flag``, ``parse``, ``metavar``, ``bare`` of
    :class:`~losskit.core.options.OptionSpec`; default: ``--<name>``, parsed by the default's
    type). ``losskit train``'s flags, ``config.json``, the experiment specs' checks and
    ``LossKitModule``'s keyword arguments derive from it."""
    return option(default, help, check=check, **cli)


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

    Each field is declared once (:func:`setting`: default, help, check, command-line
    spelling); :meth:`check` runs the declared checks.
    """

    data: str = setting(
        "fashion-mnist", "dataset name (see `losskit list`); your files: folder (--data-arg "
        "root=DIR: DIR/train/<class>/*.png) or csv (--data-arg path=FILE,target=COL)",
        check=_name("a dataset name"))
    model: str = setting("lenet", "model name (see `losskit list`)", check=_name("a model name"))
    method: str = setting("loss", "loss | slf | uniloss | mils", check=_name("a method name"))
    data_kwargs: dict[str, Any] = setting(
        {}, "dataset keyword argument (repeatable, or KEY=VALUE,KEY=VALUE; VALUE parsed as "
        "JSON if it can be)", check=_KWARGS, flag="--data-arg", parse=joined_key_values,
        metavar="KEY=VALUE")
    model_kwargs: dict[str, Any] = setting(
        {}, "model keyword argument (repeatable)", check=_KWARGS, flag="--model-arg",
        parse=key_values, metavar="KEY=VALUE")
    method_kwargs: dict[str, Any] = setting(
        {}, "method keyword argument (repeatable)", check=_KWARGS, flag="--method-arg",
        parse=key_values, metavar="KEY=VALUE")
    optimizer: str = setting("sgd", "sgd | adam | adamw", check=_one_of("sgd", "adam", "adamw"))
    lr: float = setting(0.05, "learning rate", check=_rule(
        lambda v: _real(v) and v > 0 and math.isfinite(v), "a finite number > 0"))
    momentum: float = setting(0.9, "SGD momentum", check=_rule(
        lambda v: _real(v) and 0 <= v < 1, "in [0, 1)"))
    weight_decay: float = setting(0.0, "L2 weight decay",
                                  check=_rule(lambda v: _real(v) and v >= 0, "≥ 0"))
    schedule: str = setting("none", "LR schedule per epoch: none | step | cosine",
                            check=_one_of("none", "step", "cosine"))
    step_size: int = setting(10, "--schedule step: epochs between LR decays", check=_whole(1))
    gamma: float = setting(0.1, "--schedule step: LR factor per decay", check=_rule(
        lambda v: _real(v) and v >= 0 and math.isfinite(v), "a finite number ≥ 0"))
    epochs: int = setting(1, "training epochs", check=_whole(1))
    batch_size: int = setting(128, "training mini-batch size", check=_whole(1))
    eval_batch_size: int = setting(1024, "evaluation batch size", check=_whole(1))
    seed: int = setting(0, "seeds data order, model and methods", check=_whole())
    threads: int | None = setting(None, "torch.set_num_threads (default: torch's choice)",
                                  check=_whole(1, "torch's default"), parse=int)
    train_size: int | None = setting(
        None, "seeded training subset size (default: the whole training split)",
        check=_whole(1, "the whole split"), parse=int)
    test_size: int | None = setting(
        None, "seeded test subset size (default: the whole test split)",
        check=_whole(1, "the whole split"), parse=int)
    device: str = setting("cpu", "cpu | cuda | cuda:N | mps", check=_name("a device"))
    amp: str | None = setting(None, "bf16 | fp16 autocast (default: off, float32)",
                              check=_one_of(None, "bf16", "fp16"))
    progress: bool | None = setting(
        None, "tqdm bar per epoch on stderr (default: only on a terminal)",
        check=_rule(lambda v: v is None or isinstance(v, bool), "True, False or None"))
    out_dir: str | None = setting(
        None, "run directory: config.json, metrics.jsonl/.csv, checkpoint.pt; an interrupted "
        "run resumes from it (default: nothing saved)", check=_run_directory, flag="--out",
        metavar="DIR")
    resume: bool = setting(True, "resume from --out's checkpoint (--no-resume: start over)",
                           check=_FLAG)
    num_workers: int = setting(
        0, "DataLoader worker processes for data that is not in memory (folder, csv, "
        "transforms)", check=_whole(0))
    pin_memory: bool = setting(False, "DataLoader pin_memory (faster copies to a GPU)",
                               check=_FLAG)
    persistent_workers: bool = setting(
        False, "keep DataLoader workers alive between epochs (needs --num-workers)",
        check=_FLAG)
    input_key: str = setting("input", "dict batches: the input's key",
                             check=_rule(_key, "a string (a dict batch's key)"))
    target_key: str = setting("target", "dict batches: the target's key",
                              check=_rule(_key, "a string (a dict batch's key)"))
    augment: str | None = setting(
        None, "augment training images: crop-flip (bare flag; the CIFAR recipe: pad 4, random "
        "crop, horizontal flip)", check=_augment, metavar="RECIPE", bare="crop-flip")
    task: str | None = setting(
        None, "classification | binary | regression | … (default: the dataset's, else "
        "inferred)", check=_task)
    num_classes: int | None = setting(
        None, "model outputs (default: the dataset's, else the model's output width)",
        check=_whole(1, "the data's, else the model's outputs"), parse=int)

    def check(self) -> None:
        """Each field by its declared check, then the one check across fields; one
        :class:`~losskit.core.errors.ConfigError` naming the field."""
        for f, spec in settings():
            try:
                spec.check(getattr(self, f.name), f.name)  # type: ignore[misc]
            except ValueError as exc:
                raise ConfigError(str(exc), f.name) from None
        if self.persistent_workers and self.num_workers == 0:
            raise ConfigError("persistent_workers=True needs num_workers > 0, got "
                              "num_workers=0", "persistent_workers")

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


def settings() -> Iterator[tuple[Any, OptionSpec]]:
    """The fields of :class:`TrainConfig` with their declarations, in order."""
    for f in fields(TrainConfig):
        yield f, spec_of(f)


def setting_flag(name: str) -> str:
    """The command-line flag of field ``name``: its declared spelling, else ``--<name>``
    (``out_dir`` → ``--out``, ``batch_size`` → ``--batch-size``)."""
    f = TrainConfig.__dataclass_fields__.get(name)
    spelled = spec_of(f).flag if f is not None else None
    return spelled or "--" + name.replace("_", "-")


def default(name: str) -> Any:
    """The declared default of :class:`TrainConfig` field ``name``."""
    value = default_of(TrainConfig.__dataclass_fields__[name])
    if value is MISSING:  # pragma: no cover - every field has one
        raise KeyError(name)
    return value


#: Fields added after run keys and checkpoints were first written, with the value every older
#: run had: :meth:`TrainConfig.to_dict` leaves them out while they hold it (so a recorded run
#: keeps its record and run key) and a checkpoint that does not name them is read as having
#: it (an older run still resumes).
LATER_FIELD_DEFAULTS: dict[str, Any] = {name: default(name) for name in LATER_FIELDS}


def key_fields(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`LATER_FIELD_DEFAULTS` fields that hold their default."""
    return {k: v for k, v in config.items()
            if not (k in LATER_FIELD_DEFAULTS and v == LATER_FIELD_DEFAULTS[k])}


def check_settings(**values: Any) -> None:
    """``values`` of TrainConfig fields (by name), each by its field's declared check: one
    :class:`~losskit.core.errors.ConfigError` naming the field (what a caller that takes some run
    settings itself, e.g. ``LossKitModule``, checks them with)."""
    for name, value in values.items():
        check = spec_of(TrainConfig.__dataclass_fields__[name]).check
        try:
            check(value, name)  # type: ignore[misc]
        except ValueError as exc:
            raise ConfigError(str(exc), name) from None
