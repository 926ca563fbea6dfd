"""Gradient processing applied before the optimizer step (Seistorch's --grad-cut/-smooth/-clip).

All functions are pure, act on one model gradient ``[nz, nx]`` (or 3-D ``[nz, ny, nx]``)
and are jit-friendly.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def cut(grad: Array, mask: Array) -> Array:
    """``--grad-cut``: multiply by the seabed mask (0 in water, 1 below), elementwise."""
    if grad.shape != mask.shape:
        raise ValueError(f"seabed mask shape {mask.shape} differs from model shape {grad.shape}")
    return grad * mask


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """Normalised 1D Gaussian ``exp(-k²/(2σ²))`` for ``k = -radius..radius`` (sums to 1)."""
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / sigma) ** 2)
    return w / w.sum()


def _smooth_axis(x: Array, kernel: np.ndarray, axis: int) -> Array:
    radius = (kernel.size - 1) // 2
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    # 'symmetric' repeats the edge sample (d c b a | a b c d): scipy.ndimage's 'reflect'.
    xp = jnp.pad(x, pad, mode="symmetric")
    n = x.shape[axis]
    out = 0.0
    for j, w in enumerate(kernel):
        out = out + float(w) * jax.lax.slice_in_dim(xp, j, j + n, axis=axis)
    return out


def _per_axis(value, ndim: int) -> tuple:
    """One value per axis: a scalar repeated; for 3-D a ``(z, x)`` pair -> ``(z, x, x)``."""
    if np.isscalar(value):
        return (value,) * ndim
    value = tuple(value)
    if ndim == 3 and len(value) == 2:
        return (value[0], value[1], value[1])
    if len(value) != ndim:
        raise ValueError(f"smoothing parameter {value!r} needs one value per axis ({ndim})")
    return value


def smooth(grad: Array, sigma: float | tuple[float, ...], radius: int | tuple[int, ...]) -> Array:
    """``--grad-smooth``: separable Gaussian smoothing.

    ``sigma`` (cells) and ``radius`` (cells; the kernel spans ``-radius..radius``) are given
    per axis ``(z, x)`` (3-D: ``(z, y, x)``; a ``(z, x)`` pair uses its x value for y) or as
    one value. The kernel is normalised to sum 1; edges use
    symmetric reflection. Equals ``scipy.ndimage.gaussian_filter(g, sigma, mode="reflect",
    radius=radius)``. A sigma of 0 leaves that axis unchanged.
    """
    sig, rad = _per_axis(sigma, grad.ndim), _per_axis(radius, grad.ndim)
    out = grad
    for axis in range(grad.ndim):
        if sig[axis] > 0 and rad[axis] > 0:
            out = _smooth_axis(out, gaussian_kernel(sig[axis], int(rad[axis])), axis)
    return out


def clip(grad: Array, clipvalue: float) -> Array:
    """``--grad-clip``: clip the largest ``clipvalue`` fraction of ``|g|``.

    ``t = quantile(|g|, 1 - clipvalue)`` (linear interpolation, as ``numpy.quantile``);
    returns ``clip(g, -t, t)``. ``clipvalue = 0.02`` clips the top 2% of magnitudes.
    """
    if not 0.0 <= clipvalue < 1.0:
        raise ValueError(f"clipvalue must be in [0, 1), got {clipvalue}")
    t = jnp.quantile(jnp.abs(grad), 1.0 - clipvalue)
    return jnp.clip(grad, -t, t)


def process(grad: Array, *, mask: Array | None = None, smooth_sigma=None, smooth_radius=None,
            clipvalue: float | None = None) -> Array:
    """Apply, in order, cut (if ``mask``), smooth (if sigma/radius), clip (if ``clipvalue``).

    With both a mask and smoothing the mask is applied again after smoothing: smoothing a
    cut gradient spreads it back into the water, whose velocity must stay fixed.
    """
    if mask is not None:
        grad = cut(grad, mask)
    if smooth_sigma is not None and smooth_radius is not None:
        grad = smooth(grad, smooth_sigma, smooth_radius)
        if mask is not None:
            grad = cut(grad, mask)
    if clipvalue is not None:
        grad = clip(grad, clipvalue)
    return grad


def illumination_weight(energy: Array, sigma: float | tuple[float, float] = 3.0,
                        floor: float = 1e-3) -> Array:
    """Diagonal pseudo-Hessian preconditioner from the source illumination.

    ``H = smooth(energy) / max(smooth(energy))`` (Gaussian, ``sigma`` cells, radius
    ``ceil(3 sigma)``), then ``w = 1 / (H + floor)``, scaled so that ``max(w) = 1``: the
    gradient is multiplied by ``w``, which lifts the weakly illuminated deep part by up to
    ``(1 + floor) / floor`` relative to the best illuminated cells.

    Args:
      energy: ``[nz, nx]`` (or ``[nz, ny, nx]``) source illumination, ``sum_shots sum_t u^2`` (see
        :func:`jaxgeo.fwi.simulate.source_illumination`).
      sigma: smoothing (cells), one value or ``(z, x)`` (3-D: ``(z, y, x)``).
      floor: the water level, relative to the peak of ``H`` (> 0).
    """
    if not floor > 0:
        raise ValueError(f"illumination floor must be > 0, got {floor}")
    sig = _per_axis(sigma, np.ndim(energy))
    rad = tuple(int(np.ceil(3 * s)) for s in sig)
    h = smooth(jnp.asarray(energy), sig, rad)
    h = h / jnp.max(h)
    w = 1.0 / (h + floor)
    return w / jnp.max(w)
