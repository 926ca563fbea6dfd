"""The one registry of seismic model types: name -> builder, task, flags and defaults.

Adding a model is one :func:`register` call. The command line (`experiments/seismic.py`
builds its model flags and ``--help`` from :func:`model_flags`), config validation
(:func:`resolve`, :func:`build_model`), the config defaults (:func:`model_defaults`) and
checkpoint compatibility (:func:`compat_fields`: a checkpoint is compared on the model type
and *that* model's flags only, so a PhaseNet checkpoint is not refused because a ConvLSTM
flag gained a default) all read from here.

A model type names its *task* (:class:`TaskSpec`: the label it learns, its loss, its output
channels), its input window, its own flags (beyond the shared ``--filter_factor`` and
``--norm``) and its training defaults (e.g. a smaller learning rate for a transformer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxgeo.core.config import ConfigError, LegacyFlag
from jaxgeo.seismic.labels import WINDOW
from jaxgeo.seismic.magnitude import window_mag_loss
from jaxgeo.seismic.magnitude_models import MAG_WINDOW, EQTransformerMag, MagnitudeNet, PhaseNetMag
from jaxgeo.seismic.phasenet import PhaseNet, PhaseNetConvLSTM, PhaseNetLSTM

__all__ = ["ModelFlag", "TaskSpec", "ModelSpec", "register", "resolve", "names",
           "model_flags", "used_by", "model_defaults", "compat_fields", "build_model",
           "phase_loss", "window_phase_loss", "magnitude_inputs", "magnitude_sampling_rate",
           "PHASE_TASK", "MAG_TASK", "LOG_EPS"]

LOG_EPS = 1e-5  # the original loss: -mean_t sum_c y log(y_hat + 1e-5)


def window_phase_loss(prob: jax.Array, target: jax.Array) -> jax.Array:
    """Per-window phase loss ``-mean_t sum_c y log(prob + 1e-5)``; ``[B, T, C]`` -> ``[B]``."""
    return -jnp.mean(jnp.sum(target * jnp.log(prob + LOG_EPS), axis=-1), axis=-1)


def phase_loss(prob: jax.Array, target: jax.Array) -> jax.Array:
    """The original training loss: :func:`window_phase_loss` averaged over the batch."""
    return jnp.mean(window_phase_loss(prob, target))


@dataclass(frozen=True)
class TaskSpec:
    """What a model family learns: the batch key of its label, its per-window loss
    (``loss(prediction, label) -> [B]``) and the names of its output channels."""

    name: str
    label: str
    loss: Callable[[jax.Array, jax.Array], jax.Array]
    outputs: tuple[str, ...]


PHASE_TASK = TaskSpec("phase", label="y", loss=window_phase_loss, outputs=("N", "P", "S"))


@dataclass(frozen=True)
class ModelFlag:
    """A model hyper-parameter: its command-line flag, config field and default."""

    flag: str
    field: str
    default: Any
    type: Callable[[str], Any] = str
    help: str = ""
    choices: tuple = ()
    kind: str = "value"

    def legacy(self, used_by: str = "") -> list[LegacyFlag]:
        """The command-line flag(s): a boolean gets ``--x`` and ``--no-x``."""
        text = f"{self.help} (default {self.default!r}{'; ' + used_by if used_by else ''})"
        if self.kind == "bool":
            name = self.flag[2:]
            return [LegacyFlag(self.flag, self.field, kind="bool", const=True, help=text),
                    LegacyFlag(f"--no-{name}", self.field, kind="bool", const=False,
                               help=f"turn {self.flag} off")]
        return [LegacyFlag(self.flag, self.field, type=self.type, help=text,
                           choices=self.choices)]


@dataclass(frozen=True)
class ModelSpec:
    """One model type: how to build it, what it learns, its flags and defaults.

    ``build(config) -> flax module`` reads only the fields of ``flags`` (and the shared
    ones); ``trainable=False`` types are evaluated from SeisBench weights only.
    """

    name: str
    build: Callable[[ml_collections.ConfigDict], nn.Module] | None
    task: TaskSpec
    flags: tuple[ModelFlag, ...] = ()
    window: int = WINDOW
    aliases: tuple[str, ...] = ()
    trainable: bool = True
    train_defaults: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""


SHARED_FLAGS = (
    ModelFlag("--filter_factor", "model.filter_factor", 1, int,
              "width multiplier of the PhaseNet-style encoder/decoder"),
    ModelFlag("--norm", "model.norm", "std", str, "input amplitude normalisation",
              choices=("std", "peak")),
)
_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model type (its name and aliases must be new); returns it."""
    for name in (spec.name, *spec.aliases):
        if name in _REGISTRY or name in _ALIASES:
            raise ValueError(f"model type {name!r} is already registered")
    _REGISTRY[spec.name] = spec
    _ALIASES.update({alias: spec.name for alias in spec.aliases})
    return spec


