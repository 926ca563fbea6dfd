"""Adjoint-state differentiation of a time loop that is linear in its fields.

A propagator step ``step(consts, coeffs, carry, x) -> (carry, y)`` is linear in
``(carry, x)`` for fixed model coefficients ``coeffs`` (the CPML profiles and index arrays
in ``consts`` are not differentiated). `linear_time_loop` scans it from a zero carry and
gives JAX a custom JVP whose tangent is a `jax.custom_derivatives.linear_call`:

* forward mode (``jax.jvp``, Born modelling) runs the tangent of the plain loop;
* reverse mode (``jax.grad`` / ``jax.vjp``) runs the hand-written adjoint: the forward
  pass stores the carry every ``k`` steps (memory ``nt / k`` carries, the storage choice),
  and the backward pass, chunk by chunk from the last, recomputes the ``k`` carries of a
  chunk and runs the transposed step backwards in time, accumulating the model
  coefficients' gradient (the imaging condition ``sum_t lambda_{t+1} * d step / d coeff``)
  step by step. Each backward step is the exact transpose of the forward step (the same
  stencils, CPML and injection), so the gradient equals autodiff's to rounding.

Second order through this path (``jax.jvp`` of ``jax.grad``) is not supported by
`linear_call` (its residuals must have zero tangents); use ``adjoint=False`` on the
propagator for Hessian-vector products.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import linear_call


def _plain(step, init, consts, coeffs, xs):
    return lax.scan(lambda c, x: step(consts, coeffs, c, x), init(), xs)[1]


def _chunks(x, n_chunks: int, k: int):
    pad = n_chunks * k - x.shape[0]
    if pad:
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
    return x.reshape((n_chunks, k) + x.shape[1:])


def _tree_add(a, b):
    return jax.tree_util.tree_map(jnp.add, a, b)


def _zeros_like(tree):
    return jax.tree_util.tree_map(jnp.zeros_like, tree)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _loop(step, init, k, consts, coeffs, xs):
    return _plain(step, init, consts, coeffs, xs)


@_loop.defjvp
def _loop_jvp(step, init, k, primals, tangents):
    consts, coeffs, xs = primals
    _, d_coeffs, d_xs = tangents
    n = xs.shape[0]
    n_chunks = -(-n // k)

    def chunk(c, x_chunk):
        c_end, ys = lax.scan(lambda cc, x: step(consts, coeffs, cc, x), c, x_chunk)
        return c_end, (c, ys)

    _, (checkpoints, ys) = lax.scan(chunk, init(), _chunks(xs, n_chunks, k))
    ys = ys.reshape((n_chunks * k,) + ys.shape[2:])[:n]
    residuals = (consts, coeffs, xs, checkpoints)

    def born(res, lin):
        consts_, coeffs_, xs_, _ = res
        return jax.jvp(lambda c, x: _plain(step, init, consts_, c, x), (coeffs_, xs_), lin)[1]

    def adjoint(res, ct_ys):
        consts_, coeffs_, xs_, checkpoints_ = res

        def one_step(cf, c, x):
            return step(consts_, cf, c, x)

        def chunk_back(acc, inp):
            start, x_chunk, ct_chunk = inp
            _, carries = lax.scan(lambda c, x: (one_step(coeffs_, c, x)[0], c), start,
                                  x_chunk)

            def back(acc2, inp2):
                carry, x, ct_y = inp2
                ct_carry, ct_coeffs = acc2
                _, vjp = jax.vjp(one_step, coeffs_, carry, x)
                g_coeffs, g_carry, g_x = vjp((ct_carry, ct_y))
                return (g_carry, _tree_add(ct_coeffs, g_coeffs)), g_x

            return lax.scan(back, acc, (carries, x_chunk, ct_chunk), reverse=True)

        acc0 = (_zeros_like(init()), _zeros_like(coeffs_))
        (_, ct_coeffs), ct_xs = lax.scan(
            chunk_back, acc0, (checkpoints_, _chunks(xs_, n_chunks, k),
                               _chunks(ct_ys, n_chunks, k)), reverse=True)
        ct_xs = ct_xs.reshape((n_chunks * k,) + ct_xs.shape[2:])[:n]
        return ct_coeffs, ct_xs

    d_ys = linear_call(born, adjoint, residuals, (d_coeffs, d_xs))
    return ys, d_ys


def linear_time_loop(step: Callable, init: Callable, consts, coeffs, xs, k: int):
    """``lax.scan`` of ``step(consts, coeffs, carry, x)`` over ``xs`` from ``init()``,
    differentiated by the adjoint-state method (see the module docstring).

    Args:
      step: ``(consts, coeffs, carry, x) -> (carry, y)``, linear in ``(carry, x)``.
      init: ``() -> carry``, the zero initial carry.
      consts: pytree of arrays the step reads and that are not differentiated.
      coeffs: pytree of model coefficients (differentiated).
      xs: ``[n, ...]`` per-step inputs (differentiated), one array.
      k: steps per stored carry (checkpoint interval), >= 1.
    Returns:
      ``[n, ...]`` stacked ``y``.
    """
    return _loop(step, init, max(1, int(k)), consts, coeffs, xs)
