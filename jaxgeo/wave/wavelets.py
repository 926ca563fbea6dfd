"""Source time functions. Amplitude arrays are ``[n_shots, n_sources, nt]``."""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import numpy as np


def ricker(freq: float, nt: int, dt: float, peak_time: float | None = None) -> jnp.ndarray:
    """Ricker wavelet ``(1 - 2 (pi f tau)^2) exp(-(pi f tau)^2)``, ``tau = i dt - peak_time``.

    Args:
      freq: dominant (peak) frequency in Hz.
      nt: number of samples; sample ``i`` is at time ``i * dt``.
      dt: sample interval in seconds.
      peak_time: time of the peak in seconds; default ``1.5 / freq`` (wavelet starts ~0).
    Returns:
      ``[nt]`` float32 array (dimensionless, peak 1).
    """
    if freq <= 0 or nt <= 0 or dt <= 0:
        raise ValueError(f"ricker needs freq > 0, nt > 0, dt > 0; got {freq=}, {nt=}, {dt=}")
    if peak_time is None:
        peak_time = 1.5 / freq
    t = np.arange(nt) * dt - peak_time
    arg = (np.pi * freq * t) ** 2
    return jnp.asarray((1.0 - 2.0 * arg) * np.exp(-arg), dtype=jnp.float32)


def load_wavelet(path: str | Path, nt: int | None = None) -> jnp.ndarray:
    """Load a wavelet saved with ``np.save`` (1-D ``[nt]`` or ``[n_shots, n_sources, nt]``).

    ``nt`` (optional) checks the number of samples, naming both numbers when they differ.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"wavelet file {path} does not exist; save one with np.save")
    w = np.load(path)
    if w.ndim not in (1, 3):
        raise ValueError(f"wavelet in {path} has shape {w.shape}; expected [nt] or "
                         "[n_shots, n_sources, nt]")
    if nt is not None and w.shape[-1] != nt:
        raise ValueError(f"wavelet in {path} has {w.shape[-1]} samples but nt={nt}; "
                         "resample or trim it first")
    return jnp.asarray(w, dtype=jnp.float32)
