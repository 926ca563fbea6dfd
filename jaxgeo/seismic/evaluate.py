"""Evaluation of seismic pickers (``--mode eval_phase``): task 1-3 and pick metrics.

:func:`eval_phase` restores the latest checkpoint of a training run (only its params and
batch statistics: evaluation never depends on training-only settings such as the learning
rate schedule) after checking that the model flags match the ones it was trained with, and
writes ``metrics.json`` (plus figures with ``config.plot``).

``config.model_path`` may instead name a local SeisBench weight pair (``<base>.pt.vN`` with
``<base>.json.vN`` beside it, or the stem ``<base>``) of a PhaseNet or EQTransformer: evaluation
then converts it with :mod:`jaxgeo.seismic.convert`, applies the model's own SeisBench
pre-processing (``annotate_batch_pre``) to each window and scores the same metrics
(EQTransformer: its P/S curves are the pick channels, its detection curve the task 1 score).
Outputs then go to ``config.eval.output_dir`` (default ``<folder>/<base>_vN_eval``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.core.files import atomic_path, write_json
from jaxgeo.core.logging import get_logger
from jaxgeo.seismic import registry
from jaxgeo.seismic.convert import WeightPairError, load_weight_pair, resolve_weight_pair
from jaxgeo.seismic.data import get_split, phase_loader
from jaxgeo.seismic.eqtransformer import EQTransformer
from jaxgeo.seismic.experiment import (
    ModelFlagMismatchError,
    check_model_flags,
    configured_dataset,
    default_config,
    field_or,
    validate_config,
)
from jaxgeo.seismic.labels import WINDOW
from jaxgeo.seismic.magnitude import magnitude_metrics, magnitude_traces, trace_estimates
from jaxgeo.seismic.metrics import phase_metrics
from jaxgeo.seismic.phasenet import PhaseNet
from jaxgeo.seismic.plots import plot_examples, plot_magnitude
from jaxgeo.seismic.train import checkpointer, forward, use_magnitude_sampling_rate

__all__ = ["make_predict", "make_seisbench_predict", "predict_batches", "load_trained",
           "evaluate", "given_fields", "load_seisbench_model", "eval_phase",
           "eval_mag", "adopt_stored_model_flags"]

log = get_logger("jaxgeo.seismic")


def make_predict(module: PhaseNet):
    """jit ``(variables, X) -> module.apply(variables, X)``, the one the dev loss uses
    (:func:`jaxgeo.seismic.train.forward`: compiled once per model shape in a process)."""
    return forward(module)


def make_seisbench_predict(module):
    """jit ``(variables, X [B, T, C]) -> {"prob": [B, T, 3], ...}`` for converted SeisBench weights.

    Applies the model's own pre-processing first (``module.preprocess``, SeisBench's
    ``annotate_batch_pre``), then the network. ``prob`` channels are (N, P, S) whatever order the
    weights' ``phases`` use. EQTransformer: P/S from its pick branches, N = 1 - max(P, S), plus
    ``detection [B, T]`` from its detection branch.
    """
    phases = str(module.phases)
    if isinstance(module, EQTransformer):
        ip, is_ = phases.index("P"), phases.index("S")

        @jax.jit
        def predict(variables, x):
            out = module.apply(variables, module.apply(variables, x, method=module.preprocess))
            p, s = out[1 + ip], out[1 + is_]
            return {"prob": jnp.stack([1.0 - jnp.maximum(p, s), p, s], axis=-1),
                    "detection": out[0]}

        return predict
    order = [phases.index(c) for c in "PS"]

    @jax.jit
    def predict(variables, x):
        y = module.apply(variables, module.apply(variables, x, method=module.preprocess))
        p, s = y[..., order[0]], y[..., order[1]]
        noise = y[..., phases.index("N")] if "N" in phases else 1.0 - p - s
        return {"prob": jnp.stack([noise, p, s], axis=-1)}

    return predict


def predict_batches(module, variables, batches, *, keys=("y",),
                    predict=None) -> dict[str, np.ndarray]:
    """Run the model over loader batches; returns stacked ``prob`` and the requested keys.

    ``predict(variables, X)`` (default: ``module.apply``, jit) returns ``prob`` or a dict with
    ``prob`` and further outputs (e.g. ``detection``), all stacked into the result."""
    predict = predict or make_predict(module)
    out: dict[str, list] = {"prob": [], "X": []}
    for k in keys:
        out[k] = []
    for batch in batches:
        pred = predict(variables, jnp.asarray(batch["X"]))
        for name, value in (pred if isinstance(pred, dict) else {"prob": pred}).items():
            out.setdefault(name, []).append(np.asarray(value))
        out["X"].append(batch["X"])
        for k in keys:
            out[k].append(batch[k])
    return {k: np.concatenate(v) for k, v in out.items() if v}


def load_trained(config):
    """Module and variables of the latest checkpoint in ``config.model_path``."""
    out = Path(config.model_path) if config.model_path else None
    if out is None or not (out / "checkpoints").is_dir():
        raise FileNotFoundError(
            f"model path {str(out)!r} does not exist or holds no checkpoints; train one with "
            "--mode train_phase --model_path DIR, or point --model_path at a trained model"
        )
    module = registry.build_model(config)
    ckpt = checkpointer(config, out / "checkpoints")
    try:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(f"no complete checkpoint in {out / 'checkpoints'}")
        check_model_flags(ckpt.stored_config(), config)
        # Only the network's variables: no optimizer or schedule is rebuilt for evaluation.
        part = ckpt.restore_raw()["parts"]["model"]
    finally:
        ckpt.close()
    as_jax = lambda tree: jax.tree_util.tree_map(jnp.asarray, tree)  # noqa: E731
    variables = {"params": as_jax(part["params"])}
    if part.get("batch_stats"):
        variables["batch_stats"] = as_jax(part["batch_stats"])
    return module, variables


def evaluate(module, variables, dataset, config, split: str = "test", *, predict=None,
             window: int | None = None, norm: str | None = None) -> dict:
    """Task 1-3 and pick metrics of ``module`` on ``split`` windows (see ``metrics``).

    ``predict``: see :func:`predict_batches` (a ``detection`` output becomes the task 1 score);
    ``window``: samples per window (default 3001, PhaseNet); ``norm``: the loader's amplitude
    normalisation (default ``config.model.norm``).

    Windows: ``config.eval.window`` = ``onsets_inside`` (default; one window per trace with every
    onset at least ``eval.window_margin_s`` inside it, as in SeisBench's pick benchmark) or
    ``around_picks`` (the training windows, where onsets may sit on the window border).
    """
    e = config.eval
    loader = phase_loader(dataset, split, batch_size=int(config.train.batch_size),
                          norm=str(norm or config.model.norm), sigma=float(config.data.sigma),
                          seed=int(e.seed), epochs=1, shuffle=False, drop_last=False,
                          prefetch=int(config.data.prefetch), mode=str(e.window),
                          pipeline=str(config.data.pipeline),
                          margin=int(round(float(e.window_margin_s)
                                           * float(config.data.sampling_rate))),
                          window=int(window or WINDOW))
    res = predict_batches(module, variables, _limit(loader, int(e.max_batches)), predict=predict)
    y = res["y"]
    p_true = _onsets(y[:, :, 1])
    s_true = _onsets(y[:, :, 2])
    metrics = phase_metrics(res["prob"], p_true, s_true,
                            sampling_rate=float(config.data.sampling_rate),
                            threshold=float(e.threshold), tolerance_s=float(e.tolerance_s),
                            min_pick_distance_s=float(e.min_pick_distance_s),
                            detection=res.get("detection"))
    metrics["n_windows"] = int(len(y))
    metrics["window"] = str(e.window)
    metrics["split"] = split
    return metrics, res


def _limit(iterable, n: int):
    for i, item in enumerate(iterable):
        if n and i >= n:
            return
        yield item


def _onsets(label: np.ndarray) -> np.ndarray:
    """True onset sample per window from a Gaussian label (its peak), NaN where absent.

    A label whose maximum sits on the first or last sample belongs to an onset outside the
    window (only its tail is inside) and counts as absent.
    """
    peak = label.max(axis=1)
    where = label.argmax(axis=1)
    inside = (peak > 0.5) & (where > 0) & (where < label.shape[1] - 1)
    return np.where(inside, where.astype(float), np.nan)


def given_fields(config, argv_fields=()) -> set[str]:
    """Model-defining fields the user chose: those in ``argv_fields`` (set on the command line)
    plus those whose value differs from :func:`default_config`."""
    fields = {f.field for f in registry.model_flags()} | {"model_type"}
    defaults = default_config()
    chosen = {f for f in fields if field_or(config, f) != field_or(defaults, f)}
    return chosen | (set(argv_fields) & fields)


def load_seisbench_model(config, given=None):
    """``(module, variables, info)`` of the SeisBench weight pair at ``config.model_path``.

    ``--model_type`` (when in ``given``, see :func:`given_fields`) must be ``phasenet`` or
    ``eqtransformer`` and match the weights; ``--filter_factor``/``--norm``, when given, must
    equal the weights' values (the weights define the network). Raises before any data is read.
    """
    given = given_fields(config) if given is None else set(given)
    requested = str(config.model_type) if "model_type" in given else None
    module, variables, info = load_weight_pair(config.model_path, requested)
    weights = {"model.norm": str(module.norm)}
    if isinstance(module, PhaseNet):
        weights["model.filter_factor"] = int(module.filter_factor)
    flags = {f.field: f.flag for f in registry.model_flags()}
    diffs = [f"{flags[f]} {field_or(config, f)!r} (weights: {v!r})"
             for f, v in weights.items() if f in given and field_or(config, f) != v]
    if diffs:
        raise ModelFlagMismatchError(
            f"the SeisBench weights {Path(info['pt']).name} were saved with other model flags: "
            + "; ".join(diffs) + ". Drop these flags (the weights define the network) or pass "
            "the weights' values")
    phases = str(module.phases)
    if "P" not in phases or "S" not in phases:
        raise WeightPairError(
            f"the weights {Path(info['pt']).name} predict phases {phases!r}; the pick metrics "
            "need a P and an S output. Evaluate a model trained on P and S picks")
    info.update(norm=str(module.norm), sampling_rate=float(module.sampling_rate),
                window=int(getattr(module, "in_samples", 3001)))
    return module, variables, info


def _default_output_dir(pt: Path) -> Path:
    base, _, version = pt.name.rpartition(".pt")
    return pt.with_name(f"{base}_{version.lstrip('.')}_eval" if version else f"{base}_eval")


def _write_predictions(path: Path, res: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in res.items()})


def eval_phase(config, dataset=None, given=None, loaded=None) -> dict:
    """Evaluate ``config.model_path``: a training run directory (latest Orbax checkpoint) or a
    SeisBench weight pair (see module docstring); writes ``metrics.json`` into
    ``config.eval.output_dir`` (default: the run directory), and ``predictions.npz`` (windows
    ``X`` as loaded, labels ``y``, ``prob`` (N, P, S), EQTransformer ``detection``) with
    ``config.eval.save_predictions``. ``given``: see :func:`load_seisbench_model`; ``loaded``:
    its result, when the caller already converted the weights."""
    validate_config(config, training=False)  # before any checkpoint or data is read
    pair = resolve_weight_pair(config.model_path) if config.model_path else None
    extra: dict[str, Any] = {}
    if pair is not None:
        module, variables, info = loaded or load_seisbench_model(config, given)
        if float(config.data.sampling_rate) != info["sampling_rate"]:
            log.info("resampling the data to the weights' %.6g Hz (config.data.sampling_rate "
                     "was %.6g)", info["sampling_rate"], float(config.data.sampling_rate))
            config.data.sampling_rate = info["sampling_rate"]
        out = Path(config.eval.output_dir or _default_output_dir(pair[0]))
        kwargs = {"predict": make_seisbench_predict(module), "window": info["window"],
                  "norm": info["norm"]}
        extra = {"model_type": info["model_type"], "weights": info["pt"],
                 "weights_json": info["json"], "sampling_rate": info["sampling_rate"]}
    else:
        module, variables = load_trained(config)
        out = Path(config.eval.output_dir or config.model_path)
        kwargs = {}
        extra = {"model_type": str(config.model_type)}
    dataset = dataset if dataset is not None else configured_dataset(config)
    metrics, res = evaluate(module, variables, dataset, config, str(config.eval.split), **kwargs)
    metrics.update(extra)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    if bool(config.eval.save_predictions):
        _write_predictions(out / "predictions.npz", res)
    log.info("task1 AUC %.3f | task2 MCC %.3f | P F1 %.3f | S F1 %.3f",
             metrics["task1_auc"], metrics["task2_mcc"], metrics["picks_P"]["f1"],
             metrics["picks_S"]["f1"])
    if bool(config.plot):
        plot_examples(res["X"][:6], res["y"][:6], res["prob"][:6], out / "examples.png")
    return metrics




def adopt_stored_model_flags(config, given) -> None:
    """Take the model type's flags from the run's checkpoint for every field the user did not
    give (so ``eval_mag`` needs no repeated flags); given ones must match (checked later)."""
    out = Path(config.model_path) if config.model_path else None
    if out is None or not (out / "checkpoints").is_dir():
        return
    ckpt = checkpointer(config, out / "checkpoints")
    try:
        stored = ckpt.stored_config() if ckpt.latest_step() is not None else None
    finally:
        ckpt.close()
    if stored is None:
        return
    kind = field_or(stored, "model_type", config.model_type)
    if "model_type" not in given:
        config.model_type = kind
    for dotted in registry.compat_fields(config.model_type)[1:]:
        if dotted not in given:
            value = field_or(stored, dotted)
            if value is not None:
                config.model[dotted.split(".", 1)[1]] = value


def eval_mag(config, dataset=None, given=()) -> dict:
    """Evaluate a magnitude run (``--mode eval_mag``) on ``config.eval.split``.

    Writes ``metrics.json`` (per-trace MAE, RMSE, R^2, bias; per-sample figures labelled
    ``per_sample_*``; see :mod:`jaxgeo.seismic.magnitude`) into ``config.eval.output_dir``
    (default the run directory), ``magnitude_predictions.npz`` with
    ``config.eval.save_predictions`` and ``magnitude.png`` with ``config.plot``. Windows
    hold every onset inside them (``onsets_inside``, in trace order).
    """
    adopt_stored_model_flags(config, set(given))
    validate_config(config, training=False)
    spec = registry.resolve(config.model_type)
    if spec.task.name != "magnitude":
        raise ValueError(f"--mode eval_mag needs a magnitude model type, got "
                         f"{spec.name!r} (a phase picker: use --mode eval_phase)")
    module, variables = load_trained(config)
    use_magnitude_sampling_rate(config)
    inputs = registry.magnitude_inputs(config)
    dataset = dataset if dataset is not None else configured_dataset(config)
    dataset = magnitude_traces(dataset, phases=inputs["magnitude_phases"])
    e = config.eval
    split = str(e.split)
    loader = phase_loader(dataset, split, batch_size=int(config.train.batch_size),
                          norm=str(config.model.norm), sigma=float(config.data.sigma),
                          seed=int(e.seed), epochs=1, shuffle=False, drop_last=False,
                          prefetch=int(config.data.prefetch), mode="onsets_inside",
                          pipeline=str(config.data.pipeline), magnitude=True,
                          margin=int(round(float(e.window_margin_s)
                                           * float(config.data.sampling_rate))),
                          window=spec.window, **inputs)
    res = predict_batches(module, variables, _limit(loader, int(e.max_batches)),
                          keys=("magnitude",))
    metrics = magnitude_metrics(res["prob"], res["magnitude"])
    metrics.update(model_type=spec.name, split=split, mag_loss=str(config.train.mag_loss))
    out = Path(e.output_dir or config.model_path)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", metrics)
    est, true = trace_estimates(res["prob"], res["magnitude"])
    if bool(e.save_predictions):
        _write_predictions(out / "magnitude_predictions.npz",
                           {"estimate": est, "true": true, "prediction": res["prob"]})
    log.info("per-trace MAE %.3f | RMSE %.3f | R2 %.3f | bias %+.3f (%d traces)",
             metrics["mae"], metrics["rmse"], metrics["r2"], metrics["bias"],
             metrics["n_traces"])
    if bool(config.plot):
        part = get_split(dataset, split).metadata
        dist = part.get("path_ep_distance_km", np.full(len(part), np.nan))
        dist = np.asarray(dist, np.float64)[: len(est)]
        plot_magnitude(est, true, dist, out / "magnitude.png")
    return metrics
