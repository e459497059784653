"""Backends: a missing Ray is one clear line; Ray tasks write the same records as local runs."""

from __future__ import annotations

import json

import pytest

from losskit.experiments import backends
from losskit.experiments.results import read_results

_TIMING = {"wall_time_s", "timestamp", "versions"}


def _comparable(record):
    """A record without its timings and host (they differ run to run)."""
    r = {k: v for k, v in record.items() if k not in _TIMING}
    r["final"] = {k: v for k, v in r["final"].items() if not k.endswith("time_s")}
    r["history"] = [{k: v for k, v in h.items()
                     if not (k.endswith("time_s") or k.endswith("time_ms"))}
                    for h in r["history"]]
    return r


def test_ray_without_ray_installed_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    from losskit.cli import main

    monkeypatch.setattr(backends, "ray_available", lambda: False)
    rc = main(["reproduce", "smoke", "--backend", "ray", "--results", str(tmp_path / "r.jsonl"),
               "--no-estimate", "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert err[0] == ("losskit: error: --backend ray needs Ray, which is not installed: "
                      "pip install 'losskit[ray]'")
    assert not (tmp_path / "r.jsonl").exists()
    with pytest.raises(Exception, match="losskit\\[ray\\]"):
        backends.make_backend("ray", 1)


def test_unknown_backend_and_address_without_ray(capsys, tmp_path):
    from losskit.cli import main

    with pytest.raises(ValueError, match="backend"):
        backends.check_backend("dask")
    with pytest.raises(ValueError, match="--address"):
        backends.make_backend("local", 1, address="ray://x:10001")
    rc = main(["reproduce", "smoke", "--address", "x:1", "--dry-run", "--no-estimate",
               "--results", str(tmp_path / "r.jsonl")])
    assert rc == 2 and "--address is for --backend ray" in capsys.readouterr().err


@pytest.mark.slow  # starts a local Ray cluster and runs the smoke suite twice (~1 min)
def test_smoke_on_ray_writes_the_records_of_the_local_backend(tmp_path, monkeypatch,
                                                            real_code_version):
    pytest.importorskip("ray")
    import torch

    from losskit.experiments.runner import reproduce

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)  # local runs inline with 1 thread; Ray tasks on 2 cores get 1
    local, ray_ = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert reproduce("smoke", local, jobs=1, report_dir=None, calibrate=False) == 0
    assert reproduce("smoke", ray_, jobs=1, report_dir=tmp_path / "rep", calibrate=False,
                     backend="ray") == 0
    a = {r["key"]: _comparable(r) for r in read_results(local)}
    b = {r["key"]: _comparable(r) for r in read_results(ray_)}
    assert set(a) == set(b) and len(a) >= 30
    for key in a:
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True), key
    assert (tmp_path / "rep" / "report.md").exists()
