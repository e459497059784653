"""Run experiments through the one Trainer into an append-only, crash-safe JSONL file.

One line per finished (experiment, variant, seed) run, written by the parent process with a
single ``write`` + ``fsync``, so a kill leaves at most a partial last line. On restart the file is
read, a truncated last line is dropped (the file is rewritten atomically without it) and every
run whose key is already there is skipped: killed and restarted, nothing is lost or repeated.
A corrupt line *before* the last one is not guessed at: it raises, naming the line number.

``jobs > 1`` runs in a ``spawn`` process pool, each worker limited to ``cores // jobs`` torch
threads. A run that raises is recorded nowhere, the others go on, and the returned
:class:`RunSummary` lists the failures (``reproduce`` then exits non-zero).
"""

from __future__ import annotations

import datetime as _dt
import json
import multiprocessing
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from losskit.experiments.spec import Experiment, RunSpec, resolve
from losskit.train.config import TrainConfig

RunFn = Callable[[TrainConfig], Any]


# ---------------------------------------------------------------------------- the JSONL file
class CorruptResultsError(ValueError):
    """A results file has an unreadable line that is not the (possibly truncated) last one."""


def _parse_line(text: str) -> dict[str, Any] | None:
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("key"), str) else None


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def read_results(path: str | os.PathLike[str], repair: bool = False) -> list[dict[str, Any]]:
    """The records of a results JSONL (``[]`` when it does not exist).

    A last line that does not parse (a run killed mid-write) is dropped — and, with
    ``repair=True``, removed from the file by an atomic rewrite. Any other bad line raises
    :class:`CorruptResultsError` naming its line number. Blank lines are ignored.
    """
    path = Path(path)
    if not path.exists():
        return []
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    # index of the last non-blank line: the only one allowed to be damaged
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records: list[dict[str, Any]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        record = _parse_line(line.decode("utf-8", errors="replace"))
        if record is not None:
            records.append(record)
            continue
        if i != last:
            raise CorruptResultsError(
                f"{path}: line {i + 1} is not a valid result record (corrupt file); "
                "fix or delete that line and run again"
            )
        if repair:  # keep every complete line, drop the damaged tail
            keep = b"".join(l + b"\n" for l in lines[:i] if l.strip())
            atomic_write(path, keep)
        return records
    if repair and raw and not raw.endswith(b"\n"):
        # the last record parsed but lost its newline: restore it so appends start a new line
        atomic_write(path, raw + b"\n")
    return records


def append_record(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line: a single ``write``, then flush + ``fsync``."""
    data = (json.dumps(jsonable(record), allow_nan=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it in one write; loop only for safety
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def jsonable(obj: Any) -> Any:
    """``obj`` with tensors/NumPy values turned into plain Python (lists, floats, ints)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (str, bool, int, float)) or obj is None:
        return obj
    if hasattr(obj, "tolist"):  # torch.Tensor, numpy array / scalar
        return jsonable(obj.tolist())
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


# ---------------------------------------------------------------------------- executing one run
def default_run_fn(config: TrainConfig) -> Any:
    """``losskit.train.fit`` (imported lazily, with every plugin registered)."""
    from losskit.plugins import load_all
    from losskit.train import fit

    load_all()
    return fit(config)


def _result_parts(result: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if isinstance(result, dict):
        history, final = result.get("history"), result.get("final")
    else:
        history, final = getattr(result, "history", None), getattr(result, "final", None)
    if not isinstance(history, list) or not isinstance(final, dict):
        raise TypeError(
            "run_fn must return an object (or dict) with `history` (list of per-epoch dicts) "
            f"and `final` (dict), got {type(result).__name__}"
        )
    return history, final


def execute(run_fn: RunFn, config: TrainConfig) -> dict[str, Any]:
    """Call ``run_fn(config)``; return JSON-ready ``history``, ``final`` and ``wall_time_s``."""
    t0 = time.perf_counter()
    history, final = _result_parts(run_fn(config))
    return {
        "history": jsonable(history),
        "final": jsonable(final),
        "wall_time_s": time.perf_counter() - t0,
    }


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


_VERSIONS: dict[str, str] | None = None


def versions() -> dict[str, str]:
    """python, torch, numpy, losskit versions and the platform string (stored per run)."""
    global _VERSIONS
    if _VERSIONS is None:
        import torch

        import losskit

        v = {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "losskit": losskit.__version__,
            "platform": platform.platform(),
        }
        try:
            import numpy

            v["numpy"] = numpy.__version__
        except ImportError:  # pragma: no cover
            pass
        _VERSIONS = v
    return dict(_VERSIONS)


# ---------------------------------------------------------------------------- the runner
@dataclass(frozen=True)
class RunFailure:
    """A run that raised: which one, and the error (one line) with its traceback."""

    experiment: str
    variant: str
    seed: int
    key: str
    error: str
    traceback: str = ""


@dataclass
class RunSummary:
    """Counts of a :func:`run_experiments` call and the failures (nothing recorded for them)."""

    results_path: Path
    total: int = 0
    skipped: int = 0
    completed: int = 0
    failures: list[RunFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def __str__(self) -> str:
        text = (
            f"{self.total} runs: {self.completed} completed, {self.skipped} already done, "
            f"{len(self.failures)} failed → {self.results_path}"
        )
        for f in self.failures:
            text += f"\n  FAILED {f.experiment}/{f.variant} seed {f.seed}: {f.error}"
        return text


def _record(spec: RunSpec, exp: Experiment, out: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": spec.key,
        "experiment": spec.experiment,
        "variant": spec.variant,
        "seed": spec.seed,
        "config": spec.config.to_dict(),
        "history": out["history"],
        "final": out["final"],
        "wall_time_s": out["wall_time_s"],
        "versions": versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "meta": exp.meta(),
    }


def _failure(spec: RunSpec, exc: BaseException) -> RunFailure:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return RunFailure(spec.experiment, spec.variant, spec.seed, spec.key,
                      f"{type(exc).__name__}: {exc}", tb)


def _progress_bar(total: int, initial: int, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, initial=initial, disable=not show, unit="run", desc="runs",
                file=sys.stderr, dynamic_ncols=True)


def run_experiments(
    experiments: str | Experiment | Sequence[str | Experiment],
    results_path: str | os.PathLike[str],
    jobs: int = 1,
    run_fn: RunFn | None = None,
    progress: bool | None = None,
) -> RunSummary:
    """Run every (variant, seed) of ``experiments`` not yet in ``results_path``.

    ``experiments``: Experiment objects and/or registered experiment/suite names.
    ``run_fn(config)`` returns something with ``.history`` and ``.final`` (default:
    :func:`losskit.train.fit`); with ``jobs > 1`` it must be picklable (a module-level
    function). ``progress``: tqdm bar over runs (``None``: only when stderr is a TTY).
    ``KeyboardInterrupt`` stops at once; finished runs are already on disk.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer ≥ 1, got {jobs!r}")
    if isinstance(experiments, Experiment):
        experiments = [experiments]
    exps = resolve(experiments)
    run_fn = default_run_fn if run_fn is None else run_fn
    path = Path(results_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {r["key"] for r in read_results(path, repair=True)}

    specs: list[tuple[RunSpec, Experiment]] = []
    seen: set[str] = set()
    for exp in exps:
        for spec in exp.runs():
            if spec.key not in seen:
                seen.add(spec.key)
                specs.append((spec, exp))
    pending = [(s, e) for s, e in specs if s.key not in done]
    summary = RunSummary(path, total=len(specs), skipped=len(specs) - len(pending))
    bar = _progress_bar(len(specs), summary.skipped, progress)

    def finish(spec: RunSpec, exp: Experiment, out: dict[str, Any] | None,
               exc: BaseException | None) -> None:
        if exc is not None:
            summary.failures.append(_failure(spec, exc))
            bar.write(f"FAILED {spec.experiment}/{spec.variant} seed {spec.seed}: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
        else:
            assert out is not None
            append_record(path, _record(spec, exp, out))
            summary.completed += 1
        bar.set_postfix_str(f"{spec.experiment}/{spec.variant} seed {spec.seed}")
        bar.update(1)

    try:
        if jobs == 1 or len(pending) <= 1:
            for spec, exp in pending:
                bar.set_postfix_str(f"{spec.experiment}/{spec.variant} seed {spec.seed}")
                try:
                    out = execute(run_fn, spec.config)
                except Exception as exc:  # noqa: BLE001 - record and keep going
                    finish(spec, exp, None, exc)
                else:
                    finish(spec, exp, out, None)
        else:
            _run_pool(pending, run_fn, jobs, finish)
    finally:
        bar.close()
    return summary


def _run_pool(
    pending: list[tuple[RunSpec, Experiment]],
    run_fn: RunFn,
    jobs: int,
    finish: Callable[[RunSpec, Experiment, dict[str, Any] | None, BaseException | None], None],
) -> None:
    workers = min(jobs, len(pending))
    threads = max(1, _available_cores() // jobs)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    )
    try:
        futures: dict[Future[dict[str, Any]], tuple[RunSpec, Experiment]] = {
            pool.submit(execute, run_fn, spec.config): (spec, exp) for spec, exp in pending
        }
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
            for fut in finished:
                spec, exp = futures[fut]
                try:
                    out = fut.result()
                except Exception as exc:  # noqa: BLE001 - record and keep going
                    finish(spec, exp, None, exc)
                else:
                    finish(spec, exp, out, None)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def reproduce(
    suite: str | Sequence[str | Experiment],
    results: str | os.PathLike[str] = "results/results.jsonl",
    jobs: int = 1,
    report_dir: str | os.PathLike[str] | None = "results",
    run_fn: RunFn | None = None,
    progress: bool | None = None,
) -> int:
    """Run ``suite`` (resumable), then regenerate the report; exit code 1 if any run failed."""
    from losskit.plugins import load_all

    load_all()
    exps = resolve(suite)
    summary = run_experiments(exps, results, jobs=jobs, run_fn=run_fn, progress=progress)
    print(summary)
    if report_dir is not None and Path(results).exists():
        from losskit.experiments.report import build_report

        report = build_report(results, report_dir)
        print(f"report written to {report}")
    return summary.exit_code

