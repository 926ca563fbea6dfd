"""Model-quality figures of an inversion against the true model (host numpy).

* ``rms_error``: sqrt(mean((m - m_true)^2)), in the model's unit (m/s for velocities).
* ``relative_error``: ||m - m_true||_2 / ||m_true||_2 (dimensionless).
* ``ssim``: mean structural similarity (Wang et al. 2004) with a Gaussian window of
  ``sigma`` cells (default 1.5), K1 = 0.01, K2 = 0.03, dynamic range = the joint range of
  both models. 3-D models ``[nz, ny, nx]`` use a 3-D Gaussian window (the same
  ``sigma`` on every axis; ``scipy.ndimage.gaussian_filter`` in 3-D), not a mean over
  2-D slices. rms_error and relative_error are dimension-free.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["rms_error", "relative_error", "ssim"]


def rms_error(model: np.ndarray, true: np.ndarray) -> float:
    """RMS difference of two ``[nz, nx]`` models (their unit)."""
    d = np.asarray(model, np.float64) - np.asarray(true, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def relative_error(model: np.ndarray, true: np.ndarray) -> float:
    """``||model - true|| / ||true||`` (Frobenius norms)."""
    t = np.asarray(true, np.float64)
    return float(np.linalg.norm(np.asarray(model, np.float64) - t) / np.linalg.norm(t))


def ssim(model: np.ndarray, true: np.ndarray, sigma: float = 1.5) -> float:
    """Mean SSIM of two ``[nz, nx]`` (or ``[nz, ny, nx]``: 3-D window) models (Gaussian
    window of ``sigma`` cells)."""
    a, b = np.asarray(model, np.float64), np.asarray(true, np.float64)
    span = max(a.max(), b.max()) - min(a.min(), b.min())
    c1, c2 = (0.01 * span) ** 2, (0.03 * span) ** 2
    f = lambda x: ndimage.gaussian_filter(x, sigma)
    ma, mb = f(a), f(b)
    va, vb, cab = f(a * a) - ma ** 2, f(b * b) - mb ** 2, f(a * b) - ma * mb
    s = ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))
    return float(s.mean())
