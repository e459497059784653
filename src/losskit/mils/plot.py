"""Paper Fig. 6-style chart: auxiliary attempts vs successful updates per epoch, with test error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from losskit.core.errors import require


def plot_success(history: list[dict[str, Any]], path: str | Path) -> None:
    """Draw attempts (pale bars) and successes (dark bars) per epoch and, on a secondary axis,
    the test error ``1 − test_acc`` (line, where the records have ``test_acc``); save to
    ``path`` (format from the suffix). ``history`` is the Trainer's per-epoch records
    (``metrics.jsonl``) of a ``--method mils`` run.
    """
    if not history:
        raise ValueError("history is empty; expected the per-epoch records of a MILS run")
    missing = [i for i, r in enumerate(history) if "mils_attempts" not in r]
    if missing:
        raise ValueError(
            f"history records {missing[:5]} have no 'mils_attempts'; expected a --method mils run"
        )
    require("matplotlib", "plot", "the MILS attempts/successes plot (losskit plot mils)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(history)]
    attempts = [int(r["mils_attempts"]) for r in history]
    successes = [int(r.get("mils_successes", 0)) for r in history]
    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(epochs, attempts, color="#9ecae1", label="auxiliary updates (attempts)")
    ax.bar(epochs, successes, width=0.5, color="#08519c", label="successful updates")
    ax.set_xlabel("epoch")
    ax.set_ylabel("auxiliary updates per epoch")
    handles, labels = ax.get_legend_handles_labels()
    errors = [
        (e, 100 * (1 - float(r["test_acc"])))
        for e, r in zip(epochs, history, strict=True)
        if r.get("test_acc") is not None
    ]
    if errors:
        ax2 = ax.twinx()
        ax2.plot(
            [e for e, _ in errors],
            [v for _, v in errors],
            "o-",
            color="#d95f0e",
            label="test error (%)",
        )
        ax2.set_ylabel("test error (%)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize="small"
    )
    ax.set_title("MILS: auxiliary attempts vs successes")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
