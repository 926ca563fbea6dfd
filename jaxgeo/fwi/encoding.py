"""Random source encoding for codingfwi: polarity ±1 and an integer delay per shot.

A code for ``batchsize`` shots is ``(polarity [b] in {-1, +1}, delay [b] in [0, 0.2·nt))``
samples. Encoding shifts a time series later by ``delay`` samples (zeros enter at the
start, samples pushed beyond ``nt`` are dropped), multiplies by the polarity and sums over
the shots. Because the wave equation is linear in the source, simulating the super shot
equals the sum of the encoded individual shots recorded on a fixed spread.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

MAX_DELAY_FRACTION = 0.2


def draw_code(key: Array, batchsize: int, nt: int,
              max_delay_fraction: float = MAX_DELAY_FRACTION) -> tuple[Array, Array]:
    """Random polarities ``[b]`` (±1.0) and integer delays ``[b]`` in ``[0, frac·nt)``."""
    k_pol, k_del = jax.random.split(key)
    polarity = jnp.where(jax.random.bernoulli(k_pol, 0.5, (batchsize,)), 1.0, -1.0)
    max_delay = max(1, int(max_delay_fraction * nt))
    delay = jax.random.randint(k_del, (batchsize,), 0, max_delay)
    return polarity, delay


def delay_traces(x: Array, delay: Array) -> Array:
    """Shift ``x [..., nt]`` later by an integer ``delay`` (traced scalar) samples, zero-filled."""
    nt = x.shape[-1]
    idx = jnp.arange(nt) - delay
    shifted = jnp.take(x, jnp.clip(idx, 0, nt - 1), axis=-1)
    return jnp.where(idx >= 0, shifted, 0.0).astype(x.dtype)


def encode_sources(amplitudes: Array, locations: Array, polarity: Array,
                   delay: Array) -> tuple[Array, Array]:
    """Super shot from ``b`` shots.

    ``amplitudes [b, n_src, nt]``, ``locations [b, n_src, 2]`` -> ``([1, b·n_src, nt],
    [1, b·n_src, 2])``: each shot's sources delayed and multiplied by its polarity, then
    all sources fired together.
    """
    enc = jax.vmap(delay_traces)(amplitudes, delay) * polarity[:, None, None]
    b, n_src, nt = amplitudes.shape
    return enc.reshape(1, b * n_src, nt), locations.reshape(1, b * n_src, locations.shape[-1])


def encode_data(data: Array, polarity: Array, delay: Array) -> Array:
    """Encoded super gather ``[1, n_rec, nt]`` from per-shot data ``[b, n_rec, nt]``."""
    enc = jax.vmap(delay_traces)(data, delay) * polarity[:, None, None]
    return jnp.sum(enc, axis=0, keepdims=True)
