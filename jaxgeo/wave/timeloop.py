"""The time loop: a `lax.scan` over `jax.checkpoint`-ed chunks of steps.

Reverse-mode memory is O(nt / k + k) carries for a chunk length k, instead of O(nt).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def default_checkpoint_every(nt: int) -> int:
    """Chunk length that balances stored carries (nt/k) and live steps (k): ~sqrt(nt)."""
    return max(1, int(round(math.sqrt(nt))))


def run_time_loop(step: Callable[[Any, Any], tuple[Any, Any]], carry: Any, inputs: Any,
                  nt: int, checkpoint_every: int | None) -> Any:
    """Scan ``step(carry, x_t) -> (carry, y_t)`` over the leading axis (length ``nt``).

    ``checkpoint_every=None`` picks ~sqrt(nt); ``0`` (or >= nt) means a plain scan that
    stores every step for reverse mode. Returns the stacked ``y`` (leading axis nt).
    """
    k = default_checkpoint_every(nt) if checkpoint_every is None else int(checkpoint_every)
    if k < 0:
        raise ValueError(f"checkpoint_every must be >= 0 or None, got {checkpoint_every}")
    if k == 0 or k >= nt:
        _, ys = lax.scan(step, carry, inputs)
        return ys
    n_chunks = -(-nt // k)
    pad = n_chunks * k - nt

    def chunk_inputs(x):
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
        return x.reshape((n_chunks, k) + x.shape[1:])

    @jax.checkpoint
    def chunk(c, xs):
        return lax.scan(step, c, xs)

    _, ys = lax.scan(chunk, carry, jax.tree_util.tree_map(chunk_inputs, inputs))
    ys = jax.tree_util.tree_map(lambda y: y.reshape((n_chunks * k,) + y.shape[2:])[:nt], ys)
    return ys
