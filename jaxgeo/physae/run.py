"""Run one PhysAE stage from a config (the entry scripts' one library call).

Windows (``c.window``):

* ``"reference"``: the PhysAE window 3085.4-3086.6 cm^-1 shipped as package data (lines,
  calibration polynomial, ranges, constants); ``--lines`` a PhysAE YAML replaces all of it,
  a HITRAN ``.par``/``.data`` file replaces the lines only.
* ``"synthetic"``: ranges, path length and expansion from the config (the guide's range
  sets, ``configs/physae/``); lines from ``--lines PATH`` (HITRAN ``.par``/``.data``: its
  CH4 and H2O records; PhysAE YAML: its transitions) or, without it, the documented
  synthetic list (:func:`jaxgeo.spectra.synthetic_window_lines`) over the training window
  plus ``synthetic_wing``; outputs then say ``synthetic`` (:func:`lines_label`).

A line list that does not cover the training window is an error naming ``--lines``.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import ConfigError, check_choice, check_positive, save_config
from jaxgeo.core.files import write_json
from jaxgeo.core.logging import get_logger
from jaxgeo.core.parallel import make_mesh
from jaxgeo.core.schedules import cosine_warm_restarts
from jaxgeo.core.train import fit
from jaxgeo.physae import data, stages
from jaxgeo.physae.models import VARIANTS, PhysAE
from jaxgeo.physae.observation import ObservationModel, training_span
from jaxgeo.physae.params import PARAM_NAMES, ParameterError, build_space
from jaxgeo.spectra import (
    SYNTHETIC_LABEL,
    LineList,
    load_physae_yaml,
    read_hitran_par,
    synthetic_window_lines,
)
from jaxgeo.spectra.constants import ATM_MBAR, LOSCHMIDT_CM3, T_STP_K
from jaxgeo.spectra.linelist import HITRAN_MOLECULE_IDS

__all__ = ["REFERENCE_WINDOW", "WINDOWS", "validate", "build", "load_lines", "lines_label",
           "is_synthetic",
           "make_schedule", "train_stage"]

WINDOWS = ("reference", "synthetic")
HITRAN_SUFFIXES = (".par", ".data", ".txt")
YAML_SUFFIXES = (".yaml", ".yml")

REFERENCE_WINDOW = Path(__file__).resolve().parent / "data" / "physae_window_3085.yaml"
log = get_logger("jaxgeo.physae")


def validate(c: ml_collections.ConfigDict) -> None:
    """Check the config once at start-up; ConfigError names the field."""
    check_choice(c, "stage", tuple(stages.STAGES))
    check_choice(c, "encoder_variant", tuple(VARIANTS))
    check_choice(c, "optimizer", ("adamw", "lion"))
    check_choice(c, "convention", ("physae", "guide"))
    check_choice(c, "window", WINDOWS)
    if c.get("lowess_normalise", False) and int(c.get("lowess_window", 30)) < 5:
        raise ConfigError(f"lowess_window={c.lowess_window}: must be >= 5 pixels")
    if c.window == "synthetic":
        for f in ("ranges_val", "path_length_m", "synthetic_seed", "synthetic_wing"):
            if f not in c:
                raise ConfigError(f"{f}: missing; window='synthetic' needs ranges_val, "
                                  f"path_length_m, synthetic_seed and synthetic_wing")
        check_positive(c, "path_length_m")
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


def _lines_path(c) -> Path | None:
    if not c.get("lines", ""):
        return None
    path = Path(c.lines)
    if not path.is_file():
        raise ConfigError(f"--lines {path}: no such file; give a HITRAN .par/.data file or a "
                          f"PhysAE transitions YAML")
    if path.suffix.lower() not in HITRAN_SUFFIXES + YAML_SUFFIXES:
        raise ConfigError(f"--lines {path}: unknown suffix {path.suffix!r}; give a HITRAN "
                          f"{'/'.join(HITRAN_SUFFIXES)} file or a PhysAE .yaml/.yml")
    return path


def load_lines(path: str | Path) -> dict[str, LineList]:
    """``--lines PATH`` -> molecule -> LineList (CH4 and H2O).

    Args:
      path: a HITRAN 160-character file (``.par``, ``.data``, ``.txt``; its CH4 and H2O
        records, other molecules ignored) or a PhysAE transitions YAML (``.yaml``/``.yml``).
    Raises:
      ConfigError naming ``--lines`` for a missing file, an unknown suffix or a file with
      no CH4/H2O lines; LineListFormatError (file:line: field) for a malformed record.
    """
    path = _lines_path(ml_collections.ConfigDict({"lines": str(path)}))
    if path.suffix.lower() in YAML_SUFFIXES:
        lines = dict(load_physae_yaml(path).lines)
    else:
        every = read_hitran_par(path)
        mol = np.asarray(every.mol_id)
        lines = {m: every.select(mol == HITRAN_MOLECULE_IDS[m]) for m in ("CH4", "H2O")
                 if np.any(mol == HITRAN_MOLECULE_IDS[m])}
    lines = {m: v for m, v in lines.items() if m in ("CH4", "H2O")}
    if not lines:
        raise ConfigError(f"--lines {path}: no CH4 or H2O lines in the file")
    return lines


def lines_label(c: ml_collections.ConfigDict) -> str:
    """What the run's lines are, for outputs: ``synthetic ...`` for the generated list."""
    if c.get("lines", ""):
        return f"lines from {c.lines}"
    if c.get("window", "reference") == "synthetic":
        return (f"{SYNTHETIC_LABEL} line list (jaxgeo.spectra.synthetic, seed "
                f"{c.synthetic_seed}; not HITRAN)")
    return "PhysAE reference window 3085.4-3086.6 cm^-1"


