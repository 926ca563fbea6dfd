"""Training of the seismic model types (``--mode train_phase``), as a task on the engine.

:func:`train_phase` builds the task (state, step, batches, evaluation) for a model type of
:mod:`jaxgeo.seismic.registry` and runs it with :func:`jaxgeo.core.train.fit`. It writes into
the run directory (``config.model_path``, default ``runs/<model_type>_<dataset>``): Orbax
checkpoints (``checkpoints/``, one per epoch with the config, the history and the data
stream's position), ``history.json`` (per epoch: train and dev loss, steps, seconds, the
seconds spent waiting for data), tensorboardX scalars (``tensorboard/``), ``config.json``
and, with ``--plot``, ``history.png``. ``--resume`` continues from the last checkpoint and
ends bit-identical to the uninterrupted run.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from jaxgeo.core import parallel
from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import save_config
from jaxgeo.core.logging import MetricWriter, get_logger
from jaxgeo.core.schedules import LrScale, with_lr_scale
from jaxgeo.core.train import EarlyStopping, TrainState, fit
from jaxgeo.seismic import registry
from jaxgeo.seismic.data import phase_loader
from jaxgeo.seismic.experiment import (
    check_model_flags,
    configured_dataset,
    run_directory,
    validate_config,
)
from jaxgeo.seismic.magnitude import mag_loss, magnitude_traces
from jaxgeo.seismic.plots import plot_history

__all__ = ["init_variables", "learning_rate", "create_state", "make_step", "make_dev_loss",
           "train_phase", "train_mag", "train_model", "checkpointer",
           "use_magnitude_sampling_rate", "forward"]

log = get_logger("jaxgeo.seismic")


# The initialisation runs once per run, and its compile time is mostly the threefry random
# numbers of every parameter (about 20 s of a 27 s compile for PhaseNetMag on a loaded 2-core
# CPU). LLVM at -O1 instead of the default -O3 compiles it 2-2.5x faster and gives
# bit-identical variables (checked for every trainable model type at its defaults; -O0 does
# not: about 4 % of PhaseNet's initial values move by an ulp).
_INIT_COMPILER_OPTIONS = {"xla_backend_optimization_level": 1}


@functools.lru_cache(maxsize=32)
def _jit_init(module):
    # One compiled initialisation: run eagerly, every parameter initialiser is compiled on its
    # own (about 200 small compilations for EQTransformerMag, most of a short run's time).
    return jax.jit(module.init, compiler_options=_INIT_COMPILER_OPTIONS)


def init_variables(module, seed: int, window: int = 3001) -> dict:
    """``module.init`` on a zero batch ``[1, window, channels]`` with key ``PRNGKey(seed)``
    (jit-compiled, once per module and shape)."""
    x = jnp.zeros((1, window, module.in_channels), jnp.float32)
    return _jit_init(module)(jax.random.PRNGKey(seed), x)


@functools.lru_cache(maxsize=32)
def learning_rate(lr: float, decay_steps: int = 0) -> optax.Schedule:
    """``lr``, or a cosine decay from it to 5 % over `decay_steps` steps when that is > 0.

    One schedule object per ``(lr, decay_steps)``: :func:`make_step` is cached on it, so
    runs with equal values share one compiled step."""
    if decay_steps > 0:
        return optax.cosine_decay_schedule(lr, decay_steps, alpha=0.05)
    return optax.constant_schedule(lr)


@functools.lru_cache(maxsize=32)
def _phase_transform(lr: float, decay_steps: int) -> optax.GradientTransformation:
    # The optimizer is static data of the state (part of jit's cache key, compared by
    # identity): one object per (lr, decay_steps), so equal runs in one process (a resumed
    # run, the tests' round trips) reuse the compiled step instead of compiling it again.
    return optax.adam(learning_rate(lr, decay_steps))


def create_state(module, lr: float, seed: int, decay_steps: int = 0,
                 window: int = 3001) -> TrainState:
    """Adam at `lr`; with ``decay_steps > 0`` a cosine decay to 5 % of it over that many steps.

    Args:
      module: the Flax model; initialised with ``PRNGKey(seed)``.
      lr: learning rate.
      seed: initialisation seed (the state's key is ``PRNGKey(seed + 1)``).
      decay_steps: length of the cosine decay (0: constant rate).
      window: input samples of the model.
    """
    variables = init_variables(module, seed, window)
    return TrainState.create(params=variables["params"], tx=_phase_transform(lr, decay_steps),
                             batch_stats=variables.get("batch_stats", {}),
                             rng=jax.random.PRNGKey(seed + 1))


@functools.lru_cache(maxsize=32)
def make_step(module, task: registry.TaskSpec, schedule: optax.Schedule | None = None):
    """The pure train step ``(state, batch) -> (state, {"loss", "lr"})``, BatchNorm in train
    mode; ``lr`` is `schedule` at this step (for the logs).

    The same step object is returned for equal arguments (Flax modules compare by their
    fields), so the engine compiles it once per shape for several runs in one process (a
    resumed run, Optuna trials)."""

    def loss_fn(params, batch_stats, batch, key):
        pred, updates = module.apply({"params": params, "batch_stats": batch_stats},
                                     batch["X"], train=True, mutable=["batch_stats"],
                                     rngs={"dropout": key})
        return jnp.mean(task.loss(pred, batch[task.label])), updates["batch_stats"]

    def step(state: TrainState, batch) -> tuple[TrainState, dict]:
        key = state.step_key()  # dropout (unused by the phase models)
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.batch_stats, batch, key)
        metrics = {"loss": loss}
        if schedule is not None:
            metrics["lr"] = schedule(state.step)
        return state.apply_gradients(grads, batch_stats=stats), metrics

    return step


def make_dev_loss(module, task: registry.TaskSpec, loader, max_batches: int = 0,
                  mesh: Mesh | None = None):
    """``evaluate(state) -> {"dev_loss"}``: the sample-weighted mean loss over the dev
    windows (a last partial batch weighs by its size, not as a full batch)."""

    predict = forward(module)

    def evaluate(state: TrainState) -> dict[str, float]:
        total, count = 0.0, 0
        batches = iter(loader)
        for i, batch in enumerate(batches):
            if max_batches and i >= max_batches:
                batches.close()  # stops the prefetch thread at once
                break
            x, y = jnp.asarray(batch["X"]), jnp.asarray(batch[task.label])
            if mesh is not None:
                x, y = parallel.replicate((x, y), mesh)
            losses = np.asarray(task.loss(predict(state.variables, x), y), np.float64)
            total, count = total + float(losses.sum()), count + len(losses)
        return {"dev_loss": total / max(count, 1)}

    return evaluate


@functools.lru_cache(maxsize=32)
def forward(module):
    """jit ``(variables, X) -> module.apply(variables, X)`` (inference mode); one per module,
    shared by the dev loss and the evaluation, so a model shape compiles its forward once."""

    @jax.jit
    def apply(variables, x):
        return module.apply(variables, x)

    return apply


def use_magnitude_sampling_rate(config: ml_collections.ConfigDict) -> None:
    """Set ``config.data.sampling_rate`` to the model's ``--sampling_rate`` (EQTransformerMag:
    the dataset is resampled to it on read); logged when it changes the value."""
    rate = registry.magnitude_sampling_rate(config)
    if rate != float(config.data.sampling_rate):
        log.info("reading the dataset at %.6g Hz (--sampling_rate; config.data.sampling_rate "
                 "was %.6g)", rate, float(config.data.sampling_rate))
        config.data.sampling_rate = rate


def checkpointer(config: ml_collections.ConfigDict, directory: Path,
                 keep: int | None = None) -> Checkpointer:
    """The run's Orbax checkpoints, compared on restore by the model type's own flags."""
    keep = int(config.train.keep_checkpoints) if keep is None else keep
    return Checkpointer(directory, save_every=1, keep=keep,
                        config=config, compat_fields=registry.compat_fields(config.model_type))


def _mesh(config: ml_collections.ConfigDict) -> Mesh | None:
    wanted = int(config.train.num_devices)
    if wanted == 1:
        return None
    mesh = parallel.make_mesh(num_devices=wanted or None)
    parallel.check_divisible(int(config.train.batch_size), mesh, "train.batch_size")
    return mesh


@functools.lru_cache(maxsize=4)
def _mag_transform(optimizer: str) -> optax.GradientTransformation:
    """Clip-by-global-norm 1.0, Adam or AdamW with the learning rate (and weight decay) in
    the optimizer state (``inject_hyperparams``), and the host-set LR scale. One object per
    optimizer: runs that differ only in those values (Optuna trials) share the compiled step.
    """
    if optimizer == "adamw":
        base = optax.inject_hyperparams(optax.adamw)(learning_rate=0.0, weight_decay=0.0)
    else:
        base = optax.inject_hyperparams(optax.adam)(learning_rate=0.0)
    return with_lr_scale(optax.chain(optax.clip_by_global_norm(1.0), base))


def _with_hyperparams(opt_state, values: dict[str, float]):
    """`opt_state` with the ``inject_hyperparams`` values named in `values` replaced."""

    def holds(node) -> bool:
        return hasattr(node, "hyperparams") and set(values) <= set(node.hyperparams)

    def put(node):
        if not holds(node):
            return node
        hyper = {**node.hyperparams, **{k: jnp.asarray(v, jnp.asarray(node.hyperparams[k]).dtype)
                                        for k, v in values.items()}}
        return node._replace(hyperparams=hyper)

    return jax.tree_util.tree_map(put, opt_state, is_leaf=holds)


def _mag_state(config: ml_collections.ConfigDict, module, window: int) -> TrainState:
    """Initial magnitude training state: clip 1.0 + Adam/AdamW at ``train.lr`` (AdamW with
    ``train.weight_decay``), LR scale 1."""
    t = config.train
    opt = str(t.optimizer).lower()
    variables = init_variables(module, int(t.seed), window)
    state = TrainState.create(params=variables["params"], tx=_mag_transform(opt),
                              batch_stats=variables.get("batch_stats", {}),
                              rng=jax.random.PRNGKey(int(t.seed) + 1))
    values = {"learning_rate": float(t.lr)}
    if opt == "adamw":
        values["weight_decay"] = float(t.weight_decay)
    part = state.part()
    return state.with_part("model", part.replace(
        opt_state=_with_hyperparams(part.opt_state, values)))


def train_phase(config: ml_collections.ConfigDict, dataset=None):
    """Train a phase picker of ``config.model_type``; returns ``(state, epoch records)``.

    Args:
      config: see :func:`jaxgeo.seismic.experiment.default_config`.
      dataset: a ``WaveformDataset`` (default: the one ``config.data`` names).
    """
    return train_model(config, dataset)


def train_mag(config: ml_collections.ConfigDict, dataset=None, on_epoch_end=None):
    """Train a magnitude regressor (``--mode train_mag``); see :func:`train_model`."""
    return train_model(config, dataset, on_epoch_end=on_epoch_end)


def train_model(config: ml_collections.ConfigDict, dataset=None, on_epoch_end=None):
    """Train ``config.model_type`` on its registry task; returns ``(state, epoch records)``.

    Phase task: Adam (optionally cosine-decayed), checkpoints every epoch. Magnitude task
    (:data:`~jaxgeo.seismic.registry.MAG_TASK`): only traces with a pick and a positive
    magnitude; loss ``config.train.mag_loss``; clip 1.0 + Adam/AdamW (``train.optimizer``,
    ``train.weight_decay``); LR warmup 10 % -> 100 % over ``train.warmup_epochs`` then
    reduce-on-plateau (factor 0.5, ``train.scheduler_patience``); early stopping
    (``train.early_stopping_patience``); checkpoints every ``train.save_every`` epochs plus
    final, and the best dev loss in ``best/``.

    Args:
      config: see :func:`jaxgeo.seismic.experiment.default_config`.
      dataset: a ``WaveformDataset`` (default: the one ``config.data`` names).
      on_epoch_end: ``(epoch, record) -> stop?`` (e.g. Optuna pruning).
    """
    validate_config(config)
    spec = registry.resolve(config.model_type)
    magnitude = spec.task.name == "magnitude"
    task = (dataclasses.replace(spec.task, loss=mag_loss(str(config.train.mag_loss)))
            if magnitude else spec.task)
    out = run_directory(config)
    mesh = _mesh(config)
    module = registry.build_model(config)
    inputs: dict = {}
    if magnitude:
        use_magnitude_sampling_rate(config)
        inputs = registry.magnitude_inputs(config)
    dataset = dataset if dataset is not None else configured_dataset(config)
    if magnitude:
        dataset = magnitude_traces(dataset, phases=inputs["magnitude_phases"])
    d, t = config.data, config.train
    common = dict(batch_size=int(t.batch_size), norm=str(config.model.norm),
                  sigma=float(d.sigma), prefetch=int(d.prefetch), pipeline=str(d.pipeline),
                  window=spec.window, magnitude=magnitude, **inputs)
    train_loader = phase_loader(dataset, "train", seed=int(t.seed), epochs=None, **common)
    dev_loader = phase_loader(dataset, "dev", seed=int(t.seed) + 1, epochs=1, drop_last=False,
                              **common)
    extra: dict = {}
    if magnitude:
        state = _mag_state(config, module, spec.window)
        schedule = None
        extra = dict(lr_scale=LrScale(int(t.warmup_epochs), warmup_start=0.1,
                                      plateau_factor=0.5,
                                      plateau_patience=int(t.scheduler_patience)),
                     early_stopping=EarlyStopping("dev_loss",
                                                  patience=int(t.early_stopping_patience)),
                     checkpoint_epochs=int(t.save_every), best_metric="dev_loss",
                     on_epoch_end=on_epoch_end)
    else:
        state = create_state(module, float(t.lr), int(t.seed), int(t.lr_decay_steps),
                             spec.window)
        schedule = learning_rate(float(t.lr), int(t.lr_decay_steps))
    out.mkdir(parents=True, exist_ok=True)
    ckpt = checkpointer(config, out / "checkpoints")
    best = checkpointer(config, out / "best", keep=1) if magnitude else None
    resume = bool(t.resume) and ckpt.latest_step() is not None
    if resume:
        check_model_flags(ckpt.stored_config(), config)
    save_config(config, out)
    # An epoch is one pass over the training split unless steps_per_epoch fixes its length
    # (the training stream is endless, so longer "epochs" keep drawing windows).
    steps = int(t.steps_per_epoch) or train_loader.batches_per_epoch()
    writer = MetricWriter(out / "tensorboard")
    try:
        state, history = fit(
            state, make_step(module, task, schedule), train_loader, epochs=int(t.epochs),
            steps_per_epoch=steps,
            evaluate=make_dev_loss(module, task, dev_loader, int(t.max_eval_batches), mesh),
            checkpointer=ckpt, best_checkpointer=best, resume=resume, writer=writer,
            history_path=out / "history.json", keep_step_history=False, mesh=mesh,
            desc=f"train {spec.name}", **extra)
    finally:
        ckpt.close()
        if best is not None:
            best.close()
        writer.close()
    if bool(config.plot):
        plot_history(history.epochs, out / "history.png")
    return state, history.epochs
