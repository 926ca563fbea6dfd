"""Figures for phase picking: training history and example windows with predictions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgeo.core.plotting import save_figure  # noqa: E402

__all__ = [
    "plot_history",
    "plot_examples",
    "plot_magnitude",
]


def plot_history(history: list[dict], path: str | Path) -> Path:
    """Train/dev loss per epoch (``history`` as saved in ``history.json``)."""
    if not history:
        raise ValueError("history is empty: nothing to plot (train at least one epoch)")
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax.plot(epochs, [h["dev_loss"] for h in history], "s--", label="dev")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss  −mean Σ y log(ŷ+1e-5)")
    ax.legend()
    return save_figure(fig, path)


def plot_examples(x: np.ndarray, y: np.ndarray, prob: np.ndarray, path: str | Path,
                  sampling_rate: float = 100.0) -> Path:
    """Waveforms ``x [N, T, 3]`` over labels ``y`` and predictions ``prob`` ``[N, T, 3]``."""
    n = len(x)
    t = np.arange(x.shape[1]) / sampling_rate
    fig, axes = plt.subplots(2 * n, 1, figsize=(8, 2.2 * n), sharex=True, squeeze=False)
    for i in range(n):
        ax_w, ax_p = axes[2 * i, 0], axes[2 * i + 1, 0]
        for c, name in enumerate("ZNE"):
            ax_w.plot(t, x[i, :, c] / (np.abs(x[i]).max() + 1e-12) + 2 * c, lw=0.5, label=name)
        ax_w.set_yticks([])
        for c, (name, colour) in enumerate(zip("PS", ("tab:blue", "tab:red"), strict=True)):
            ax_p.plot(t, y[i, :, c + 1], color=colour, lw=1, ls="--", label=f"{name} label")
            ax_p.plot(t, prob[i, :, c + 1], color=colour, lw=1, label=f"{name} predicted")
        ax_p.set_ylim(-0.05, 1.05)
    axes[1, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("time in window (s)")
    return save_figure(fig, path)


def plot_magnitude(estimate: np.ndarray, true: np.ndarray, distance_km: np.ndarray,
                   path: str | Path) -> Path:
    """Per-trace predicted vs true magnitude, residual histogram, residual vs distance (km)
    and vs true magnitude; all arrays ``[N]``."""
    res = estimate - true
    fig, ax = plt.subplots(2, 2, figsize=(8, 6.5))
    lo, hi = float(np.nanmin(true)), float(np.nanmax(true))
    ax[0, 0].scatter(true, estimate, s=6)
    ax[0, 0].plot([lo, hi], [lo, hi], "k--", lw=1)
    ax[0, 0].set(xlabel="true magnitude", ylabel="predicted magnitude")
    ax[0, 1].hist(res, bins=30)
    ax[0, 1].set(xlabel="residual (predicted - true)", ylabel="traces")
    ax[1, 0].scatter(distance_km, res, s=6)
    ax[1, 0].axhline(0, color="k", lw=1)
    ax[1, 0].set(xlabel="epicentral distance (km)", ylabel="residual")
    ax[1, 1].scatter(true, res, s=6)
    ax[1, 1].axhline(0, color="k", lw=1)
    ax[1, 1].set(xlabel="true magnitude", ylabel="residual")
    fig.tight_layout()
    return save_figure(fig, path)
