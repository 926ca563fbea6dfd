"""PhysAE losses and ReLoBRaLo loss balancing (Bischof & Kraus 2021).

Spectra y (B, N); normalised parameters u (B, 9). Each loss returns a scalar (batch mean).

ReLoBRaLo, for m loss terms L_i(t):
    bal_i(t, t') = m * softmax_i( L_i(t) / (T * L_i(t') + eps) )
    hist_i(t)    = rho * lambda_i(t-1) + (1 - rho) * bal_i(t, 0)
    lambda_i(t)  = alpha * hist_i(t) + (1 - alpha) * bal_i(t, t-1)
rho ~ Bernoulli(rho_mean) per step (the "look-back"); the weights carry no gradient. At the
first step lambda = 1 and L(0) is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

__all__ = ["param_mse", "spectral_angle", "peak_weighted_mse", "recon_mse", "LOSS_TERMS",
           "relobralo_init", "relobralo_update", "combine"]

LOSS_TERMS = ("param", "angle", "peak", "recon")


def param_mse(u_pred, u_true, mask=None):
    """Mean squared error in normalised parameter space (over the `mask`ed entries)."""
    se = (u_pred - u_true) ** 2
    if mask is None:
        return jnp.mean(se)
    mask = jnp.asarray(mask, se.dtype)
    return jnp.sum(se * mask) / (se.shape[0] * jnp.sum(mask))


def spectral_angle(y_pred, y_true, eps: float = 1e-12):
    """Mean of 1 - cos(angle between y_pred and y_true) over the batch."""
    num = jnp.sum(y_pred * y_true, -1)
    den = jnp.sqrt(jnp.sum(y_pred ** 2, -1) * jnp.sum(y_true ** 2, -1)) + eps
    return jnp.mean(1.0 - num / den)


def peak_weighted_mse(y_pred, y_true, peak_weight: float = 4.0):
    """MSE weighted by w = 1 + peak_weight * a / max(a), a = max(y_true) - y_true (per
    spectrum): the absorption peaks count up to 1 + peak_weight times the baseline."""
    a = jnp.max(y_true, -1, keepdims=True) - y_true
    w = 1.0 + peak_weight * a / (jnp.max(a, -1, keepdims=True) + 1e-12)
    return jnp.mean(jnp.sum(w * (y_pred - y_true) ** 2, -1) / jnp.sum(w, -1))


def recon_mse(y_pred, y_true):
    """Plain spectral MSE."""
    return jnp.mean((y_pred - y_true) ** 2)


def relobralo_init(m: int) -> dict:
    """State before the first step: weights 1, no recorded losses."""
    return {"lam": jnp.ones(m), "l0": jnp.ones(m), "prev": jnp.ones(m),
            "started": jnp.zeros((), bool)}


def relobralo_update(state: Mapping, losses, key, *, alpha: float = 0.999,
                     temperature: float = 0.1, rho_mean: float = 0.99,
                     eps: float = 1e-12) -> tuple[jax.Array, dict]:
    """New weights (m,) and state from this step's losses (m,) (stop-gradient applied).

    Args:
      state: from :func:`relobralo_init` or the previous call.
      losses: (m,) current loss values.
      key: PRNG key of the Bernoulli look-back rho.
      alpha, temperature, rho_mean: the rule's constants (paper: 0.999, 0.1, 0.99).
    """
    losses = jax.lax.stop_gradient(jnp.asarray(losses, jnp.float32))
    m = losses.shape[0]

    def bal(ref):
        return m * jax.nn.softmax(losses / (temperature * ref + eps))

    rho = jax.random.bernoulli(key, rho_mean).astype(jnp.float32)
    hist = rho * state["lam"] + (1 - rho) * bal(state["l0"])
    lam = alpha * hist + (1 - alpha) * bal(state["prev"])
    started = state["started"]
    lam = jnp.where(started, lam, jnp.ones(m))
    new = {"lam": lam, "l0": jnp.where(started, state["l0"], losses), "prev": losses,
           "started": jnp.ones((), bool)}
    return jax.lax.stop_gradient(lam), new


def combine(terms: Mapping[str, jax.Array], weights) -> jax.Array:
    """sum_i weights[i] * terms[name_i] in :data:`LOSS_TERMS` order (terms present only)."""
    names = [n for n in LOSS_TERMS if n in terms]
    return sum(weights[i] * terms[n] for i, n in enumerate(names))