def names(trainable_only: bool = False) -> list[str]:
    """Registered model type names (without aliases)."""
    return [n for n, s in _REGISTRY.items() if s.trainable or not trainable_only]


def resolve(name: str) -> ModelSpec:
    """The spec of model type `name` (an alias resolves to its model type)."""
    key = _ALIASES.get(str(name), str(name))
    if key not in _REGISTRY:
        raise ConfigError(f"unknown model type {name!r}; choose one of {names()} "
                          f"(aliases: {sorted(_ALIASES)})")
    return _REGISTRY[key]


def model_flags() -> list[ModelFlag]:
    """Every model flag once (shared ones first), each with the model types that use it."""
    seen: dict[str, ModelFlag] = {f.field: f for f in SHARED_FLAGS}
    for spec in _REGISTRY.values():
        for flag in spec.flags:
            seen.setdefault(flag.field, flag)
    return list(seen.values())


def used_by(flag: ModelFlag) -> list[str]:
    """The model types that read `flag` (all of them for a shared flag)."""
    if flag in SHARED_FLAGS:
        return names()
    return [n for n, s in _REGISTRY.items() if flag.field in {f.field for f in s.flags}]


def model_defaults() -> ml_collections.ConfigDict:
    """``config.model``: every registered flag's field with its default."""
    return ml_collections.ConfigDict({f.field.split(".", 1)[1]: f.default
                                      for f in model_flags()})


def compat_fields(name: str) -> list[str]:
    """The config fields a checkpoint of model type `name` must match on restore."""
    spec = resolve(name)
    return ["model_type", *(f.field for f in SHARED_FLAGS), *(f.field for f in spec.flags)]


def build_model(config: ml_collections.ConfigDict) -> nn.Module:
    """The Flax module of ``config.model_type`` with its ``config.model`` fields."""
    spec = resolve(config.model_type)
    if spec.build is None:
        raise ConfigError(
            f"--model_type {spec.name} evaluates SeisBench weights only: pass --mode "
            f"eval_phase --model_path <name>.pt.vN (a SeisBench weight pair); trainable "
            f"types: {names(trainable_only=True)}")
    return spec.build(config)


def _shared(config: ml_collections.ConfigDict) -> dict[str, Any]:
    return {"filter_factor": int(config.model.filter_factor), "norm": str(config.model.norm)}


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


LSTM_FLAGS = (
    ModelFlag("--lstm_hidden_size", "model.lstm_hidden_size", 0, int,
              "bottleneck LSTM hidden size (0: auto, as the original's None)"),
    ModelFlag("--lstm_num_layers", "model.lstm_num_layers", 1, int, "bottleneck LSTM layers"),
    ModelFlag("--lstm_bidirectional", "model.lstm_bidirectional", True, _bool,
              "bidirectional bottleneck LSTM", kind="bool"),
)
CONVLSTM_FLAGS = (
    ModelFlag("--convlstm_hidden", "model.convlstm_hidden", 64, int,
              "ConvLSTM hidden channels"),
    ModelFlag("--convlstm_kernel", "model.convlstm_kernel", 3, int, "ConvLSTM kernel size"),
    ModelFlag("--convlstm_frame", "model.convlstm_frame", 3, int,
              "ConvLSTM frame length (divides 12)"),
)

