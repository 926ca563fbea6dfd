"""HAPI-compatible front door: HAPI's function names, argument names and return values.

A HAPI script switches by changing its import (``from jaxgeo.spectra.hapi import *``)::

    nu, coef = absorptionCoefficient_Voigt(SourceTables="CH4.par", WavenumberStep=0.002,
                                           Environment={"T": 296.0, "p": 1.0},
                                           Diluent={"air": 1.0}, HITRAN_units=False)
    nu, trans = transmittanceSpectrum(nu, coef, Environment={"l": 100.0})

Functions: ``absorptionCoefficient_Voigt``, ``_Lorentz``, ``_Gauss`` (= ``_Doppler``),
``_SDVoigt``, ``_HT``, ``transmittanceSpectrum``, ``absorptionSpectrum``, ``partitionSum``
(and ``PYTIPS2021``, ``PYTIPS2025``, ``PYTIPS`` for ``partitionFunction=``). They are host
functions of concrete conditions returning float64 numpy arrays (nu, coef), computed by
``jaxgeo.spectra.absorption_coefficient`` (windowed fast path on uniform grids). For ``jit``,
``grad`` or ``vmap`` over conditions call ``jaxgeo.spectra.absorption_coefficient`` itself.

Documented differences from HAPI (hitran-api 1.3):

- ``SourceTables`` is a ``LineList``, a path to a HITRAN 160-character ``.par``/``.data`` file,
  or a list of these; table names are not looked up in a database (no ``db_begin``/``fetch``).
- Partition sums: ``partitionFunction`` defaults to TIPS-2025 as in HAPI 1.3 (``PYTIPS``);
  ``PYTIPS2021``/``PYTIPS2025`` select jaxgeo's shipped TIPS tables (a cubic spline through
  HAPI's tabulated nodes); any other callable ``(M, I, T) -> Q`` (e.g. HAPI's own
  ``hapi.PYTIPS2021``) is evaluated at T and 296 K and used as is.
- Line shapes are exact to the Faddeeva kernels' 1e-12 (float64); HAPI's CPF (``hum1_wei``)
  is accurate to ~1e-5, so values differ at that level.
- ``absorptionCoefficient_Lorentz`` centres each line on nu0 + delta p; HAPI's
  ``PROFILE_LORENTZ`` uses ``WnGrid + Delta0 - Nu`` (centre nu0 - delta p, the opposite sign
  of its own Voigt profile). With ``LineShift=False`` the two agree.
- Pressure shift: delta_air p for every diluent (HITRAN .par files carry no delta_self;
  HAPI then takes 0 for the self-broadened part). Widths: gamma_air/gamma_self with the
  n_air exponent for both, as HAPI does for .par files.
- Speed-dependent parameters: gamma2 = ``LineList.sd_air`` * gamma0 (same temperature
  exponent as gamma0), delta2 = 0, eta = ``LineList.eta``, nu_VC from ``LineList.g_dicke``
  (HT only); all zero for .par files, where HAPI also falls back to zero (so SDVoigt and HT
  equal Voigt there, on both sides).
- Diluents: 'air' and 'self' only. ``WavenumberWing`` (absolute wing, cm^-1) must be 0 or
  unset (wings are ``OmegaWingHW``/``WavenumberWingHW`` half widths, HAPI's default 50).
- Line intensities use c2 = 1.4387768775 cm K (CODATA 2018; HAPI 1.4388028496642257) and
  CODATA Boltzmann constant and amu: relative differences ~2e-5 at 250 K.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.core.files import write_text
from jaxgeo.spectra.absorption import absorption_coefficient
from jaxgeo.spectra.linelist import (
    LineList,
    concatenate,
    host_arrays,
    make_line_list,
    read_hitran_par,
)
from jaxgeo.spectra.partition import isotopologue_abundance, tips_partition_function
from jaxgeo.spectra.physics import line_intensity, number_density, partition_ratio

__all__ = [
    "PYTIPS", "PYTIPS2021", "PYTIPS2025", "absorptionCoefficient_Doppler",
    "absorptionCoefficient_Gauss", "absorptionCoefficient_HT", "absorptionCoefficient_Lorentz",
    "absorptionCoefficient_SDVoigt", "absorptionCoefficient_Voigt", "absorptionSpectrum",
    "partitionSum", "transmittanceSpectrum",
]

DEFAULT_WING_HW = 50.0  # HAPI's DefaultOmegaWingHW
DEFAULT_STEP = 0.01  # HAPI's default WavenumberStep, cm^-1


def partitionSum(M: int, I: int, T, step: float | None = None, version: int = 2025):  # noqa: E741, N802, N803
    """Total internal partition sum Q(T) (HAPI's ``partitionSum``; TIPS-2025 by default).

    Args:
        M, I: HITRAN molecule and local isotopologue numbers.
        T: temperature (K): a scalar (returns a float), a list/tuple (returns a list), or
            with ``step`` the range [T[0], T[1]) sampled every ``step`` K.
        step: temperature step for a range (returns (TT, Q) arrays).
        version: TIPS version, 2021 or 2025 (jaxgeo's shipped tables; HAPI also has 2011, 2017).
    """
    pf = tips_partition_function([(M, I)], version)
    knots, coef = np.asarray(pf.knots, np.float64), np.asarray(pf.coef[0], np.float64)
    t_max = float(pf.t_max[0])

    def q(t):  # the spline of ``evaluate_partition``, on the host (no compile per call)
        t = np.clip(np.asarray(t, np.float64), knots[0], t_max)
        idx = np.clip(np.searchsorted(knots, t, side="right") - 1, 0, knots.size - 2)
        dt, c = t - knots[idx], coef[idx]
        return ((c[..., 0] * dt + c[..., 1]) * dt + c[..., 2]) * dt + c[..., 3]

    if step:
        tt = np.arange(T[0], T[1], step)
        return tt, q(tt)
    if isinstance(T, list | tuple):
        return [float(v) for v in q(np.asarray(T, np.float64))]
    return float(q(T))


def PYTIPS2021(M: int, I: int, T):  # noqa: E741, N802, N803
    """Q(T) from TIPS-2021 (as HAPI's ``PYTIPS2021``)."""
    return partitionSum(M, I, T, version=2021)


def PYTIPS2025(M: int, I: int, T):  # noqa: E741, N802, N803
    """Q(T) from TIPS-2025 (as HAPI's ``PYTIPS2025``; HAPI 1.3's default ``PYTIPS``)."""
    return partitionSum(M, I, T, version=2025)


PYTIPS = PYTIPS2025
_OWN_TIPS = {PYTIPS2021: 2021, PYTIPS2025: 2025}


def _load_tables(source, version: int) -> LineList:
    """One float64 ``LineList`` from ``SourceTables`` (LineList, path, or a list of them)."""
    if source is None:
        raise ValueError("SourceTables is required: a LineList or the path of a HITRAN .par "
                         "file (jaxgeo.spectra.hapi has no table database)")
    items = list(source) if isinstance(source, list | tuple) else [source]
    out = []
    for item in items:
        if isinstance(item, LineList):
            out.append(make_line_list(**host_arrays(item), partition_version=version))
        elif isinstance(item, str | Path):
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(
                    f"SourceTables entry {str(item)!r} is not a file: jaxgeo.spectra.hapi reads "
                    "HITRAN .par/.data files directly (pass the path, not a HAPI table name)")
            out.append(read_hitran_par(path, partition_version=version))
        else:
            raise TypeError(f"SourceTables entries must be LineList or a .par path, got "
                            f"{type(item).__name__}")
    return out[0] if len(out) == 1 else concatenate(out, partition_version=version)


def _grid(lines: LineList, grid, wn_range, step) -> np.ndarray:
    """HAPI's wavenumber grid: the sorted ``WavenumberGrid``, else HAPI's ``arange_``."""
    if grid is not None:
        return np.sort(np.asarray(grid, np.float64))
    if wn_range is None:
        nu0 = np.asarray(host_arrays(lines)["nu0"])
        wn_range = (float(nu0.min()), float(nu0.max()))
    step = DEFAULT_STEP if step is None else float(step)
    lo, hi = float(wn_range[0]), float(wn_range[1])
    n = int(np.floor((hi - lo) / step)) + 1
    upper = lo + step * (n - 1)
    if abs((hi - upper) - step) < 1e-10:
        upper += step
        n += 1
    return np.linspace(lo, upper, n)


def _select(lines: LineList, components, temperature, threshold, pf) -> LineList:
    """Lines of ``Components`` (abundance-rescaled), partition sums from ``pf`` if it is a
    foreign callable, intensities >= ``threshold`` at T (HITRAN units, as HAPI)."""
    host = host_arrays(lines)
    mol, iso = host["mol_id"], host["iso_id"]
    keep = np.ones(mol.size, bool)
    sw = host["sw"].copy()
    if components is not None:
        comps = [components] if isinstance(components[0], int | np.integer) else components
        keep[:] = False
        for comp in comps:
            m, i = int(comp[0]), int(comp[1])
            hit = (mol == m) & (iso == i)
            keep |= hit
            if len(comp) >= 3:
                sw[hit] *= float(comp[2]) / isotopologue_abundance(m, i)
    if pf is not None:  # a foreign Q(T): rescale S by its Q ratio over the lines' own
        own = np.asarray(partition_ratio(lines, temperature))
        for m, i in set(zip(mol.tolist(), iso.tolist(), strict=True)):
            hit = (mol == m) & (iso == i)
            sw[hit] *= float(pf(m, i, 296.0)) / float(pf(m, i, temperature)) / own[hit]
    lines = replace(lines, sw=jnp.asarray(sw))
    if threshold:
        keep &= np.asarray(line_intensity(lines, temperature)) >= float(threshold)
    return lines if keep.all() else lines.select(keep)


def _absorption(profile: str, *, Components=None, SourceTables=None, partitionFunction=None,  # noqa: N803
                Environment=None, WavenumberRange=None, WavenumberStep=None,
                WavenumberWing=None, WavenumberWingHW=None, WavenumberGrid=None,
                IntensityThreshold=0.0, OmegaWingHW=DEFAULT_WING_HW, GammaL="gamma_air",
                HITRAN_units=True, LineShift=True, File=None, Format=None, Diluent=None,
                LineMixingRosen=False, OmegaRange=None, OmegaStep=None, OmegaWing=None,
                OmegaGrid=None):
    """Shared body of the ``absorptionCoefficient_*`` functions (HAPI's arguments)."""
    wn_range = WavenumberRange if WavenumberRange is not None else OmegaRange
    step = WavenumberStep if WavenumberStep is not None else OmegaStep
    grid = WavenumberGrid if WavenumberGrid is not None else OmegaGrid
    wing_abs = WavenumberWing if WavenumberWing is not None else OmegaWing
    wing_hw = float(WavenumberWingHW if WavenumberWingHW is not None else OmegaWingHW)
    if wing_abs:
        raise ValueError(f"WavenumberWing={wing_abs}: absolute wings are not supported; give "
                         "the wing in half widths with WavenumberWingHW (HAPI default 50)")
    env = {"T": 296.0, "p": 1.0} if Environment is None else Environment
    temperature, p_atm = float(env["T"]), float(env["p"])
    if not Diluent:
        if GammaL.lower() not in ("gamma_air", "gamma_self"):
            raise ValueError(f"GammaL must be 'gamma_air' or 'gamma_self', got {GammaL!r}")
        Diluent = {GammaL.lower().removeprefix("gamma_"): 1.0}  # noqa: N806
    for name, frac in Diluent.items():
        if not 0.0 <= float(frac) <= 1.0:
            raise ValueError(f"Diluent fraction {name}={frac} must be in [0, 1]")
    if partitionFunction is None:
        version, foreign = 2025, None
    elif isinstance(partitionFunction, int):
        version, foreign = partitionFunction, None
    elif partitionFunction in _OWN_TIPS:
        version, foreign = _OWN_TIPS[partitionFunction], None
    elif callable(partitionFunction):
        version, foreign = 2025, partitionFunction
    else:
        raise TypeError("partitionFunction must be PYTIPS2021/PYTIPS2025, a TIPS version "
                        "(2021, 2025) or a callable (M, I, T) -> Q")
    with jax.enable_x64(True):
        lines = _load_tables(SourceTables, version)
        lines = _select(lines, Components, temperature, IntensityThreshold, foreign)
        nu = _grid(lines, grid, wn_range, step)
        k = np.asarray(absorption_coefficient(
            lines, nu, temperature, p_atm, profile=profile, diluent=dict(Diluent),
            wing=wing_hw, line_mixing=bool(LineMixingRosen), shift=bool(LineShift),
            conditions=_bucket(temperature, p_atm)), np.float64)
        if HITRAN_units:
            k = k / float(number_density(temperature, p_atm))
    if File:
        _save(File, Format or "%.12f %e", nu, k)
    return nu, k


def _bucket(temperature: float, p_atm: float) -> dict[str, float]:
    """Condition ranges holding (T, p): 50 K wide, pressures within a factor 2. The windowed
    path's sizes (hence its compilation) depend only on these ranges, so a script looping
    over conditions compiles once per bucket, not once per call."""
    t_lo = 50.0 * math.floor(temperature / 50.0)
    if p_atm > 0:
        p_lo = 2.0 ** math.floor(math.log2(p_atm))
        p_hi = 2.0 * p_lo
    else:
        p_lo = p_hi = 0.0
    return dict(t_min=max(t_lo, 1.0), t_max=t_lo + 50.0, p_min_atm=p_lo, p_max_atm=p_hi)


def _save(path, fmt: str, x, y) -> None:
    write_text(path, "".join(fmt % (a, b) + "\n" for a, b in zip(x, y, strict=True)))


_ARGS_DOC = """

    Args (HAPI's names; all keyword):
        SourceTables: LineList, path of a HITRAN .par file, or a list of them.
        Components: [(M, I)] or [(M, I, D)] isotopologues to include, D their abundance
            (default: all lines, natural abundances).
        Environment: {'T': K, 'p': atm}, default {'T': 296, 'p': 1}.
        WavenumberRange, WavenumberStep: grid [lo, hi] and step (cm^-1, HAPI's arange_);
            default: the lines' range, step 0.01.
        WavenumberGrid: explicit grid (sorted; non-uniform grids use the dense path).
        Diluent: broadener fractions {'air': .., 'self': ..}; default from GammaL.
        HITRAN_units: True -> cross section cm^2/molecule; False -> k in cm^-1.
        OmegaWingHW / WavenumberWingHW: line wing in half widths (default 50).
        IntensityThreshold: drop lines with S(T) below it (cm^-1/(molecule cm^-2)).
        partitionFunction: PYTIPS2021, PYTIPS2025 (default), a version or a callable.
        LineShift: include pressure shifts; LineMixingRosen: first-order mixing (``lmf``).
        File, Format: also write "nu k" lines to File (atomically).
    Returns:
        (nu, coef): float64 numpy arrays (N,).
    """


# HAPI's positional order of absorptionCoefficient_Generic's leading arguments
POSITIONAL = ("Components", "SourceTables", "partitionFunction", "Environment", "OmegaRange",
              "OmegaStep", "OmegaWing", "IntensityThreshold", "OmegaWingHW", "GammaL",
              "HITRAN_units", "LineShift", "File", "Format", "OmegaGrid")


def _call(profile: str, args: tuple, kwargs: dict):
    if len(args) > len(POSITIONAL):
        raise TypeError(f"at most {len(POSITIONAL)} positional arguments ({POSITIONAL})")
    for name, value in zip(POSITIONAL, args, strict=False):
        if name in kwargs:
            raise TypeError(f"{name} given both positionally and by keyword")
        kwargs[name] = value
    return _absorption(profile, **kwargs)


def absorptionCoefficient_Voigt(*args, **kwargs):  # noqa: N802
    """Voigt absorption coefficient (HAPI's ``absorptionCoefficient_Voigt``)."""
    return _call("voigt", args, kwargs)


def absorptionCoefficient_Lorentz(*args, **kwargs):  # noqa: N802
    """Lorentz absorption coefficient; wings in Lorentz half widths (HAPI's
    ``absorptionCoefficient_Lorentz``; see the module notes for its shift sign)."""
    return _call("lorentz", args, kwargs)


def absorptionCoefficient_Gauss(*args, **kwargs):  # noqa: N802
    """Doppler (Gauss) absorption coefficient, no pressure shift; wings in Doppler half
    widths (HAPI's ``absorptionCoefficient_Gauss`` = ``_Doppler``)."""
    return _call("gauss", args, kwargs)


absorptionCoefficient_Doppler = absorptionCoefficient_Gauss


def absorptionCoefficient_SDVoigt(*args, **kwargs):  # noqa: N802
    """Speed-dependent Voigt absorption coefficient (HAPI's ``absorptionCoefficient_SDVoigt``)."""
    return _call("sdvoigt", args, kwargs)


def absorptionCoefficient_HT(*args, **kwargs):  # noqa: N802
    """Hartmann-Tran absorption coefficient (HAPI's ``absorptionCoefficient_HT``)."""
    return _call("ht", args, kwargs)


for _fn in (absorptionCoefficient_Voigt, absorptionCoefficient_Lorentz,
            absorptionCoefficient_Gauss, absorptionCoefficient_SDVoigt,
            absorptionCoefficient_HT):
    _fn.__doc__ += _ARGS_DOC


def _path_spectrum(omegas, coef, environment, file, fmt, wavenumber,
                   fn: Callable) -> tuple:
    if wavenumber is not None:
        omegas = wavenumber
    env = {"l": 100.0} if environment is None else environment
    xp = jnp if isinstance(coef, jax.Array) else np
    out = fn(xp, xp.asarray(coef) * env["l"])
    if file:
        _save(file, fmt, np.asarray(omegas), np.asarray(out))
    return omegas, out


def transmittanceSpectrum(Omegas, AbsorptionCoefficient, Environment: Mapping | None = None,  # noqa: N802, N803
                          File=None, Format: str = "%e %e", Wavenumber=None):
    """Transmittance exp(-k l) (HAPI's ``transmittanceSpectrum``), path length
    ``Environment['l']`` in cm (default 100); returns (Omegas, T). jax arrays stay jax
    arrays (differentiable)."""
    return _path_spectrum(Omegas, AbsorptionCoefficient, Environment, File, Format,
                          Wavenumber, lambda xp, tau: xp.exp(-tau))


def absorptionSpectrum(Omegas, AbsorptionCoefficient, Environment: Mapping | None = None,  # noqa: N802, N803
                       File=None, Format: str = "%e %e", Wavenumber=None):
    """Absorption 1 - exp(-k l) (HAPI's ``absorptionSpectrum``), path length
    ``Environment['l']`` in cm (default 100); returns (Omegas, A)."""
    return _path_spectrum(Omegas, AbsorptionCoefficient, Environment, File, Format,
                          Wavenumber, lambda xp, tau: -xp.expm1(-tau))

