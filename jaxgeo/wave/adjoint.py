"""Adjoint-state differentiation of a time loop that is linear in its fields.

A propagator step ``step(consts, coeffs, carry, x) -> (carry, y)`` is linear in
``(carry, x)`` for fixed model coefficients ``coeffs`` (the CPML profiles and index arrays
in ``consts`` are not differentiated). `transposed_time_loop` scans it from a zero carry
and gives JAX a custom JVP whose tangent is a `jax.custom_derivatives.linear_call`:

* forward mode (``jax.jvp``, Born modelling) runs the tangent of the plain loop;
* reverse mode (``jax.grad`` / ``jax.vjp``) runs the adjoint: the forward pass stores the
  carry every ``k`` steps (memory ``nt / k`` carries; ``k >= nt`` stores every step's
  residual instead and recomputes nothing), and the backward pass, chunk by chunk from
  the last, recomputes a chunk keeping each step's residual and runs the transposed steps
  backwards in time, accumulating the model coefficients' gradient (the imaging condition
  ``sum_t lambda_{t+1} * d step / d coeff``) step by step.

The transposed step is the caller's: the constant-density acoustic propagator hands in
its hand-written one (residual: the stretched Laplacian). `linear_time_loop` serves any
other linear step by taking ``jax.vjp`` of the step at the stored carry (residual: the
carry and input), which is exact but costs a forward step more per backward step.
Either way each backward step is the exact transpose of the forward step (the same
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
from jax.custom_derivatives import SymbolicZero, linear_call


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


def _live(primal_tree, tangent_tree):
    """Flatten ``(primals, tangents)`` of the differentiated arguments and split off the
    leaves whose tangent is a symbolic zero (a model coefficient or input that does not
    depend on what is differentiated, e.g. the buoyancies in a vs-only gradient, or an
    explosion's source term). `linear_call` must get only tangents that are linear
    inputs: a zero constant among its linear operands fails its transpose rule.

    Returns (primal leaves, live tangent leaves, live mask, treedef)."""
    primals, treedef = jax.tree_util.tree_flatten(primal_tree)
    tangents = jax.tree_util.tree_leaves(tangent_tree,
                                         is_leaf=lambda t: isinstance(t, SymbolicZero))
    live = [not isinstance(t, SymbolicZero) for t in tangents]
    return primals, [t for t, on in zip(tangents, live, strict=True) if on], live, treedef


def _with_zeros(live_leaves, primals, live, treedef):
    """The full tangent pytree from the live leaves, zeros for the others."""
    it = iter(live_leaves)
    return jax.tree_util.tree_unflatten(
        treedef, [next(it) if on else jnp.zeros_like(p) for p, on in zip(primals, live,
                                                                          strict=True)])


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4))
def _transposed_loop(step, transpose, init, ct_init, k, consts, coeffs, xs):
    return _plain(lambda *a: step(*a)[:2], init, consts, coeffs, xs)


def _transposed_loop_jvp(step, transpose, init, ct_init, k, primals, tangents):
    consts, coeffs, xs = primals
    _, d_coeffs, d_xs = tangents
    n = xs.shape[0]
    flat_primals, live_tangents, live, treedef = _live((coeffs, xs), (d_coeffs, d_xs))
    plain_step = lambda *a: step(*a)[:2]  # noqa: E731
    store_all = k >= n
    n_chunks = 1 if store_all else -(-n // k)
    k = n if store_all else k

    def chunk(c, x_chunk):
        c_end, ys = lax.scan(lambda cc, x: plain_step(consts, coeffs, cc, x), c, x_chunk)
        return c_end, (c, ys)

    if store_all:  # the forward pass keeps every step's residual: no recomputation
        def forward_step(c, x):
            c_next, y, residual = step(consts, coeffs, c, x)
            return c_next, (y, residual)

        _, (ys, stored) = lax.scan(forward_step, init(), xs)
        checkpoints = jax.tree_util.tree_map(lambda r: r[None], stored)
    else:
        _, (checkpoints, ys) = lax.scan(chunk, init(), _chunks(xs, n_chunks, k))
        ys = ys.reshape((n_chunks * k,) + ys.shape[2:])[:n]
    residuals = (consts, coeffs, xs, checkpoints)
    if not live_tangents:
        return ys, jnp.zeros_like(ys)

    def born(res, lin):
        consts_, coeffs_, xs_, _ = res
        full = _with_zeros(lin, jax.tree_util.tree_leaves((coeffs_, xs_)), live, treedef)
        return jax.jvp(lambda c, x: _plain(plain_step, init, consts_, c, x),
                       (coeffs_, xs_), full)[1]

    def adjoint(res, ct_ys):
        consts_, coeffs_, xs_, checkpoints_ = res

        def chunk_back(acc, inp):
            start, x_chunk, ct_chunk = inp

            def forward(c, x):
                c_next, _, residual = step(consts_, coeffs_, c, x)
                return c_next, residual

            if store_all:  # ``start`` holds the stored residuals themselves
                stored = start
            else:
                _, stored = lax.scan(forward, start, x_chunk)

            def back(acc2, inp2):
                residual, ct_y = inp2
                ct_carry, ct_coeffs = acc2
                g_carry, g_x, g_coeffs = transpose(consts_, coeffs_, residual, ct_carry, ct_y)
                return (g_carry, _tree_add(ct_coeffs, g_coeffs)), g_x

            return lax.scan(back, acc, (stored, ct_chunk), reverse=True)

        acc0 = (ct_init(), _zeros_like(coeffs_))
        (_, ct_coeffs), ct_xs = lax.scan(
            chunk_back, acc0, (checkpoints_, _chunks(xs_, n_chunks, k),
                               _chunks(ct_ys, n_chunks, k)), reverse=True)
        ct_xs = ct_xs.reshape((n_chunks * k,) + ct_xs.shape[2:])[:n]
        cts = jax.tree_util.tree_leaves((ct_coeffs, ct_xs))
        return [c for c, on in zip(cts, live, strict=True) if on]

    d_ys = linear_call(born, adjoint, residuals, live_tangents)
    return ys, d_ys


_transposed_loop.defjvp(_transposed_loop_jvp, symbolic_zeros=True)


def transposed_time_loop(step: Callable, transpose: Callable, init: Callable,
                         ct_init: Callable, consts, coeffs, xs, k: int):
    """``lax.scan`` of a linear step with a hand-written transpose, differentiated by the
    adjoint-state method (see the module docstring).

    Args:
      step: ``(consts, coeffs, carry, x) -> (carry, y, residual)``, linear in
        ``(carry, x)``; ``residual`` is what ``transpose`` needs to form the coefficient
        gradient of this step (it is stored for one chunk at a time).
      transpose: ``(consts, coeffs, residual, ct_carry_next, ct_y) ->
        (ct_carry, ct_x, ct_coeffs)``: the exact transpose of ``step`` in ``(carry, x)``
        and the coefficient cotangent of this step, ``(d step / d coeffs)^T ct``. The
        cotangent carry may use its own layout (any invertible linear image of the
        carry's cotangent, e.g. with parts that cannot reach the output dropped): only
        ``ct_x`` and ``ct_coeffs`` leave the loop.
      init: ``() -> carry``, the zero initial carry.
      ct_init: ``() -> ct_carry``, the zero cotangent carry in ``transpose``'s layout.
      consts: pytree of arrays the step reads and that are not differentiated.
      coeffs: pytree of model coefficients (differentiated).
      xs: ``[n, ...]`` per-step inputs (differentiated), one array.
      k: steps per stored carry (checkpoint interval), >= 1.
    Returns:
      ``[n, ...]`` stacked ``y``.
    """
    return _transposed_loop(step, transpose, init, ct_init, max(1, int(k)), consts, coeffs,
                            xs)


def linear_time_loop(step: Callable, init: Callable, consts, coeffs, xs, k: int):
    """``lax.scan`` of ``step(consts, coeffs, carry, x)`` over ``xs`` from ``init()``,
    differentiated by the adjoint-state method (see the module docstring).

    Args:
      step: ``(consts, coeffs, carry, x) -> (carry, y)``, linear in ``(carry, x)``; its
        transpose is ``jax.vjp`` at the carry and input the backward pass recomputes.
      init, consts, coeffs, xs, k: as for `transposed_time_loop`.
    Returns:
      ``[n, ...]`` stacked ``y``.
    """
    def with_residual(consts, coeffs, carry, x):
        carry_next, y = step(consts, coeffs, carry, x)
        return carry_next, y, (carry, x)

    def transpose(consts, coeffs, residual, ct_carry, ct_y):
        carry, x = residual
        _, vjp = jax.vjp(lambda cf, c, xx: step(consts, cf, c, xx), coeffs, carry, x)
        ct_coeffs, ct_carry_prev, ct_x = vjp((ct_carry, ct_y))
        return ct_carry_prev, ct_x, ct_coeffs

    return transposed_time_loop(with_residual, transpose, init,
                                lambda: _zeros_like(init()), consts, coeffs, xs, k)
