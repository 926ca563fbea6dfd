"""PhysAE parameter spaces, the two parameter conventions, and normalisation.

Internal form (what :class:`~jaxgeo.physae.observation.ObservationModel` takes), a vector
of the nine names of :data:`PARAM_NAMES`, in that order:

* ``sig0``: wavenumber of pixel 0 *minus* the space's static reference ``sig0_ref``
  (cm^-1; the offset keeps float32 precise: at 3085 cm^-1 a float32 step is 2.4e-4 cm^-1),
* ``dsig``: grid step per pixel (cm^-1), plus the optional calibration polynomial,
* ``mf_CH4``, ``mf_H2O``: mole fractions (1),
* ``baseline0..2``: baseline polynomial in the pixel index i = 0..N-1,
* ``P``: pressure (mbar), ``T``: temperature (K).

Conventions a config may name (``convention``):

* ``"physae"`` (physae.py): as the internal form, but sig0 absolute.
* ``"guide"`` (the Stage A guide): sig0 = window centre, dsig = window width (cm^-1), P in
  atm, baseline on x = i / (N - 1) in [0, 1]. Converted exactly (without calibration
  polynomial the grid is linear): pixel-0 = centre - width/2, step = width/(N-1),
  b1_pix = b1_x/(N-1), b2_pix = b2_x/(N-1)^2, P_mbar = 1013.25 P_atm.

Ranges: ``ranges_val`` (validation sampling) and training ranges = ranges_val widened about
their centres by ``expand_factors``; for log-scale parameters the floor ``log_floors`` is
applied *after* the expansion, and a log-scale training range that still reaches 0 is an
error naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.constants import ATM_MBAR

__all__ = ["PARAM_NAMES", "CONVENTIONS", "ParameterError", "ParameterSpace", "build_space",
           "convert_ranges", "to_internal", "from_internal"]

PARAM_NAMES = ("sig0", "dsig", "mf_CH4", "mf_H2O", "baseline0", "baseline1", "baseline2",
               "P", "T")
CONVENTIONS = ("physae", "guide")
UNITS = {"sig0": "cm^-1", "dsig": "cm^-1", "mf_CH4": "ppm", "mf_H2O": "ppm", "baseline0": "1",
         "baseline1": "1/pixel", "baseline2": "1/pixel^2", "P": "mbar", "T": "K"}


class ParameterError(ValueError):
    """An invalid parameter-space setting; the message names the config field."""


def _check_pair(field: str, value) -> tuple[float, float]:
    if not (isinstance(value, Sequence) and len(value) == 2):
        raise ParameterError(f"{field}: expected [low, high], got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(f"{field}: bounds must be finite, got [{lo}, {hi}]")
    if lo > hi:
        raise ParameterError(f"{field}: min {lo} > max {hi}; give [low, high]")
    return lo, hi


def convert_ranges(ranges: Mapping[str, Sequence[float]], convention: str, n_points: int,
                   field: str = "ranges_val") -> dict[str, tuple[float, float]]:
    """Ranges given in `convention` as ranges of the physae (pixel) convention.

    Args:
      ranges: name -> (low, high) in `convention`'s units; all of :data:`PARAM_NAMES`.
      convention: ``"physae"`` or ``"guide"``.
      n_points: pixels N (the guide's width and baseline refer to it).
      field: config field name used in error messages.
    Returns:
      name -> (low, high) with sig0 = pixel-0 wavenumber, dsig per pixel, P mbar, pixel
      baseline. The guide's sig0 range (centre) and dsig range (width) combine by interval
      arithmetic (pixel 0 = centre - width/2).
    """
    if convention not in CONVENTIONS:
        raise ParameterError(f"convention={convention!r}: allowed values {list(CONVENTIONS)}")
    unknown = sorted(set(ranges) - set(PARAM_NAMES))
    if unknown:
        raise ParameterError(f"{field}.{unknown[0]}: unknown parameter; allowed "
                             f"{list(PARAM_NAMES)}")
    missing = [n for n in PARAM_NAMES if n not in ranges]
    if missing:
        raise ParameterError(f"{field}.{missing[0]}: missing range")
    r = {n: _check_pair(f"{field}.{n}", ranges[n]) for n in PARAM_NAMES}
    if convention == "physae":
        return r
    m = n_points - 1
    (c_lo, c_hi), (w_lo, w_hi) = r["sig0"], r["dsig"]
    out = dict(r)
    out["sig0"] = (c_lo - 0.5 * w_hi, c_hi - 0.5 * w_lo)
    out["dsig"] = (w_lo / m, w_hi / m)
    out["baseline1"] = (r["baseline1"][0] / m, r["baseline1"][1] / m)
    out["baseline2"] = (r["baseline2"][0] / m ** 2, r["baseline2"][1] / m ** 2)
    out["P"] = (r["P"][0] * ATM_MBAR, r["P"][1] * ATM_MBAR)
    return out


def to_internal(values: Mapping[str, float], convention: str, n_points: int,
                sig0_ref: float) -> np.ndarray:
    """One parameter set in `convention` -> the internal (9,) float64 vector."""
    if convention not in CONVENTIONS:
        raise ParameterError(f"convention={convention!r}: allowed values {list(CONVENTIONS)}")
    v = {n: float(values[n]) for n in PARAM_NAMES}
    if convention == "guide":
        m = n_points - 1
        v["sig0"] = v["sig0"] - 0.5 * v["dsig"]
        v["dsig"] = v["dsig"] / m
        v["baseline1"] /= m
        v["baseline2"] /= m ** 2
        v["P"] *= ATM_MBAR
    v["sig0"] -= sig0_ref
    return np.array([v[n] for n in PARAM_NAMES], np.float64)


def from_internal(vector, convention: str, n_points: int, sig0_ref: float) -> dict[str, float]:
    """Inverse of :func:`to_internal` (host floats)."""
    v = dict(zip(PARAM_NAMES, (float(x) for x in np.asarray(vector, np.float64)), strict=True))
    v["sig0"] += sig0_ref
    if convention == "guide":
        m = n_points - 1
        v["dsig"] *= m
        v["sig0"] += 0.5 * v["dsig"]
        v["baseline1"] *= m
        v["baseline2"] *= m ** 2
        v["P"] /= ATM_MBAR
    return v


@dataclass(frozen=True)
class ParameterSpace:
    """Internal-form ranges and scales (hashable; used as a static argument).

    Attributes:
      names: the parameter names, :data:`PARAM_NAMES`.
      sig0_ref: static reference wavenumber (cm^-1) the ``sig0`` entries are offsets from.
      train: name -> (low, high) training range (internal form; sig0 as offset).
      val: name -> (low, high) validation range (internal form).
      log_scale: names normalised on log(value).
      predicted: names the network predicts (others are taken at their true value).
    """

    sig0_ref: float
    train: tuple[tuple[float, float], ...]
    val: tuple[tuple[float, float], ...]
    log_scale: tuple[str, ...] = ("mf_CH4",)
    predicted: tuple[str, ...] = PARAM_NAMES
    names: tuple[str, ...] = PARAM_NAMES

    def index(self, name: str) -> int:
        return self.names.index(name)

    def bounds(self, which: str = "train") -> tuple[np.ndarray, np.ndarray]:
        r = np.asarray(self.train if which == "train" else self.val, np.float64)
        return r[:, 0], r[:, 1]

    def _scaled_bounds(self):
        lo, hi = self.bounds("train")
        is_log = np.array([n in self.log_scale for n in self.names])
        lo = np.where(is_log, np.log(np.where(is_log, lo, 1.0)), lo)
        hi = np.where(is_log, np.log(np.where(is_log, hi, 1.0)), hi)
        return is_log, lo, hi

    def normalise(self, x):
        """Internal physical (..., 9) -> [0, 1] over the training ranges (log where set)."""
        is_log, lo, hi = self._scaled_bounds()
        x = jnp.asarray(x)
        dt = x.dtype
        z = jnp.where(is_log, jnp.log(jnp.where(is_log, x, 1.0)), x)
        return ((z - lo.astype(dt)) / (hi - lo).astype(dt)).astype(dt)

    def denormalise(self, u):
        """[0, 1] (..., 9) -> internal physical values; inverse of :meth:`normalise`."""
        is_log, lo, hi = self._scaled_bounds()
        u = jnp.asarray(u)
        dt = u.dtype
        z = lo.astype(dt) + u * (hi - lo).astype(dt)
        return jnp.where(is_log, jnp.exp(jnp.where(is_log, z, 0.0)), z).astype(dt)  # no inf grads

    def unit_bounds(self, which: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """The `which` ranges in normalised units (host float64; (0, 1) for "train")."""
        is_log, lo, hi = self._scaled_bounds()
        a, b = self.bounds(which)
        a = np.where(is_log, np.log(np.where(is_log, a, 1.0)), a)
        b = np.where(is_log, np.log(np.where(is_log, b, 1.0)), b)
        return (a - lo) / (hi - lo), (b - lo) / (hi - lo)

    def predicted_mask(self) -> np.ndarray:
        return np.array([n in self.predicted for n in self.names])


def build_space(ranges_val: Mapping[str, Sequence[float]], *, convention: str = "physae",
                n_points: int, expand_factors: Mapping[str, float] | None = None,
                log_scale: Sequence[str] = ("mf_CH4",),
                log_floors: Mapping[str, float] | None = None,
                predicted: Sequence[str] | None = None,
                sig0_ref: float | None = None) -> ParameterSpace:
    """Validate a config's ranges and build the internal :class:`ParameterSpace`.

    Args:
      ranges_val: name -> [low, high] validation ranges in `convention`'s units.
      convention: ``"physae"`` or ``"guide"`` (see the module docstring).
      n_points: pixels N.
      expand_factors: name -> factor (>= 1 widens) about the range centre; default 1.
      log_scale: names normalised on a log scale (need positive training ranges).
      log_floors: name -> floor applied to a log-scale training range's low end after the
        expansion.
      predicted: names the network predicts (default all).
      sig0_ref: reference for the sig0 offset (default: centre of the validation sig0 range).
    Raises:
      ParameterError naming the field (``ranges_val.X``, ``expand_factors.X``,
      ``log_scale``, ``log_floors.X``, ``predicted``).
    """
    val = convert_ranges(ranges_val, convention, n_points)
    expand_factors = dict(expand_factors or {})
    log_floors = dict(log_floors or {})
    for field, names in (("expand_factors", expand_factors), ("log_floors", log_floors),
                         ("log_scale", log_scale), ("predicted", predicted or ())):
        bad = sorted(set(names) - set(PARAM_NAMES))
        if bad:
            raise ParameterError(f"{field}.{bad[0]}: unknown parameter; allowed "
                                 f"{list(PARAM_NAMES)}")
    train = {}
    for n in PARAM_NAMES:
        f = float(expand_factors.get(n, 1.0))
        if not f > 0:
            raise ParameterError(f"expand_factors.{n} = {f}: must be > 0")
        lo, hi = val[n]
        mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
        lo, hi = mid - f * half, mid + f * half
        if n in log_scale:
            if n in log_floors:
                lo = max(lo, float(log_floors[n]))
            if lo <= 0:
                raise ParameterError(
                    f"ranges_val.{n}: log-scale training range reaches {lo:.4g} <= 0 after "
                    f"expansion by {f}; set log_floors.{n} > 0, shrink expand_factors.{n}, "
                    f"or drop {n} from log_scale")
        if n == "dsig" and lo <= 0:
            raise ParameterError(f"ranges_val.dsig: training grid step reaches {lo:.4g} <= 0")
        if n in ("P", "T") and lo <= 0:
            raise ParameterError(f"ranges_val.{n}: training range reaches {lo:.4g} <= 0")
        train[n] = (lo, hi)
    ref = float(sig0_ref if sig0_ref is not None else 0.5 * sum(val["sig0"]))

    def rel(r):
        return tuple((a - ref, b - ref) if n == "sig0" else (a, b)
                     for n, (a, b) in ((n, r[n]) for n in PARAM_NAMES))

    return ParameterSpace(sig0_ref=ref, train=rel(train), val=rel(val),
                          log_scale=tuple(log_scale),
                          predicted=tuple(predicted) if predicted else PARAM_NAMES)
