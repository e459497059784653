"""plot_selection_trace writes a PNG of the per-epoch SLF selection."""

from __future__ import annotations

import pytest

from losskit.slf.plot import plot_selection_trace


def history(epochs: int = 3):
    return [
        {"epoch": e + 1, "slf_losses": ["ce", "mse"], "slf_probs": [0.5 + 0.1 * e, 0.5 - 0.1 * e],
         "slf_weights": [0.6, 0.4], "slf_select_freq": [0.7, 0.3], "test_acc": 0.9}
        for e in range(epochs)
    ]


def test_writes_a_png(tmp_path):
    out = tmp_path / "sub" / "slf.png"
    plot_selection_trace(history(), out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_accepts_dict_form_and_missing_panels(tmp_path):
    hist = [{"epoch": 1, "slf_probs": {"ce": 0.4, "mse": 0.6}}]
    plot_selection_trace(hist, tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size > 0


def test_rejects_history_without_slf_records(tmp_path):
    with pytest.raises(ValueError, match="history"):
        plot_selection_trace([{"epoch": 1, "test_acc": 0.5}], tmp_path / "x.png")
    with pytest.raises(ValueError, match="history"):
        plot_selection_trace([], tmp_path / "x.png")
