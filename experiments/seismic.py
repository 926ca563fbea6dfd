"""Seismic phase (and, later, magnitude) experiments: the original framework's ``main.py``.

    python experiments/seismic.py --mode train_phase --model_type phasenet --dataset ETHZ \
        --model_path runs/pn --epochs 10 --filter_factor 2 --plot
    python experiments/seismic.py --mode eval_phase --model_type phasenet --dataset ETHZ \
        --model_path runs/pn --filter_factor 2
    python experiments/seismic.py --mode eval_phase --dataset ETHZ --model_path mypicker.pt.v1

The last form evaluates a local SeisBench weight pair (``mypicker.pt.v1`` + ``mypicker.json.v1``,
as written by ``SeisBenchModel.save``) of a PhaseNet or an EQTransformer, converted to Flax; the
model type is read from the weights (``--model_type phasenet|eqtransformer`` must match them).

Flags of the original interface map onto ``configs/seismic/phase.py`` fields; any field can also
be set with ``--config.<field>=<value>`` and another config file chosen with ``--config``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()

import numpy as np  # noqa: E402

from jaxgeo.core.config import ConfigError, LegacyFlag, parse_command_line  # noqa: E402
from jaxgeo.core.logging import get_logger  # noqa: E402
from jaxgeo.core.safepickle import UnsafePickleError  # noqa: E402
from jaxgeo.core.train import NonFiniteLossError  # noqa: E402
from jaxgeo.seismic import evaluate, registry, train  # noqa: E402
from jaxgeo.seismic.convert import resolve_weight_pair  # noqa: E402
from jaxgeo.seismic.data import phase_loader  # noqa: E402
from jaxgeo.seismic.experiment import (  # noqa: E402
    apply_train_defaults,
    configured_dataset,
    validate_config,
)
from jaxgeo.seismic.plots import plot_examples, plot_history  # noqa: E402
from jaxgeo.seismic.tune import tune_study  # noqa: E402

DEFAULT_CONFIG = str(ROOT / "configs" / "seismic" / "phase.py")
MODES = ("train_phase", "eval_phase", "train_mag", "eval_mag", "tutorial_test_load_and_generator",
         "tutorial_train_phasenet", "tutorial_evaluate_phasenet", "plot_history")
# Old mode names that still work, with a deprecation note: name -> the mode it runs.
DEPRECATED_MODES = {"tutorial": "tutorial_test_load_and_generator"}
MAGNITUDE_MODES = ("train_mag", "eval_mag")
log = get_logger("jaxgeo.seismic")


def _model_type_help() -> str:
    aliases = sorted({a for n in registry.names() for a in registry.resolve(n).aliases})
    return (" | ".join(registry.names()) + f" (aliases: {', '.join(aliases)}); for SeisBench "
            "weights phasenet | eqtransformer (default: read from the weights)")


def _model_flags() -> list[LegacyFlag]:
    """Every model type's flags, from the model registry (one entry per field)."""
    flags = []
    for flag in registry.model_flags():
        flags += flag.legacy(used_by="used by " + ", ".join(registry.used_by(flag)))
    return flags


LEGACY = (
    LegacyFlag("--mode", "mode", choices=MODES + tuple(DEPRECATED_MODES), help="what to run"),
    LegacyFlag("--model_type", "model_type", help=_model_type_help()),
    LegacyFlag("--dataset", "data.dataset",
               help="SeisBench name (ETHZ, STEAD, INSTANCE, ...), 'synthetic' or a folder"),
    LegacyFlag("--model_path", "model_path",
               help="run directory (checkpoints, history; default runs/<model>_<dataset>); "
                    "for eval_phase also a SeisBench weight pair NAME.pt.vN (with "
                    "NAME.json.vN beside it) or its stem NAME"),
    LegacyFlag("--epochs", "train.epochs", type=int, help="training epochs"),
    LegacyFlag("--batch_size", "train.batch_size", type=int,
               help="batch size (train_mag defaults: phasenet_mag 32, eqtransformer_mag 16, "
                    "amag_v2 64)"),
    LegacyFlag("--lr", "train.lr", type=float,
               help="learning rate (train_mag defaults: phasenet_mag 1e-3, eqtransformer_mag "
                    "1e-4, amag_v2 1e-3)"),
    LegacyFlag("--learning_rate", "train.lr", type=float, help="same as --lr"),
    LegacyFlag("--warmup_epochs", "train.warmup_epochs", type=int,
               help="train_mag: LR warmup 10%%->100%% over this many epochs (default 5)"),
    LegacyFlag("--optimizer", "train.optimizer", help="train_mag: Adam | AdamW"),
    LegacyFlag("--weight_decay", "train.weight_decay", type=float,
               help="train_mag: AdamW weight decay (default 1e-5)"),
    LegacyFlag("--scheduler_patience", "train.scheduler_patience", type=int,
               help="train_mag: reduce-on-plateau patience in epochs (default 5)"),
    LegacyFlag("--save_every", "train.save_every", type=int,
               help="train_mag: checkpoint every N epochs (plus final and best)"),
    LegacyFlag("--tune", "tune.enabled", kind="bool", help="train_mag: Optuna study"),
    LegacyFlag("--n_trials", "tune.n_trials", type=int, help="--tune: trials to add"),
    LegacyFlag("--max_epochs_per_trial", "tune.max_epochs_per_trial", type=int,
               help="--tune: epochs per trial"),
    LegacyFlag("--study_name", "tune.study_name",
               help="--tune: study name (optuna_studies/NAME.db, resumable)"),
    LegacyFlag("--plot", "plot", kind="bool", help="write figures"),
    LegacyFlag("--resume", "train.resume", kind="bool", help="continue from the last checkpoint"),
    LegacyFlag("--sigma", "data.sigma", type=float, help="Gaussian label width (samples)"),
    *_model_flags(),
    LegacyFlag("--threshold", "eval.threshold", type=float, help="pick probability threshold"),
    LegacyFlag("--tolerance", "eval.tolerance_s", type=float, help="pick tolerance (s)"),
    LegacyFlag("--output_dir", "eval.output_dir",
               help="where eval_phase writes metrics.json (default: the run directory; for "
                    "weight pairs NAME_vN_eval beside them)"),
    LegacyFlag("--save_predictions", "eval.save_predictions", kind="bool",
               help="eval_phase also writes predictions.npz (X, y, prob, detection)"),
    LegacyFlag("--synthetic_traces", "data.synthetic_traces", type=int,
               help="size of the 'synthetic' dataset"),
    LegacyFlag("--num_devices", "train.num_devices", type=int,
               help="data-parallel devices for training (0: all visible)"),
)


