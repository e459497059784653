"""Reading the results JSONL: a torn last write is dropped with a warning (and cut off the file
by ``repair``), any other bad line is an error naming the file and line, and the file is never
rewritten; appends start on a fresh line and a failed append leaves the file as it was."""

from __future__ import annotations

import errno
import json
import os
import warnings

import pytest

from losskit.core.errors import ConfigError, OutputError, UserError
from losskit.experiments import results
from losskit.experiments.results import (
    CorruptResultsError,
    TornResultsWarning,
    append_record,
    read_results,
)

RECORDS = [{"key": f"k{i}", "final": {"test_acc": 0.5 + i / 10}, "history": [{"epoch": 1}]}
           for i in range(3)]


def _write(path, records=RECORDS) -> bytes:
    data = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    path.write_bytes(data)
    return data


def _read(path, **kw):
    """``read_results`` and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = read_results(path, **kw)
    return out, [w for w in caught if issubclass(w.category, TornResultsWarning)]


def test_missing_file_reads_as_empty(tmp_path):
    assert read_results(tmp_path / "none.jsonl") == []


def test_whole_file_reads_back_every_record_and_warns_nothing(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path)
    got, torn = _read(path)
    assert got == RECORDS and torn == []


def test_every_cut_of_the_last_line_is_dropped_with_one_warning_or_kept_whole(tmp_path):
    """Exhaustive over the cut position: a kill mid-write leaves a prefix of the last line.
    Every proper prefix (no newline) is torn: dropped with one warning naming the line, and
    ``repair`` cuts the file back to exactly the complete lines (same inode: not rewritten).
    The prefix missing only the newline is the whole record: kept, no warning."""
    path = tmp_path / "r.jsonl"
    full = _write(path)
    head = _write(path, RECORDS[:-1])
    last = full[len(head):]
    for cut in range(1, len(last)):
        path.write_bytes(head + last[:cut])
        whole = cut == len(last) - 1
        got, torn = _read(path)
        assert got == (RECORDS if whole else RECORDS[:-1]), cut
        assert path.read_bytes() == head + last[:cut]  # reading alone changes nothing
        if whole:
            assert torn == []
        else:
            assert len(torn) == 1
            text = str(torn[0].message)
            assert "dropped 1 torn line (line 3:" in text and str(path) in text
            assert f"{cut} bytes without a newline" in text
        inode = os.stat(path).st_ino
        got, _ = _read(path, repair=True)
        assert got == (RECORDS if whole else RECORDS[:-1])
        assert path.read_bytes() == (full if whole else head), cut
        assert os.stat(path).st_ino == inode


@pytest.mark.parametrize("line,why", [
    (b'{"key": "k1", "final": {"test_a', "not JSON"),
    (b"[1, 2, 3]", "a JSON list, not an object"),
    (b'{"no": "key"}', "without a 'key'"),
    (b"\x00\x00\x00\x00", "not JSON"),
])
def test_a_bad_middle_line_is_an_error_naming_file_and_line_and_nothing_is_touched(
        tmp_path, line, why):
    path = tmp_path / "r.jsonl"
    lines = _write(path).splitlines(keepends=True)
    lines[1] = line + b"\n"
    data = b"".join(lines)
    path.write_bytes(data)
    for repair in (False, True):
        with pytest.raises(CorruptResultsError) as info:
            read_results(path, repair=repair)
        text = str(info.value)
        assert f"results file {str(path)!r}: line 2 is not a result record" in text
        assert why in text and "\n" not in text
        assert path.read_bytes() == data  # not rewritten, nothing dropped
    # a user error (the CLI's exit code 2) that code catching ValueError still catches
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_a_bad_last_line_that_ends_in_a_newline_is_corrupt_not_torn(tmp_path):
    """An append writes the newline last, so a damaged line that has one was not cut off by a
    kill: it is reported, not silently dropped (and so not re-run behind the user's back)."""
    path = tmp_path / "r.jsonl"
    data = _write(path) + b'{"key": "k3", "fin\n'
    path.write_bytes(data)
    with pytest.raises(CorruptResultsError, match=r"line 4 is not a result record"):
        read_results(path, repair=True)
    assert path.read_bytes() == data


def test_blank_lines_are_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n" + _write(path) + b"\n   \n")
    assert _read(path) == (RECORDS, [])


def test_append_after_a_record_without_its_newline_starts_a_new_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(_write(path).rstrip(b"\n"))
    append_record(path, {"key": "k9"})
    assert [r["key"] for r in read_results(path)] == ["k0", "k1", "k2", "k9"]
    assert path.read_bytes().endswith(b'"k2", "final": {"test_acc": 0.7}, "history": '
                                      b'[{"epoch": 1}]}\n{"key": "k9"}\n')


def test_append_after_repairing_a_torn_line_is_never_glued_onto_it(tmp_path):
    path = tmp_path / "r.jsonl"
    head = _write(path, RECORDS[:2])
    path.write_bytes(head + b'{"key": "k2", "hist')
    with pytest.warns(TornResultsWarning):
        read_results(path, repair=True)
    append_record(path, RECORDS[2])
    assert path.read_bytes() == _write(tmp_path / "whole.jsonl")


@pytest.mark.parametrize("fail", [errno.ENOSPC, errno.EACCES])
def test_a_failed_append_leaves_the_file_as_it_was(tmp_path, monkeypatch, fail):
    """Disk full (or permission lost) half-way through the write: the half line is cut off
    again, and the error is a user error that says the earlier records are intact."""
    path = tmp_path / "r.jsonl"
    data = _write(path)
    target = os.stat(path).st_ino
    real_write = os.write

    def half_then_fail(fd, buf):
        if os.fstat(fd).st_ino != target:
            return real_write(fd, buf)
        real_write(fd, bytes(buf[: len(buf) // 2]))
        raise OSError(fail, os.strerror(fail))

    monkeypatch.setattr(results.os, "write", half_then_fail)
    with pytest.raises(OutputError) as info:
        append_record(path, {"key": "new", "history": list(range(100))})
    monkeypatch.undo()
    assert path.read_bytes() == data
    text = str(info.value)
    assert os.strerror(fail) in text and "records already in it are intact" in text
    assert isinstance(info.value, UserError) and isinstance(info.value, OSError)
    assert info.value.errno == fail


def test_an_unopenable_results_file_is_an_output_error(tmp_path):
    folder = tmp_path / "r.jsonl"
    folder.mkdir()  # a folder where the file should be: fails for root too
    with pytest.raises(OutputError, match="cannot append to results file"):
        append_record(folder, {"key": "k"})
