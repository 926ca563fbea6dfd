"""The one training loop of jaxgeo: a task is a state pytree, a step function, batches, hooks.

Every trainer (seismic phase and magnitude models, PhysAE stages, BlueDisc's GAN, FWI bands)
is a *task* run by :func:`fit`:

* **state**: a :class:`TrainState` (``step``, PRNG key, and one or several named
  :class:`Part` s, each with its params, batch statistics, optimizer and optimizer state; a
  GAN holds ``generator`` and ``discriminator``, a frozen part is one the step does not
  update). The key of step ``s`` is ``fold_in(rng, s)`` (:meth:`TrainState.step_key`), so
  dropout differs per step and a resumed run draws the same keys.
* **step**: ``step(state, batch) -> (state, metrics)``, pure; :func:`fit` jit-compiles it
  once (the state is donated), advances ``state.step`` and, with a mesh, splits the batch
  over the devices (data parallel; XLA reduces the gradients, equal to one device).
* **batches**: a :class:`Stream` (``batches_per_epoch()``, ``iterate(start)`` from global
  batch ``start``, a ``seed``), a function of the step, or any iterable. Its position
  (epoch, step within the epoch, seed) is stored with every checkpoint, so a run killed
  after any checkpoint and resumed ends bit-identical to the uninterrupted run.
* **hooks** (host side): evaluation every N steps or at each epoch end, a tensorboardX
  writer (scalars, and images from a task's plotting function), Orbax checkpoints (last N
  plus the best on a monitored metric), console lines, a tqdm bar with ETA, early stopping,
  a warmup / reduce-on-plateau learning-rate scale (:class:`~jaxgeo.core.schedules.LrScale`,
  applied through ``optax.inject_hyperparams`` so it is part of the checkpointed state) and
  ``on_epoch_end(epoch, record) -> stop?`` (Optuna pruning uses it).

A NaN or Inf in any metric stops the run with :class:`NonFiniteLossError` naming the step and
the term. Epochs are a view of steps: ``steps_per_epoch`` (default: the stream's
``batches_per_epoch()``) steps form one epoch.

Example (a linear regression)::

    state = TrainState.create(params={"w": jnp.zeros(3)}, tx=optax.adam(0.1),
                              rng=jax.random.PRNGKey(0))
    step = make_train_step(lambda p, b, key: (jnp.mean((b["x"] @ p["w"] - b["y"]) ** 2), {}))
    state, history = fit(state, step, lambda s: batch, num_steps=500)
"""

from __future__ import annotations

import itertools
import math
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgeo.core import parallel
from jaxgeo.core.files import write_json
from jaxgeo.core.logging import get_logger, progress
from jaxgeo.core.schedules import LrScale, set_lr_scale

__all__ = [
    "MAIN_PART", "Part", "TrainState", "NonFiniteLossError", "check_finite", "make_train_step",
    "EarlyStopping", "Stream", "compile_step", "FunctionStream", "IterableStream", "as_stream",
    "History",
    "fit",
]

Metrics = Mapping[str, Any]
MAIN_PART = "model"
log = get_logger("jaxgeo.train")


