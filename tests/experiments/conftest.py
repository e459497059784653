"""Experiments tests run under a pinned code version: other work on the checkout (this test
suite's own edits included) must not re-key runs between two calls of one test. Tests of the
version machinery itself use ``real_code_version``."""

from __future__ import annotations

import pytest

from losskit.experiments import version

PINNED = version.CodeVersion("0" * 40, False, "testsrc00000")
_REAL = version.code_version


@pytest.fixture(autouse=True)
def pinned_code_version(monkeypatch):
    monkeypatch.setattr(version, "code_version", lambda: PINNED)
    return PINNED


@pytest.fixture
def real_code_version(monkeypatch):
    monkeypatch.setattr(version, "code_version", _REAL)
    return _REAL
