"""Run one PhysAE stage from a config (the entry scripts' one library call)."""

from __future__ import annotations

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import ConfigError, check_choice, check_positive, save_config
from jaxgeo.core.logging import get_logger
from jaxgeo.core.parallel import make_mesh
from jaxgeo.core.schedules import cosine_warm_restarts
from jaxgeo.core.train import fit
from jaxgeo.physae import data, stages
from jaxgeo.physae.models import VARIANTS, PhysAE
from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import build_space
from jaxgeo.spectra import load_physae_yaml

__all__ = ["REFERENCE_WINDOW", "validate", "build", "make_schedule", "train_stage"]

REFERENCE_WINDOW = Path(__file__).resolve().parent / "data" / "physae_window_3085.yaml"
log = get_logger("jaxgeo.physae")


def validate(c: ml_collections.ConfigDict) -> None:
    """Check the config once at start-up; ConfigError names the field."""
    check_choice(c, "stage", tuple(stages.STAGES))
    check_choice(c, "encoder_variant", tuple(VARIANTS))
    check_choice(c, "optimizer", ("adamw", "lion"))
    check_choice(c, "convention", ("physae", "guide"))
    if str(c.precision) == "16":
        raise ConfigError("precision=16: float16 is refused (the simulator's optical depths "
                          "and the Faddeeva kernel overflow/underflow in it); use 32 or bf16")
    check_choice(c, "precision", ("32", "bf16"))
    for f in ("train_samples", "val_samples", "batch_size", "epochs", "num_points", "lr"):
        check_positive(c, f)
    if c.train_samples < c.batch_size:
        raise ConfigError(f"train_samples={c.train_samples} < batch_size={c.batch_size}")
    check_choice(c, "scheduler", ("constant", "cosine_warmup"))
    if c.scheduler == "cosine_warmup":
        for f in ("t_0", "t_mult"):
            if int(c[f]) < 1:
                raise ConfigError(f"{f}={c[f]}: must be >= 1 (epochs) for cosine_warmup")
        if int(c.warmup_epochs) < 0 or not 0.0 <= float(c.eta_min_ratio) <= 1.0:
            raise ConfigError(f"warmup_epochs={c.warmup_epochs} must be >= 0 and "
                              f"eta_min_ratio={c.eta_min_ratio} in [0, 1]")


def make_schedule(c: ml_collections.ConfigDict, steps_per_epoch: int):
    """The learning rate: ``c.lr`` constant, or ``cosine_warmup``: a linear warmup over
    ``warmup_epochs`` (from 0.1 lr), then cosine decay to ``eta_min_ratio * lr`` with warm
    restarts after ``t_0``, ``t_0 * t_mult``, ... epochs (SGDR; counted in steps of
    `steps_per_epoch`)."""
    if c.get("scheduler", "constant") == "constant":
        return float(c.lr)
    return cosine_warm_restarts(float(c.lr), int(c.t_0) * steps_per_epoch, int(c.t_mult),
                                float(c.eta_min_ratio),
                                warmup_steps=int(c.warmup_epochs) * steps_per_epoch)


def build(c: ml_collections.ConfigDict):
    """(space, obs, model) from the config."""
    path = Path(c.lines) if c.lines else REFERENCE_WINDOW
    window = load_physae_yaml(path)
    ranges = {k: tuple(v) for k, v in window.ranges_val.items()}
    space = build_space(ranges, convention=c.convention, n_points=c.num_points,
                        expand_factors=window.expand_factors, log_scale=tuple(c.log_scale),
                        log_floors=dict(c.log_floors))
    obs = ObservationModel.from_window(window, space, c.num_points)
    dtype = jnp.bfloat16 if str(c.precision) == "bf16" else jnp.float32
    model = PhysAE(obs, space, variant=c.encoder_variant, num_refiners=c.num_refiners,
                   film=c.film, mlp_dropout=c.mlp_dropout, refiner_dropout=c.refiner_dropout,
                   drop_path=c.get("drop_path", 0.2), head_hidden=c.get("head_hidden", 256),
                   refiner_width=c.get("refiner_width", 32), dtype=dtype)
    return space, obs, model


def _devices(gpus: int):
    devices = jax.devices()
    if gpus and jax.default_backend() == "cpu":
        warnings.warn(f"--gpus {gpus}: no GPU found; running on the CPU", stacklevel=2)
        return devices[:1]
    return devices[:gpus] if gpus else devices


def train_stage(c: ml_collections.ConfigDict):
    """Train `c.stage`; returns (state, history). Checkpoints in ``out_dir/stage_<S>``."""
    validate(c)
    space, obs, model = build(c)
    stream = data.SyntheticStream(obs, space, c.batch_size, c.train_samples,
                                  data.noise_train(), seed=c.seed)
    val = data.validation_set(obs, space, c.val_samples, seed=c.seed + 1,
                              noise=data.noise_val())
    loss = stages.LossConfig(lambda_param=c.lambda_param, lambda_angle=c.lambda_angle,
                             lambda_peak=c.lambda_peak, lambda_recon=c.lambda_recon,
                             use_relobralo=c.use_relobralo)
    out = Path(c.out_dir) / f"stage_{c.stage}"
    init = None
    if c.init_from:
        prev = Checkpointer(c.init_from)
        template = stages.create_state(model, "A", jax.random.PRNGKey(c.seed), stream.batch(0)["x"],
                                       tx_factory=lambda p: stages.make_optimizer(p, "A", lr=1.0))
        init = prev.restore(template).params
    state = stages.create_state(
        model, c.stage, jax.random.PRNGKey(c.seed), stream.batch(0)["x"], params=init,
        losses=loss, tx_factory=lambda p: stages.make_optimizer(
            p, c.stage, lr=make_schedule(c, stream.batches_per_epoch()),
            optimizer=c.optimizer, weight_decay=c.weight_decay))
    devices = _devices(c.gpus)
    mesh = make_mesh(devices=devices) if len(devices) > 1 else None
    active = None if stages.STAGES[c.stage].refiners else 0

    @jax.jit
    def predict(params, x):
        return model.apply({"params": params}, x, None, active, False)[-1]

    def evaluate(st):
        u = predict(st.params, val["x"])
        return {"val_param_mse": float(jnp.mean((u - val["u"]) ** 2))}

    save_config(c, out)
    ck = Checkpointer(out / "last", keep=2)
    best = Checkpointer(out / "best", keep=1)
    state, history = fit(state, stages.make_step(model, c.stage, loss), stream,
                         epochs=c.epochs, evaluate=evaluate, checkpointer=ck,
                         resume=c.resume, best_checkpointer=best,
                         best_metric="val_param_mse", history_path=out / "history.json",
                         mesh=mesh, desc=f"stage {c.stage}")
    ck.close()
    best.close()
    log.info("stage %s done: best checkpoint in %s", c.stage, out / "best")
    return state, history
