"""Record the numbers a refactor must not move, or compare two such recordings.

    python scripts/numbers_unchanged.py record OUT.json   # smoke suite + 6 short train runs
    python scripts/numbers_unchanged.py compare A.json B.json

``record`` runs ``losskit reproduce smoke`` into a fresh results file and six short
``losskit train`` runs (one per training method: loss, SLF joint, SLF bilevel, UniLoss, MILS,
uncertainty weighting) on the embedded digits set, and keeps every number that is not a
timing. ``compare`` exits 1 and names the first differences when two recordings disagree
(bit for bit: floats are compared as their ``repr``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TRAIN_RUNS: dict[str, list[str]] = {
    "ce": ["--method", "loss", "--loss", "ce"],
    "slf-joint": ["--method", "slf", "--slf-k", "3"],
    "slf-bilevel": ["--method", "slf", "--slf-update", "bilevel"],
    "uniloss": ["--method", "uniloss", "--uniloss-metric", "accuracy"],
    "mils": ["--method", "mils", "--mils-aux", "multi_margin,focal", "--mils-participation", "0.5"],
    "uncertainty": ["--method", "uncertainty", "--uncertainty-losses", "ce,focal"],
}
TIMING = ("time", "_s", "_ms", "timestamp", "wall", "eta")
VOLATILE = {"code", "versions", "environment", "key", "out_dir", "host"}


def _strip(value: Any) -> Any:
    """``value`` without timings, code versions and paths (what may differ between runs)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items())
                if k not in VOLATILE and not any(t in k for t in TIMING)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def record(out: Path) -> None:
    losskit = [sys.executable, "-m", "losskit"]
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "smoke.jsonl"
        subprocess.run(losskit + ["reproduce", "smoke", "--jobs", "1", "--no-estimate",
                                  "--results", str(results), "--report", f"{tmp}/report"],
                       check=True)
        for line in results.read_text().splitlines():
            r = json.loads(line)
            name = f"smoke/{r['experiment']}/{r['variant']}/{r.get('role')}/{r['seed']}"
            found[name + f"/lr={r['config'].get('lr')}"] = _strip(
                {k: r.get(k) for k in ("config", "history", "final", "status")})
        for name, flags in TRAIN_RUNS.items():
            run_dir = Path(tmp) / name
            subprocess.run(losskit + ["train", "--data", "digits", "--model", "mlp",
                                      "--epochs", "2", "--seed", "0", "--threads", "1",
                                      "--no-progress", "--out", str(run_dir), *flags],
                           check=True, stdout=subprocess.DEVNULL)
            metrics = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text()
                       .splitlines()]
            found[f"train/{name}"] = _strip(metrics)
    out.write_text(json.dumps(found, indent=1, sort_keys=True))
    print(f"{len(found)} recordings → {out}")


def compare(a: Path, b: Path) -> int:
    x, y = json.loads(a.read_text()), json.loads(b.read_text())
    bad = [k for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)]
    for k in bad[:20]:
        print(f"differs: {k}")
    print(f"{len(set(x) & set(y))} common, {len(bad)} differ "
          f"({len(set(x) ^ set(y))} present in one only)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
