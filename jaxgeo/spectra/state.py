"""Line parameters at given conditions (``LineState``) and the profile each line takes.

One job: turn a ``LineList`` and (T, p) into per-line widths, shifts, strengths and windows
(``line_state``), and evaluate a state's profile at detunings (``profile_values``). Pure,
traceable; used by the dense (``dense``) and windowed (``windowed``) evaluations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.autogrid import is_concrete
from jaxgeo.spectra.linelist import LineList
from jaxgeo.spectra.lineshapes import (
    complex_profile,
    doppler,
    hartmann_tran_complex,
    lorentz_complex,
)
from jaxgeo.spectra.physics import (
    dicke_frequency,
    doppler_hwhm,
    line_intensity,
    line_mixing_y,
    lorentz_hwhm,
    number_density,
    pressure_shift,
)

__all__ = ["FADDEEVA_SPLIT_PROFILES", "PROFILES", "WINDOW_TIE", "LineState", "line_state",
           "profile_values", "reduced_profile"]

PROFILES = ("voigt", "rautian", "lorentz", "gauss", "sdvoigt", "ht")
# Relative widening of every line window: HITRAN's decimal centres and widths put window
# edges exactly on decimal grid points (e.g. 4998.702 - 50 * 0.055 = 4995.952), where the
# rounding of each path's detuning arithmetic (dense: nu - nu0; windowed: (start - nu0) +
# j step) would decide inclusion differently (a 3e-6 relative L2 discrepancy on a CH4
# sub-grid). With the tie margin, such points are inside on both sides in every path: it
# exceeds the float64 detuning rounding (~1e-12 cm over >= 0.1 cm windows). float32 cannot
# resolve ties (its detunings carry ~2e-7 cm, and edges sit on a 1e-6 cm decimal lattice,
# so any margin would also admit near-ties float64 excludes): none, rounding decides there.
WINDOW_TIE = {"float64": 1e-9, "float32": 0.0}
FADDEEVA_SPLIT_PROFILES = ("voigt", "rautian")  # core kernel + wing series path


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LineState:
    """Line parameters at one (T, p): all (L,) arrays, cm^-1 unless stated."""

    window_centre: jax.Array  # unshifted centre nu0 (HAPI's window reference)
    shift: jax.Array  # pressure shift; the profile is centred on nu0 + shift
    half_window: jax.Array  # wing * max(gamma_L, gamma_D)
    strength: jax.Array  # S(T) * n(p, T), cm^-2 (times profile in cm gives cm^-1)
    gamma_d: jax.Array
    gamma_l: jax.Array
    nu_vc: jax.Array
    y_mixing: jax.Array
    # speed-dependent profiles only ('sdvoigt', 'ht'); None otherwise
    delta0: jax.Array | None = None  # pressure shift (part of ``shift``)
    gamma2: jax.Array | None = None
    delta2: jax.Array | None = None
    eta: jax.Array | None = None
    profile: str = field(default="voigt", metadata={"static": True})


def line_state(
    lines: LineList,
    temperature,
    p_atm,
    *,
    profile: str = "voigt",
    diluent: Mapping[str, object] | None = None,
    wing: float | None = 50.0,
    line_mixing: bool = False,
    shift: bool = True,
) -> LineState:
    """Evaluate all per-line quantities at (T, p) (scalars; vmap for batches).

    ``wing=None`` disables the cut-off (every line on every point, as PhysAE does).
    Windows are ``wing`` * max(gamma_L, gamma_D), except 'lorentz' (``wing`` * gamma_L) and
    'gauss' (``wing`` * gamma_D, no pressure shift), as HAPI. Speed-dependent profiles:
    gamma2 = ``lines.sd_air`` * gamma_L, delta2 = 0, eta = ``lines.eta``; 'ht' also takes
    nu_vc from ``lines.g_dicke`` (all zero for HITRAN .par files, which carry none of them).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    gd = doppler_hwhm(lines, temperature)
    gl = lorentz_hwhm(lines, temperature, p_atm, diluent)
    zeros = jnp.zeros_like(gd)
    delta0 = pressure_shift(lines, p_atm) if shift and profile != "gauss" else zeros
    dnu_shift = delta0 + lines.nu0_lo  # exact centre = nu0 + nu0_lo
    nvc = (dicke_frequency(lines, temperature, p_atm) if profile in ("rautian", "ht")
           else zeros)
    ymix = line_mixing_y(lines, temperature, p_atm) if line_mixing else zeros
    strength = line_intensity(lines, temperature) * number_density(temperature, p_atm)
    width = {"lorentz": gl, "gauss": gd}.get(profile, jnp.maximum(gl, gd))
    tie = WINDOW_TIE["float64" if gd.dtype == jnp.float64 else "float32"]
    half_window = jnp.full_like(gd, jnp.inf) if wing is None else wing * width * (1 + tie)
    sd = {}
    if profile in ("sdvoigt", "ht"):
        sd = dict(delta0=delta0, gamma2=lines.sd_air * gl, delta2=zeros,
                  eta=lines.eta if profile == "ht" else zeros)
    return LineState(
        window_centre=lines.nu0, shift=dnu_shift, half_window=half_window,
        strength=strength, gamma_d=gd, gamma_l=gl, nu_vc=nvc, y_mixing=ymix,
        profile=profile, **sd,
    )


def profile_values(state: LineState, dnu0, sl=slice(None), w=None):
    """Re K + Y Im K (cm) of ``state.profile`` for lines ``sl`` at detunings ``dnu0`` from
    the unshifted centres (no strength, no window). ``w``: complex Faddeeva override
    (Voigt/Rautian only)."""
    prof = state.profile
    dnu = dnu0 - state.shift[sl]
    if prof in FADDEEVA_SPLIT_PROFILES:
        re, im = complex_profile(dnu, state.gamma_d[sl], state.gamma_l[sl], state.nu_vc[sl],
                                 w=w)
    elif prof == "lorentz":
        re, im = lorentz_complex(dnu, state.gamma_l[sl])
    elif prof == "gauss":
        return doppler(dnu, state.gamma_d[sl])  # no dispersion part (HAPI: no mixing)
    else:  # 'sdvoigt', 'ht': detuning from nu0 + nu0_lo, the pressure shift is delta0
        d0 = state.delta0[sl]
        re, im = hartmann_tran_complex(dnu + d0, state.gamma_d[sl], state.gamma_l[sl],
                                       state.gamma2[sl], d0, state.delta2[sl],
                                       state.nu_vc[sl], state.eta[sl])
    return re + state.y_mixing[sl] * im


def reduced_profile(lines: LineList, profile: str) -> str:
    """The cheaper profile a speed-dependent one equals for a concrete line list without
    speed dependence (``sd_air`` = ``eta`` = 0, as in every HITRAN .par file): 'sdvoigt' ->
    'voigt', 'ht' -> 'rautian' (or 'voigt' without Dicke narrowing). Exact: the
    Hartmann-Tran formula at gamma2 = delta2 = eta = 0 is the Rautian one (HAPI's pcqsdhc
    takes the same branch). Traced line lists keep ``profile``."""
    if profile not in ("sdvoigt", "ht") or not is_concrete(lines):
        return profile
    if np.any(np.asarray(lines.sd_air)) or (profile == "ht" and np.any(np.asarray(lines.eta))):
        return profile
    return "rautian" if profile == "ht" and np.any(np.asarray(lines.g_dicke)) else "voigt"
