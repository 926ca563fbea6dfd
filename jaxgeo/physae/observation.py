"""The PhysAE observation model: internal parameter vector (9,) -> transmission (N,).

    nu(i) = sig0_ref + sig0 + dsig i + sum_k c_k i^k      (calibration polynomial, k >= 2)
    y(i)  = exp(-tau(nu(i); T, P, x_CH4, x_H2O)) * (b0 + b1 i + b2 i^2)

with PhysAE's Loschmidt column (``jaxgeo.spectra.loschmidt_density``), Rautian profile and
line mixing. ``sig0_ref`` is a static Python float; the traced ``sig0`` is a small offset,
so detunings stay precise in float32.

With ``lowess_window > 0`` the model returns y / lowess_start(y) (physae.py's LOWESS
normalisation, :mod:`jaxgeo.physae.lowess`); :meth:`ObservationModel.raw` is y itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.physae.lowess import lowess_normalise
from jaxgeo.physae.params import ParameterError, ParameterSpace
from jaxgeo.spectra import (
    LineList,
    PhysAEWindow,
    concatenate,
    core_points_for,
    frequency_offsets,
    loschmidt_density,
    polynomial_baseline,
    small_y_needed,
    transmission,
)
from jaxgeo.spectra.constants import ATM_MBAR, LOSCHMIDT_CM3, T_STP_K

__all__ = ["ObservationModel", "grid_min_step", "check_coverage", "training_span"]

MOLECULES = ("CH4", "H2O")


def _grid_offsets_np(dsig: float, poly, n: int) -> np.ndarray:
    i = np.arange(n, dtype=np.float64)
    return dsig * i + sum(c * i ** (k + 2) for k, c in enumerate(poly))


def grid_min_step(dsig_min: float, poly, n_points: int) -> float:
    """Smallest pixel spacing (cm^-1) of the calibrated grid at step `dsig_min`."""
    return float(np.diff(_grid_offsets_np(dsig_min, poly, n_points)).min())


def check_coverage(lines: LineList, lo: float, hi: float, field: str = "lines") -> None:
    """Raise ParameterError unless the lines extend over [lo, hi] cm^-1 (both ends)."""
    nu0 = np.asarray(lines.nu0, np.float64) + np.asarray(lines.nu0_lo, np.float64)
    if nu0.size == 0 or nu0.min() > lo or nu0.max() < hi:
        span = "no lines" if nu0.size == 0 else f"lines span {nu0.min():.4f}-{nu0.max():.4f}"
        raise ParameterError(
            f"{field}: the line list does not cover the window {lo:.4f}-{hi:.4f} cm^-1 "
            f"({span}); give a line list reaching past both ends (--lines PATH)")


def training_span(space: ParameterSpace, poly, n_points: int) -> tuple[float, float]:
    """(low, high) wavenumbers (cm^-1) any grid of the training ranges of `space` reaches.

    Args:
      space: the parameter space (sig0 and dsig training ranges).
      poly: calibration coefficients of i^2, i^3, ...
      n_points: pixels N.
    """
    poly = tuple(float(c) for c in poly)
    (s_lo, s_hi), (d_lo, d_hi) = space.train[0], space.train[1]
    ends = [_grid_offsets_np(d, poly, n_points) for d in (d_lo, d_hi)]
    return (space.sig0_ref + s_lo + min(e.min() for e in ends),
            space.sig0_ref + s_hi + max(e.max() for e in ends))


@dataclass(frozen=True, eq=False)
class ObservationModel:
    """Static, hashable (by identity) forward model; ``model(params) -> (N,)``.

    Attributes:
      lines: tuple of (molecule, LineList) pairs.
      poly: calibration coefficients of i^2, i^3, ... (static).
      n_points: pixels N.
      sig0_ref: static reference wavenumber (cm^-1); params[0] is the offset from it.
      path_length_cm, p0_mbar, t0_k, l0: path length and Loschmidt constants.
      core_points, core_small_y: the spectra fast path (None: full Faddeeva everywhere).
      lowess_window: > 0: the output is divided by its LOWESS value at pixel 0 over this
        many pixels (physae.py's normalisation; 0: off).
    """

    lines: tuple[tuple[str, LineList], ...]
    poly: tuple[float, ...]
    n_points: int
    sig0_ref: float
    path_length_cm: float
    p0_mbar: float = ATM_MBAR
    t0_k: float = T_STP_K
    l0: float = LOSCHMIDT_CM3
    core_points: int | None = None
    core_small_y: bool = True
    lowess_window: int = 0

    @classmethod
    def from_lines(cls, lines: Mapping[str, LineList], space: ParameterSpace, n_points: int, *,
                   poly=(), path_length_cm: float, p0_mbar: float = ATM_MBAR,
                   t0_k: float = T_STP_K, l0: float = LOSCHMIDT_CM3,
                   fast: bool = True, lowess_window: int = 0) -> ObservationModel:
        """Build from molecule -> LineList; checks coverage and picks the fast path.

        The fast path's static sizes cover the *training* ranges of `space`: the smallest
        grid step (dsig low end + calibration slope), T high end, P high end, and the small-y
        region is skipped only if no line needs it at P low end.

        Raises:
          ParameterError (field ``lines`` or ``ranges_val.dsig``) for a window the lines do
          not cover or a calibrated grid that is not increasing.
        """
        unknown = sorted(set(lines) - set(MOLECULES))
        if unknown:
            raise ParameterError(f"lines: molecule {unknown[0]!r} has no mole-fraction "
                                 f"parameter; allowed {list(MOLECULES)}")
        poly = tuple(float(c) for c in poly)
        d_lo = space.train[1][0]
        step = grid_min_step(d_lo, poly, n_points)
        if step <= 0:
            raise ParameterError(
                f"ranges_val.dsig: with the calibration polynomial the grid is not increasing "
                f"(smallest spacing {step:.3g} cm^-1 at dsig={d_lo:.6g})")
        lo, hi = training_span(space, poly, n_points)
        joined = concatenate(list(lines.values()))
        check_coverage(joined, lo, hi)
        core, small_y = None, True
        if fast:
            p_lo, p_hi = space.train[space.index("P")]
            t_lo, t_hi = space.train[space.index("T")]
            core = core_points_for(joined, min_step=step, t_max=t_hi, p_max_atm=p_hi / p0_mbar)
            small_y = small_y_needed(joined, t_min=t_lo, t_max=t_hi, p_min_atm=p_lo / p0_mbar)
            if core >= n_points:
                core = None  # the window is not larger than a line core: full evaluation
        return cls(lines=tuple(lines.items()), poly=poly, n_points=int(n_points),
                   sig0_ref=float(space.sig0_ref), path_length_cm=float(path_length_cm),
                   p0_mbar=float(p0_mbar), t0_k=float(t0_k), l0=float(l0), core_points=core,
                   core_small_y=bool(small_y), lowess_window=int(lowess_window))

    @classmethod
    def from_window(cls, window: PhysAEWindow, space: ParameterSpace, n_points: int,
                    fast: bool = True, lowess_window: int = 0) -> ObservationModel:
        """Build from a PhysAE YAML window (its CH4 calibration polynomial and constants)."""
        k = window.constants
        return cls.from_lines(
            window.lines, space, n_points, poly=window.poly_frequency.get("CH4", ()),
            path_length_cm=k["path_length_m"] * 100.0, p0_mbar=k.get("P0_mbar", ATM_MBAR),
            t0_k=k.get("T0_K", T_STP_K), l0=k.get("L0", LOSCHMIDT_CM3), fast=fast,
            lowess_window=lowess_window)

    def offsets(self, params) -> jax.Array:
        """nu(i) - sig0_ref, (N,) cm^-1."""
        return params[0] + frequency_offsets(params[1], self.poly, self.n_points)

    def __call__(self, params) -> jax.Array:
        """The model output (N,) for one internal vector (9,): :meth:`raw`, divided by its
        LOWESS scale when ``lowess_window > 0``; vmap for batches."""
        return self.normalise(self.raw(params))

    def normalise(self, y) -> jax.Array:
        """y (..., N) / its LOWESS scale if ``lowess_window > 0``, else y."""
        return lowess_normalise(y, self.lowess_window) if self.lowess_window else y

    def raw(self, params) -> jax.Array:
        """Transmission times baseline for one internal vector (9,); vmap for batches."""
        params = jnp.asarray(params)
        d_sig0, dsig, x_ch4, x_h2o, b0, b1, b2, p_mbar, temp = (params[i] for i in range(9))
        fractions = {"CH4": x_ch4, "H2O": x_h2o}
        lines = dict(self.lines)
        n_tot = loschmidt_density(temp, p_mbar, p0_mbar=self.p0_mbar, t0=self.t0_k, l0=self.l0)
        nu = d_sig0 + frequency_offsets(dsig, self.poly, self.n_points)
        t = transmission(lines, nu, temp, p_mbar / self.p0_mbar,
                         {m: fractions[m] for m in lines}, self.path_length_cm,
                         total_density=n_tot, profile="rautian", line_mixing=True,
                         nu_origin=self.sig0_ref, wing=None, core_points=self.core_points,
                         core_small_y=self.core_small_y)
        return t * polynomial_baseline(jnp.stack([b0, b1, b2]), self.n_points)
