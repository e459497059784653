"""Markdown + PNG report, always regenerated from the results JSONL (never edited by hand).

records (:mod:`.records`: which runs are each row's, one code version per row) → tables
(:mod:`.tables`: comparisons, Holm within claim families, the experiment tables) → sections
(:mod:`.sections`: setup, tuning with the "interior" column, best-epoch ties) → figures
(:mod:`.figures`) → the writer (:mod:`.writer`: ``report.md`` and the README section).

Per experiment: the paper's claim, the setup, the tuned values (every grid value's validation
score, the choice, whether it is interior, and which rows run at another row's rate), and a
table — per row: how its rate was set, the paper's number, ours (mean ± range-bounded 95 % CI,
or counts when runs stalled), the final-epoch mean, and its comparison: the row it is paired
with, its Holm family and evidence kind, Δ with its unadjusted 95 % t-interval, k of n seeds
below/above, p of the paired t-test, the exact sign and Wilcoxon tests, the Holm-adjusted p
within its family, the verdict. Then learning curves, a sweep plot, SLF selection frequencies,
one plot per method log. At the top: one table per claim family.
"""

from losskit.experiments.report.figures import method_log_keys
from losskit.experiments.report.tables import experiment_table
from losskit.experiments.report.writer import (
    README_END,
    README_START,
    build_report,
    readme_table,
    update_readme,
)

__all__ = ["README_END", "README_START", "build_report", "experiment_table", "method_log_keys",
           "readme_table", "update_readme"]
