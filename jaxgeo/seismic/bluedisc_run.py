"""BlueDisc's training run: config -> dataset, generator (+ discriminator), engine, logs.

:func:`train_bluedisc` is what ``experiments/bluedisc.py`` calls. Run directory
``runs/<experiment>`` (or ``config.workdir``): ``config.json``, Orbax checkpoints every
``checkpoint_every`` steps, tensorboardX events with ``train/g_loss``, ``train/d_loss``,
``train/g_data_loss``, ``train/g_SGAN_loss``, ``train/d_SGAN_loss`` and, per tracked dev sample,
``eval/sample_XXX_loss``, ``eval/sample_XXX_Dreal``, ``eval/sample_XXX_Dfake``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import ConfigError, check_choice, check_positive, save_config, to_plain
from jaxgeo.core.logging import MetricWriter
from jaxgeo.core.train import History, TrainState, fit
from jaxgeo.seismic import bluedisc as bd
from jaxgeo.seismic.bluedisc_data import (
    WINDOW,
    bluedisc_loader,
    bluedisc_onsets_loader,
    generator_targets,
)
from jaxgeo.seismic.bluedisc_eval import evaluate, prediction_figure
from jaxgeo.seismic.data import PIPELINES, load_dataset

__all__ = ["experiment_name", "validate", "TargetStream", "train_bluedisc", "DEVICES",
           "evaluate_run"]

DEVICES = ("cpu", "cuda", "gpu", "tpu", "auto")
# Fields a resumed run may change (the run's length, paths, logging, the device).
RUN_FIELDS = ("workdir", "resume", "max_steps", "checkpoint_every", "eval_every", "log_every",
              "device", "pipeline")


def experiment_name(label: str, data_weight: float | None) -> str:
    """``PN_D``, ``PN_N``, ``PN_D_GAN_Data1.0``, ``PN_D_GAN_Data0`` (the original's names)."""
    name = f"PN_{label}"
    if data_weight is not None:
        name += "_GAN_Data0" if data_weight == 0 else f"_GAN_Data{float(data_weight)}"
    return name


def validate(config: ml_collections.ConfigDict) -> None:
    """Stop with a one-line message naming the field before any data is read."""
    if not str(config.label):
        raise ConfigError("--label is required: D (detection) or N (noise)")
    check_choice(config, "label", ("D", "N"))
    if not str(config.dataset):
        raise ConfigError("config.dataset is empty: give --dataset NAME (a SeisBench name, a "
                          "folder or 'synthetic')")
    for name in ("g_lr", "d_lr", "sample_size", "batch_size", "max_steps", "checkpoint_every",
                 "eval_every"):
        check_positive(config, name)
    check_choice(config, "device", DEVICES)
    check_choice(config, "pipeline", PIPELINES)
    w = config.data_weight
    if w is not None and (not np.isfinite(w) or w < 0):
        raise ConfigError(f"config.data_weight = {w}: must be >= 0 (omit it for data-only)")


class TargetStream:
    """The loader's batches as the generator's ``{"X", "y"}`` (an engine Stream)."""

    def __init__(self, loader, label: str):
        self.loader, self.label, self.seed = loader, label, loader.seed

    def batches_per_epoch(self) -> int:
        return self.loader.batches_per_epoch()

    def iterate(self, start: int = 0) -> Iterator[dict]:
        return (generator_targets(b, self.label) for b in self.loader.iterate(start))


def _tracked_metrics(generator, samples: dict, with_d: bool):
    x, y = jnp.asarray(samples["X"]), jnp.asarray(samples["y"])

    @jax.jit
    def metrics(state: TrainState) -> dict:
        g = state.part("generator")
        logits = generator.apply(g.variables, x, train=False, logits=True)
        loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y), axis=(1, 2))
        out = {f"sample_{i:03d}_loss": loss[i] for i in range(len(loss))}
        if with_d:
            d = state.part("discriminator").variables
            real = bd.BlueDisc().apply(d, y, x)[:, 0]
            fake = bd.BlueDisc().apply(d, jax.nn.sigmoid(logits), x)[:, 0]
            for i in range(len(loss)):
                out[f"sample_{i:03d}_Dreal"], out[f"sample_{i:03d}_Dfake"] = real[i], fake[i]
        return out

    return lambda state: {k: float(v) for k, v in metrics(state).items()}


