"""Finite-difference stencils on a regular grid, written with array slices (no rolls).

All operators act on the last two axes ``(z, x)`` of an array and return the
derivative on the interior obtained by removing ``halo`` cells on each side of the
differentiated axis, so callers pad first (zeros, or an image for a free surface).
"""

from __future__ import annotations

import jax.numpy as jnp

# Centred second-derivative weights [w0, w1, ..., wh] (Fornberg), by spatial order.
SECOND_DERIVATIVE = {
    2: (-2.0, 1.0),
    4: (-5.0 / 2.0, 4.0 / 3.0, -1.0 / 12.0),
    6: (-49.0 / 18.0, 3.0 / 2.0, -3.0 / 20.0, 1.0 / 90.0),
    8: (-205.0 / 72.0, 8.0 / 5.0, -1.0 / 5.0, 8.0 / 315.0, -1.0 / 560.0),
}
# Centred first-derivative weights [w1, ..., wh] for (f[i+k] - f[i-k]).
FIRST_DERIVATIVE = {
    2: (1.0 / 2.0,),
    4: (2.0 / 3.0, -1.0 / 12.0),
    6: (3.0 / 4.0, -3.0 / 20.0, 1.0 / 60.0),
    8: (4.0 / 5.0, -1.0 / 5.0, 4.0 / 105.0, -1.0 / 280.0),
}
# Staggered first-derivative weights [c1, ..., ch] for (f[i+k-1/2] - f[i-k+1/2]).
STAGGERED = {
    2: (1.0,),
    4: (9.0 / 8.0, -1.0 / 24.0),
    6: (75.0 / 64.0, -25.0 / 384.0, 3.0 / 640.0),
    8: (1225.0 / 1024.0, -245.0 / 3072.0, 49.0 / 5120.0, -5.0 / 7168.0),
}
ORDERS = (2, 4, 6, 8)


def _shift(a: jnp.ndarray, axis: int, start: int, length: int) -> jnp.ndarray:
    """Slice ``a[start:start+length]`` along ``axis`` (negative axes count from the end)."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, start + length)
    return a[tuple(index)]


def second_derivative(a: jnp.ndarray, axis: int, order: int, inv_h2: float) -> jnp.ndarray:
    """d^2a/dx^2 on the interior of ``a`` (``order//2`` cells removed on both sides of axis)."""
    w = SECOND_DERIVATIVE[order]
    h = order // 2
    n = a.shape[axis] - 2 * h
    out = w[0] * _shift(a, axis, h, n)
    for k in range(1, h + 1):
        out = out + w[k] * (_shift(a, axis, h + k, n) + _shift(a, axis, h - k, n))
    return out * inv_h2


def first_derivative(a: jnp.ndarray, axis: int, order: int, inv_h: float) -> jnp.ndarray:
    """Centred da/dx on the interior of ``a`` (``order//2`` cells removed on both sides)."""
    w = FIRST_DERIVATIVE[order]
    h = order // 2
    n = a.shape[axis] - 2 * h
    out = 0.0
    for k in range(1, h + 1):
        out = out + w[k - 1] * (_shift(a, axis, h + k, n) - _shift(a, axis, h - k, n))
    return out * inv_h


def staggered_derivative(a: jnp.ndarray, axis: int, order: int, inv_h: float,
                         forward: bool) -> jnp.ndarray:
    """Staggered da/dx.

    ``a`` is padded by ``order//2`` cells on both sides of ``axis``; the result has the
    unpadded length. ``forward=True`` gives the derivative half a cell *after* each sample
    (uses a[i+1..] - a[i..]); ``forward=False`` half a cell *before* it.
    """
    c = STAGGERED[order]
    h = order // 2
    n = a.shape[axis] - 2 * h
    base = h + 1 if forward else h  # index of the sample just after the evaluation point
    out = 0.0
    for k in range(1, h + 1):
        out = out + c[k - 1] * (_shift(a, axis, base + k - 1, n) - _shift(a, axis, base - k, n))
    return out * inv_h


def nyquist_eigenvalue(order: int, staggered: bool = False) -> float:
    """Largest eigenvalue of -h^2 d^2/dx^2 for the stencil (reached at the Nyquist wavenumber)."""
    if staggered:
        return (2.0 * sum(abs(c) for c in STAGGERED[order])) ** 2
    w = SECOND_DERIVATIVE[order]
    return -(w[0] + 2.0 * sum(wk * (-1) ** k for k, wk in enumerate(w[1:], start=1)))
