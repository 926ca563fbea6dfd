"""Evaluation a spectroscopist can read: per-parameter errors in physical units.

Units: sig0 and dsig in cm^-1, mole fractions in ppm, P in mbar, T in K, baseline terms as
given. Relative (%) errors only for strictly positive parameters (mole fractions, dsig, P,
T). Residual RMS is compared to the noise sigma as a reduced chi^2.
"""

from __future__ import annotations

import numpy as np

from jaxgeo.physae.params import PARAM_NAMES

__all__ = ["PHYSICAL_SCALE", "POSITIVE", "parameter_errors", "reduced_chi2", "binned_errors"]

PHYSICAL_SCALE = {"mf_CH4": 1e6, "mf_H2O": 1e6}  # fraction -> ppm
POSITIVE = ("dsig", "mf_CH4", "mf_H2O", "P", "T")


def parameter_errors(x_pred, x_true, names=PARAM_NAMES) -> dict[str, dict[str, float]]:
    """Per parameter: median, p90, p95 of |error|, bias (mean error), in physical units,
    and median/p90 relative error in % for strictly positive parameters.

    Args:
      x_pred, x_true: (B, 9) internal physical vectors (sig0 as offsets: differences are
        unaffected).
    """
    x_pred, x_true = np.asarray(x_pred, np.float64), np.asarray(x_true, np.float64)
    out = {}
    for j, n in enumerate(names):
        s = PHYSICAL_SCALE.get(n, 1.0)
        e = (x_pred[:, j] - x_true[:, j]) * s
        a = np.abs(e)
        row = {"median": float(np.median(a)), "p90": float(np.percentile(a, 90)),
               "p95": float(np.percentile(a, 95)), "bias": float(np.mean(e))}
        if n in POSITIVE:
            rel = 100 * np.abs(x_pred[:, j] - x_true[:, j]) / np.abs(x_true[:, j])
            row.update(rel_median_pct=float(np.median(rel)),
                       rel_p90_pct=float(np.percentile(rel, 90)))
        out[n] = row
    return out


def reduced_chi2(y_fit, y_meas, sigma, n_params: int = 9) -> np.ndarray:
    """(B,) sum((y_fit - y_meas)^2) / (sigma^2 (N - n_params)); sigma scalar or (B,)."""
    r = np.asarray(y_fit, np.float64) - np.asarray(y_meas, np.float64)
    sigma = np.broadcast_to(np.asarray(sigma, np.float64), r.shape[:1])
    return np.sum(r ** 2, -1) / (sigma ** 2 * (r.shape[-1] - n_params))


def binned_errors(err, key, edges) -> list[dict]:
    """Median |err| in bins of `key` (e.g. peak absorbance 1 - min(y), or SNR)."""
    err, key = np.abs(np.asarray(err, np.float64)), np.asarray(key, np.float64)
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (key >= lo) & (key < hi)
        rows.append({"low": float(lo), "high": float(hi), "count": int(sel.sum()),
                     "median": float(np.median(err[sel])) if sel.any() else float("nan")})
    return rows