def is_synthetic(c: ml_collections.ConfigDict) -> bool:
    """True when the run uses the generated synthetic line list."""
    return c.get("window", "reference") == "synthetic" and not c.get("lines", "")


def build(c: ml_collections.ConfigDict):
    """(space, obs, model) from the config (see the module docstring for the windows).

    Raises:
      ConfigError naming ``--lines`` when the given line list is missing or does not
      cover the training window; ParameterError (field) for bad ranges.
    """
    path = _lines_path(c)
    try:
        space, obs = _space_and_obs(c, path)
    except ParameterError as err:
        if path is not None and str(err).startswith("lines:"):
            raise ConfigError(f"--lines {path}: {str(err)[len('lines: '):]}") from None
        raise
    dtype = jnp.bfloat16 if str(c.precision) == "bf16" else jnp.float32
    model = PhysAE(obs, space, variant=c.encoder_variant, num_refiners=c.num_refiners,
                   film=c.film, mlp_dropout=c.mlp_dropout, refiner_dropout=c.refiner_dropout,
                   drop_path=c.get("drop_path", 0.2), head_hidden=c.get("head_hidden", 256),
                   refiner_width=c.get("refiner_width", 32), dtype=dtype)
    return space, obs, model


def _space_and_obs(c: ml_collections.ConfigDict, path: Path | None):
    predicted = None
    lowess = int(c.get("lowess_window", 30)) if c.get("lowess_normalise", False) else 0
    if lowess:
        predicted = tuple(n for n in PARAM_NAMES if n != "baseline0")  # it cancels
    space_args = dict(convention=c.convention, n_points=c.num_points,
                      log_scale=tuple(c.log_scale), log_floors=dict(c.log_floors),
                      predicted=predicted)
    if c.get("window", "reference") == "reference":
        yaml_given = path is not None and path.suffix.lower() in YAML_SUFFIXES
        window = load_physae_yaml(path if yaml_given else REFERENCE_WINDOW)
        ranges = {k: tuple(v) for k, v in window.ranges_val.items()}
        space = build_space(ranges, expand_factors=window.expand_factors, **space_args)
        if path is not None and not yaml_given:
            window = dataclasses.replace(window, lines=load_lines(path))
        obs = ObservationModel.from_window(window, space, c.num_points, lowess_window=lowess)
    else:
        ranges = {k: tuple(v) for k, v in dict(c.ranges_val).items()}
        space = build_space(ranges, expand_factors=dict(c.get("expand_factors", {})),
                            **space_args)
        if path is not None:
            lines = load_lines(path)
        else:
            span = training_span(space, (), c.num_points)
            lines = synthetic_window_lines(int(c.synthetic_seed), span,
                                           wing=float(c.synthetic_wing))
        obs = ObservationModel.from_lines(
            lines, space, c.num_points, path_length_cm=float(c.path_length_m) * 100.0,
            p0_mbar=ATM_MBAR, t0_k=T_STP_K, l0=LOSCHMIDT_CM3, lowess_window=lowess)
    return space, obs


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
    label = lines_label(c)
    write_json(out / "lines.json", {"lines": label, "synthetic": is_synthetic(c)})
    log.info("stage %s lines: %s", c.stage, label)
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


def guide_range_set(base: ml_collections.ConfigDict, ranges: dict, path_length_m: float,
                    out_dir: str) -> ml_collections.ConfigDict:
    """A config for one of the Stage A guide's range sets, from the reference config.

    Args:
      base: the reference config (``configs/physae/reference.py``), changed in place.
      ranges: ``{name: (lo, hi)}`` in the guide's convention (sig0 = window centre and dsig
        = window width in cm^-1, P in atm, baseline on x = i / (N - 1)); used for sampling
        and normalisation alike (expansion factors 1), mf_CH4 and mf_H2O on a log scale.
      path_length_m: absorption path (m).
      out_dir: run folder.
    Returns:
      ``base`` on the synthetic line list (unless ``--lines PATH``), seed 0, 1 cm^-1 wings.
    """
    c = base
    c.window = "synthetic"
    c.convention = "guide"
    c.ranges_val = {k: tuple(v) for k, v in ranges.items()}
    c.expand_factors = {k: 1.0 for k in ranges}
    c.path_length_m = float(path_length_m)
    c.synthetic_seed = 0
    c.synthetic_wing = 1.0  # cm^-1 of lines beyond both ends of the training window
    c.log_scale = ("mf_CH4", "mf_H2O")
    c.log_floors = {}
    c.out_dir = out_dir
    return c
