"""Console log lines, tensorboardX event files, and progress bars.

`progress` wraps tqdm and stays silent when stderr is not a terminal (CI, batch jobs),
so log files do not fill with carriage returns; set ``JAXGEO_PROGRESS=1`` to force it on.
"""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "get_logger",
    "progress_enabled",
    "progress",
    "figure_to_array",
    "MetricWriter",
]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def get_logger(name: str = "jaxgeo") -> logging.Logger:
    """A logger that prints plain lines to stderr (configured once per name)."""
    logger = logging.getLogger(name)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def progress_enabled() -> bool:
    """Progress bars are shown on a terminal, or when JAXGEO_PROGRESS=1."""
    forced = os.environ.get("JAXGEO_PROGRESS")
    if forced is not None:
        return forced not in ("0", "", "false")
    return sys.stderr.isatty()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "",
             **kwargs: Any) -> tqdm:
    """A tqdm progress bar that is disabled when not attached to a terminal."""
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("leave", False)
    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(), **kwargs)


def figure_to_array(fig: Any, dpi: int = 80) -> np.ndarray:
    """Render a matplotlib figure to an RGB uint8 array [height, width, 3]."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    import matplotlib.image as mpimg  # local: matplotlib loads only when a figure is logged

    rgba = mpimg.imread(buf, format="png")
    return (np.clip(rgba[..., :3], 0, 1) * 255).astype(np.uint8)


class MetricWriter:
    """tensorboardX writer for scalars, images, matplotlib figures and histograms."""

    def __init__(self, logdir: str | os.PathLike):
        from tensorboardX import SummaryWriter  # local: protobuf loads only for runs that log

        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(str(self.logdir))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._writer.add_scalar(tag, float(value), int(step))

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        for tag, value in values.items():
            self.scalar(f"{prefix}{tag}", value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """`image`: [H, W] (grey, scaled to its min..max) or [H, W, 3] (uint8 or 0..1 floats)."""
        img = np.asarray(image)
        if img.ndim == 2:
            lo, hi = float(img.min()), float(img.max())
            img = (img - lo) / (hi - lo if hi > lo else 1.0)
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
        self._writer.add_image(tag, img, int(step), dataformats="HWC")

    def figure(self, tag: str, fig: Any, step: int, close: bool = True) -> None:
        self.image(tag, figure_to_array(fig), step)
        if close:
            import matplotlib.pyplot as plt  # local: as above

            plt.close(fig)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        """A text entry (e.g. a run's hyperparameters)."""
        self._writer.add_text(tag, text, int(step))

    def histogram(self, tag: str, values: Any, step: int) -> None:
        self._writer.add_histogram(tag, np.asarray(values).ravel(), int(step))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> MetricWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