def parse(argv):
    return parse_command_line(argv, default_config=DEFAULT_CONFIG, legacy=LEGACY,
                              prog="experiments/seismic.py",
                              description="SeisBench phase picking with the PhaseNet family "
                                          "(and evaluation of SeisBench PhaseNet / "
                                          "EQTransformer weight pairs).")


def _argv_fields(argv) -> set[str]:
    """Config fields set on the command line (legacy flags and ``--config.<field>=``)."""
    by_flag = {f.flag: f.field for f in LEGACY}
    fields = set()
    for arg in argv:
        name = arg.partition("=")[0]
        if name in by_flag:
            fields.add(by_flag[name])
        elif name.startswith("--config."):
            fields.add(name[len("--config."):])
    return fields


def run(argv) -> object:
    """Parse ``argv`` and run the mode; raises on bad input (see ``main`` for exit codes)."""
    config = parse(argv)
    mode = str(config.mode)
    if mode in DEPRECATED_MODES:
        log.warning("--mode %s is deprecated; it runs --mode %s (use that name)", mode,
                    DEPRECATED_MODES[mode])
        mode = config.mode = DEPRECATED_MODES[mode]
    if mode not in MODES:
        raise ConfigError(f"config.mode = {mode!r} is not allowed; choose one of {list(MODES)}")
    if mode in MAGNITUDE_MODES:
        return _magnitude(config, mode, _argv_fields(argv))
    if mode.startswith("tutorial_") and mode != "tutorial_test_load_and_generator":
        config.model_type = "phasenet"
    weight_pair = None
    if mode in ("eval_phase", "tutorial_evaluate_phasenet") and config.model_path:
        weight_pair = resolve_weight_pair(config.model_path)  # incomplete pair -> error here
    given = evaluate.given_fields(config, _argv_fields(argv))
    loaded = None
    if weight_pair is not None:
        loaded = evaluate.load_seisbench_model(config, given)  # wrong model: before data
    elif mode in ("train_phase", "eval_phase", "tutorial_train_phasenet",
                  "tutorial_evaluate_phasenet"):
        validate_config(config, training=mode.startswith(("train", "tutorial_train")))
        registry.build_model(config)  # unknown model type -> error before any data is touched
    if mode in ("train_phase", "tutorial_train_phasenet"):
        _, history = train.train_phase(config)
        return history
    if mode in ("eval_phase", "tutorial_evaluate_phasenet"):
        metrics = evaluate.eval_phase(config, given=given, loaded=loaded)
        print(json.dumps(metrics, indent=2, default=float))
        return metrics
    if mode == "plot_history":
        path = Path(config.model_path) / "history.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: --model_path must be a training run "
                                    "directory (written by --mode train_phase)")
        return plot_history(json.loads(path.read_text())["epochs"],
                            Path(config.model_path) / "history.png")
    return _tutorial_load_and_generator(config)


def _magnitude(config, mode: str, argv_fields: set[str]):
    """train_mag (or --tune) and eval_mag; per-model training defaults unless given."""
    if mode == "eval_mag":
        metrics = evaluate.eval_mag(config, given=evaluate.given_fields(config, argv_fields))
        print(json.dumps(metrics, indent=2, default=float))
        return metrics
    spec = registry.resolve(config.model_type)
    if spec.task.name != "magnitude":
        raise ConfigError(f"--mode train_mag needs a magnitude model type (phasenet_mag, "
                          f"eqtransformer_mag, amag_v2), got {spec.name!r}")
    apply_train_defaults(config, argv_fields)
    validate_config(config)
    registry.build_model(config)
    if bool(config.tune.enabled):
        return tune_study(config, argv_fields)
    _, history = train.train_mag(config)
    return history


def _tutorial_load_and_generator(config):
    ds = configured_dataset(config)
    print(ds)
    print(ds.metadata["split"].value_counts().to_string())
    batch = next(iter(phase_loader(ds, "train", batch_size=4, detection=True,
                                   magnitude=True, norm=str(config.model.norm))))
    for key, value in batch.items():
        print(f"{key}: shape {value.shape}, dtype {value.dtype}")
    if bool(config.plot) and config.model_path:
        plot_examples(batch["X"], batch["y"], np.zeros_like(batch["y"]),
                      Path(config.model_path) / "generator_examples.png")
    return batch


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        run(argv)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError, NotImplementedError,
            KeyError, NonFiniteLossError, UnsafePickleError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
