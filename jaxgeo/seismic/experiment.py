"""Set-up that seismic training and evaluation share: config defaults and validation, the
dataset named by the config, the run directory, and model-flag checks against checkpoints.

``configs/seismic/phase.py`` returns :func:`default_config`; entry scripts validate once with
:func:`validate_config` before anything is read or written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ml_collections

from jaxgeo.core.config import ConfigError, check_choice, check_positive, get_field
from jaxgeo.core.logging import get_logger
from jaxgeo.seismic import registry
from jaxgeo.seismic.data import PIPELINES, WAVEFORM_CACHES, load_dataset
from jaxgeo.seismic.labels import WINDOW_MODES

__all__ = ["ModelFlagMismatchError", "default_config", "validate_config", "configured_dataset",
           "run_directory", "check_model_flags", "field_or", "apply_train_defaults"]

log = get_logger("jaxgeo.seismic")


class ModelFlagMismatchError(ConfigError):
    """A checkpoint was trained with other model flags than the current run."""


def field_or(config: Any, dotted: str, default: Any = None) -> Any:
    """The dotted field of a config or plain dict, or `default` when it is missing."""
    try:
        return get_field(config, dotted)
    except ConfigError:
        return default


def default_config() -> ml_collections.ConfigDict:
    """Defaults of every field; model fields come from the model registry."""
    c = ml_collections.ConfigDict()
    c.mode = "tutorial_test_load_and_generator"  # the original main.py's default
    c.model_type = "phasenet"
    c.model_path = ""
    c.plot = False
    c.model = registry.model_defaults()
    # data.waveform_cache: SeisBench's read cache (auto | trace | full | none); data.pipeline:
    # how batches are made (auto | batched | seisbench, see jaxgeo.seismic.data.phase_loader)
    c.data = ml_collections.ConfigDict(dict(
        dataset="synthetic", sampling_rate=100.0, synthetic_traces=3000, seed=0, sigma=20.0,
        prefetch=4, cache_dir="", waveform_cache="auto", pipeline="auto"))
    # train.num_devices: data-parallel devices (0: all visible); the batch must divide.
    c.train = ml_collections.ConfigDict(dict(
        epochs=5, batch_size=32, lr=1e-3, lr_decay_steps=0, seed=0, steps_per_epoch=0,
        max_eval_batches=0, keep_checkpoints=3, resume=False, num_devices=1,
        # magnitude training (train_mag): see jaxgeo.seismic.train.train_model
        warmup_epochs=5, optimizer="adam", weight_decay=1e-5, scheduler_patience=5,
        early_stopping_patience=10, save_every=1, mag_loss="all"))
    # tune: Optuna study of train_mag (jaxgeo.seismic.tune); the study is SQLite in
    # tune.directory/{study_name}.db
    c.tune = ml_collections.ConfigDict(dict(
        enabled=False, n_trials=50, max_epochs_per_trial=20, study_name="magnitude",
        directory="optuna_studies", seed=42, batch_sizes=(64, 128, 256, 512),
        filter_factors=(1, 2, 4)))
    c.eval = ml_collections.ConfigDict(dict(
        split="test", threshold=0.3, tolerance_s=0.1, min_pick_distance_s=0.5, seed=123,
        max_batches=0, window="onsets_inside", window_margin_s=0.5, output_dir="",
        save_predictions=False))
    return c


def validate_config(config: ml_collections.ConfigDict, *, training: bool = True) -> None:
    """Check every field the seismic jobs read; the model type is made canonical (aliases).

    Raises ConfigError naming the field and the allowed values, before any data is touched.
    """
    spec = registry.resolve(config.model_type)
    config.model_type = spec.name
    if training and not spec.trainable:
        registry.build_model(config)  # raises the "evaluation only" message
    check_choice(config, "model.norm", ("std", "peak"))
    check_choice(config, "eval.window", WINDOW_MODES)
    check_choice(config, "data.pipeline", PIPELINES)
    check_choice(config, "data.waveform_cache", WAVEFORM_CACHES)
    check_positive(config, "model.filter_factor")
    check_positive(config, "train.batch_size")
    check_positive(config, "train.lr")
    config.train.optimizer = str(config.train.optimizer).lower()
    check_choice(config, "train.optimizer", ("adam", "adamw"))
    check_choice(config, "train.mag_loss", ("all", "after_pick"))
    check_positive(config, "train.save_every")
    if int(config.train.warmup_epochs) < 0:
        raise ConfigError(f"config.train.warmup_epochs = {config.train.warmup_epochs}: "
                          "must be >= 0")
    if int(config.train.epochs) < 1:
        raise ConfigError(f"config.train.epochs = {config.train.epochs}: must be >= 1")
    if int(config.train.num_devices) < 0:
        raise ConfigError(f"config.train.num_devices = {config.train.num_devices}: use 0 (all "
                          "visible devices) or a positive count")


def apply_train_defaults(config: ml_collections.ConfigDict, given: set[str]) -> None:
    """Set the model type's ``train_defaults`` (registry) for every field not in `given`
    (the fields set on the command line): an explicit flag wins."""
    for dotted, value in registry.resolve(config.model_type).train_defaults.items():
        if dotted not in given:
            section, name = dotted.split(".", 1)
            config[section][name] = value


def configured_dataset(config: ml_collections.ConfigDict):
    """The ``seisbench.data.WaveformDataset`` that ``config.data`` names."""
    d = config.data
    return load_dataset(d.dataset, sampling_rate=d.sampling_rate,
                        synthetic_traces=int(d.synthetic_traces), seed=int(d.seed),
                        cache_dir=d.cache_dir or None, waveform_cache=str(d.waveform_cache))


def run_directory(config: ml_collections.ConfigDict) -> Path:
    """``config.model_path``, or ``runs/<model_type>_<dataset>`` (set and logged) when empty."""
    if not config.model_path:
        dataset = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(config.data.dataset)).name)
        config.model_path = str(Path("runs") / f"{config.model_type}_{dataset}")
        log.info("no --model_path given: writing the run to %s", config.model_path)
    return Path(config.model_path)


def check_model_flags(stored: dict, config: ml_collections.ConfigDict) -> None:
    """Raise ModelFlagMismatchError naming every flag of the *stored* model type that differs.

    Only the model type and that model's own flags are compared (see
    :func:`jaxgeo.seismic.registry.compat_fields`).
    """
    stored_type = field_or(stored, "model_type", "<unset>")
    try:
        fields = registry.compat_fields(stored_type)
    except ConfigError:
        fields = registry.compat_fields(config.model_type)
    flags = {f.field: f.flag for f in registry.model_flags()}
    flags["model_type"] = "--model_type"
    diffs = []
    for dotted in fields:
        old, new = field_or(stored, dotted, "<unset>"), field_or(config, dotted, "<unset>")
        if old != new:
            diffs.append(f"{flags[dotted]} (checkpoint: {old!r}, now: {new!r})")
    if diffs:
        raise ModelFlagMismatchError(
            "the checkpoint was trained with other model flags: " + "; ".join(diffs)
            + ". Pass the checkpoint's values (or train a new model).")
