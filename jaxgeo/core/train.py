"""A generic, jit-compiled, optionally sharded train/eval loop over one state pytree.

The loop owns nothing but the state: ``train_step(state, batch) -> (state, metrics)`` is a
pure function (build one with `make_train_step`), batches come from an iterable or from a
function of the step number (which makes ``--resume`` reproduce the uninterrupted run
exactly), and hooks receive ``(step, state, metrics)`` on the host.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgeo.core import parallel
from jaxgeo.core.logging import get_logger, progress

Metrics = Mapping[str, Any]
log = get_logger("jaxgeo.train")


class TrainState(flax.struct.PyTreeNode):
    """Everything that changes during training, as one pytree."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: optax.OptState
    rng: jax.Array
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, *, apply_fn: Callable, params: Any, tx: optax.GradientTransformation,
               rng: jax.Array, batch_stats: Any = None) -> TrainState:
        return cls(step=jnp.zeros((), jnp.int32), params=params,
                   batch_stats={} if batch_stats is None else batch_stats,
                   opt_state=tx.init(params), rng=rng, apply_fn=apply_fn, tx=tx)

    def apply_gradients(self, grads: Any, batch_stats: Any = None) -> TrainState:
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(step=self.step + 1, params=optax.apply_updates(self.params, updates),
                            opt_state=opt_state,
                            batch_stats=self.batch_stats if batch_stats is None else batch_stats)


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the message names the step and the term."""


def check_finite(metrics: Metrics, step: int) -> None:
    """Raise NonFiniteLossError if any scalar in `metrics` is NaN or Inf."""
    bad = [k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v)))]
    if bad:
        values = ", ".join(f"{k}={np.asarray(metrics[k]).ravel()[:4]}" for k in bad)
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: {values}. Lower the learning rate, enable "
            f"gradient clipping, or check the inputs of the term(s) {bad}.")


def make_train_step(loss_fn: Callable, *, uses_batch_stats: bool = False) -> Callable:
    """Wrap a loss into a pure train step.

    `loss_fn(params, batch, rng) -> (loss, metrics)`; with `uses_batch_stats`,
    `loss_fn(params, batch_stats, batch, rng) -> (loss, (metrics, new_batch_stats))`.
    The per-step key is ``fold_in(state.rng, state.step)``, so a resumed run draws the same keys.
    """

    def train_step(state: TrainState, batch: Any) -> tuple[TrainState, dict]:
        rng = jax.random.fold_in(state.rng, state.step)
        if uses_batch_stats:
            grad_fn = jax.value_and_grad(
                lambda p: loss_fn(p, state.batch_stats, batch, rng), has_aux=True)
            (loss, (metrics, new_stats)), grads = grad_fn(state.params)
        else:
            (loss, metrics), grads = jax.value_and_grad(
                lambda p: loss_fn(p, batch, rng), has_aux=True)(state.params)
            new_stats = None
        metrics = {"loss": loss, **dict(metrics)}
        return state.apply_gradients(grads, batch_stats=new_stats), metrics

    return train_step


class EarlyStopping:
    """Stop when `metric` has not improved by `min_delta` for `patience` evaluations."""

    def __init__(self, metric: str = "loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min"):
        self.metric, self.patience, self.min_delta, self.mode = metric, patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.bad = 0

    def update(self, metrics: Metrics) -> bool:
        """Record an evaluation; returns True when training should stop."""
        if self.metric not in metrics:
            raise KeyError(f"early stopping monitors {self.metric!r}, but the evaluation "
                           f"returned only {sorted(metrics)}")
        value = float(metrics[self.metric])
        improved = (value < self.best - self.min_delta if self.mode == "min"
                    else value > self.best + self.min_delta)
        if improved:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        return self.bad >= self.patience


def fit(state: TrainState, train_step: Callable, batches: Iterable | Callable[[int], Any], *,
        num_steps: int, eval_fn: Callable[[TrainState], Metrics] | None = None,
        eval_every: int = 0, hooks: Sequence[Callable[[int, TrainState, Metrics], None]] = (),
        checkpointer: Any = None, mesh: Mesh | None = None,
        early_stopping: EarlyStopping | None = None, desc: str = "train",
        jit: bool = True) -> tuple[TrainState, dict[str, list]]:
    """Run `train_step` from ``state.step`` up to `num_steps` steps.

    With `mesh`, batches are split over its devices along their leading axis and the state is
    replicated; gradients are then reduced by XLA and the result equals the one-device run.
    Returns the final state and a history dict of per-step metrics (host floats) plus
    ``eval/...`` entries. Raises NonFiniteLossError on the first NaN/Inf metric.

    With ``jit=True`` the state is donated to the compiled step (its buffers are reused for
    the new state), so the ``state`` passed in, and arrays it shares such as the params given
    to ``TrainState.create``, are deleted after the first step: keep a copy
    (``jax.tree_util.tree_map(jnp.copy, state)``) if you need them afterwards.
    """
    step_fn = jax.jit(train_step, donate_argnums=0) if jit else train_step
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    start = int(state.step)
    history: dict[str, list] = {}
    get_batch = batches if callable(batches) else None
    iterator = None if get_batch else iter(batches)
    bar = progress(total=num_steps, initial=start, desc=desc)
    try:
        for step in range(start, num_steps):
            batch = get_batch(step) if get_batch else next(iterator)
            if mesh is not None:
                batch = parallel.shard_batch(batch, mesh)
            state, metrics = step_fn(state, batch)
            host = {k: float(np.asarray(v)) for k, v in jax.device_get(metrics).items()}
            check_finite(host, step)
            for k, v in host.items():
                history.setdefault(k, []).append(v)
            for hook in hooks:
                hook(step, state, host)
            bar.update(1)
            bar.set_postfix(loss=f"{host.get('loss', float('nan')):.4g}", refresh=False)
            if checkpointer is not None:
                checkpointer.save(step, state)
            if eval_fn is not None and eval_every and (step + 1) % eval_every == 0:
                scores = {k: float(v) for k, v in eval_fn(state).items()}
                for k, v in scores.items():
                    history.setdefault(f"eval/{k}", []).append(v)
                log.info("step %d eval %s", step + 1,
                         " ".join(f"{k}={v:.4g}" for k, v in scores.items()))
                if early_stopping is not None and early_stopping.update(scores):
                    log.info("early stopping at step %d (%s did not improve for %d evals)",
                             step + 1, early_stopping.metric, early_stopping.patience)
                    break
    finally:
        bar.close()
        if checkpointer is not None:
            checkpointer.wait()
    return state, history
