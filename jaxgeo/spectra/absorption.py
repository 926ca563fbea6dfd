"""Absorption coefficient k(nu) (cm^-1) from a line list, HAPI conventions.

``absorption_coefficient`` evaluates every line on every grid point inside its wing window
(exact, memory bounded by line chunks). ``absorption_coefficient_uniform`` is the fast path
for uniform grids: each line only touches the fixed-size window of grid points around its
centre (gather/scatter-add), with the accurate core kernels (``faddeeva_core_real``) where
|z| < ``core_radius`` and the cheap asymptotic series (``faddeeva_wing_real``) in the wings;
both meet the issue's bounds (relative error of w and of Re w <= 1e-12 in float64, 1e-5 in
float32; see tests/test_spectra_lineshapes.py).

Convention (as HAPI ``absorptionCoefficient_Voigt(..., HITRAN_units=False)``):
k(nu) = n(p, T) * sum_lines S_l(T) * profile_l(nu), n = p/(kT) the total number density, and a
line contributes only where |nu - nu0_l| <= wing * max(gamma_L, gamma_D) (HAPI's
``WavenumberWingHW``, default 50 half widths, window centred on the unshifted line; Lorentz:
gamma_L, Gauss: gamma_D), widened by ``WINDOW_TIE`` so that window edges falling exactly on
grid points are inside in every path (HAPI's windows are half-open, (nu0 - W, nu0 + W]).

Profiles (``PROFILES``): Voigt and Rautian use the split core/wing Faddeeva kernels; Lorentz,
Gauss, speed-dependent Voigt and Hartmann-Tran are evaluated exactly on each line's window.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.autogrid import (
    as_uniform_grid,
    broadening_bounds,
    condition_ranges,
    inside_ranges,
    is_concrete,
)
from jaxgeo.spectra.compile import spectra_jit
from jaxgeo.spectra.dense import spectrum_from_state
from jaxgeo.spectra.linelist import LineList
from jaxgeo.spectra.state import (
    FADDEEVA_SPLIT_PROFILES,
    PROFILES,
    WINDOW_TIE,
    LineState,
    line_state,
    profile_values,
    reduced_profile,
)
from jaxgeo.spectra.windowed import spectrum_uniform_from_state
from jaxgeo.spectra.windows import (
    ASYMPTOTIC_Z,
    UniformGrid,
    WindowSizes,
    core_points_for,
    core_radius,
    small_y_needed,
    window_sizes,
)

__all__ = [
    "ASYMPTOTIC_Z", "FADDEEVA_SPLIT_PROFILES", "PROFILES", "WINDOW_TIE", "LineState",
    "UniformGrid", "WindowSizes", "absorption_coefficient", "absorption_coefficient_uniform",
    "absorption_coefficient_uniform_batch", "core_points_for", "core_radius", "line_state",
    "profile_values", "reduced_profile", "small_y_needed", "spectrum_from_state",
    "spectrum_uniform_from_state", "window_sizes",
]


def absorption_coefficient(
    lines: LineList,
    nu,
    temperature,
    p_atm,
    *,
    profile: str = "voigt",
    diluent: Mapping[str, object] | None = None,
    wing: float = 50.0,
    line_mixing: bool = False,
    line_chunk: int = 64,
    nu_origin=None,
    conditions: Mapping[str, float] | None = None,
    method: str = "auto",
    shift: bool = True,
) -> jax.Array:
    """Absorption coefficient k(nu), cm^-1, for the pure absorber at (T [K], p [atm]).

    ``method`` = 'dense' forces the exact dense path (every line on every point).
    'sdvoigt'/'ht' on lines without speed dependence evaluate their exact Voigt/Rautian
    limit (``reduced_profile``).

    On a uniform grid (a ``UniformGrid``, or a concrete array evenly spaced within rounding,
    see ``as_uniform_grid``) this takes the windowed fast path by itself, its window sizes
    fitted to ``conditions`` (dict t_min, t_max, p_max_atm and optionally p_min_atm) when
    given, else to the concrete (T, p); ranges are needed when T and p are traced
    (``jit``/``vmap``); outside the declared ranges the result is NaN, never silently wrong.
    Traced conditions without ``conditions``, a traced or non-uniform grid, or a traced line
    list use the exact dense path (one-time warning naming the cost in the traced-conditions
    case).

    Args:
        lines: the line list.
        nu: (N,) wavenumbers, cm^-1 (any spacing).
        temperature, p_atm: scalars (``vmap`` for batches).
        profile: one of ``PROFILES``: 'voigt', 'rautian' (Dicke narrowing from
            ``lines.g_dicke``), 'lorentz', 'gauss', 'sdvoigt', 'ht' (Hartmann-Tran); see
            ``line_state`` for the parameters each takes from the line list.
        diluent: broadener fractions, default {'air': 1.0}.
        wing: line cut-off in half widths, max(gamma_L, gamma_D) (HAPI default 50).
        line_mixing: add Rosenkranz first-order mixing Y Im K (``lines.lmf``).
        line_chunk: lines per block of the (block, N) evaluation (memory bound).
        nu_origin: if given, ``nu`` holds offsets from this scalar (precise in float32).
        conditions: (t_min, t_max, p_min_atm, p_max_atm) ranges for traced T, p.
        method: 'auto' or 'dense'.
        shift: include the pressure shifts (HAPI's ``LineShift``).
    Returns:
        (N,) k in cm^-1 (multiply by mole fraction and path length for optical depth).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    if method not in ("auto", "dense"):
        raise ValueError(f"method must be 'auto' or 'dense', got {method!r}")
    profile = reduced_profile(lines, profile)
    fast = None if method == "dense" else _fast_path(
        lines, nu, temperature, p_atm, profile=profile, diluent=diluent, wing=wing,
        line_mixing=line_mixing, nu_origin=nu_origin, conditions=conditions, shift=shift)
    if fast is not None:
        return fast
    if isinstance(nu, UniformGrid):
        nu = nu.values(jnp.result_type(float))
    return _dense_jit(lines, jnp.asarray(nu), temperature, p_atm, diluent, wing, nu_origin,
                      profile=profile, line_mixing=line_mixing, line_chunk=line_chunk,
                      shift=shift)


@spectra_jit(static_argnames=("profile", "line_mixing", "line_chunk", "shift"))
def _dense_jit(lines, nu, temperature, p_atm, diluent, wing, nu_origin, *, profile,
               line_mixing, line_chunk, shift=True):
    state = line_state(
        lines, temperature, p_atm, profile=profile, diluent=diluent, wing=wing,
        line_mixing=line_mixing, shift=shift,
    )
    return spectrum_from_state(state, nu, line_chunk=line_chunk, nu_origin=nu_origin)


def absorption_coefficient_uniform(
    lines: LineList,
    grid: UniformGrid,
    temperature,
    p_atm,
    sizes: WindowSizes,
    *,
    profile: str = "voigt",
    diluent: Mapping[str, object] | None = None,
    wing: float = 50.0,
    line_mixing: bool = False,
) -> jax.Array:
    """k(nu) on a uniform grid, each line evaluated only inside its window (fast path).

    ``sizes`` (static) comes from ``window_sizes`` for the range of conditions used; the
    result equals ``absorption_coefficient`` (both within the Faddeeva kernels' error
    bounds) whenever the conditions lie inside that range.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return _uniform_jit(lines, temperature, p_atm, diluent, wing, grid=grid, sizes=sizes,
                        profile=profile, line_mixing=line_mixing)


@spectra_jit(static_argnames=("grid", "sizes", "profile", "line_mixing", "shift"))
def _uniform_jit(lines, temperature, p_atm, diluent, wing, *, grid, sizes, profile,
                 line_mixing, shift=True):
    state = line_state(
        lines, temperature, p_atm, profile=profile, diluent=diluent, wing=wing,
        line_mixing=line_mixing, shift=shift,
    )
    return spectrum_uniform_from_state(state, grid, sizes, dicke=profile == "rautian",
                                       mixing=line_mixing)


def absorption_coefficient_uniform_batch(
    lines: LineList,
    grid: UniformGrid,
    temperatures,
    pressures_atm,
    *,
    wing: float = 50.0,
    n_buckets: int = 4,
) -> jax.Array:
    """Voigt k(nu) for a batch of concrete (T, p) conditions on a uniform grid; (B, N).

    Host-level driver: the conditions are sorted by pressure and split into ``n_buckets``
    groups; each group gets window sizes fitted to its own (T, p) range (low-pressure
    spectra need far smaller windows) and its conditions are dispatched one by one
    (asynchronously) to the compiled single-spectrum function, one compilation per group.
    Values equal ``absorption_coefficient_uniform`` per condition. For gradients w.r.t.
    the conditions use ``absorption_coefficient_uniform`` under ``vmap``/``grad``.
    Each bucket's sizes also carry its lowest pressure (``p_min_atm``), so the core kernel
    skips its small-y region whenever no line of the bucket can need it.
    (Measured on 2 CPU cores, CH4 1017 lines x 37.5k points, 64 conditions: the per-condition
    dispatch took 2.3 ms per spectrum, ``vmap`` per bucket 5.3-6.2 ms, ``lax.map`` per bucket
    3.8 ms.)
    """
    temps = np.asarray(temperatures, np.float64).reshape(-1)
    press = np.asarray(pressures_atm, np.float64).reshape(-1)
    if temps.shape != press.shape:
        raise ValueError(f"{temps.size} temperatures but {press.size} pressures")
    if n_buckets < 1:
        raise ValueError(f"n_buckets must be >= 1, got {n_buckets}")
    order = np.argsort(press, kind="stable")
    out = [None] * temps.size
    for group in np.array_split(order, min(n_buckets, temps.size)):
        sizes = window_sizes(lines, grid, t_min=float(temps[group].min()),
                             t_max=float(temps[group].max()),
                             p_max_atm=float(press[group].max()), wing=wing,
                             p_min_atm=float(press[group].min()))
        for i in group:
            out[i] = absorption_coefficient_uniform(lines, grid, temps[i], press[i], sizes,
                                                    wing=wing)
    return jnp.stack(out)


def _fast_path(lines, nu, temperature, p_atm, *, profile, diluent, wing, line_mixing,
               nu_origin, conditions, shift=True):
    """Windowed k for the obvious call when the grid is uniform (see ``autogrid``), else None."""
    grid = as_uniform_grid(nu, UniformGrid, nu_origin=nu_origin)
    if grid is None or wing is None or not is_concrete(lines):
        return None
    ranges = condition_ranges(temperature, p_atm, conditions, lines.n_lines, grid.n)
    if ranges is None:
        return None
    t_min, t_max, p_min, p_max = ranges
    total, self_share = broadening_bounds(diluent)
    dtype = jnp.result_type(lines.nu0)
    sizes = window_sizes(lines, grid, t_min=t_min, t_max=t_max, p_max_atm=p_max * max(total, 1.0),
                         wing=wing, diluent_self_max=self_share, dtype=dtype,
                         p_min_atm=p_min * min(total, 1.0))
    if jnp.ndim(temperature) or jnp.ndim(p_atm):  # concrete batch: one compiled spectrum each
        t_b, p_b = jnp.broadcast_arrays(jnp.asarray(temperature), jnp.asarray(p_atm))
        k = jax.vmap(lambda t, p: _uniform_jit(lines, t, p, diluent, wing, grid=grid,
                                               sizes=sizes, profile=profile,
                                               line_mixing=line_mixing, shift=shift))(t_b, p_b)
    else:
        k = _uniform_jit(lines, temperature, p_atm, diluent, wing, grid=grid, sizes=sizes,
                         profile=profile, line_mixing=line_mixing, shift=shift)
    if conditions is None:  # sized for these very (concrete) conditions
        return k
    return inside_ranges(k, temperature, p_atm, t_min, t_max, p_min, p_max)
