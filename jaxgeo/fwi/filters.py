"""Zero-phase Butterworth filters for multiscale FWI (wavelet and data, last axis = time).

The filter is designed with ``scipy.signal.butter`` (second-order sections) on the host and
applied in JAX exactly as ``scipy.signal.sosfiltfilt`` does: odd extension of ``padlen``
samples at both ends, forward pass from the steady-state initial conditions
(``sosfilt_zi``) scaled by the first sample, backward pass likewise, padding removed.
The passes are a ``lax.scan`` over time, vectorised over all traces and differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import signal

Array = jax.Array


def design(band: float | Sequence[float] | str, dt: float, order: int = 6) -> np.ndarray | None:
    """SOS coefficients for one multiscale band.

    ``band``: a number (low-pass cut-off, Hz), ``[low, high]`` (band-pass, Hz) or ``"all"``
    (no filter: returns None). ``order`` is the Butterworth order of each pass (the
    zero-phase result has twice the attenuation).
    """
    if isinstance(band, str):
        if band != "all":
            raise ValueError(f"band {band!r} must be a cut-off in Hz, [low, high] or 'all'")
        return None
    nyquist = 0.5 / dt
    if np.isscalar(band):
        if not 0 < float(band) < nyquist:
            raise ValueError(f"low-pass cut-off {band} Hz must be in (0, {nyquist:g}) Hz (Nyquist)")
        return signal.butter(order, float(band), btype="lowpass", fs=1.0 / dt, output="sos")
    low, high = (float(b) for b in band)
    if not 0 < low < high < nyquist:
        raise ValueError(f"band [{low}, {high}] Hz must satisfy 0 < low < high < {nyquist:g} Hz")
    return signal.butter(order, [low, high], btype="bandpass", fs=1.0 / dt, output="sos")


def _padlen(sos: np.ndarray) -> int:
    zeros_b = int((sos[:, 2] == 0).sum())
    zeros_a = int((sos[:, 5] == 0).sum())
    return 3 * (2 * len(sos) + 1 - min(zeros_b, zeros_a))


def _sosfilt(sos: Array, zi: Array, x: Array) -> Array:
    """Direct-form-II-transposed cascade along the last axis; ``zi``: [..., n_sections, 2]."""
    b = sos[:, :3] / sos[:, 3:4]
    a = sos[:, 3:] / sos[:, 3:4]

    def step(state, xt):
        # state [..., n_sections, 2]; xt [...]
        new_states = []
        v = xt
        for s in range(sos.shape[0]):
            z0, z1 = state[..., s, 0], state[..., s, 1]
            y = b[s, 0] * v + z0
            n0 = b[s, 1] * v - a[s, 1] * y + z1
            n1 = b[s, 2] * v - a[s, 2] * y
            new_states.append(jnp.stack([n0, n1], axis=-1))
            v = y
        return jnp.stack(new_states, axis=-2), v

    _, y = jax.lax.scan(step, zi, jnp.moveaxis(x, -1, 0))
    return jnp.moveaxis(y, 0, -1)


def sosfiltfilt(sos: np.ndarray | None, x: Array) -> Array:
    """Zero-phase filtering of ``x [..., nt]`` with SOS coefficients (None: identity)."""
    if sos is None:
        return x
    sos = np.asarray(sos, dtype=np.float64)
    padlen = _padlen(sos)
    nt = x.shape[-1]
    if nt <= padlen:
        raise ValueError(f"trace length {nt} must exceed the filter padding {padlen}")
    zi_unit = jnp.asarray(signal.sosfilt_zi(sos), dtype=x.dtype)
    sos_j = jnp.asarray(sos, dtype=x.dtype)
    left = 2 * x[..., :1] - x[..., padlen:0:-1]
    right = 2 * x[..., -1:] - x[..., -2:-(padlen + 2):-1]
    ext = jnp.concatenate([left, x, right], axis=-1)
    y = _sosfilt(sos_j, zi_unit * ext[..., :1, None], ext)
    y = jnp.flip(y, axis=-1)
    y = _sosfilt(sos_j, zi_unit * y[..., :1, None], y)
    y = jnp.flip(y, axis=-1)
    return y[..., padlen:padlen + nt]
