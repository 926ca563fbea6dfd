"""Matplotlib helpers shared by the experiments (headless backend, atomic PNG writes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

from jaxgeo.core.files import atomic_path

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = [
    "save_figure",
    "plot_curves",
]


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write `fig` to `path` via a temporary file and rename; closes the figure."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path


def plot_curves(curves: dict[str, list[float]], path: str | os.PathLike, *,
                xlabel: str = "step", ylabel: str = "loss", logy: bool = True) -> Path:
    """Line plot of several named curves (e.g. a loss history) saved to `path`."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(values, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
