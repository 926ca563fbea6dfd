"""Learning-rate schedules: warmup, cosine with warm restarts, reduce-on-plateau.

The first two are `optax.Schedule` functions of the step (jit-safe). `ReduceOnPlateau` is
driven from the host with a validation metric and returns a multiplicative scale; apply it
with `set_learning_rate` to an optimizer built with `optax.inject_hyperparams`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax

__all__ = [
    "LR_SCALE",
    "warmup_constant",
    "cosine_warm_restarts",
    "ReduceOnPlateau",
    "set_learning_rate",
    "lr_scale_transform",
    "with_lr_scale",
    "set_lr_scale",
    "get_lr_scale",
    "LrScale",
]


def warmup_constant(base_lr: float, warmup_steps: int,
                    start_fraction: float = 0.1) -> optax.Schedule:
    """Linear warmup from ``start_fraction * base_lr`` to `base_lr` in `warmup_steps`, then flat."""
    if warmup_steps <= 0:
        return optax.constant_schedule(base_lr)

    def schedule(step):
        frac = jnp.clip(jnp.asarray(step, jnp.float32) / warmup_steps, 0.0, 1.0)
        return base_lr * (start_fraction + (1.0 - start_fraction) * frac)

    return schedule


def cosine_warm_restarts(base_lr: float, t_0: int, t_mult: int = 1, eta_min_ratio: float = 0.0,
                         warmup_steps: int = 0, start_fraction: float = 0.1) -> optax.Schedule:
    """SGDR: cosine decay from `base_lr` to ``eta_min_ratio * base_lr`` over cycles of
    length ``t_0, t_0*t_mult, t_0*t_mult**2, ...`` steps, after an optional linear warmup."""
    if t_0 < 1 or t_mult < 1:
        raise ValueError(f"t_0={t_0} and t_mult={t_mult} must be >= 1")
    eta_min = eta_min_ratio * base_lr
    warm = warmup_constant(base_lr, warmup_steps, start_fraction)

    def schedule(step):
        t = jnp.maximum(jnp.asarray(step, jnp.float32) - warmup_steps, 0.0)
        if t_mult == 1:
            t_cur, t_i = jnp.mod(t, t_0), float(t_0)
        else:
            cycle = jnp.floor(jnp.log1p(t * (t_mult - 1) / t_0) / math.log(t_mult))
            start = t_0 * (t_mult ** cycle - 1) / (t_mult - 1)
            t_cur, t_i = t - start, t_0 * t_mult ** cycle
        cosine = eta_min + (base_lr - eta_min) * 0.5 * (1 + jnp.cos(jnp.pi * t_cur / t_i))
        return jnp.where(jnp.asarray(step) < warmup_steps, warm(step), cosine)

    return schedule


class ReduceOnPlateau:
    """Host-side plateau detector: multiply the LR scale by `factor` after `patience`
    evaluations without relative improvement larger than `threshold`."""

    def __init__(self, factor: float = 0.5, patience: int = 10, min_scale: float = 0.0,
                 mode: str = "min", threshold: float = 1e-4, cooldown: int = 0):
        if not 0 < factor < 1:
            raise ValueError(f"factor={factor} must lie in (0, 1)")
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: use 'min' or 'max'")
        self.factor, self.patience, self.min_scale = factor, patience, min_scale
        self.mode, self.threshold, self.cooldown = mode, threshold, cooldown
        self.scale = 1.0
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_epochs = 0
        self.cooldown_left = 0

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best * (1 - self.threshold)
        return value > self.best * (1 + self.threshold)

    def update(self, metric: float) -> float:
        """Record one evaluation of the monitored metric; returns the current LR scale."""
        value = float(metric)
        if self._better(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_epochs = 0
        if self.bad_epochs > self.patience:
            self.scale = max(self.scale * self.factor, self.min_scale)
            self.cooldown_left, self.bad_epochs = self.cooldown, 0
        return self.scale

    def state_dict(self) -> dict[str, Any]:
        return dict(scale=self.scale, best=self.best, bad_epochs=self.bad_epochs,
                    cooldown_left=self.cooldown_left)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def set_learning_rate(opt_state: Any, learning_rate: float) -> Any:
    """Set the LR of an `optax.inject_hyperparams` state (searched through chained states)."""
    if hasattr(opt_state, "hyperparams") and "learning_rate" in opt_state.hyperparams:
        opt_state.hyperparams["learning_rate"] = jnp.asarray(
            learning_rate, dtype=jnp.asarray(opt_state.hyperparams["learning_rate"]).dtype)
        return opt_state
    if isinstance(opt_state, tuple):
        return type(opt_state)(*(set_learning_rate(s, learning_rate) for s in opt_state)) \
            if hasattr(opt_state, "_fields") else tuple(set_learning_rate(s, learning_rate)
                                                         for s in opt_state)
    return opt_state


# ----------------------------------------------------------------- host-driven LR scale
LR_SCALE = "lr_scale"


def lr_scale_transform(initial: float = 1.0) -> optax.GradientTransformation:
    """Multiply updates by a scale held in the optimizer state (``inject_hyperparams``).

    Chain it after an optimizer (:func:`with_lr_scale`); the host sets the scale with
    :func:`set_lr_scale` between steps, and since it lives in the optimizer state it is
    checkpointed with it (a resumed run continues with the same scale).
    """
    return optax.inject_hyperparams(lambda lr_scale: optax.scale(lr_scale))(lr_scale=initial)


def with_lr_scale(tx: optax.GradientTransformation) -> optax.GradientTransformation:
    """``tx`` followed by :func:`lr_scale_transform` (the effective LR is lr x scale)."""
    return optax.chain(tx, lr_scale_transform())


def _is_scale_state(node: Any) -> bool:
    return hasattr(node, "hyperparams") and LR_SCALE in getattr(node, "hyperparams", {})


def set_lr_scale(opt_state: Any, value: float) -> Any:
    """A copy of `opt_state` whose :func:`lr_scale_transform` scale(s) are `value`.

    States without such a transformation are returned unchanged.
    """
    def put(node):
        if not _is_scale_state(node):
            return node
        old = node.hyperparams[LR_SCALE]
        new = jnp.asarray(value, jnp.asarray(old).dtype)
        if getattr(old, "committed", False):
            # Keep the leaf where the rest of the state is: a committed state with one
            # uncommitted leaf is another input signature, so the step would recompile.
            new = jax.device_put(new, old.sharding)
        hyper = {**node.hyperparams, LR_SCALE: new}
        return node._replace(hyperparams=hyper)

    return jax.tree_util.tree_map(put, opt_state, is_leaf=_is_scale_state)


def get_lr_scale(opt_state: Any) -> float | None:
    """The scale of the first :func:`lr_scale_transform` in `opt_state` (None if absent)."""
    found = [n for n in jax.tree_util.tree_leaves(opt_state, is_leaf=_is_scale_state)
             if _is_scale_state(n)]
    return float(found[0].hyperparams[LR_SCALE]) if found else None


class LrScale:
    """Host-side LR scale: linear warmup over epochs, then reduce-on-plateau.

    During the first `warmup_epochs` epochs the scale of epoch ``e`` is
    ``start + (1 - start) * e / warmup_epochs`` (10 % -> 100 % by default); from then on it is
    the plateau scale, which :class:`ReduceOnPlateau` lowers by `factor` when the monitored
    evaluation metric has not improved for `patience` evaluations (plateau evaluations are
    counted only after the warmup). ``plateau_patience=None`` disables the plateau part.
    """

    def __init__(self, warmup_epochs: int = 0, warmup_start: float = 0.1,
                 monitor: str = "dev_loss", plateau_factor: float = 0.5,
                 plateau_patience: int | None = None, min_scale: float = 0.0,
                 threshold: float = 1e-4):
        if warmup_epochs < 0 or not 0 < warmup_start <= 1:
            raise ValueError(f"warmup_epochs={warmup_epochs} must be >= 0 and "
                             f"warmup_start={warmup_start} in (0, 1]")
        self.warmup_epochs, self.warmup_start, self.monitor = warmup_epochs, warmup_start, monitor
        self.plateau = (ReduceOnPlateau(factor=plateau_factor, patience=plateau_patience,
                                        min_scale=min_scale, threshold=threshold)
                        if plateau_patience is not None else None)
        self.current = 1.0

    def value(self, epoch: int) -> float:
        """The scale to use during epoch `epoch` (0-based)."""
        if epoch < self.warmup_epochs:
            scale = self.warmup_start + (1 - self.warmup_start) * epoch / self.warmup_epochs
        else:
            scale = self.plateau.scale if self.plateau is not None else 1.0
        self.current = float(scale)
        return self.current

    def observe(self, metrics: dict, epochs_done: int) -> None:
        """Feed one evaluation (after `epochs_done` complete epochs) to the plateau rule."""
        if self.plateau is None or epochs_done <= self.warmup_epochs:
            return
        if self.monitor not in metrics:
            raise KeyError(f"the LR plateau rule monitors {self.monitor!r}, but the "
                           f"evaluation returned only {sorted(metrics)}")
        self.plateau.update(metrics[self.monitor])

    def state_dict(self) -> dict[str, Any]:
        return {"current": self.current,
                "plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.current = float(state["current"])
        if self.plateau is not None and state.get("plateau"):
            self.plateau.load_state_dict(state["plateau"])
