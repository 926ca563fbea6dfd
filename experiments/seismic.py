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

from jaxgeo.core.config import ConfigError, LegacyFlag, parse_command_line  # noqa: E402

DEFAULT_CONFIG = str(ROOT / "configs" / "seismic" / "phase.py")
MODES = ("train_phase", "eval_phase", "train_mag", "eval_mag", "tutorial_test_load_and_generator",
         "tutorial_train_phasenet", "tutorial_evaluate_phasenet", "plot_history")
MAGNITUDE_MODES = ("train_mag", "eval_mag")


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {text!r}")


LEGACY = (
    LegacyFlag("--mode", "mode", choices=MODES, help="what to run"),
    LegacyFlag("--model_type", "model_type",
               help="phasenet | phasenet_lstm | phasenet_convlstm; for SeisBench weights "
                    "phasenet | eqtransformer (default: read from the weights)"),
    LegacyFlag("--dataset", "data.dataset",
               help="SeisBench name (ETHZ, STEAD, INSTANCE, ...), 'synthetic' or a folder"),
    LegacyFlag("--model_path", "model_path",
               help="run directory (checkpoints, history); for eval_phase also a SeisBench "
                    "weight pair NAME.pt.vN (with NAME.json.vN beside it) or its stem NAME"),
    LegacyFlag("--epochs", "train.epochs", type=int, help="training epochs"),
    LegacyFlag("--batch_size", "train.batch_size", type=int, help="batch size"),
    LegacyFlag("--lr", "train.lr", type=float, help="Adam learning rate"),
    LegacyFlag("--plot", "plot", kind="bool", help="write figures"),
    LegacyFlag("--resume", "train.resume", kind="bool", help="continue from the last checkpoint"),
    LegacyFlag("--filter_factor", "model.filter_factor", type=int,
               help="PhaseNet width multiplier"),
    LegacyFlag("--norm", "model.norm", choices=("std", "peak"), help="input normalisation"),
    LegacyFlag("--sigma", "data.sigma", type=float, help="Gaussian label width (samples)"),
    LegacyFlag("--lstm_hidden_size", "model.lstm_hidden_size", type=int,
               help="PhaseNetLSTM hidden size (0: auto)"),
    LegacyFlag("--lstm_num_layers", "model.lstm_num_layers", type=int,
               help="PhaseNetLSTM layers"),
    LegacyFlag("--lstm_bidirectional", "model.lstm_bidirectional", type=_bool,
               help="PhaseNetLSTM bidirectional (true/false)"),
    LegacyFlag("--convlstm_hidden", "model.convlstm_hidden", type=int,
               help="PhaseNetConvLSTM hidden channels"),
    LegacyFlag("--convlstm_kernel", "model.convlstm_kernel", type=int,
               help="PhaseNetConvLSTM kernel size"),
    LegacyFlag("--convlstm_frame", "model.convlstm_frame", type=int,
               help="PhaseNetConvLSTM frame length (divides 12)"),
    LegacyFlag("--threshold", "eval.threshold", type=float, help="pick probability threshold"),
    LegacyFlag("--tolerance", "eval.tolerance_s", type=float, help="pick tolerance (s)"),
    LegacyFlag("--output_dir", "eval.output_dir",
               help="where eval_phase writes metrics.json (default: the run directory; for "
                    "weight pairs NAME_vN_eval beside them)"),
    LegacyFlag("--save_predictions", "eval.save_predictions", kind="bool",
               help="eval_phase also writes predictions.npz (X, y, prob, detection)"),
    LegacyFlag("--synthetic_traces", "data.synthetic_traces", type=int,
               help="size of the 'synthetic' dataset"),
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
    if mode not in MODES:
        raise ConfigError(f"config.mode = {mode!r} is not allowed; choose one of {list(MODES)}")
    if mode in MAGNITUDE_MODES:
        raise NotImplementedError(
            f"--mode {mode}: magnitude estimation arrives with the magnitude issue "
            "(PhaseNetMag, EQTransformerMag, MagnitudeNet); only phase modes work for now"
        )
    from jaxgeo.seismic import train

    if mode.startswith("tutorial_") and mode != "tutorial_test_load_and_generator":
        config.model_type = "phasenet"
    weight_pair = None
    if mode in ("eval_phase", "tutorial_evaluate_phasenet") and config.model_path:
        from jaxgeo.seismic.convert import resolve_weight_pair

        weight_pair = resolve_weight_pair(config.model_path)  # incomplete pair -> error here
    given = train.given_fields(config, _argv_fields(argv))
    loaded = None
    if weight_pair is not None:
        loaded = train.load_seisbench_model(config, given)  # wrong model -> error before data
    elif mode in ("train_phase", "eval_phase", "tutorial_train_phasenet",
                  "tutorial_evaluate_phasenet"):
        train.build_model(config)  # unknown model type -> error before any data is touched
    if mode in ("train_phase", "tutorial_train_phasenet"):
        _, history = train.train_phase(config)
        return history
    if mode in ("eval_phase", "tutorial_evaluate_phasenet"):
        metrics = train.eval_phase(config, given=given, loaded=loaded)
        print(json.dumps(metrics, indent=2, default=float))
        return metrics
    if mode == "plot_history":
        from jaxgeo.seismic.plots import plot_history

        path = Path(config.model_path) / "history.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: --model_path must be a training run "
                                    "directory (written by --mode train_phase)")
        return plot_history(json.loads(path.read_text())["epochs"],
                            Path(config.model_path) / "history.png")
    return _tutorial_load_and_generator(config)


def _tutorial_load_and_generator(config):
    from jaxgeo.seismic.data import load_dataset, phase_loader

    ds = load_dataset(config.data.dataset, sampling_rate=config.data.sampling_rate,
                      synthetic_traces=int(config.data.synthetic_traces),
                      seed=int(config.data.seed))
    print(ds)
    print(ds.metadata["split"].value_counts().to_string())
    batch = next(iter(phase_loader(ds, "train", batch_size=4, detection=True,
                                   magnitude=True, norm=str(config.model.norm))))
    for key, value in batch.items():
        print(f"{key}: shape {value.shape}, dtype {value.dtype}")
    if bool(config.plot) and config.model_path:
        import numpy as np

        from jaxgeo.seismic.plots import plot_examples

        plot_examples(batch["X"], batch["y"], np.zeros_like(batch["y"]),
                      Path(config.model_path) / "generator_examples.png")
    return batch


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        run(argv)
    except (ConfigError, ValueError, FileNotFoundError, FileExistsError,
            NotImplementedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
