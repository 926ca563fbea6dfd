"""FWI optimizers on dict-of-arrays models (``{"vp": [nz, nx], ...}``), built on optax.

* ``adam``: ``optax.adam`` with a learning rate per parameter (m/s per step for velocities).
* ``sd`` / ``cg``: Seistorch's step rule. Per parameter, the gradient is clamped to its
  2% and 98% quantiles; ``cg`` then forms the conjugate direction
  ``d_k = -g_k + β_k d_{k-1}`` (Polak–Ribière ``β = max(0, gₖ·(gₖ-gₖ₋₁)/gₖ₋₁·gₖ₋₁)``, or
  Fletcher–Reeves ``β = gₖ·gₖ/gₖ₋₁·gₖ₋₁``), ``sd`` uses ``d_k = -g_k``; the step is
  ``lr · d_k / max|d_k|`` so the largest model change equals ``lr``.
* ``lbfgs``: ``optax.lbfgs`` (zoom line search, strong Wolfe) on all parameters jointly, in
  scaled variables ``z_p = m_p / lr_p`` so that ``lr`` sets each parameter's natural scale.

Bounds are enforced by projection (``project``) after every update. Learning rates may be
optax schedules (``step -> lr``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

Array = jax.Array
Schedule = float | Callable[[Array], Array]

OPTIMIZERS = ("adam", "sd", "cg", "lbfgs")


def quantile_clamp(g: Array, lo: float = 0.02, hi: float = 0.98) -> Array:
    """Clamp ``g`` to its ``lo`` and ``hi`` quantiles (linear interpolation, as numpy)."""
    qlo, qhi = jnp.quantile(g, jnp.array([lo, hi], dtype=g.dtype))
    return jnp.clip(g, qlo, qhi)


def max_change_step(direction: Array, lr: Array) -> Array:
    """``lr · d / max|d|`` (zero where ``d`` is all zero)."""
    peak = jnp.max(jnp.abs(direction))
    return jnp.where(peak > 0, lr * direction / jnp.where(peak > 0, peak, 1.0), 0.0)


class SeistorchState(NamedTuple):
    count: Array
    prev_grad: Array
    prev_dir: Array


def seistorch_descent(learning_rate: Schedule, method: str = "sd", beta: str = "pr",
                      quantiles: tuple[float, float] = (0.02, 0.98)
                      ) -> optax.GradientTransformation:
    """Steepest descent (``method="sd"``) or nonlinear CG (``"cg"``, ``beta`` "pr"|"fr")
    on one array, with the quantile clamp and max-change step rule (see module doc)."""
    if method not in ("sd", "cg"):
        raise ValueError(f"method must be 'sd' or 'cg', got {method!r}")
    if beta not in ("pr", "fr"):
        raise ValueError(f"cg beta must be 'pr' (Polak-Ribiere) or 'fr' (Fletcher-Reeves), "
                         f"got {beta!r}")
    lr_fn = learning_rate if callable(learning_rate) else (lambda _: learning_rate)

    def init(params):
        # two buffers: the state is donated to a jitted step, one buffer cannot be twice
        return SeistorchState(jnp.zeros((), jnp.int32), jnp.zeros_like(params),
                              jnp.zeros_like(params))

    def update(grads, state, params=None):
        del params
        g = quantile_clamp(grads, *quantiles)
        if method == "sd":
            d = -g
        else:
            gg_prev = jnp.vdot(state.prev_grad, state.prev_grad)
            if beta == "pr":
                b = jnp.vdot(g, g - state.prev_grad) / jnp.where(gg_prev > 0, gg_prev, 1.0)
                b = jnp.maximum(b, 0.0)
            else:
                b = jnp.vdot(g, g) / jnp.where(gg_prev > 0, gg_prev, 1.0)
            b = jnp.where((state.count > 0) & (gg_prev > 0), b, 0.0)
            d = -g + b * state.prev_dir
        step = max_change_step(d, lr_fn(state.count))
        return step, SeistorchState(state.count + 1, g, d)

    return optax.GradientTransformation(init, update)


def _per_parameter(transforms: Mapping[str, optax.GradientTransformation]
                   ) -> optax.GradientTransformation:
    """Apply ``transforms[name]`` to ``params[name]`` (params is a flat dict of arrays)."""
    transforms = dict(transforms)

    def check(tree):
        missing = sorted(set(tree) - set(transforms))
        if missing:
            raise ValueError(f"no learning rate for parameter(s) {missing}; "
                             f"learning rates are given for {sorted(transforms)}")

    def init(params):
        check(params)
        return {k: transforms[k].init(v) for k, v in params.items()}

    def update(grads, state, params=None):
        check(grads)
        updates, new_state = {}, {}
        for k, g in grads.items():
            p = None if params is None else params[k]
            updates[k], new_state[k] = transforms[k].update(g, state[k], p)
        return updates, new_state

    return optax.GradientTransformation(init, update)


def make_optimizer(name: str, learning_rates: Mapping[str, Schedule], *, cg_beta: str = "pr",
                   lbfgs_memory: int = 10, max_linesearch_steps: int = 20,
                   eps: float = 1e-8) -> optax.GradientTransformation:
    """Optimizer ``name`` over a dict model with one learning rate (or schedule) per key.

    For ``lbfgs`` the returned transformation expects gradients and parameters in scaled
    variables (see ``to_scaled``/``from_scaled``) and the extra arguments ``value``,
    ``grad`` and ``value_fn`` of ``optax.lbfgs``. ``eps`` is Adam's epsilon (Seistorch
    uses 1e-22 on unscaled gradients).
    """
    if name == "adam":
        return _per_parameter({k: optax.adam(lr, eps=eps) for k, lr in learning_rates.items()})
    if name in ("sd", "cg"):
        return _per_parameter({k: seistorch_descent(lr, name, cg_beta)
                               for k, lr in learning_rates.items()})
    if name == "lbfgs":
        return optax.lbfgs(
            memory_size=lbfgs_memory,
            linesearch=optax.scale_by_zoom_linesearch(max_linesearch_steps=max_linesearch_steps))
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def to_scaled(model: Mapping[str, Array], scales: Mapping[str, float]) -> dict[str, Array]:
    """``z_p = m_p / scale_p`` (lbfgs works in these variables)."""
    return {k: v / scales[k] for k, v in model.items()}


def from_scaled(z: Mapping[str, Array], scales: Mapping[str, float]) -> dict[str, Array]:
    """``m_p = z_p · scale_p``."""
    return {k: v * scales[k] for k, v in z.items()}


def project(model: Mapping[str, Array], bounds: Mapping[str, tuple[float | None, float | None]]
            ) -> dict[str, Array]:
    """Clip each parameter into its ``(min, max)`` bounds (None = unbounded)."""
    out = dict(model)
    for k, (lo, hi) in bounds.items():
        if k in out:
            out[k] = jnp.clip(out[k], lo, hi)
    return out


def exponential_decay(lr: float, step_per_epoch: int, epoch_decay: float = 1.0,
                      band_scale: float = 1.0) -> Callable[[Array], Array]:
    """``lr · band_scale · epoch_decay^(step // step_per_epoch)`` (decay per epoch)."""
    def schedule(step):
        epoch = step // step_per_epoch
        return lr * band_scale * jnp.power(epoch_decay, epoch)
    return schedule


def apply_updates(params: Any, updates: Any) -> Any:
    return optax.apply_updates(params, updates)
