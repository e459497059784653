"""Run any losskit training method (plain loss, SLF, UniLoss, MILS) inside PyTorch Lightning.

Install the optional extra: ``pip install 'losskit[lightning]'``.

Design: a losskit :class:`~losskit.train.method.Method` owns the whole update (zero_grad,
forward, backward, optimizer step) — MILS must, because it snapshots the model and optimizer
before an auxiliary update and may roll both back. So :class:`LossKitModule` uses Lightning's
*manual optimisation* (``automatic_optimization = False``) and hands each batch to
``method.step``, exactly as losskit's own :class:`~losskit.train.trainer.Trainer` does. The
method receives the raw ``torch.optim.Optimizer`` (not Lightning's wrapper), so the state that
MILS snapshots is the real optimizer state.

Limits: precision plugins that need ``manual_backward`` (fp16 loss scaling by Lightning) are not
routed through the method; use ``precision="32-true"`` or ``"bf16-mixed"`` on CPU. Under
multi-device strategies the model is wrapped by Lightning and gradients are synchronised by it;
the method's own parameters (SLF decision net, center-loss centres) are registered as
sub-modules of this LightningModule, so they are synchronised too.

Example::

    import lightning as L
    from losskit.integrations.lightning import LossKitModule
    module = LossKitModule(model, "mils", train_set, method_kwargs={"aux": "multi_margin"},
                           optimizer="sgd", lr=0.05)
    L.Trainer(max_epochs=1).fit(module, train_loader)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import TensorDataset

try:
    import lightning as L
except ImportError as exc:  # pragma: no cover - depends on the optional extra
    raise ImportError(
        "losskit.integrations.lightning needs Lightning: pip install 'losskit[lightning]'"
    ) from exc

from losskit.train.config import TrainConfig
from losskit.train.method import METHODS, Method, TrainContext
from losskit.train.trainer import build_optimizer, seeded_generator


class LossKitModule(L.LightningModule):
    """A ``LightningModule`` that trains ``model`` with a losskit method.

    Args:
        model: a losskit :class:`~losskit.models.base.Classifier` (``forward(x,
            return_features=True)`` must give ``(logits, features)``).
        method: a registered method name (``"loss"``, ``"slf"``, ``"uniloss"``, ``"mils"``) or
            a :class:`~losskit.train.method.Method` instance.
        train_set: the training tensors (MILS draws its observation set from them).
        num_classes: number of classes (default: ``model.num_classes``).
        method_kwargs: constructor arguments when ``method`` is a name.
        optimizer, lr, momentum, weight_decay: as in :class:`~losskit.train.config.TrainConfig`.
        seed: seeds the method's generator (Gumbel noise, participation draws).
    """

    def __init__(
        self,
        model: nn.Module,
        method: str | Method,
        train_set: TensorDataset,
        num_classes: int | None = None,
        method_kwargs: dict[str, Any] | None = None,
        optimizer: str = "sgd",
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model = model
        self.method = (
            METHODS.get(method, **(method_kwargs or {})) if isinstance(method, str) else method
        )
        self.config = TrainConfig(
            optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, seed=seed
        )
        classes = int(num_classes if num_classes is not None else model.num_classes)
        self.ctx = TrainContext(
            model=model,
            num_classes=classes,
            feature_dim=int(getattr(model, "feature_dim", classes)),
            train_set=train_set,
            generator=seeded_generator(seed),
        )
        self.method.setup(self.ctx)
        # Register the method's parameters as a sub-module so Lightning moves / syncs them.
        self.method_params = nn.ParameterList(list(self.method.parameters()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = list(self.model.parameters()) + list(self.method_params)
        return build_optimizer(self.config, params)

    def on_fit_start(self) -> None:
        self.ctx.device = self.device
        self.ctx.optimizer = self.optimizers().optimizer  # the raw torch optimizer
        if self.trainer.precision == "bf16-mixed":
            self.ctx.autocast_dtype = torch.bfloat16

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch[0], batch[1]
        result = self.method.step(self.ctx, x, y)
        self.ctx.global_step += 1
        self._count_step()
        self.log("train_loss", result.loss, prog_bar=True, batch_size=len(y))
        if result.logits is not None and result.logits.dim() == 2:
            acc = (result.logits.argmax(1) == y).float().mean()
            self.log("train_acc", acc, batch_size=len(y))
        return result.loss

    def _count_step(self) -> None:
        """Advance Lightning's ``global_step`` by one per batch.

        The method steps the raw optimizer (not Lightning's wrapper, which would count a MILS
        rollback's discarded step too), so Lightning never sees the step; without this,
        ``Trainer(max_steps=...)`` would never stop.
        """
        trainer = getattr(self, "_trainer", None)
        if trainer is None:
            return
        progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        progress.increment_ready()
        progress.increment_completed()

    def on_train_epoch_end(self) -> None:
        logs = self.method.on_epoch_end(self.ctx, self.current_epoch)
        for key, value in logs.items():
            if isinstance(value, (int, float)):
                self.log(key, float(value))
        self.ctx.epoch += 1

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch[0], batch[1]
        logits = self.model(x)
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), batch_size=len(y))
