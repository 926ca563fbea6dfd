"""LOWESS-style spectrum scale (physae.py's ``lowess_value(y, kind="start", win=30)``).

physae.py can divide every input spectrum, target and re-simulated spectrum by its own
LOWESS value at pixel 0, which removes the overall level of the baseline: ``baseline0`` is
then not predicted, and the re-simulation uses a fixed baseline0 (physae.py: 1; here the
centre of its range, which is 1 for every shipped set). The cancellation is exact for a
common factor of (b0, b1, b2); b0 alone still enters through the relative slopes b1/b0 and
b2/b0 (a <= 1 % effect on the slope terms for the reference window's b0 in 0.99..1.01).
For one spectrum y (N,), with k = clip(window, 5, N) and pixels j = 0..k-1 (the k nearest
neighbours of pixel 0):

    w_j  = (1 - (j / (k - 1))^3)^3                       tricube weights
    (a, b) = argmin sum_j w_j (y_j - a - b j)^2          weighted local linear fit
    then (iterations - 1) robustness passes:
    r_j = y_j - a - b j,  s = median_low |r| + 1e-12,  u_j = clip(r_j / (6 s), -1, 1)
    (a, b) = the fit with weights w_j (1 - u_j^2)^2 + 1e-12     (bisquare)
    scale = max(a, floor)

``median_low`` is the lower of the two middle values for an even k (torch.median's
convention, which physae.py uses). The fit is solved in closed form about the weighted
mean pixel (no matrix inverse), in the dtype of y; jit-, vmap- and grad-able.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["lowess_start", "lowess_normalise"]


def _fit(y, j, w):
    """Weighted line fit of y on j (last axis); intercept at j = 0 (...)."""
    sw = jnp.sum(w, -1, keepdims=True)
    jm = jnp.sum(w * j, -1, keepdims=True) / sw
    ym = jnp.sum(w * y, -1, keepdims=True) / sw
    dj = j - jm
    slope = jnp.sum(w * dj * (y - ym), -1, keepdims=True) / jnp.sum(w * dj * dj, -1,
                                                                    keepdims=True)
    return ym - slope * jm, slope


def lowess_start(y, window: int = 30, iterations: int = 2, floor: float = 1e-6) -> jax.Array:
    """LOWESS value at pixel 0 of each spectrum (see the module docstring).

    Args:
      y: (..., N) spectra.
      window: neighbours k (clipped to [5, N]); physae.py uses 30.
      iterations: 1 = the tricube fit only; each further one adds a bisquare pass
        (physae.py: 2).
      floor: lower bound of the returned scale (physae.py: 1e-6).
    Returns:
      (...) scales, dtype of y.
    """
    y = jnp.asarray(y)
    n = y.shape[-1]
    k = max(5, min(int(window), n))
    ys = y[..., :k]
    j = jnp.arange(k, dtype=y.dtype)
    w = jnp.clip(1.0 - (j / max(k - 1, 1)) ** 3, 0.0) ** 3
    w = jnp.broadcast_to(w, ys.shape)
    a, b = _fit(ys, j, w)
    for _ in range(max(0, int(iterations) - 1)):
        r = ys - (a + b * j)
        s = jnp.sort(jnp.abs(r), axis=-1)[..., (k - 1) // 2: (k - 1) // 2 + 1] + 1e-12
        u = jnp.clip(r / (6.0 * s), -1.0, 1.0)
        a, b = _fit(ys, j, w * (1.0 - u * u) ** 2 + 1e-12)
    return jnp.maximum(a[..., 0], floor).astype(y.dtype)


def lowess_normalise(y, window: int = 30, iterations: int = 2) -> jax.Array:
    """y / lowess_start(y) (..., N): each spectrum divided by its own LOWESS scale."""
    y = jnp.asarray(y)
    return y / lowess_start(y, window, iterations)[..., None]
