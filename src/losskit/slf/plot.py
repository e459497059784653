"""``losskit plot slf RUN_DIR``: the per-epoch selection trace of an SLF run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from losskit.core.errors import require

_PANELS = (
    ("slf_probs", "mean p (decision net)"),
    ("slf_weights", "mean p̂ (sampled weights)"),
    ("slf_select_freq", "selection frequency (argmax p̂)"),
)
# unbounded per-loss panel (update="bilevel") and the run's test metric, first one present
_ALIGNMENT = ("slf_alignment", "alignment c_i with the validation gradient")
_METRICS = (("test_mse", "test MSE"), ("test_acc", "test accuracy"), ("test_mae", "test MAE"))


def _vector(record: dict[str, Any], key: str, names: list[str]) -> list[float]:
    value = record[key]
    if isinstance(value, dict):  # {"ce": 0.4, ...} form
        return [float(value[n]) for n in names]
    return [float(v) for v in value]


def plot_selection_trace(history: list[dict[str, Any]], path: str | Path) -> None:
    """Write a PNG with one line per candidate loss and epoch on the x-axis, one panel per
    logged quantity (``slf_probs``, ``slf_weights``, ``slf_select_freq``, ``slf_alignment``;
    those present), plus a panel of the run's test metric (``test_mse`` for regression,
    ``test_acc`` for classification) when the records hold one.

    ``history`` is the list of per-epoch records of ``metrics.jsonl`` of an SLF run
    (:class:`~losskit.slf.SLFMethod` logs). ``ValueError`` when it holds no SLF trace.
    """
    records = [r for r in history if isinstance(r, dict) and "slf_probs" in r]
    if not records:
        raise ValueError("history must hold SLF epoch records (with 'slf_probs'); "
                         "was the run trained with --method slf?")
    first = records[0]
    if isinstance(first["slf_probs"], dict):
        names = list(first["slf_probs"])
    else:
        default = [f"loss {i}" for i in range(len(first["slf_probs"]))]
        names = list(first.get("slf_losses") or default)
    panels = [(k, title) for k, title in (*_PANELS, _ALIGNMENT) if all(k in r for r in records)]
    metric = next(((k, t) for k, t in _METRICS if all(k in r for r in records)), None)
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(records)]

    matplotlib = require("matplotlib", "plot", "the SLF selection-trace plot (losskit plot slf)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    count = len(panels) + (metric is not None)
    fig, axes = plt.subplots(1, count, figsize=(4.2 * count, 3.4), squeeze=False)
    for ax, (key, title) in zip(axes[0], panels):
        series = [_vector(r, key, names) for r in records]
        for i, name in enumerate(names):
            ax.plot(epochs, [s[i] for s in series], marker="o", ms=3, label=name)
        ax.set_title(title, fontsize=10)
        if key != _ALIGNMENT[0]:
            ax.set_ylim(-0.02, 1.02)
    if metric is not None:
        ax = axes[0][-1]
        ax.plot(epochs, [float(r[metric[0]]) for r in records], marker="o", ms=3, color="black")
        ax.set_title(metric[1], fontsize=10)
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share")
    axes[0][len(panels) - 1].legend(fontsize=8, loc="best")
    fig.suptitle("SLF loss selection per epoch", fontsize=11)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
