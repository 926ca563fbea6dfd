"""Magnitude task: labels, losses, per-trace estimates and metrics.

Label (``magnitude [B, T]`` from :func:`jaxgeo.seismic.data.phase_loader` with
``magnitude=True``): 0 before the first valid pick in the window, the event magnitude from it
on. Only traces with a pick and a positive magnitude are used (:func:`magnitude_traces`), so
the samples after the pick are exactly those with a non-zero label.

Losses (``config.train.mag_loss``): ``all`` (the original: MSE over every sample, including
the zeros before the pick; default) or ``after_pick`` (MSE over the samples after the pick).

Inputs: the loader demeans and normalises each window (``--norm``), which removes the
amplitude a magnitude is measured from; with ``--log_amplitude`` (the default) it appends the
window's log10 peak amplitude per component, taken before the normalisation, as channels
constant in time (:func:`jaxgeo.seismic.labels.log_peak_amplitude`), so ``X`` is
``[B, T, 6]``. ``--no-log_amplitude`` is the original framework's input (normalised waveforms
only): on data whose magnitude shows only in the amplitude (the synthetic generator's) such
a model can learn no more than the mean magnitude.

Per-trace estimate: the mean of the prediction over the samples after the first pick.
``eval_mag`` reports per-trace MAE, RMSE, R^2 and bias (estimate - true) as the headline, and
the original's per-sample MSE/MAE over all samples beside them, labelled ``per_sample_*``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.seismic.labels import onset_columns, pick_columns

__all__ = ["MAG_LOSSES", "after_pick_mask", "window_mag_loss", "masked_window_mag_loss",
           "mag_loss", "trace_estimates", "magnitude_metrics", "magnitude_traces"]

MAG_LOSSES = ("all", "after_pick")


def after_pick_mask(label):
    """``[B, T]`` bool: the samples from the first pick on (the non-zero label samples)."""
    return label != 0


def window_mag_loss(pred: jax.Array, label: jax.Array) -> jax.Array:
    """Per-window MSE over all samples; ``[B, T]`` -> ``[B]``."""
    return jnp.mean((pred - label) ** 2, axis=-1)


def masked_window_mag_loss(pred: jax.Array, label: jax.Array) -> jax.Array:
    """Per-window MSE over the samples after the pick; ``[B, T]`` -> ``[B]`` (0 without)."""
    mask = after_pick_mask(label).astype(pred.dtype)
    return jnp.sum(mask * (pred - label) ** 2, axis=-1) / jnp.maximum(mask.sum(-1), 1.0)


def mag_loss(kind: str):
    """The per-window loss named by ``config.train.mag_loss``."""
    if kind not in MAG_LOSSES:
        raise ValueError(f"config.train.mag_loss = {kind!r}: choose one of {MAG_LOSSES}")
    return window_mag_loss if kind == "all" else masked_window_mag_loss


def trace_estimates(pred: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(estimate [B], true [B])``: mean prediction / label over the samples after the pick
    (NaN for a window without them)."""
    mask = after_pick_mask(np.asarray(label))
    n = mask.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(n > 0, (np.asarray(pred) * mask).sum(-1) / n, np.nan)
        true = np.where(n > 0, (np.asarray(label) * mask).sum(-1) / n, np.nan)
    return est, true


def magnitude_metrics(pred: np.ndarray, label: np.ndarray) -> dict:
    """Per-trace MAE, RMSE, R^2, bias (headline) and the per-sample figures of the original.

    Args:
      pred, label: ``[B, T]`` predicted and label magnitudes.
    """
    est, true = trace_estimates(pred, label)
    ok = np.isfinite(est) & np.isfinite(true)
    res = est[ok] - true[ok]
    ss_tot = float(np.sum((true[ok] - true[ok].mean()) ** 2)) if ok.any() else 0.0
    diff = np.asarray(pred, np.float64) - np.asarray(label, np.float64)
    return {
        "n_traces": int(ok.sum()),
        "mae": float(np.mean(np.abs(res))) if ok.any() else float("nan"),
        "rmse": float(np.sqrt(np.mean(res ** 2))) if ok.any() else float("nan"),
        "r2": float(1 - np.sum(res ** 2) / ss_tot) if ss_tot > 0 else float("nan"),
        "bias": float(np.mean(res)) if ok.any() else float("nan"),
        "per_sample_mse": float(np.mean(diff ** 2)),
        "per_sample_mae": float(np.mean(np.abs(diff))),
        "estimate": "mean prediction over the samples after the first pick",
    }


def magnitude_traces(dataset, magnitude_column: str = "source_magnitude", phases: str = "PS"):
    """``dataset`` restricted to traces with a pick of `phases` (P, S or PS: the picks that
    start the label) and a positive magnitude (a copy)."""
    meta = dataset.metadata
    columns = [c for c in onset_columns(pick_columns(meta.columns), phases)
               if c in meta.columns]
    if magnitude_column not in meta.columns:
        raise ValueError(f"the dataset has no {magnitude_column!r} column: magnitude training "
                         "needs event magnitudes")
    picked = meta[columns].notna().any(axis=1).to_numpy() if columns else np.zeros(len(meta),
                                                                                    bool)
    mag = meta[magnitude_column].to_numpy(np.float64)
    keep = picked & np.isfinite(mag) & (mag > 0)
    if not keep.any():
        raise ValueError(f"no trace has both a {phases} pick and a positive magnitude: "
                         "nothing to train a magnitude model on")
    return dataset.filter(keep, inplace=False)