register(ModelSpec(
    "phasenet", lambda c: PhaseNet(**_shared(c)), PHASE_TASK,
    description="PhaseNet (Zhu & Beroza 2019), SeisBench-compatible"))
register(ModelSpec(
    "phasenet_lstm",
    lambda c: PhaseNetLSTM(**_shared(c), lstm_hidden_size=int(c.model.lstm_hidden_size) or None,
                           lstm_num_layers=int(c.model.lstm_num_layers),
                           lstm_bidirectional=_bool(c.model.lstm_bidirectional)),
    PHASE_TASK, LSTM_FLAGS, description="PhaseNet with an LSTM bottleneck"))
register(ModelSpec(
    "phasenet_convlstm",
    lambda c: PhaseNetConvLSTM(**_shared(c), convlstm_hidden=int(c.model.convlstm_hidden),
                               convlstm_kernel=int(c.model.convlstm_kernel),
                               convlstm_frame=int(c.model.convlstm_frame)),
    PHASE_TASK, CONVLSTM_FLAGS, aliases=("phasenet_conv_lstm",),
    description="PhaseNet with a ConvLSTM bottleneck"))
register(ModelSpec(
    "eqtransformer", None, PHASE_TASK, window=6000, trainable=False,
    description="EQTransformer (SeisBench weights, evaluation only)"))


# ------------------------------------------------------------------ magnitude regressors
MAG_TASK = TaskSpec("magnitude", label="magnitude", loss=window_mag_loss, outputs=("M",))
MAG_DEFAULTS_NOTE = "per-model training defaults of the original README"
EQT_MAG_FLAGS = (
    ModelFlag("--cnn_blocks", "model.cnn_blocks", 7, int, "EQTransformerMag ResCNN blocks"),
    ModelFlag("--lstm_blocks", "model.lstm_blocks", 3, int, "EQTransformerMag BiLSTM blocks"),
    ModelFlag("--transformer_d_model", "model.transformer_d_model", 16, int,
              "EQTransformerMag transformer width"),
    ModelFlag("--transformer_nhead", "model.transformer_nhead", 4, int,
              "EQTransformerMag attention heads"),
    ModelFlag("--transformer_num_encoder_layers", "model.transformer_num_encoder_layers", 2,
              int, "EQTransformerMag transformer encoder layers"),
    ModelFlag("--transformer_dim_feedforward", "model.transformer_dim_feedforward", 128, int,
              "EQTransformerMag feed-forward width"),
    ModelFlag("--n_class", "model.n_class", 1, int,
              "EQTransformerMag output channels; a magnitude regressor has one output (the "
              "magnitude), so only 1 is accepted (EQTransformer's phase-class count has no "
              "counterpart in a regression)"),
    ModelFlag("--phases", "model.phases", "PS", str,
              "EQTransformerMag: the phases (P, S or PS) whose earliest pick starts the "
              "magnitude label; traces without such a pick are not used"),
    ModelFlag("--sampling_rate", "model.sampling_rate", 100.0, float,
              "EQTransformerMag: the rate (Hz) the dataset is resampled to on read (the "
              "3000-sample window then spans 3000 / rate seconds)"),
)
LOG_AMPLITUDE_FLAG = ModelFlag(
    "--log_amplitude", "model.log_amplitude", True, _bool,
    "magnitude models: append the window's log10 peak amplitude per component (taken before "
    "the per-window normalisation, which removes it) as 3 input channels constant in time; "
    "--no-log_amplitude is the original framework's input (normalised waveforms only, "
    "amplitude lost)", kind="bool")
EQT_MAG_FLAGS = (LOG_AMPLITUDE_FLAG, *EQT_MAG_FLAGS)
AMAG_FLAGS = (
    LOG_AMPLITUDE_FLAG,
    ModelFlag("--lstm_hidden", "model.lstm_hidden", 128, int, "MagnitudeNet LSTM hidden size"),
    ModelFlag("--lstm_layers", "model.lstm_layers", 2, int, "MagnitudeNet BiLSTM layers"),
    ModelFlag("--dropout", "model.dropout", 0.2, float, "MagnitudeNet dropout"),
)


