"""Progress bars and loggers: jaxgeo.core.logging when present, plain tqdm/logging otherwise."""

from __future__ import annotations

import logging
import sys

try:  # core.logging lands with the core package
    from jaxgeo.core.logging import get_logger, progress
except ImportError:  # pragma: no cover - fallback while core is incomplete
    from tqdm.auto import tqdm

    def progress(iterable=None, *, total=None, desc="", **kw):
        """tqdm bar, disabled when stderr is not a terminal."""
        kw.setdefault("disable", not sys.stderr.isatty())
        return tqdm(iterable, total=total, desc=desc, **kw)

    def get_logger(name: str) -> logging.Logger:
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        return logger

__all__ = ["get_logger", "progress"]
