"""``losskit bench``: overhead ratios to a plain CE step measured in the same run."""

from __future__ import annotations

from pathlib import Path

import torch

from losskit.bench.suites import (
    Counts,
    Row,
    bench_methods,
    bench_mils_components,
    bench_scaling,
    bench_trainer,
    markdown_table,
    measure_counts,
)
from losskit.bench.timing import Timing, interleaved_timings

SUITES = ("trainer", "methods", "slf", "uniloss", "mils", "scaling", "all")


def _plot(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    labels = [f"{r.case} [{r.model}]" for r in rows]
    ax.barh(range(len(rows)), [r.ratio for r in rows], color="tab:blue")
    for i, r in enumerate(rows):
        if r.goal:
            ax.plot([r.goal, r.goal], [i - 0.4, i + 0.4], color="tab:red")
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("step time / CE step time (red: goal)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_bench(
    what: str,
    steps: int = 30,
    threads: int = 2,
    out: str | None = None,
    models: tuple[str, ...] = ("mlp", "lenet"),
) -> int:
    """Run benchmark suite ``what`` (one of ``SUITES``), print a Markdown table, optionally save.

    ``models``: the registered models the method suites time (e.g. add ``"resnet8"`` to see the
    fixed per-step cost of a loss shrink relative to a larger model)."""
    if what not in SUITES:
        raise ValueError(f"unknown benchmark {what!r}; expected one of: {', '.join(SUITES)}")
    if steps < 20:
        raise ValueError(f"steps must be ≥ 20 (median over that many blocks), got {steps}")
    torch.set_num_threads(threads)
    rows: list[Row] = []
    if what in ("trainer", "all"):
        rows += bench_trainer()
    if what in ("methods", "slf", "uniloss", "mils", "all"):
        from losskit.bench.suites import METHOD_CASES

        cases = [c for c in METHOD_CASES if what in ("methods", "all") or c[1] in ("loss", what)]
        rows += bench_methods(tuple(models), blocks=steps, cases=cases)
    if what in ("mils", "all"):
        rows += bench_mils_components(tuple(models))
    if what in ("scaling", "all"):
        rows += bench_scaling(blocks=steps)
    table = markdown_table(rows)
    header = (f"`losskit bench {what} --threads {threads} --steps {steps} --models "
              f"{','.join(models)}`: torch {torch.__version__}, {threads} threads, median of "
              f"{steps} blocks after warm-up")
    print(header + "\n")
    print(table)
    if out:
        out_dir = Path(out)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"bench-{what}.md").write_text(header + "\n\n" + table + "\n")
        try:
            _plot(rows, out_dir / f"bench-{what}.png")
        except ImportError:
            print("(matplotlib not installed: no PNG; pip install 'losskit[plot]')")
    return 0


__all__ = ["Counts", "measure_counts", "Row", "Timing", "interleaved_timings", "run_bench",
           "bench_methods", "bench_trainer", "bench_scaling", "bench_mils_components",
           "markdown_table"]
