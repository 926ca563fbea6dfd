"""Physics refinement at inference: batched Levenberg-Marquardt on the exact simulator.

Works in normalised parameter space u (the raw gradients span ~6e-2 for P to ~3e8 for
baseline2; in u they are comparable). For one spectrum y (N,) and start u0 (9,):

    r(u) = obs(denormalise(u)) - y,  J = dr/du (N, 9)   (forward mode)
    (J^T J + lam diag(J^T J)) du = -J^T r;  accept if |r|^2 falls (lam /= 10), else lam *= 10

Entries outside `mask` stay fixed; refined entries are projected onto the training box
u in [0, 1] after each step (projected LM). Uncertainty: cov_u = s^2 (J^T J)^-1 with
s^2 = |r|^2 / (N - p), mapped to physical units by the diagonal Jacobian of denormalise.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import ParameterSpace

__all__ = ["gauss_newton", "refine_batch", "centre_start"]


def gauss_newton(obs: ObservationModel, space: ParameterSpace, y, u0, *, steps: int = 10,
                 lam0: float = 1e-3, mask=None):
    """LM refinement of one spectrum.

    Args:
      obs, space: forward model and parameter space.
      y: (N,) measured spectrum; u0: (9,) normalised start.
      steps: LM iterations (static); lam0: initial damping.
      mask: (9,) bool, the refined entries (default ``space.predicted_mask()``).
    Returns:
      dict with ``u`` (9,), ``x`` physical internal (9,), ``sigma_u`` and ``sigma_x`` (9,)
      one-sigma uncertainties, ``rms`` the residual RMS, ``cost`` |r|^2.
    """
    mask = jnp.asarray(space.predicted_mask() if mask is None else mask)
    dt = jnp.result_type(u0)
    m = mask.astype(dt)
    lo, hi = jnp.where(mask, 0.0, -jnp.inf).astype(dt), jnp.where(mask, 1.0, jnp.inf).astype(dt)

    def resid(u):
        r = obs(space.denormalise(u)) - y
        return r, r

    def normal(u):
        j, r = jax.jacfwd(resid, has_aux=True)(u)  # one forward-mode pass: J and r
        return r, j * m  # frozen entries: zero columns

    # One traced Jacobian (compiled once): iteration k evaluates the candidate u_cand (at
    # k = 0 the start), keeps it if it lowers the cost, then proposes the next candidate
    # from the accepted point. steps + 1 evaluations = `steps` LM trials.
    def body(carry, k):
        u, r, j, cost, lam, u_cand = carry
        r_c, j_c = normal(u_cand)
        cost_c = jnp.sum(r_c ** 2)
        ok = (k == 0) | (jnp.isfinite(cost_c) & (cost_c < cost))  # the start always
        u, r, j = (jnp.where(ok, a, b) for a, b in ((u_cand, u), (r_c, r), (j_c, j)))
        cost = jnp.where(ok, cost_c, cost)
        lam = jnp.where(k == 0, lam, jnp.where(ok, lam * 0.1, lam * 10.0))
        jtj = j.T @ j
        damp = jtj + lam * jnp.diag(jnp.diag(jtj)) + jnp.diag(1.0 - m)  # identity on frozen
        # projected step: the estimate stays inside the training box u in [0, 1] (outside
        # it the simulator is extrapolated and T / mf_H2O / P trade off without bound)
        u_next = jnp.clip(u - jnp.linalg.solve(damp, j.T @ r) * m, lo, hi)
        return (u, r, j, cost, lam, u_next), None

    n_pix = obs.n_points
    init = (u0, jnp.zeros(n_pix, dt), jnp.zeros((n_pix, u0.shape[-1]), dt),
            jnp.asarray(jnp.inf, dt), jnp.asarray(lam0, dt), u0)
    (u, r, j, cost, _, _), _ = jax.lax.scan(body, init, jnp.arange(steps + 1))
    n_free = jnp.sum(m)
    s2 = jnp.sum(r ** 2) / jnp.maximum(r.shape[0] - n_free, 1.0)
    jtj = j.T @ j + jnp.diag(1.0 - m)
    cov = s2 * jnp.linalg.inv(jtj) * jnp.outer(m, m)
    sigma_u = jnp.sqrt(jnp.clip(jnp.diag(cov), 0.0))
    dx_du = jax.jacfwd(space.denormalise)(u).diagonal()
    return {"u": u, "x": space.denormalise(u), "sigma_u": sigma_u,
            "sigma_x": jnp.abs(dx_du) * sigma_u, "rms": jnp.sqrt(jnp.mean(r ** 2)),
            "cost": cost}


@functools.partial(jax.jit, static_argnames=("obs", "space", "steps"))
def refine_batch(obs: ObservationModel, space: ParameterSpace, y, u0, *, steps: int = 10,
                 lam0: float = 1e-3):
    """:func:`gauss_newton` over a batch: y (B, N), u0 (B, 9); jit-compiled."""
    return jax.vmap(lambda yy, uu: gauss_newton(obs, space, yy, uu, steps=steps,
                                                lam0=lam0))(y, u0)


def centre_start(space: ParameterSpace, n: int, dtype=jnp.float32):
    """(n, 9) start at the centre of the validation ranges (normalised)."""
    lo, hi = space.unit_bounds("val")
    return jnp.asarray(np.tile(0.5 * (lo + hi), (n, 1)), dtype)
