"""Optuna tuning of magnitude training (``--mode train_mag --tune``).

Each trial is one :func:`jaxgeo.seismic.train.train_mag` run (one engine ``fit``) whose
epoch callback reports the dev loss to Optuna and raises ``optuna.TrialPruned`` when the
median pruner says so. TPE sampler (seed ``tune.seed``, 42). Search space: lr log-uniform
1e-5..1e-2, batch size ``tune.batch_sizes`` (64, 128, 256, 512), filter_factor
``tune.filter_factors`` (1, 2, 4), optimizer Adam | AdamW, weight decay log-uniform
1e-6..1e-3, scheduler patience 3..10. The study is SQLite
(``{tune.directory}/{study}.db``): a second invocation with the same name adds trials to it.
Outputs beside it: ``{study}_results.csv`` (trial, value, state, duration, parameters,
per-epoch dev losses), ``{study}_best_params.csv`` and ``{study}_analysis.png``.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402

from jaxgeo.core.files import write_text  # noqa: E402
from jaxgeo.core.logging import get_logger  # noqa: E402
from jaxgeo.core.plotting import save_figure  # noqa: E402
from jaxgeo.seismic import train  # noqa: E402

__all__ = ["suggest", "tune_study", "write_results"]

log = get_logger("jaxgeo.seismic")


def suggest(trial, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` with this trial's hyper-parameters."""
    c = copy.deepcopy(config)
    tu = config.tune
    c.train.lr = trial.suggest_float("lr", 1e-5, 1e-2, log=True)
    c.train.batch_size = trial.suggest_categorical("batch_size", list(tu.batch_sizes))
    c.model.filter_factor = trial.suggest_categorical("filter_factor", list(tu.filter_factors))
    c.train.optimizer = trial.suggest_categorical("optimizer", ["Adam", "AdamW"]).lower()
    c.train.weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True)
    c.train.scheduler_patience = trial.suggest_int("scheduler_patience", 3, 10)
    c.train.epochs = int(tu.max_epochs_per_trial)
    c.train.resume = False
    return c


def tune_study(config: ml_collections.ConfigDict, argv_fields=(), dataset=None):
    """Run ``config.tune.n_trials`` more trials of the study; returns the Optuna study.

    Args:
      config: a validated train_mag config (``config.tune``: study_name, directory,
        n_trials, max_epochs_per_trial, seed, batch_sizes, filter_factors).
      argv_fields: unused (the search space overrides the searched fields).
      dataset: a ``WaveformDataset`` (default: the one ``config.data`` names).
    """
    import optuna  # noqa: PLC0415 (optional dependency: the `tune` extra)

    tu = config.tune
    folder = Path(tu.directory)
    folder.mkdir(parents=True, exist_ok=True)
    name = str(tu.study_name)
    study = optuna.create_study(
        study_name=name, storage=f"sqlite:///{folder / (name + '.db')}", load_if_exists=True,
        direction="minimize", sampler=optuna.samplers.TPESampler(seed=int(tu.seed)),
        pruner=optuna.pruners.MedianPruner())
    base = Path(config.model_path or f"runs/{config.model_type}_tune")

    def objective(trial):
        c = suggest(trial, config)
        c.model_path = str(base / name / f"trial_{trial.number}")
        losses = []

        def report(epoch, record):
            losses.append(float(record["dev_loss"]))
            trial.set_user_attr("dev_losses", losses)
            trial.report(float(record["dev_loss"]), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
            return False

        train.train_mag(c, dataset, on_epoch_end=report)
        return min(losses)

    study.optimize(objective, n_trials=int(tu.n_trials))
    write_results(study, folder)
    return study


def write_results(study, folder: Path) -> None:
    """``{study}_results.csv``, ``{study}_best_params.csv`` and ``{study}_analysis.png``."""
    name = study.study_name
    keys = sorted({k for t in study.trials for k in t.params})
    rows = []
    for t in study.trials:
        duration = t.duration.total_seconds() if t.duration is not None else float("nan")
        rows.append([t.number, t.value, t.state.name, duration,
                     *[t.params.get(k, "") for k in keys],
                     json.dumps(t.user_attrs.get("dev_losses", []))])
    write_text(folder / f"{name}_results.csv",
               _csv(["trial", "value", "state", "duration_s", *keys, "dev_losses"], rows))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        write_text(folder / f"{name}_best_params.csv",
                   _csv(["param", "value"], [["trial", best.number], ["value", best.value],
                                             *best.params.items()]))
    _plot(study, complete, folder / f"{name}_analysis.png")


def _csv(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _plot(study, complete, path: Path) -> None:
    import optuna  # noqa: PLC0415 (optional dependency: the `tune` extra)

    fig, ax = plt.subplots(2, 2, figsize=(9, 7))
    values = [t.value for t in complete]
    ax[0, 0].plot([t.number for t in complete], values, "o", label="trial")
    ax[0, 0].plot([t.number for t in complete],
                  [min(values[:i + 1]) for i in range(len(values))], "-", label="best so far")
    ax[0, 0].set(xlabel="trial", ylabel="best dev loss", title="optimisation history")
    ax[0, 0].legend()
    try:
        importance = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # fewer than two complete trials
        importance = {}
    ax[0, 1].barh(list(importance), list(importance.values()))
    ax[0, 1].set(title="parameter importance (fANOVA)")
    top = sorted(complete, key=lambda t: t.value)[:10]
    ax[1, 0].scatter([t.params["lr"] for t in top], [t.value for t in top])
    ax[1, 0].set(xscale="log", xlabel="learning rate", ylabel="dev loss", title="top trials")
    if complete:
        curve = study.best_trial.user_attrs.get("dev_losses", [])
        ax[1, 1].plot(range(len(curve)), curve, "o-")
    ax[1, 1].set(xlabel="epoch", ylabel="dev loss", title="best trial")
    fig.tight_layout()
    save_figure(fig, path)