def _tracked_figures(generator, samples: dict):
    """``images(state, epoch)`` for the engine: one prediction figure per tracked sample."""
    x = jnp.asarray(samples["X"])

    def images(state: TrainState, epoch: int) -> dict:
        variables = state.part("generator").variables
        pred = np.asarray(jax.nn.sigmoid(generator.apply(variables, x, train=False,
                                                         logits=True)))
        return {f"sample_{i:03d}_prediction": prediction_figure(
            samples["X"][i], samples["y"][i], pred[i], generator.phases, f"epoch {epoch}")
            for i in range(len(pred))}

    return images


def train_bluedisc(config: ml_collections.ConfigDict) -> tuple[TrainState, History]:
    """Train BlueDisc's generator (and discriminator) as configured; returns the final state
    and the history (per-step losses, tracked-sample evaluations)."""
    validate(config)
    label, weight = str(config.label), config.data_weight
    lam = None if weight is None else bd.LAMBDA_SCALE * float(weight)
    name = experiment_name(label, weight)
    workdir = Path(config.workdir or Path("runs") / name)
    dataset = load_dataset(str(config.dataset), synthetic_traces=int(config.synthetic_traces),
                           seed=int(config.seed))
    train = bluedisc_loader(dataset, "train", batch_size=int(config.batch_size),
                            seed=int(config.seed), epochs=None, pipeline=str(config.pipeline))
    dev = bluedisc_loader(dataset, "dev", batch_size=int(config.sample_size),
                          seed=int(config.seed), shuffle=False, epochs=1, prefetch=0,
                          pipeline=str(config.pipeline))
    tracked = generator_targets(next(iter(dev)), label)
    generator = bd.make_generator(label)
    state = bd.init_state(generator, samples=WINDOW, g_lr=float(config.g_lr),
                          d_lr=None if lam is None else float(config.d_lr),
                          seed=int(config.seed))
    save_config(config, workdir)
    writer = MetricWriter(workdir / "tensorboard")
    writer.text("hparams", json.dumps(to_plain(config), indent=1, default=str))
    with Checkpointer(workdir / "checkpoints", keep=3, config=config,
                      ignore_prefixes=RUN_FIELDS) as ckpt:
        state, history = fit(state, bd.make_gan_step(generator, lam), TargetStream(train, label),
                             num_steps=int(config.max_steps),
                             evaluate=_tracked_metrics(generator, tracked, lam is not None),
                             eval_every=int(config.eval_every), checkpointer=ckpt,
                             checkpoint_every=int(config.checkpoint_every),
                             resume=bool(config.resume), writer=writer,
                             log_every=int(config.log_every), desc=name,
                             images=_tracked_figures(generator, tracked))
    writer.close()
    return state, history


def evaluate_run(run_dir: str | Path, *, split: str = "test", batch_size: int = 32,
                 max_traces: int = 0) -> dict:
    """Scores (:func:`~jaxgeo.seismic.bluedisc_eval.evaluate`) of a run's last checkpoint on
    `split`: ``{"P": PhaseScores, "S": PhaseScores}``.

    Args:
      run_dir: a directory written by :func:`train_bluedisc` (``config.json``, checkpoints).
      split: the dataset split to score; batch_size: prediction batch size.
      max_traces: score at most this many traces (0: all).
    """
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: pass a run directory of "
                                "experiments/bluedisc.py")
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
    label, weight = str(config.label), config.data_weight
    generator = bd.make_generator(label)
    template = bd.init_state(generator, samples=WINDOW, g_lr=float(config.g_lr),
                             d_lr=None if weight is None else float(config.d_lr),
                             seed=int(config.seed))
    with Checkpointer(run_dir / "checkpoints", config=config, ignore_prefixes=RUN_FIELDS) as ckpt:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(f"{run_dir / 'checkpoints'} holds no checkpoint")
        state = ckpt.restore(template)
    variables = state.part("generator").variables
    predict = jax.jit(lambda x: jax.nn.sigmoid(generator.apply(variables, x, train=False,
                                                               logits=True)))
    dataset = load_dataset(str(config.dataset), synthetic_traces=int(config.synthetic_traces),
                           seed=int(config.seed))
    loader = bluedisc_onsets_loader(dataset, split, batch_size)
    preds, onsets, n = [], {"P": [], "S": []}, 0
    for batch in loader:
        preds.append(np.asarray(predict(jnp.asarray(batch["X"]))))
        for ph in ("P", "S"):
            onsets[ph].append(batch[f"onsets_{ph}"])
        n += len(batch["X"])
        if max_traces and n >= max_traces:
            break
    pred = np.concatenate(preds)
    return evaluate(pred, {ph: np.concatenate(v) for ph, v in onsets.items()},
                    generator.phases)
