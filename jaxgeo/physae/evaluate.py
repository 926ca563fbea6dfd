"""Evaluate a trained PhysAE checkpoint on validation spectra: the 4-way comparison.

Methods, each giving the normalised estimate u (B, 9) of every validation spectrum:

* ``network``: the encoder + head only (what stage A trains);
* ``refiners``: after the cascade refiners (B1/B2; only when the model has refiners);
* ``network+GN``: Gauss-Newton/LM on the exact simulator started from the network's final
  estimate (:func:`jaxgeo.physae.refine.refine_batch`);
* ``GN alone``: the same LM started from the centre of the validation ranges.

Per method and parameter: |error| median / p90 / p95 and bias in physical units (cm^-1,
ppm, mbar, K; :func:`jaxgeo.physae.metrics.parameter_errors`), relative errors for positive
parameters, the residual RMS and reduced chi^2 against each spectrum's own noise sigma
(estimated from noisy - clean, which the synthetic set has), and mf_CH4 errors binned by
peak absorbance. Plots: error histograms and predicted-vs-true per parameter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import ConfigError, load_config
from jaxgeo.core.files import write_json, write_text
from jaxgeo.core.logging import get_logger, progress
from jaxgeo.physae import data, metrics, refine
from jaxgeo.physae.models import PhysAE
from jaxgeo.physae.params import PARAM_NAMES, UNITS
from jaxgeo.physae.run import build, is_synthetic, lines_label, validate

__all__ = ["METHODS", "load_run", "predict", "evaluate", "summary_table", "save_plots",
           "evaluate_checkpoint"]

METHODS = ("network", "refiners", "network+GN", "GN alone")
REFERENCE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "physae" / "reference.py"
log = get_logger("jaxgeo.physae")


def load_run(checkpoint: str | Path) -> tuple[ml_collections.ConfigDict, dict]:
    """(config, params) of a checkpoint folder written by :func:`jaxgeo.physae.run.train_stage`.

    Args:
      checkpoint: ``out_dir/stage_<S>/best`` or ``.../last`` (Orbax steps inside); the run's
        ``config.json`` is read from the folder or its parent.
    Raises:
      FileNotFoundError naming the missing folder or config file.
    """
    path = Path(checkpoint)
    if not path.is_dir():
        raise FileNotFoundError(f"--checkpoint {path}: no such folder; give a stage's "
                                f"checkpoint folder, e.g. runs/physae/stage_A/best")
    for folder in (path, path.parent):
        if (folder / "config.json").is_file():
            # the saved fields over today's defaults (a run saved before a field existed)
            config = load_config(REFERENCE_CONFIG)
            config.update(json.loads((folder / "config.json").read_text()))
            break
    else:
        raise FileNotFoundError(f"--checkpoint {path}: no config.json in it or its parent "
                                f"(written by experiments/train_physae.py beside the run)")
    ck = Checkpointer(path)
    try:
        raw = ck.restore_raw()
    finally:
        ck.close()
    return config, raw["parts"]["model"]["params"]


def predict(model: PhysAE, params: Mapping, x, batch_size: int = 256) -> list[np.ndarray]:
    """Estimates after the head and after each refiner: list of (B, 9) host arrays."""

    @jax.jit
    def run(p, xb):
        return model.apply({"params": p}, xb, None, None, False)

    chunks = []
    for s in progress(range(0, x.shape[0], batch_size), desc="network"):
        chunks.append([np.asarray(o) for o in run(params, x[s:s + batch_size])])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def _gauss_newton(model: PhysAE, y, u0, steps: int, batch_size: int) -> tuple[np.ndarray, float]:
    """LM from u0 on every spectrum; (u (B, 9), seconds per spectrum after compilation)."""
    out, seconds = [], 0.0
    for s in progress(range(0, y.shape[0], batch_size), desc="Gauss-Newton"):
        yb, ub = jnp.asarray(y[s:s + batch_size]), jnp.asarray(u0[s:s + batch_size])
        t = time.perf_counter()
        res = jax.block_until_ready(refine.refine_batch(model.obs, model.space, yb, ub,
                                                        steps=steps)["u"])
        if s:  # the first chunk includes the compilation
            seconds += time.perf_counter() - t
        out.append(np.asarray(res))
    n_timed = max(y.shape[0] - batch_size, 0)
    return np.concatenate(out), (seconds / n_timed if n_timed else float("nan"))


def evaluate(model: PhysAE, params: Mapping, val: Mapping, *, gn_steps: int = 10,
             batch_size: int = 256) -> dict:
    """The 4-way comparison on a validation set.

    Args:
      model: the PhysAE (its ``obs`` and ``space`` define the simulator).
      params: the model's parameters.
      val: ``{"x": noisy (B, N), "clean": (B, N), "u": true normalised (B, 9)}``.
      gn_steps: LM iterations per spectrum; batch_size: spectra per compiled call.
    Returns:
      ``{"methods": {name: {"errors": ..., "rms_median": ..., "chi2_median": ...,
      "binned_mf_CH4": ...}}, "u": {name: (B, 9)}, "u_true": (B, 9), "gn_seconds": ...}``.
    """
    space = model.space
    x, u_true = np.asarray(val["x"]), np.asarray(val["u"])
    outs = predict(model, params, jnp.asarray(x), batch_size)
    est = {"network": outs[0]}
    if len(outs) > 1:
        est["refiners"] = outs[-1]
    est["network+GN"], gn_seconds = _gauss_newton(model, x, outs[-1], gn_steps, batch_size)
    centre = np.asarray(refine.centre_start(space, x.shape[0]))
    est["GN alone"], _ = _gauss_newton(model, x, centre, gn_steps, batch_size)

    simulate = jax.jit(model.simulate)
    clean = np.asarray(val["clean"], np.float64)
    sigma = np.std(x - clean, axis=-1)  # each spectrum's own noise level
    sigma = np.where(sigma > 0, sigma, np.nan)
    peak = 1.0 - clean.min(-1) / clean.max(-1)
    edges = np.quantile(peak, np.linspace(0, 1, 5))
    edges[-1] += 1e-12
    x_true = np.asarray(space.denormalise(jnp.asarray(u_true, jnp.float32)), np.float64)
    i_ch4 = space.index("mf_CH4")
    methods = {}
    for name, u in est.items():
        fit_y = np.concatenate([np.asarray(simulate(jnp.asarray(u[s:s + batch_size])))
                                for s in range(0, u.shape[0], batch_size)])
        x_pred = np.asarray(space.denormalise(jnp.asarray(u, jnp.float32)), np.float64)
        n_free = int(space.predicted_mask().sum())
        chi2 = metrics.reduced_chi2(fit_y, x, sigma, n_params=n_free)
        rel = np.abs(x_pred[:, i_ch4] - x_true[:, i_ch4]) / x_true[:, i_ch4] * 100
        errors = metrics.parameter_errors(x_pred, x_true, space.names)
        methods[name] = {
            "errors": {n: e for n, e in errors.items() if n in space.predicted},
            "rms_median": float(np.median(np.sqrt(np.mean((fit_y - x) ** 2, -1)))),
            "chi2_median": float(np.nanmedian(chi2)),
            "binned_mf_CH4_rel_pct": metrics.binned_errors(rel, peak, edges)}
    return {"methods": methods, "u": est, "u_true": u_true, "gn_seconds": gn_seconds,
            "n": int(x.shape[0])}


def summary_table(result: Mapping, names=PARAM_NAMES) -> str:
    """Markdown: median / p90 |error| per parameter (rows) and method (columns)."""
    methods = list(result["methods"])
    head = "| parameter | unit | " + " | ".join(f"{m} median | {m} p90" for m in methods)
    lines = [head + " |", "|" + "---|" * (2 + 2 * len(methods))]
    for n in names:
        unit = "ppm" if n.startswith("mf_") else UNITS[n]
        cells = []
        for m in methods:
            e = result["methods"][m]["errors"][n]
            cells += [f"{e['median']:.3g}", f"{e['p90']:.3g}"]
        lines.append(f"| {n} | {unit} | " + " | ".join(cells) + " |")
    rel = ["| mf_CH4 | % | " + " | ".join(
        f"{result['methods'][m]['errors']['mf_CH4']['rel_median_pct']:.3g} | "
        f"{result['methods'][m]['errors']['mf_CH4']['rel_p90_pct']:.3g}" for m in methods)
        + " |"]
    chi = ["| reduced chi^2 (median) | 1 | " + " | ".join(
        f"{result['methods'][m]['chi2_median']:.3g} | " for m in methods) + " |"]
    return "\n".join(lines + rel + chi) + "\n"


def save_plots(result: Mapping, space, out: Path, title: str = "") -> list[Path]:
    """errors_hist.png and pred_vs_true.png (3 x 3 panels, one per parameter), atomic.

    Args:
      result: :func:`evaluate`'s output; space: the parameter space; out: folder;
      title: figure title (the line list, e.g. ``lines: synthetic ...``).
    Parameters the network does not predict (``space.predicted``) get an empty panel.
    """
    from jaxgeo.core.plotting import plt, save_figure  # matplotlib only when plotting

    u_true = result["u_true"]
    x_true = np.asarray(space.denormalise(jnp.asarray(u_true, jnp.float32)), np.float64)
    preds = {m: np.asarray(space.denormalise(jnp.asarray(u, jnp.float32)), np.float64)
             for m, u in result["u"].items()}
    scale = {n: metrics.PHYSICAL_SCALE.get(n, 1.0) for n in space.names}
    paths = []
    fig, axes = plt.subplots(3, 3, figsize=(12, 10))
    for j, (n, ax) in enumerate(zip(space.names, axes.flat, strict=True)):
        if n not in space.predicted:
            ax.set_title(f"{n}: not predicted")
            ax.axis("off")
            continue
        for m, xp in preds.items():
            e = (xp[:, j] - x_true[:, j]) * scale[n]
            ax.hist(e, bins=30, histtype="step", label=m)
        ax.set_title(f"{n} error ({'ppm' if n.startswith('mf_') else UNITS[n]})")
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "errors_hist.png", dpi=80))
    fig, axes = plt.subplots(3, 3, figsize=(12, 10))
    for j, (n, ax) in enumerate(zip(space.names, axes.flat, strict=True)):
        if n not in space.predicted:
            ax.set_title(f"{n}: not predicted")
            ax.axis("off")
            continue
        t = x_true[:, j] * scale[n]
        for m, xp in preds.items():
            ax.plot(t, xp[:, j] * scale[n], ".", ms=2, label=m)
        ax.plot([t.min(), t.max()], [t.min(), t.max()], "k-", lw=0.5)
        ax.set_title(f"{n}: predicted vs true")
    axes.flat[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    paths.append(save_figure(fig, out / "pred_vs_true.png", dpi=80))
    return paths


def evaluate_checkpoint(checkpoint: str | Path, *, val_samples: int | None = None,
                        gn_steps: int = 10, batch_size: int = 256, output: str | Path = "",
                        seed: int | None = None, lines: str = "") -> dict:
    """Load a checkpoint, build its validation set (noise_val), run :func:`evaluate`, write
    ``metrics.json``, ``summary.md`` and the plots into `output` (default: beside the
    checkpoint, ``<checkpoint>/../eval``).

    Args:
      checkpoint: a stage's checkpoint folder; val_samples: spectra (default: the run's
        ``val_samples``); gn_steps: LM iterations; batch_size: spectra per compiled call;
      output: folder for the results; seed: validation seed (default: the run's seed + 1,
        the set the run validated on); lines: a line list (HITRAN .par/.data or PhysAE
        YAML) instead of the run's (``--lines``).

    Every output names the line list; a run on the synthetic list says ``synthetic``.
    """
    for name, v in (("val_samples", val_samples), ("gn_steps", gn_steps),
                    ("batch_size", batch_size)):
        if v is not None and int(v) < 1:
            raise ConfigError(f"--{name}={v}: must be >= 1")
    config, params = load_run(checkpoint)
    if lines:
        config.lines = str(lines)
    validate(config)
    label = lines_label(config)
    _, _, model = build(config)
    n = int(val_samples or config.val_samples)
    val = data.validation_set(model.obs, model.space, n,
                              seed=int(config.seed) + 1 if seed is None else int(seed),
                              noise=data.noise_val())
    result = evaluate(model, jax.tree.map(jnp.asarray, params), val, gn_steps=gn_steps,
                      batch_size=min(batch_size, n))
    out = Path(output) if output else Path(checkpoint).resolve().parent / "eval"
    table = summary_table(result, [n for n in model.space.names if n in model.space.predicted])
    write_text(out / "summary.md", f"# PhysAE evaluation of {checkpoint}\n\nLines: {label}.\n\n"
               f"{n} validation spectra (noise_val), {gn_steps} LM steps.\n\n{table}")
    write_json(out / "metrics.json", {"checkpoint": str(checkpoint), "n": n,
                                      "lines": label, "synthetic_lines": is_synthetic(config),
                                      "gn_steps": gn_steps,
                                      "gn_seconds_per_spectrum": result["gn_seconds"],
                                      "methods": result["methods"]})
    save_plots(result, model.space, out, title=f"lines: {label}")
    log.info("evaluation written to %s", out)
    print(table)
    return result
