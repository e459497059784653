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


def test_regression_run_gets_alignment_and_test_mse_panels(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    titles = []
    real_close = plt.close

    def spy(fig=None):
        if fig is not None and hasattr(fig, "axes"):
            titles.extend(ax.get_title() for ax in fig.axes)
        real_close(fig)

    monkeypatch.setattr(plt, "close", spy)
    hist = [{"epoch": e + 1, "slf_losses": ["mse", "mae", "huber"],
             "slf_probs": [0.5, 0.3, 0.2], "slf_weights": [0.6, 0.2, 0.2],
             "slf_select_freq": [1.0, 0.0, 0.0], "slf_alignment": [1.5, 0.4, 0.3],
             "test_mse": 0.6 - 0.1 * e, "test_mae": 0.5} for e in range(3)]
    plot_selection_trace(hist, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert titles[-2:] == ["alignment c_i with the validation gradient", "test MSE"]
    titles.clear()
    plot_selection_trace(history(), tmp_path / "c.png")  # classification: test accuracy
    assert titles[-1] == "test accuracy" and len(titles) == 4