# --------------------------------------------------------------------------- state
class Part(flax.struct.PyTreeNode):
    """One trainable (or frozen) network: params, batch statistics and its optimizer."""

    params: Any
    batch_stats: Any
    opt_state: optax.OptState
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    @classmethod
    def create(cls, params: Any, tx: optax.GradientTransformation,
               batch_stats: Any = None) -> Part:
        """A part with a fresh optimizer state ``tx.init(params)``."""
        return cls(params=params, batch_stats={} if batch_stats is None else batch_stats,
                   opt_state=tx.init(params), tx=tx)

    @property
    def variables(self) -> dict:
        """``{"params": ..., "batch_stats": ...}`` for ``module.apply`` (no empty stats)."""
        out = {"params": self.params}
        if self.batch_stats:
            out["batch_stats"] = self.batch_stats
        return out

    def apply_gradients(self, grads: Any, batch_stats: Any = None) -> Part:
        """One optimizer update with `grads`; new `batch_stats` replace the old ones if given."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(params=optax.apply_updates(self.params, updates),
                            opt_state=opt_state,
                            batch_stats=self.batch_stats if batch_stats is None else batch_stats)


class TrainState(flax.struct.PyTreeNode):
    """Everything that changes during training, as one pytree: step, key and named parts."""

    step: jax.Array
    rng: jax.Array
    parts: dict[str, Part]

    @classmethod
    def create(cls, *, rng: jax.Array, params: Any = None,
               tx: optax.GradientTransformation | None = None, batch_stats: Any = None,
               parts: Mapping[str, Part] | None = None) -> TrainState:
        """One part (``params``, ``tx``, ``batch_stats``, named ``"model"``) or several.

        Args:
          rng: a PRNG key (raw ``uint32[2]`` or typed); stored as raw key data.
          params, tx, batch_stats: the single part's contents.
          parts: instead, a mapping name -> :class:`Part` (e.g. generator, discriminator).
        """
        if (parts is None) == (params is None):
            raise ValueError("give either params and tx (one part) or parts (several)")
        if parts is None:
            if tx is None:
                raise ValueError("a single-part TrainState needs an optimizer tx")
            parts = {MAIN_PART: Part.create(params, tx, batch_stats)}
        if _is_typed_key(rng):
            rng = jax.random.key_data(rng)
        return cls(step=jnp.zeros((), jnp.int32), rng=jnp.asarray(rng, jnp.uint32),
                   parts=dict(parts))

    def part(self, name: str = MAIN_PART) -> Part:
        if name not in self.parts:
            raise KeyError(f"the state has no part {name!r}; parts: {sorted(self.parts)}")
        return self.parts[name]

    def with_part(self, name: str, part: Part) -> TrainState:
        return self.replace(parts={**self.parts, name: part})

    @property
    def params(self) -> Any:
        return self.part().params

    @property
    def batch_stats(self) -> Any:
        return self.part().batch_stats

    @property
    def opt_state(self) -> Any:
        return self.part().opt_state

    @property
    def variables(self) -> dict:
        return self.part().variables

    def apply_gradients(self, grads: Any, batch_stats: Any = None,
                        part: str = MAIN_PART) -> TrainState:
        """Update part `part` with `grads` (the step counter is advanced by :func:`fit`)."""
        return self.with_part(part, self.part(part).apply_gradients(grads, batch_stats))

    def step_key(self) -> jax.Array:
        """This step's PRNG key, ``fold_in(rng, step)``: new each step, the same on resume."""
        return jax.random.fold_in(self.rng, self.step)


def _is_typed_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


