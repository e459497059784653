"""Run experiments through the one Trainer into an append-only, crash-safe JSONL file.

One self-contained line per finished run (config, per-epoch history, final metrics, versions,
the experiment's metadata), written by the parent process with a single ``write`` + ``fsync``,
so a kill leaves at most a partial last line. On restart the file is read, a truncated last line
is dropped with a warning (the file is cut where it starts; the lines before it are not
rewritten) and every run whose key is already there is skipped: killed and restarted, nothing
is lost or repeated. A corrupt line *before* the last one is not guessed at: it raises, naming
the line number. One writer at a time: the file is
locked (``RESULTS.lock``); a second ``reproduce`` on it stops with :class:`ResultsLockedError`.

Runs are scheduled by a :class:`~losskit.experiments.plan.Plan`: tuning runs first, then each
tuned variant's seeds as soon as its choice is known. A run whose loss became non-finite is
recorded with ``status: "diverged"`` and its epochs up to then (deterministic: re-running the
seed diverges again). Any other exception records nothing; the others go on, and the returned
:class:`RunSummary` lists the failures (``reproduce`` then exits non-zero).

Runs execute on a backend (:mod:`~losskit.experiments.backends`): inline (``jobs=1``), a
``spawn`` process pool (``jobs > 1``, each worker limited to ``cores // jobs`` torch threads) or
Ray tasks (``backend="ray"``); the runner alone writes the file. Interrupting the runner
(Ctrl-C, SIGTERM) terminates its workers. One line per finished run (experiment/variant, seed,
metric, time, runs left, ETA) is printed and flushed.

**Code versions** (:mod:`~losskit.experiments.version`): runs are keyed for the source hash of
``src/losskit`` read when the runner starts, and each record carries the code version read when
its run started (commit, dirty flag, source hash). If the source changes while the runner
works, it starts nothing more (the runs in flight finish and are kept) and says so: a new
invocation plans the runs again under the new code.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from losskit.core.environment import versions
from losskit.core.errors import ConfigError
from losskit.experiments import version as _version
from losskit.experiments.backends import check_backend, make_backend, worker_threads
from losskit.experiments.estimate import Estimator, format_duration, plan_table
from losskit.experiments.plan import Plan, PlannedRun, outcome
from losskit.experiments.report import build_report
from losskit.experiments.results import append_record, jsonable, read_results
from losskit.experiments.spec import Experiment, RunSpec, resolve
from losskit.experiments.version import CodeVersion
from losskit.train.config import TrainConfig

RunFn = Callable[[TrainConfig], Any]


# ---------------------------------------------------------------------------- the lock
class ResultsLockedError(ConfigError):
    """Another process is writing the same results file (a user error: exit code 2)."""


@contextlib.contextmanager
def results_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a ``PATH.lock`` file, ``flock``) or raise
    :class:`ResultsLockedError` at once naming the holder's pid."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    lock = Path(str(path) + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            raise ResultsLockedError(
                f"results file {str(path)!r} is being written by another process (pid {holder}); "
                "wait for it to finish or use another --results file"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- executing one run
class RunDiverged(FloatingPointError):
    """A run stopped on a non-finite loss; ``history`` holds its finished epochs."""

    def __init__(self, message: str, history: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(message, list(history))
        self.history = list(history)

    def __str__(self) -> str:
        return str(self.args[0])


def default_run_fn(config: TrainConfig) -> Any:
    """``losskit.train.fit`` (imported lazily: the Trainer is not needed to plan or report);
    a non-finite loss becomes :class:`RunDiverged` carrying the epochs finished before it."""
    from losskit.train import fit

    history: list[dict[str, Any]] = []
    try:
        return fit(config, callbacks=[history.append])
    except FloatingPointError as exc:
        raise RunDiverged(str(exc), history) from exc


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
    """Call ``run_fn(config)``; return JSON-ready ``history``, ``final``, ``wall_time_s`` and
    ``status`` (``"ok"``, or ``"diverged"`` with ``error`` when it raised FloatingPointError)."""
    t0 = time.perf_counter()
    try:
        history, final = _result_parts(run_fn(config))
    except FloatingPointError as exc:
        return {"history": jsonable(getattr(exc, "history", [])), "final": {},
                "wall_time_s": time.perf_counter() - t0, "status": "diverged", "error": str(exc)}
    return {
        "history": jsonable(history),
        "final": jsonable(final),
        "wall_time_s": time.perf_counter() - t0,
        "status": "ok",
    }


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
    """Counts of a :func:`run_experiments` call and the failures (nothing recorded for them).

    ``blocked``: runs that could not start because a tuning run they wait for failed;
    ``code_changed``: the source hash moved while the runner worked ("OLD → NEW"), so it stopped
    starting runs.
    """

    results_path: Path
    total: int = 0
    skipped: int = 0
    completed: int = 0
    diverged: int = 0
    blocked: int = 0
    failures: list[RunFailure] = field(default_factory=list)
    code_changed: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and not self.blocked and not self.code_changed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def __str__(self) -> str:
        text = (
            f"{self.total} runs: {self.completed} completed, {self.skipped} already done, "
            f"{len(self.failures)} failed"
        )
        if self.diverged:
            text += f" ({self.diverged} of the completed diverged)"
        if self.blocked:
            text += f", {self.blocked} blocked by failed tuning runs"
        text += f" → {self.results_path}"
        if self.code_changed:
            text += (f"\n  STOPPED: src/losskit changed while running (source hash "
                     f"{self.code_changed}); finished runs are kept; run again to continue "
                     "under the new code (its runs are keyed apart from the old ones)")
        for f in self.failures:
            text += f"\n  FAILED {f.experiment}/{f.variant} seed {f.seed}: {f.error}"
        return text


def _record(
    spec: RunSpec, exp: Experiment, out: dict[str, Any], code: CodeVersion
) -> dict[str, Any]:
    record = {
        "key": spec.key,
        "config_key": spec.config_key,
        "code": code.to_dict(),
        "experiment": spec.experiment,
        "variant": spec.variant,
        "seed": spec.seed,
        "role": spec.role,
        "status": out.get("status", "ok"),
        "config": spec.config.to_dict(),
        "history": out["history"],
        "final": out["final"],
        "wall_time_s": out["wall_time_s"],
        "versions": versions(),
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "meta": exp.meta(),
    }
    if "error" in out:
        record["error"] = out["error"]
    return record


def _failure(spec: RunSpec, exc: BaseException) -> RunFailure:
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return RunFailure(spec.experiment, spec.variant, spec.seed, spec.key,
                      f"{type(exc).__name__}: {exc}", tb)


def _progress_bar(total: int, initial: int, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, initial=initial, disable=not show, unit="run", desc="runs",
                file=sys.stderr, dynamic_ncols=True)


def _run_line(
    spec: RunSpec, exp: Experiment, out: dict[str, Any], done: int, total: int, left: int,
    eta: float | None,
) -> str:
    metric = exp.metric if spec.role == "eval" else exp.val_metric
    select = exp.select if spec.role == "eval" else "best_val"
    o = outcome({"history": out["history"], "final": out["final"],
                 "status": out.get("status")}, exp.metric, select, exp.higher_is_better)
    value = o.test if spec.role == "eval" else o.val
    shown = "n/a" if value is None else f"{value * exp.scale:.2f}"
    where = ""
    if o.epoch is not None and select == "best_val":
        where = f" (best val @ epoch {o.epoch}/{o.epochs})"
    if out.get("status") == "diverged":
        where += f" DIVERGED after {o.epochs} epoch(s)"
    if spec.role == "tune":
        tuning = exp.tuning_of(spec.variant)
        param = tuning.param if tuning is not None else "lr"
        name = (f"tune {spec.experiment}/{spec.variant} {param}={getattr(spec.config, param)} "
                f"seed {spec.seed}")
    else:
        name = f"{spec.experiment}/{spec.variant} seed {spec.seed}"
    width = len(str(total))
    return (f"[{done:>{width}}/{total}] {name}: {metric} {shown}{where} · "
            f"{format_duration(out['wall_time_s'])} · {left} left · ETA {format_duration(eta)}")


def run_experiments(
    experiments: str | Experiment | Sequence[str | Experiment],
    results_path: str | os.PathLike[str],
    jobs: int = 1,
    run_fn: RunFn | None = None,
    progress: bool | None = None,
    echo: bool = True,
    estimator: Estimator | None = None,
    stream: TextIO | None = None,
    backend: str = "local",
    address: str | None = None,
) -> RunSummary:
    """Run every planned run of ``experiments`` not yet in ``results_path``.

    ``experiments``: Experiment objects and/or registered experiment/suite names.
    ``run_fn(config)`` returns something with ``.history`` and ``.final`` (default:
    :func:`losskit.train.fit`); with ``jobs > 1`` or Ray it must be picklable (a module-level
    function). ``progress``: tqdm bar over runs (``None``: only when stderr is a TTY);
    ``echo``: one flushed line per finished run on ``stream`` (stdout); ``estimator``: for the
    ETA (default: from recorded run times); ``backend``/``address``: where runs execute
    (:mod:`~losskit.experiments.backends`; ``jobs`` runs at once). ``KeyboardInterrupt`` stops
    at once (workers are terminated); finished runs are already on disk.
    """
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be an integer ≥ 1, got {jobs!r}")
    check_backend(backend)
    if isinstance(experiments, Experiment):
        experiments = [experiments]
    exps = resolve(experiments)
    run_fn = default_run_fn if run_fn is None else run_fn
    stream = sys.stdout if stream is None else stream
    path = Path(results_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with results_lock(path):
        runner = _Runner(exps, path, jobs, run_fn, progress, echo, estimator, stream)
        return runner.run(make_backend(backend, jobs, address))


class _Runner:
    """One locked pass over the plan: submit ready runs (at most ``jobs`` in flight), record
    each as it finishes, re-plan (tuning choices, grid extensions) after every record."""

    def __init__(self, exps: list[Experiment], path: Path, jobs: int, run_fn: RunFn,
                 progress: bool | None, echo: bool, estimator: Estimator | None,
                 stream: TextIO) -> None:
        self.path, self.jobs, self.run_fn, self.echo, self.stream = path, jobs, run_fn, echo, stream
        self.records = {r["key"]: r for r in read_results(path, repair=True)}
        self.code = _version.code_version()
        self.plan = Plan(exps, code=self.code.src_hash)
        planned = self.plan.runs(self.records)
        self.summary = RunSummary(path, total=len(planned),
                                  skipped=sum(p.spec.key in self.records for p in planned))
        self.est = estimator if estimator is not None else Estimator(self.records.values())
        self.by_name = {e.name: e for e in exps}
        self.failed: set[str] = set()
        self.session: list[tuple[float, float]] = []  # (estimated, actual) s of finished runs
        self.bar = _progress_bar(self.summary.total, self.summary.skipped, progress)

    def experiment_of(self, spec: RunSpec) -> Experiment:
        return self.by_name.get(spec.experiment) or self.plan.experiment(spec.experiment)

    def todo(self, runs: list[PlannedRun]) -> list[PlannedRun]:
        return [p for p in runs if p.spec.key not in self.records and p.spec.key not in self.failed]

    def eta(self, runs: list[PlannedRun]) -> float | None:
        left = self.todo(runs)
        if not left:
            return 0.0
        guesses = [self.est.seconds(p.spec) for p in left]
        known = [g for g in guesses if g is not None] or [a for _, a in self.session]
        if not known:
            return None
        fill = sum(known) / len(known)
        total = sum(g if g is not None else fill for g in guesses)
        if self.session:
            total *= (sum(a for _, a in self.session)
                      / max(sum(e for e, _ in self.session), 1e-9))
        return total / min(self.jobs, len(left))

    def fail(self, spec: RunSpec, exc: BaseException) -> None:
        self.failed.add(spec.key)
        self.summary.failures.append(_failure(spec, exc))
        self.bar.write(f"FAILED {spec.experiment}/{spec.variant} seed {spec.seed}: "
                       f"{type(exc).__name__}: {exc}", file=sys.stderr)
        self.bar.update(1)

    def finish(self, spec: RunSpec, code: CodeVersion, fut: Future[dict[str, Any]]) -> None:
        exp = self.experiment_of(spec)
        try:
            out = fut.result()
            ran = out.pop("src_hash", code.src_hash)  # a Ray task reports the code it imported
            if ran != code.src_hash:
                raise RuntimeError(f"the worker ran other code (source hash {ran}) than planned "
                                   f"({code.src_hash}); install the same checkout everywhere")
        except Exception as exc:  # noqa: BLE001 - record the failure and keep going
            self.fail(spec, exc)
            return
        guess = self.est.seconds(spec)
        record = _record(spec, exp, out, code)
        append_record(self.path, record)
        self.records[spec.key] = record
        self.est.add(record)
        if guess is not None:
            self.session.append((guess, float(out["wall_time_s"])))
        self.summary.completed += 1
        self.summary.diverged += out.get("status") == "diverged"
        runs = self.plan.runs(self.records)
        self.summary.total = len(runs)
        self.bar.total = self.summary.total
        self.bar.update(1)
        if self.echo:
            done = sum(p.spec.key in self.records for p in runs)
            line = _run_line(spec, exp, out, done, self.summary.total, len(self.todo(runs)),
                             self.eta(runs))
            if self.bar.disable:
                print(line, file=self.stream, flush=True)
            else:
                self.bar.write(line, file=self.stream)

    def run(self, backend: Any) -> RunSummary:
        inflight: dict[Future[dict[str, Any]], tuple[RunSpec, CodeVersion]] = {}
        try:
            while True:
                runs = self.plan.runs(self.records)
                busy = {spec.key for spec, _ in inflight.values()}
                ready = [p for p in self.todo(runs) if p.ready and p.spec.key not in busy]
                for p in ready[: max(0, self.jobs - len(inflight))]:
                    code = _version.code_version()  # read at run start, never cached
                    if code.src_hash != self.code.src_hash:
                        self.summary.code_changed = f"{self.code.src_hash} → {code.src_hash}"
                        break
                    self.bar.set_postfix_str(
                        f"{p.spec.experiment}/{p.spec.variant} seed {p.spec.seed}")
                    inflight[backend.submit(execute, self.run_fn, p.spec.config)] = (p.spec, code)
                if not inflight:
                    if not self.summary.code_changed:
                        self.summary.blocked = len(self.todo(runs))
                    break
                finished, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    spec, code = inflight.pop(fut)
                    self.finish(spec, code, fut)
                if self.summary.code_changed and not inflight:
                    break
        except BaseException:
            backend.close(now=True)
            raise
        finally:
            backend.close()
            self.bar.close()
        return self.summary


def estimate_plan(
    experiments: Sequence[Experiment], records: dict[str, dict[str, Any]], estimator: Estimator,
    code: str | None = None,
) -> list[dict[str, Any]]:
    """Per experiment: runs planned (tuning / evaluation), done, estimated seconds left, and
    ``extra``: tuning runs that grid extensions may still add (not in the estimate).

    A run shared by several experiments is counted once, under the first that plans it.
    """
    plan = Plan(experiments, code=code)

    def row(name: str) -> dict[str, Any]:
        return {"experiment": name, "tune": 0, "eval": 0, "done": 0, "seconds": 0.0,
                "unknown": 0, "extra": 0}

    rows: dict[str, dict[str, Any]] = {e.name: row(e.name) for e in experiments}
    for p in plan.runs(records):
        r = rows.setdefault(p.spec.experiment, row(p.spec.experiment))
        r[p.spec.role] += 1
        if p.spec.key in records:
            r["done"] += 1
            continue
        s = estimator.seconds(p.spec)
        if s is None:
            r["unknown"] += 1
        else:
            r["seconds"] += s
    for g in plan.groups():
        if g.choice(records) is None and g.experiment.name in rows:
            t = g.tuning
            rows[g.experiment.name]["extra"] += t.extensions * len(t.seeds)
    return list(rows.values())


_plan_table = plan_table  # (its old home)


def reproduce(
    suite: str | Sequence[str | Experiment],
    results: str | os.PathLike[str] = "results/results.jsonl",
    jobs: int = 1,
    report_dir: str | os.PathLike[str] | None = "results",
    run_fn: RunFn | None = None,
    progress: bool | None = None,
    dry_run: bool = False,
    calibrate: bool = True,
    budget_hours: float | None = None,
    backend: str = "local",
    address: str | None = None,
    mixed_versions: bool = False,
) -> int:
    """Print the plan (run count, estimated wall time), run ``suite`` (resumable), then
    regenerate the report; exit code 1 if any run failed.

    ``dry_run``: print the plan and stop. ``calibrate``: time a few steps of each cost class
    not yet measured, for the estimate (see :mod:`losskit.experiments.estimate`).
    ``budget_hours``: with ``dry_run``, exit code 3 when the estimate exceeds it.
    ``backend``/``address``: where runs execute (:mod:`~losskit.experiments.backends`).
    ``mixed_versions``: let the report pair runs of different code versions.
    SIGTERM is turned into a clean stop (workers terminated, exit code 143).
    """
    check_backend(backend)
    if isinstance(suite, str) and suite == "smoke":
        from losskit.experiments.catalog import smoke_experiments

        suite = smoke_experiments()
    exps = resolve(suite)
    path = Path(results)
    records = {r["key"]: r for r in read_results(path)} if path.exists() else {}
    threads = worker_threads(jobs)
    estimator = Estimator(records.values())
    if calibrate and run_fn is None:
        from losskit.experiments.estimate import calibrate as calibrate_fn

        estimator = Estimator(records.values(), _calibrating(calibrate_fn, threads),
                              cache_path=path.with_name("calibration.json"), threads=threads)
    code = _version.code_version()
    print(f"code: {code.label}", flush=True)
    rows = estimate_plan(exps, records, estimator, code.src_hash)
    print(plan_table(rows, jobs), flush=True)
    if dry_run:
        seconds = sum(r["seconds"] for r in rows) / jobs
        if budget_hours is not None and seconds > budget_hours * 3600:
            print(f"over budget: {format_duration(seconds)} > {budget_hours:g} h", flush=True)
            return 3
        return 0

    def on_sigterm(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        summary = run_experiments(exps, results, jobs=jobs, run_fn=run_fn, progress=progress,
                                  estimator=estimator, backend=backend, address=address)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(summary, flush=True)
    if report_dir is not None and Path(results).exists():
        report = build_report(results, report_dir, experiments=exps,
                              mixed_versions=mixed_versions)
        print(f"report written to {report}", flush=True)
    return summary.exit_code


def _calibrating(fn: Callable[..., float], threads: int) -> Callable[[TrainConfig], float]:
    """``fn`` run with ``threads`` torch threads (what each job gets), announced on stdout."""

    def timed(config: TrainConfig) -> float:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            print(f"timing one epoch of {config.data}/{config.model}/{config.method} "
                  f"{json.dumps(config.method_kwargs, sort_keys=True)} "
                  f"batch {config.batch_size}…", flush=True)
            return fn(config)
        finally:
            torch.set_num_threads(old)

    return timed
