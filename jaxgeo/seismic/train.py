"""Phase-picker training (``train_phase``) and evaluation (``eval_phase``).

Both take an ``ml_collections.ConfigDict`` (see ``configs/seismic/phase.py``). Training writes into
``config.model_path``: Orbax checkpoints (``checkpoints/``, one per epoch, with the config
stored beside them), ``history.json`` (per-epoch losses, epoch and training seconds, and the
seconds the loop waited for data) and ``config.json``. Evaluation
restores the latest checkpoint after checking that the model flags match the ones it was
trained with, and writes ``metrics.json`` (plus figures with ``config.plot``).

``config.model_path`` may instead name a local SeisBench weight pair (``<base>.pt.vN`` with
``<base>.json.vN`` beside it, or the stem ``<base>``) of a PhaseNet or EQTransformer: evaluation
then converts it with :mod:`jaxgeo.seismic.convert`, applies the model's own SeisBench
pre-processing (``annotate_batch_pre``) to each window and scores the same metrics
(EQTransformer: its P/S curves are the pick channels, its detection curve the task 1 score).
Outputs then go to ``config.eval.output_dir`` (default ``<folder>/<base>_vN_eval``).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jaxgeo.seismic.data import PIPELINES, WINDOW_MODES
from jaxgeo.seismic.phasenet import PhaseNet, PhaseNetConvLSTM, PhaseNetLSTM

MODEL_TYPES = ("phasenet", "phasenet_lstm", "phasenet_convlstm")
# Model types that --mode eval_phase accepts for a SeisBench weight pair (convert.py).
SEISBENCH_TYPES = ("phasenet", "eqtransformer")
# Config field -> command-line flag; these define the network and must match on restore.
MODEL_FLAGS = {
    "model_type": "--model_type",
    "model.filter_factor": "--filter_factor",
    "model.norm": "--norm",
    "model.lstm_hidden_size": "--lstm_hidden_size",
    "model.lstm_num_layers": "--lstm_num_layers",
    "model.lstm_bidirectional": "--lstm_bidirectional",
    "model.convlstm_hidden": "--convlstm_hidden",
    "model.convlstm_kernel": "--convlstm_kernel",
    "model.convlstm_frame": "--convlstm_frame",
}
LOG_EPS = 1e-5  # the original loss: -mean_t sum_c y log(y_hat + 1e-5)


class ModelFlagMismatchError(ValueError):
    """A checkpoint was trained with other model flags than the current run."""


def _get(config, dotted: str, default=None):
    node = config
    for part in dotted.split("."):
        if part not in node:
            return default
        node = node[part]
    return node


def build_model(config) -> PhaseNet:
    """The Flax module named by ``config.model_type`` with ``config.model`` hyper-parameters."""
    kind = str(config.model_type)
    if kind == "eqtransformer":
        raise ValueError(
            "--model_type eqtransformer evaluates SeisBench weights only: pass --mode eval_phase "
            "--model_path <name>.pt.vN (a SeisBench weight pair); train_phase trains "
            f"{list(MODEL_TYPES)}")
    if kind not in MODEL_TYPES:
        raise ValueError(f"unknown model type {kind!r}; choose one of {list(MODEL_TYPES)} "
                         "(magnitude models arrive with the magnitude issue)")
    m = config.model
    common = {"filter_factor": int(m.filter_factor), "norm": str(m.norm)}
    if kind == "phasenet":
        return PhaseNet(**common)
    if kind == "phasenet_lstm":
        return PhaseNetLSTM(**common, lstm_hidden_size=int(m.lstm_hidden_size) or None,
                            lstm_num_layers=int(m.lstm_num_layers),
                            lstm_bidirectional=bool(m.lstm_bidirectional))
    return PhaseNetConvLSTM(**common, convlstm_hidden=int(m.convlstm_hidden),
                            convlstm_kernel=int(m.convlstm_kernel),
                            convlstm_frame=int(m.convlstm_frame))


def phase_loss(prob: jax.Array, target: jax.Array) -> jax.Array:
    """``-mean_{batch, t} sum_c y log(prob + 1e-5)``; prob/target ``[B, T, C]``."""
    return -jnp.mean(jnp.sum(target * jnp.log(prob + LOG_EPS), axis=-1))


def init_variables(module: PhaseNet, seed: int) -> dict:
    x = jnp.zeros((1, 3001, module.in_channels), jnp.float32)
    return module.init(jax.random.PRNGKey(seed), x)


def create_state(module: PhaseNet, lr: float, seed: int, decay_steps: int = 0):
    """Adam at ``lr``; with ``decay_steps > 0`` the rate follows a cosine decay to 5 % of it."""
    from jaxgeo.core.train import TrainState

    variables = init_variables(module, seed)
    rate = optax.cosine_decay_schedule(lr, decay_steps, alpha=0.05) if decay_steps > 0 else lr
    return TrainState.create(apply_fn=module.apply, params=variables["params"],
                             tx=optax.adam(rate), rng=jax.random.PRNGKey(seed + 1),
                             batch_stats=variables.get("batch_stats", {}))


def make_train_step(module: PhaseNet):
    """jit-compiled ``(state, X, y) -> (state, loss)`` with BatchNorm in training mode."""

    def loss_fn(params, batch_stats, x, y):
        prob, updates = module.apply({"params": params, "batch_stats": batch_stats}, x,
                                     train=True, mutable=["batch_stats"])
        return phase_loss(prob, y), updates["batch_stats"]

    @jax.jit
    def step(state, x, y):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params, state.batch_stats, x, y)
        return state.apply_gradients(grads, batch_stats=stats), loss

    return step


def make_predict(module: PhaseNet):
    @jax.jit
    def predict(variables, x):
        return module.apply(variables, x)

    return predict


def make_seisbench_predict(module):
    """jit ``(variables, X [B, T, C]) -> {"prob": [B, T, 3], ...}`` for converted SeisBench weights.

    Applies the model's own pre-processing first (``module.preprocess``, SeisBench's
    ``annotate_batch_pre``), then the network. ``prob`` channels are (N, P, S) whatever order the
    weights' ``phases`` use. EQTransformer: P/S from its pick branches, N = 1 - max(P, S), plus
    ``detection [B, T]`` from its detection branch.
    """
    from jaxgeo.seismic.eqtransformer import EQTransformer

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


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=float))
    os.replace(tmp, path)


def _model_config(config) -> dict:
    return {field: _get(config, field) for field in MODEL_FLAGS}


def check_model_flags(stored: dict, config) -> None:
    """Raise ModelFlagMismatchError naming every model flag that differs from the checkpoint."""
    diffs = []
    for field, flag in MODEL_FLAGS.items():
        old, new = _get(stored, field, "<unset>"), _get(config, field, "<unset>")
        if old != new:
            diffs.append(f"{flag} (checkpoint: {old!r}, now: {new!r})")
    if diffs:
        raise ModelFlagMismatchError(
            "the checkpoint was trained with other model flags: " + "; ".join(diffs)
            + ". Pass the checkpoint's values (or train a new model)."
        )


def _checkpointer(config, directory: Path):
    from jaxgeo.core.checkpoint import Checkpointer

    return Checkpointer(directory, save_every=1, keep=int(config.train.keep_checkpoints),
                        config=config, compat_fields=list(MODEL_FLAGS))


def _state_tree(state) -> dict:
    return {"step": state.step, "params": state.params, "batch_stats": state.batch_stats,
            "opt_state": state.opt_state}


def _load_dataset(config):
    from jaxgeo.core.config import check_choice
    from jaxgeo.seismic.data import WAVEFORM_CACHES, load_dataset

    check_choice(config, "data.waveform_cache", WAVEFORM_CACHES)
    d = config.data
    return load_dataset(d.dataset, sampling_rate=d.sampling_rate,
                        synthetic_traces=int(d.synthetic_traces), seed=int(d.seed),
                        cache_dir=d.cache_dir or None, waveform_cache=str(d.waveform_cache))


def validate_config(config) -> None:
    from jaxgeo.core.config import check_choice, check_positive

    check_choice(config, "model_type", MODEL_TYPES)
    check_choice(config, "model.norm", ("std", "peak"))
    check_choice(config, "eval.window", WINDOW_MODES)
    check_choice(config, "data.pipeline", PIPELINES)
    check_positive(config, "model.filter_factor")
    check_positive(config, "train.batch_size")
    check_positive(config, "train.lr")
    if int(config.train.epochs) < 1:
        raise ValueError(f"config.train.epochs = {config.train.epochs}: must be >= 1")
    if not config.model_path:
        raise ValueError("no model path: pass --model_path DIR (where checkpoints go)")


def train_phase(config, dataset=None):
    """Train a PhaseNet-family picker; returns ``(state, history)``. See module docstring."""
    from jaxgeo.core.config import save_config
    from jaxgeo.seismic._progress import get_logger, progress
    from jaxgeo.seismic.data import phase_loader

    validate_config(config)
    log = get_logger("jaxgeo.seismic")
    out = Path(config.model_path)
    ckpt_dir = out / "checkpoints"
    dataset = dataset if dataset is not None else _load_dataset(config)
    d, t = config.data, config.train
    norm = str(config.model.norm)
    train_loader = phase_loader(dataset, "train", batch_size=int(t.batch_size), norm=norm,
                                sigma=float(d.sigma), seed=int(t.seed), epochs=None,
                                prefetch=int(d.prefetch), pipeline=str(d.pipeline))
    dev_loader = phase_loader(dataset, "dev", batch_size=int(t.batch_size), norm=norm,
                              sigma=float(d.sigma), seed=int(t.seed) + 1, epochs=1,
                              drop_last=False, prefetch=int(d.prefetch),
                              pipeline=str(d.pipeline))
    module = build_model(config)
    state = create_state(module, float(t.lr), int(t.seed), int(t.lr_decay_steps))
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out)
    history: list[dict] = []
    start_epoch = 0
    ckpt = _checkpointer(config, ckpt_dir)
    if bool(config.train.resume) and ckpt.latest_step() is not None:
        check_model_flags(ckpt.stored_config(), config)
        restored = ckpt.restore(_state_tree(state))
        state = state.replace(**restored)
        start_epoch = ckpt.latest_step() + 1
        if (out / "history.json").is_file():
            history = json.loads((out / "history.json").read_text())["epochs"]
        log.info("resumed from epoch %d", start_epoch - 1)
    step_fn = make_train_step(module)
    # An epoch is one pass over the training split unless steps_per_epoch fixes its length
    # (the training batch stream is endless, so longer "epochs" simply keep drawing windows).
    steps = int(t.steps_per_epoch) or train_loader.batches_per_epoch()
    predict = make_predict(module)
    batches = iter(train_loader)
    for epoch in range(start_epoch, int(t.epochs)):
        t0 = time.perf_counter()
        losses = []
        data_wait = 0.0  # host time blocked on the prefetch queue
        for _ in progress(range(steps), desc=f"epoch {epoch}"):
            t_wait = time.perf_counter()
            batch = next(batches)
            data_wait += time.perf_counter() - t_wait
            state, loss = step_fn(state, jnp.asarray(batch["X"]), jnp.asarray(batch["y"]))
            losses.append(loss)
        train_loss = float(np.mean(jax.device_get(losses)))
        train_seconds = time.perf_counter() - t0
        if not np.isfinite(train_loss):
            raise FloatingPointError(f"training loss became {train_loss} in epoch {epoch}; "
                                     "lower train.lr or check the input data for NaNs")
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        dev_losses = []
        for i, batch in enumerate(dev_loader):
            if int(t.max_eval_batches) and i >= int(t.max_eval_batches):
                break
            prob = predict(variables, jnp.asarray(batch["X"]))
            dev_losses.append(float(phase_loss(prob, jnp.asarray(batch["y"]))))
        record = {"epoch": epoch, "train_loss": train_loss,
                  "dev_loss": float(np.mean(dev_losses)), "steps": steps,
                  "seconds": time.perf_counter() - t0, "train_seconds": train_seconds,
                  "data_wait_seconds": data_wait}
        history.append(record)
        ckpt.save(epoch, _state_tree(state), force=True)
        _write_json(out / "history.json", {"epochs": history})
        log.info("epoch %d: train loss %.4f, dev loss %.4f (%.1f s, %.1f s waiting for data)",
                 epoch, train_loss, record["dev_loss"], record["seconds"], data_wait)
    ckpt.close()
    if bool(config.plot):
        from jaxgeo.seismic.plots import plot_history

        plot_history(history, out / "history.png")
    return state, history


def load_trained(config):
    """Module and variables of the latest checkpoint in ``config.model_path``."""
    out = Path(config.model_path) if config.model_path else None
    if out is None or not (out / "checkpoints").is_dir():
        raise FileNotFoundError(
            f"model path {str(out)!r} does not exist or holds no checkpoints; train one with "
            "--mode train_phase --model_path DIR, or point --model_path at a trained model"
        )
    module = build_model(config)
    ckpt = _checkpointer(config, out / "checkpoints")
    try:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(f"no complete checkpoint in {out / 'checkpoints'}")
        check_model_flags(ckpt.stored_config(), config)
        template = _state_tree(create_state(module, float(config.train.lr), 0,
                                            int(config.train.lr_decay_steps)))
        restored = ckpt.restore(template)
    finally:
        ckpt.close()
    return module, {"params": restored["params"], "batch_stats": restored["batch_stats"]}


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
    from jaxgeo.core.config import check_choice
    from jaxgeo.seismic.data import phase_loader
    from jaxgeo.seismic.metrics import phase_metrics

    check_choice(config, "eval.window", WINDOW_MODES)
    check_choice(config, "data.pipeline", PIPELINES)
    e = config.eval
    from jaxgeo.seismic.data import WINDOW

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
    defaults = default_config()
    chosen = {f for f in MODEL_FLAGS if _get(config, f) != _get(defaults, f)}
    return chosen | (set(argv_fields) & set(MODEL_FLAGS))


def load_seisbench_model(config, given=None):
    """``(module, variables, info)`` of the SeisBench weight pair at ``config.model_path``.

    ``--model_type`` (when in ``given``, see :func:`given_fields`) must be ``phasenet`` or
    ``eqtransformer`` and match the weights; ``--filter_factor``/``--norm``, when given, must
    equal the weights' values (the weights define the network). Raises before any data is read.
    """
    from jaxgeo.seismic.convert import WeightPairError, load_weight_pair
    from jaxgeo.seismic.phasenet import PhaseNet as _PhaseNet

    given = given_fields(config) if given is None else set(given)
    requested = str(config.model_type) if "model_type" in given else None
    module, variables, info = load_weight_pair(config.model_path, requested)
    weights = {"model.norm": str(module.norm)}
    if isinstance(module, _PhaseNet):
        weights["model.filter_factor"] = int(module.filter_factor)
    diffs = [f"{MODEL_FLAGS[f]} {_get(config, f)!r} (weights: {v!r})"
             for f, v in weights.items() if f in given and _get(config, f) != v]
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
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in res.items()})
    os.replace(tmp, path)


def eval_phase(config, dataset=None, given=None, loaded=None) -> dict:
    """Evaluate ``config.model_path``: a training run directory (latest Orbax checkpoint) or a
    SeisBench weight pair (see module docstring); writes ``metrics.json`` into
    ``config.eval.output_dir`` (default: the run directory), and ``predictions.npz`` (windows
    ``X`` as loaded, labels ``y``, ``prob`` (N, P, S), EQTransformer ``detection``) with
    ``config.eval.save_predictions``. ``given``: see :func:`load_seisbench_model`; ``loaded``:
    its result, when the caller already converted the weights."""
    from jaxgeo.core.config import check_choice
    from jaxgeo.seismic._progress import get_logger
    from jaxgeo.seismic.convert import resolve_weight_pair

    log = get_logger("jaxgeo.seismic")
    check_choice(config, "eval.window", WINDOW_MODES)  # before any checkpoint or data is read
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
    dataset = dataset if dataset is not None else _load_dataset(config)
    metrics, res = evaluate(module, variables, dataset, config, str(config.eval.split), **kwargs)
    metrics.update(extra)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "metrics.json", metrics)
    if bool(config.eval.save_predictions):
        _write_predictions(out / "predictions.npz", res)
    log.info("task1 AUC %.3f | task2 MCC %.3f | P F1 %.3f | S F1 %.3f",
             metrics["task1_auc"], metrics["task2_mcc"], metrics["picks_P"]["f1"],
             metrics["picks_S"]["f1"])
    if bool(config.plot):
        from jaxgeo.seismic.plots import plot_examples

        plot_examples(res["X"][:6], res["y"][:6], res["prob"][:6], out / "examples.png")
    return metrics


def default_config() -> ml_collections.ConfigDict:
    """Defaults of every field (``configs/seismic/phase.py`` returns these)."""
    c = ml_collections.ConfigDict()
    c.mode = "train_phase"
    c.model_type = "phasenet"
    c.model_path = ""
    c.plot = False
    c.model = ml_collections.ConfigDict(dict(
        filter_factor=1, norm="std", lstm_hidden_size=0, lstm_num_layers=1,
        lstm_bidirectional=True, convlstm_hidden=32, convlstm_kernel=3, convlstm_frame=3))
    # data.waveform_cache: SeisBench's read cache (auto | trace | full | none); data.pipeline:
    # how batches are made (auto | batched | seisbench, see jaxgeo.seismic.data.phase_loader)
    c.data = ml_collections.ConfigDict(dict(
        dataset="synthetic", sampling_rate=100.0, synthetic_traces=3000, seed=0, sigma=20.0,
        prefetch=4, cache_dir="", waveform_cache="auto", pipeline="auto"))
    c.train = ml_collections.ConfigDict(dict(
        epochs=5, batch_size=32, lr=1e-3, lr_decay_steps=0, seed=0, steps_per_epoch=0,
        max_eval_batches=0,
        keep_checkpoints=3, resume=False))
    c.eval = ml_collections.ConfigDict(dict(
        split="test", threshold=0.3, tolerance_s=0.1, min_pick_distance_s=0.5, seed=123,
        max_batches=0, window="onsets_inside", window_margin_s=0.5, output_dir="",
        save_predictions=False))
    return c
