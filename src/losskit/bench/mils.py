"""The cost of MILS's pieces relative to one forward pass (paper §5, "extra computational cost").

An auxiliary attempt costs two observation evaluations, one snapshot and, when rejected, one
restore plus the primary step that replaces the update. :func:`component_costs` times those
pieces — the public :class:`~losskit.mils.TrainingStateSnapshot` and
:func:`~losskit.mils.observation_counts` MILS is built from — on Fashion-MNIST-shaped random
data; ``losskit bench mils`` prints them next to the full MILS-step / CE-step ratio.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from losskit.bench.timing import interleaved_timings
from losskit.core.step import Step, loss_step
from losskit.mils import TrainingStateSnapshot, observation_counts


def component_costs(
    model_name: str = "mlp",
    batch_size: int = 128,
    observation_size: int = 128,
    momentum: float = 0.9,
    reps: int = 100,
    seed: int = 0,
) -> dict[str, float]:
    """Median milliseconds (over ``reps`` interleaved calls) of ``forward`` (eval forward of
    one training batch), ``observation`` (one observation-set evaluation, read back as MILS
    does), ``snapshot`` (capture of model, buffers and optimizer state into preallocated
    buffers) and ``restore``, plus ``snapshot_restore_per_forward`` =
    (snapshot + restore) / forward."""
    from losskit import models

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(max(batch_size, observation_size), 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (len(x),), generator=g)
    torch.manual_seed(seed)
    model = models.build(model_name, (1, 28, 28), 10)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=momentum)
    batch, obs_x, obs_y = x[:batch_size], x[:observation_size], y[:observation_size]
    for _ in range(2):  # materialise optimizer state (momentum buffers) before timing
        loss_step(Step(model, opt), batch, y[:batch_size], F.cross_entropy, features=False)
    snapshot = TrainingStateSnapshot([model], opt)
    snapshot.capture()

    @torch.no_grad()
    def forward() -> None:
        model.eval()
        model(batch)
        model.train()

    timings = interleaved_timings(
        {
            "forward": forward,
            "observation": lambda: observation_counts(model, obs_x, obs_y).tolist(),
            "snapshot": snapshot.capture,
            "restore": snapshot.restore,
        },
        blocks=reps, steps_per_block=1, warmup=5,
    )
    out = {name: t.median_ms for name, t in timings.items()}
    out["snapshot_restore_per_forward"] = (out["snapshot"] + out["restore"]) / out["forward"]
    return out