def _in_channels(c: ml_collections.ConfigDict) -> int:
    return 6 if _bool(c.model.log_amplitude) else 3


def magnitude_inputs(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The loader options of a magnitude model: ``amplitude`` (``--log_amplitude``) and
    ``magnitude_phases`` (``--phases`` of the model types that have it, else ``PS``)."""
    spec = resolve(config.model_type)
    own = {f.field for f in spec.flags}
    phases = str(config.model.phases) if "model.phases" in own else "PS"
    return {"amplitude": "model.log_amplitude" in own and _bool(config.model.log_amplitude),
            "magnitude_phases": phases}


def magnitude_sampling_rate(config: ml_collections.ConfigDict) -> float:
    """The rate the dataset is read at: ``--sampling_rate`` of the model types that have it
    (EQTransformerMag), else ``config.data.sampling_rate``."""
    own = {f.field for f in resolve(config.model_type).flags}
    if "model.sampling_rate" in own:
        return float(config.model.sampling_rate)
    return float(config.data.sampling_rate)


def _eqt_mag(c: ml_collections.ConfigDict) -> nn.Module:
    m = c.model
    if int(m.n_class) != 1:
        raise ConfigError(f"--n_class {m.n_class}: a magnitude model has one output channel "
                          "(the magnitude), so --n_class must be 1 (it counts EQTransformer's "
                          "phase classes, which a regression does not have)")
    phases = str(m.phases)
    if not phases or set(phases) - {"P", "S"} or len(set(phases)) != len(phases):
        raise ConfigError(f"--phases {phases!r}: use P, S or PS (the phases whose earliest "
                          "pick starts the magnitude label)")
    if float(m.sampling_rate) <= 0:
        raise ConfigError(f"--sampling_rate {m.sampling_rate}: must be a positive rate in Hz")
    if int(m.transformer_d_model) % int(m.transformer_nhead):
        raise ConfigError(f"--transformer_d_model {m.transformer_d_model} must be divisible "
                          f"by --transformer_nhead {m.transformer_nhead}")
    return EQTransformerMag(
        cnn_blocks=int(m.cnn_blocks), lstm_blocks=int(m.lstm_blocks),
        transformer_d_model=int(m.transformer_d_model), transformer_nhead=int(m.transformer_nhead),
        transformer_num_encoder_layers=int(m.transformer_num_encoder_layers),
        transformer_dim_feedforward=int(m.transformer_dim_feedforward), in_channels=_in_channels(c),
        norm=str(m.norm))


register(ModelSpec(
    "phasenet_mag", lambda c: PhaseNetMag(**_shared(c), in_channels=_in_channels(c)), MAG_TASK,
    (LOG_AMPLITUDE_FLAG,), window=MAG_WINDOW,
    aliases=("PhaseNetMag",), train_defaults={"train.lr": 1e-3, "train.batch_size": 32,
                                              "train.warmup_epochs": 5},
    description="PhaseNet encoder-decoder with a 1-channel magnitude head"))
register(ModelSpec(
    "eqtransformer_mag", _eqt_mag, MAG_TASK, EQT_MAG_FLAGS, window=MAG_WINDOW,
    aliases=("EQTransformerMag",), train_defaults={"train.lr": 1e-4, "train.batch_size": 16,
                                                   "train.warmup_epochs": 5},
    description="EQTransformer encoder + multi-head transformer + magnitude head"))
register(ModelSpec(
    "amag_v2",
    lambda c: MagnitudeNet(**_shared(c), in_channels=_in_channels(c),
                           lstm_hidden=int(c.model.lstm_hidden),
                           lstm_layers=int(c.model.lstm_layers), dropout=float(c.model.dropout)),
    MAG_TASK, AMAG_FLAGS, window=MAG_WINDOW, aliases=("MagnitudeNet", "AMAG_v2"),
    train_defaults={"train.lr": 1e-3, "train.batch_size": 64, "train.warmup_epochs": 5},
    description="MagnitudeNet (AMAG v2): stride-2 U-Net, BiLSTM + attention bottleneck"))