# --------------------------------------------------------------------------- steps
class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or Inf; the message names the step and the term."""


def check_finite(metrics: Metrics, step: int) -> None:
    """Raise :class:`NonFiniteLossError` if any scalar in `metrics` is NaN or Inf."""
    bad = [k for k, v in metrics.items() if not np.all(np.isfinite(np.asarray(v)))]
    if bad:
        values = ", ".join(f"{k}={np.asarray(metrics[k]).ravel()[:4]}" for k in bad)
        raise NonFiniteLossError(
            f"non-finite loss at step {step}: {values}. Lower the learning rate, enable "
            f"gradient clipping, or check the inputs of the term(s) {bad}.")


def make_train_step(loss_fn: Callable, *, uses_batch_stats: bool = False,
                    part: str = MAIN_PART) -> Callable:
    """A pure step that updates one part by the gradient of `loss_fn`.

    Args:
      loss_fn: ``loss_fn(params, batch, key) -> (loss, metrics)``; with `uses_batch_stats`,
        ``loss_fn(params, batch_stats, batch, key) -> (loss, (metrics, new_batch_stats))``.
        ``key`` is :meth:`TrainState.step_key`.
      uses_batch_stats: the loss reads and returns BatchNorm statistics.
      part: the part to update (the others are left unchanged).
    """

    def train_step(state: TrainState, batch: Any) -> tuple[TrainState, dict]:
        key, current = state.step_key(), state.part(part)
        if uses_batch_stats:
            (loss, (metrics, stats)), grads = jax.value_and_grad(
                lambda p: loss_fn(p, current.batch_stats, batch, key), has_aux=True)(
                current.params)
        else:
            (loss, metrics), grads = jax.value_and_grad(
                lambda p: loss_fn(p, batch, key), has_aux=True)(current.params)
            stats = None
        return state.apply_gradients(grads, stats, part), {"loss": loss, **dict(metrics)}

    return train_step


class EarlyStopping:
    """Stop when `metric` has not improved by `min_delta` for `patience` evaluations."""

    def __init__(self, metric: str = "loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: use 'min' or 'max'")
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

    def state_dict(self) -> dict[str, float]:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        self.best, self.bad = float(state["best"]), int(state["bad"])


# --------------------------------------------------------------------------- batches
@runtime_checkable
class Stream(Protocol):
    """An endless, deterministic batch stream: batch ``k`` is the same in every run."""

    seed: int

    def batches_per_epoch(self) -> int: ...

    def iterate(self, start: int = 0) -> Iterator[Any]: ...


@dataclass
class FunctionStream:
    """Batches from a function of the global batch index (``batch_fn(k)``)."""

    batch_fn: Callable[[int], Any]
    length: int = 0  # batches per epoch; 0: no epochs
    seed: int = 0

    def batches_per_epoch(self) -> int:
        return self.length

    def iterate(self, start: int = 0) -> Iterator[Any]:
        return (self.batch_fn(k) for k in itertools.count(start))


@dataclass
class IterableStream:
    """Batches from an iterable (a list is cycled). Resuming skips the consumed batches."""

    iterable: Iterable
    length: int = 0
    seed: int = 0

    def batches_per_epoch(self) -> int:
        if self.length:
            return self.length
        return len(self.iterable) if hasattr(self.iterable, "__len__") else 0

    def iterate(self, start: int = 0) -> Iterator[Any]:
        source = (itertools.cycle(self.iterable) if isinstance(self.iterable, (list, tuple))
                  else iter(self.iterable))
        return itertools.islice(source, start, None)


def as_stream(batches: Stream | Callable[[int], Any] | Iterable | Any) -> Stream:
    """Wrap what a task gives as batches into a :class:`Stream`.

    A stream passes through; a callable becomes a :class:`FunctionStream`; an iterable an
    :class:`IterableStream`; anything else (one fixed batch) is repeated every step.
    """
    if isinstance(batches, Stream):
        return batches
    if callable(batches):
        return FunctionStream(batches)
    if isinstance(batches, Iterable) and not isinstance(batches, Mapping):
        return IterableStream(batches)
    return FunctionStream(lambda _k: batches)


# --------------------------------------------------------------------------- history
@dataclass
class History:
    """Per-step metrics (host floats) and one record per epoch (train means, eval, timing).

    ``steps[name]`` lists a metric for every step; ``evals`` one dict per evaluation;
    ``epochs`` one dict per completed epoch with ``epoch``, ``step`` (steps done),
    ``train_<metric>`` means, the evaluation's metrics, ``lr_scale``, ``steps``,
    ``seconds``, ``train_seconds`` and ``data_wait_seconds`` (host time blocked on data).
    """

    steps: dict[str, list[float]] = field(default_factory=dict)
    evals: list[dict] = field(default_factory=list)
    epochs: list[dict] = field(default_factory=list)

    def __getitem__(self, name: str) -> list[float]:
        """``history["loss"]``: a per-step metric; ``history["eval/x"]``: an eval metric."""
        if name.startswith("eval/"):
            return [e[name[5:]] for e in self.evals if name[5:] in e]
        return self.steps[name]

    def __contains__(self, name: str) -> bool:
        try:
            return bool(self[name])
        except KeyError:
            return False

    def to_dict(self) -> dict:
        return {"steps": self.steps, "evals": self.evals, "epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        return cls(steps={k: list(v) for k, v in data.get("steps", {}).items()},
                   evals=list(data.get("evals", [])), epochs=list(data.get("epochs", [])))


TIMING_FIELDS = ("seconds", "train_seconds", "data_wait_seconds")


# --------------------------------------------------------------------------- loop
@dataclass
class _Epoch:
    """Accumulators of the epoch in progress."""

    start: float = field(default_factory=time.perf_counter)
    data_wait: float = 0.0
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0

    def add(self, metrics: Mapping[str, float]) -> None:
        for k, v in metrics.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.count += 1


def fit(state: TrainState, train_step: Callable, batches: Any, *,
        num_steps: int | None = None, epochs: int | None = None,
        steps_per_epoch: int | None = None,
        evaluate: Callable[[TrainState], Metrics] | None = None, eval_every: int = 0,
        checkpointer: Any = None, checkpoint_every: int = 0, checkpoint_epochs: int = 1,
        best_checkpointer: Any = None, best_metric: str | None = None, best_mode: str = "min",
        resume: bool = False, early_stopping: EarlyStopping | None = None,
        lr_scale: LrScale | None = None, on_epoch_end: Callable[[int, dict], bool] | None = None,
        writer: Any = None, images: Callable[[TrainState, int], Mapping[str, Any]] | None = None,
        log_every: int = 0, history_path: str | Path | None = None,
        keep_step_history: bool = True, hooks: Sequence[Callable] = (),
        mesh: Mesh | None = None, desc: str = "train", jit: bool = True,
        sync_hooks: bool = False,
        ) -> tuple[TrainState, History]:
    """Run `train_step` from ``state.step`` to the end; returns ``(state, history)``.

    Args:
      state: the initial :class:`TrainState` (with `resume`, the template the checkpoint is
        restored into). It is donated to the compiled step: keep a copy
        (``jax.tree_util.tree_map(jnp.copy, state)``) if you need it afterwards.
      train_step: ``(state, batch) -> (state, metrics)``, pure; scalar metrics.
      batches: a :class:`Stream`, ``batch_fn(k)``, an iterable or one fixed batch.
      num_steps / epochs: the run's length, in steps or in epochs of `steps_per_epoch`.
      steps_per_epoch: steps per epoch (default ``stream.batches_per_epoch()``).
      evaluate: ``evaluate(state) -> metrics`` (host floats), run every `eval_every` steps,
        or at each epoch end when `eval_every` is 0.
      checkpointer: a :class:`~jaxgeo.core.checkpoint.Checkpointer`; saved every
        `checkpoint_every` steps (0: never by step), every `checkpoint_epochs` epochs and at
        the end. Each save also stores the history, the hooks' state and the stream position.
      best_checkpointer, best_metric, best_mode: keep the state with the best evaluated
        `best_metric` there.
      resume: continue from the checkpointer's latest checkpoint (if there is one).
      early_stopping: stops after an evaluation that did not improve for its patience.
      lr_scale: host-driven warmup / plateau scale written into every part's
        ``inject_hyperparams`` state (see :func:`~jaxgeo.core.schedules.with_lr_scale`).
      on_epoch_end: ``(epoch, record) -> stop?`` after each epoch (may raise, e.g. pruning).
      writer: a :class:`~jaxgeo.core.logging.MetricWriter` for tensorboardX scalars/images.
      images: ``images(state, epoch) -> {tag: figure or array}`` written at each epoch end.
      log_every: also write per-step scalars every `log_every` steps (0: epochs only).
      history_path: write ``{"epochs": [...]}`` atomically after each epoch.
      keep_step_history: keep every step's metrics in the history (and checkpoints).
      hooks: ``hook(step, state, metrics)`` once step ``step``'s metrics are on the host
        (as floats); ``state`` is the newest state, which may be one step further.
      mesh: split each batch over the mesh's devices; the state is replicated.
      desc: the progress bar's label.
      jit: compile the step (tests of non-jittable code may pass False).
      sync_hooks: read each step's metrics right after it (no overlap with the next
        step), so every hook sees exactly the state after its own step (FWI's per-update
        callback compares models before and after an update).
    """
    stream = as_stream(batches)
    if (num_steps is None) == (epochs is None):
        raise ValueError("give the run's length as num_steps or as epochs (one of them)")
    # A stream without epochs (a function of the step) makes the whole run one epoch.
    per_epoch = int(steps_per_epoch or stream.batches_per_epoch() or num_steps or 0)
    if per_epoch < 1:
        raise ValueError(f"steps_per_epoch={per_epoch}: must be >= 1 (the stream has no "
                         "epochs: give steps_per_epoch or num_steps)")
    total = int(num_steps) if num_steps is not None else int(epochs) * per_epoch
    history = History()
    if resume and checkpointer is not None and checkpointer.latest_step() is not None:
        state, history = _restore(checkpointer, state, stream, per_epoch, early_stopping,
                                  lr_scale, mesh)
    elif mesh is not None:
        state = parallel.replicate(state, mesh)
    else:
        state = _commit(state)
    start = int(state.step)
    step_fn = compile_step(train_step, jit)
    best = _best_so_far(history, best_metric, best_mode)
    iterator = stream.iterate(start)
    bar = progress(total=total, initial=start, desc=desc)
    epoch_acc = _Epoch()
    pending: tuple[int, Any] | None = None
    stop = False

    def finish_step(step: int, metrics: Any) -> dict[str, float]:
        host = {k: float(np.asarray(v)) for k, v in jax.device_get(metrics).items()}
        check_finite(host, step)
        if keep_step_history:
            for k, v in host.items():
                history.steps.setdefault(k, []).append(v)
        epoch_acc.add(host)
        for hook in hooks:
            hook(step, state, host)
        if writer is not None and log_every and (step + 1) % log_every == 0:
            writer.scalars(host, step + 1, prefix="train/")
        bar.set_postfix({k: f"{v:.4g}" for k, v in list(host.items())[:2]}, refresh=False)
        return host

    try:
        if lr_scale is not None:
            state = _apply_lr_scale(state, lr_scale, start // per_epoch)
        for step in range(start, total):
            t_wait = time.perf_counter()
            try:
                batch = next(iterator)
            except StopIteration:
                raise ValueError(f"the batch stream ended after {step} steps; the run needs "
                                 f"{total} (make the stream endless or shorten the run)"
                                 ) from None
            epoch_acc.data_wait += time.perf_counter() - t_wait
            if mesh is not None:
                batch = parallel.shard_batch(batch, mesh)
            state, metrics = step_fn(state, batch)
            # The previous step's metrics are read only now, so the device is never idle
            # while the host converts them.
            if pending is not None:
                finish_step(*pending)
            pending = (step, metrics)
            if sync_hooks:
                finish_step(*pending)
                pending = None
            bar.update(1)
            done = step + 1
            end_of_epoch = done % per_epoch == 0
            evaluating = evaluate is not None and (
                (eval_every and done % eval_every == 0) or (not eval_every and end_of_epoch))
            saving = checkpointer is not None and checkpoint_every and done % checkpoint_every == 0
            if not (end_of_epoch or evaluating or saving or done == total):
                continue
            if pending is not None:
                finish_step(*pending)
            pending = None
            train_seconds = time.perf_counter() - epoch_acc.start
            scores = {}
            if evaluating:
                scores = {k: float(v) for k, v in evaluate(state).items()}
                check_finite(scores, step)
                history.evals.append({"step": done, **scores})
                if writer is not None:
                    writer.scalars(scores, done, prefix="eval/")
                if best_checkpointer is not None and best_metric is not None:
                    value = scores[best_metric]
                    if _improves(value, best, best_mode):
                        best = value
                        best_checkpointer.save(done, state, force=True,
                                               host={"metric": best_metric, "value": value})
                if early_stopping is not None and early_stopping.update(scores):
                    log.info("early stopping at step %d (%s did not improve for %d "
                             "evaluations)", done, early_stopping.metric,
                             early_stopping.patience)
                    stop = True
                if lr_scale is not None:
                    lr_scale.observe(scores, done // per_epoch)
            if end_of_epoch:
                epoch = done // per_epoch - 1
                record = _epoch_record(epoch, done, epoch_acc, scores, lr_scale, train_seconds)
                history.epochs.append(record)
                _log_epoch(record, writer, images, state)
                if history_path is not None:
                    write_json(history_path, {"epochs": history.epochs})
                if on_epoch_end is not None and on_epoch_end(epoch, record):
                    log.info("stopped after epoch %d by the epoch callback", epoch)
                    stop = True
                epoch_acc = _Epoch()
                if lr_scale is not None:
                    state = _apply_lr_scale(state, lr_scale, epoch + 1)
            if checkpointer is not None and (
                    saving or stop or done == total
                    or (end_of_epoch and ((done // per_epoch) % checkpoint_epochs == 0))):
                checkpointer.save(done, state, force=True,
                                  host=_host_state(history, stream, done, per_epoch,
                                                   early_stopping, lr_scale))
            if stop:
                break
        if pending is not None:
            finish_step(*pending)
    finally:
        bar.close()
        close = getattr(iterator, "close", None)
        if close is not None:  # stop a prefetching stream's worker thread now, not at GC
            close()
        for ckpt in (checkpointer, best_checkpointer):
            if ckpt is not None:
                ckpt.wait()
        if writer is not None:
            writer.flush()
    return state, history


def _commit(tree: Any) -> Any:
    """`tree` with every uncommitted array committed to the device it is on (no copy).

    A restored checkpoint is committed (Orbax places it by the template's sharding), a fresh
    state is not; jit keys its cache on that, so without this a resumed run compiled its
    step again (about 10 s for a PhaseNet-sized model on CPU).
    """
    def put(x):
        if isinstance(x, jax.Array) and not x.committed:
            return jax.device_put(x, x.sharding)
        return x

    return jax.tree_util.tree_map(put, tree)


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compile_step(train_step: Callable, jit: bool = True) -> Callable:
    """The step exactly as :func:`fit` runs it: ``state.step`` advanced, jit-compiled with the
    state donated (benchmarks time this).

    The compiled step is cached per `train_step` object, so several :func:`fit` calls with
    the same step (FWI bands, a resumed run, Optuna trials of one shape) compile it once.
    """
    if jit and train_step in _COMPILED:
        return _COMPILED[train_step]

    def advanced(state: TrainState, batch: Any) -> tuple[TrainState, Any]:
        new, metrics = train_step(state, batch)
        return new.replace(step=state.step + 1), metrics

    if not jit:
        return advanced
    compiled = jax.jit(advanced, donate_argnums=0)
    _COMPILED[train_step] = compiled
    return compiled


def _improves(value: float, best: float | None, mode: str) -> bool:
    return best is None or (value < best if mode == "min" else value > best)


def _best_so_far(history: History, metric: str | None, mode: str) -> float | None:
    values = [e[metric] for e in history.evals if metric is not None and metric in e]
    if not values:
        return None
    return min(values) if mode == "min" else max(values)


def _epoch_record(epoch: int, done: int, acc: _Epoch, scores: Mapping[str, float],
                  lr_scale: LrScale | None, train_seconds: float) -> dict:
    means = {f"train_{k}": v / max(acc.count, 1) for k, v in acc.sums.items()}
    seconds = time.perf_counter() - acc.start
    return {"epoch": epoch, "step": done, **means, **scores,
            **({"lr_scale": lr_scale.current} if lr_scale is not None else {}),
            "steps": acc.count, "seconds": seconds,
            "train_seconds": train_seconds,
            "data_wait_seconds": acc.data_wait}


def _log_epoch(record: dict, writer: Any, images: Callable | None, state: TrainState) -> None:
    shown = " ".join(f"{k} {v:.4g}" for k, v in record.items()
                     if k not in ("epoch", "step", "steps") + TIMING_FIELDS
                     and isinstance(v, float))
    log.info("epoch %d: %s (%.1f s, %.1f s waiting for data)", record["epoch"], shown,
             record["seconds"], record["data_wait_seconds"])
    if writer is None:
        return
    writer.scalars({k: v for k, v in record.items() if k not in ("epoch", "step")
                    and isinstance(v, (int, float))}, record["epoch"], prefix="epoch/")
    if images is not None:
        for tag, image in images(state, record["epoch"]).items():
            if hasattr(image, "savefig"):
                writer.figure(tag, image, record["epoch"])
            else:
                writer.image(tag, image, record["epoch"])


def _apply_lr_scale(state: TrainState, lr_scale: LrScale, epoch: int) -> TrainState:
    value = lr_scale.value(epoch)
    return state.replace(parts={name: part.replace(opt_state=set_lr_scale(part.opt_state, value))
                                for name, part in state.parts.items()})


def _host_state(history: History, stream: Stream, done: int, per_epoch: int,
                early_stopping: EarlyStopping | None, lr_scale: LrScale | None) -> dict:
    return {"history": history.to_dict(),
            "data": {"epoch": done // per_epoch, "step_in_epoch": done % per_epoch,
                     "batches_consumed": done, "seed": int(getattr(stream, "seed", 0))},
            "early_stopping": early_stopping.state_dict() if early_stopping else None,
            "lr_scale": lr_scale.state_dict() if lr_scale else None}


def _restore(checkpointer: Any, state: TrainState, stream: Stream, per_epoch: int,
             early_stopping: EarlyStopping | None, lr_scale: LrScale | None,
             mesh: Mesh | None) -> tuple[TrainState, History]:
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    meta = checkpointer.stored_meta()
    host = meta.get("host") or {}
    data = host.get("data") or {}
    seed = int(getattr(stream, "seed", 0))
    if data and int(data.get("seed", seed)) != seed:
        raise ValueError(f"the checkpoint's data stream was seeded with {data['seed']}, this "
                         f"run's with {seed}; resume with the same seed or start a new run")
    restored = checkpointer.restore(state)
    if early_stopping is not None and host.get("early_stopping"):
        early_stopping.load_state_dict(host["early_stopping"])
    if lr_scale is not None and host.get("lr_scale"):
        lr_scale.load_state_dict(host["lr_scale"])
    history = History.from_dict(host.get("history") or {})
    done = int(restored.step)
    log.info("resumed at step %d (epoch %d, step %d of it)", done, done // per_epoch,
             done % per_epoch)
    return restored, history
