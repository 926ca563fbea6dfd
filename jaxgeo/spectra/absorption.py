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

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

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
from jaxgeo.spectra.constants import (
    AMU_G,
    C_LIGHT_CM_S,
    K_BOLTZMANN_ERG_K,
    LN2,
    SQRT_LN2,
    SQRT_PI,
)
from jaxgeo.spectra.linelist import LineList
from jaxgeo.spectra.lineshapes import (
    complex_profile,
    doppler,
    faddeeva_core_real,
    faddeeva_plan,
    faddeeva_wing_real,
    hartmann_tran_complex,
    lorentz_complex,
    rautian_from_w,
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


def core_radius(dtype) -> float:
    """|z| from which the cheap wing kernel (``faddeeva_wing_real``) is used: 10 in float64,
    8 in float32 (see ``jaxgeo.spectra.lineshapes.FADDEEVA_PLANS``)."""
    return faddeeva_plan(dtype).wing_z


ASYMPTOTIC_Z = core_radius("float64")  # the larger of the two (safe for both dtypes)


def small_y_needed(lines: LineList, *, t_min: float, t_max: float, p_min_atm: float,
                   dtype=None) -> bool:
    """Whether some line can have y = sqrt(ln2) gamma_L/gamma_D below the core kernel's
    Taylor threshold (``faddeeva_plan(dtype).taylor_y``) for T in [t_min, t_max] and
    p >= p_min_atm, any air/self broadening mixture. Host-side; False lets the core kernel
    skip its small-y region (``small_y=False``; a violation then gives NaN, not a wrong
    value). y ~ T^-(n + 1/2) is monotonic in T, so the two end temperatures bound it."""
    if p_min_atm <= 0:
        return True
    plan = faddeeva_plan(lines.nu0.dtype if dtype is None else dtype)
    nu0 = np.asarray(lines.nu0, np.float64)
    mass = np.asarray(lines.mass, np.float64)
    n_air = np.asarray(lines.n_air, np.float64)
    gamma = np.minimum(np.asarray(lines.gamma_air, np.float64),
                       np.asarray(lines.gamma_self, np.float64))
    y_min = np.inf
    for t in (t_min, t_max):
        gd = nu0 / C_LIGHT_CM_S * np.sqrt(2 * K_BOLTZMANN_ERG_K * t * LN2 / (mass * AMU_G))
        gl = p_min_atm * (296.0 / t) ** n_air * gamma
        y_min = min(y_min, float((SQRT_LN2 * gl / gd).min()))
    return bool(y_min < plan.taylor_y * (1 + 1e-6))


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


def _line_values(state: LineState, dnu_unshifted, sl, w=None):
    """Profile * strength for lines ``sl`` at detunings ``nu - nu0`` (unshifted), windowed."""
    value = profile_values(state, dnu_unshifted, sl, w=w)
    inside = jnp.abs(dnu_unshifted) <= state.half_window[sl]
    return jnp.where(inside, state.strength[sl] * value, 0.0)


def spectrum_from_state(
    state: LineState, nu: jax.Array, *, line_chunk: int = 64, nu_origin=None,
    core_points: int | None = None, core_small_y: bool = True,
) -> jax.Array:
    """k(nu) (cm^-1) on any grid ``nu`` (N,), summing lines in chunks of ``line_chunk``.

    If ``nu_origin`` (scalar) is given, ``nu`` holds offsets from it: detunings are then
    formed as (nu_origin - nu0) + offset, which stays precise in float32.

    ``core_points`` (static, needs an increasing ``nu``) switches to the split evaluation:
    the full Faddeeva function only on the ``2 core_points + 1`` samples around each line
    (where |z| < ``core_radius``), the real-arithmetic wing expansion elsewhere. If some
    |z| < ``core_radius`` sample lies outside those windows the result is NaN (never
    silently wrong): raise ``core_points`` (see ``core_points_for``). ``core_small_y``
    (static) = False skips the core kernel's small-y region (see ``small_y_needed``; NaN if
    it was needed after all).
    """
    origin = 0.0 if nu_origin is None else nu_origin
    if core_points is not None:
        if state.profile not in FADDEEVA_SPLIT_PROFILES:
            raise ValueError(f"core_points applies to profiles {FADDEEVA_SPLIT_PROFILES}, not "
                             f"{state.profile!r}: leave it None")
        return _split_dense(state, nu, origin, core_points, core_small_y)
    n_lines = state.shift.shape[0]
    line_chunk = max(1, min(line_chunk, n_lines))
    n_chunks = max(1, math.ceil(n_lines / line_chunk))
    pad = n_chunks * line_chunk - n_lines

    def padded(x, fill):
        if x is None or not pad:
            return x
        return jnp.concatenate([x, jnp.full((pad,), fill, x.dtype)])

    # Padding lines: zero strength, unit widths (finite, contribute nothing).
    fills = dict(window_centre=0.0, shift=0.0, half_window=-1.0, strength=0.0, gamma_d=1.0,
                 gamma_l=1.0, nu_vc=0.0, y_mixing=0.0, delta0=0.0, gamma2=0.0, delta2=0.0,
                 eta=0.0)
    chunks = LineState(**{k: padded(getattr(state, k), v) for k, v in fills.items()},
                       profile=state.profile)
    chunks = jax.tree.map(lambda x: x.reshape(n_chunks, line_chunk), chunks)

    def body(acc, chunk):
        sl = (slice(None), None)
        vals = _line_values(chunk, nu[None, :] + (origin - chunk.window_centre)[sl], sl)
        return acc + vals.sum(axis=0), None

    acc0 = jnp.zeros(nu.shape, jnp.result_type(state.strength, nu))
    out, _ = jax.lax.scan(body, acc0, chunks)
    return out


def core_points_for(lines: LineList, *, min_step: float, t_max: float, p_max_atm: float,
                    dtype=None) -> int:
    """Static ``core_points`` covering |z| < ``core_radius(dtype)`` (dtype: of ``lines``
    unless given) for T <= t_max, p <= p_max_atm on grids whose spacing is at least
    ``min_step`` (cm^-1). Host-side."""
    radius = core_radius(lines.nu0.dtype if dtype is None else dtype)
    nu0 = np.asarray(lines.nu0, np.float64)
    mass = np.asarray(lines.mass, np.float64)
    gd_max = nu0 / C_LIGHT_CM_S * np.sqrt(2 * K_BOLTZMANN_ERG_K * t_max * LN2 / (mass * AMU_G))
    shift_max = p_max_atm * np.abs(np.asarray(lines.delta_air, np.float64))
    core_cm = radius * gd_max.max() / SQRT_LN2 + shift_max.max()
    return int(math.ceil(core_cm / min_step)) + 2


def _split_dense(state: LineState, nu, origin, half: int, small_y: bool = True):
    """Dense wings (real arithmetic) + core corrections; see ``spectrum_from_state``.

    The wing kernel runs on every (line, point) inside the line window. On the 2 half + 1
    samples around each line where |z| < core radius, the core kernel value minus the wing
    value is scattered on top, so each sample gets exactly one of the two (no mask has to
    agree between the dense and the windowed parts). Coverage check in O(lines): the
    samples with |z| < core radius (an interval in nu per line) must lie in the window.
    """
    n = nu.shape[0]
    sl = (slice(None), None)
    radius = core_radius(state.strength.dtype)
    # wings on every (line, point)
    dnu0 = nu[None, :] + (origin - state.window_centre)[sl]
    val, _ = _wing_profile(dnu0 - state.shift[sl], state.gamma_d[sl], state.gamma_l[sl],
                           state.nu_vc[sl], state.y_mixing[sl], dicke=True, mixing=True)
    wings = _sum_lines(jnp.where(jnp.abs(dnu0) <= state.half_window[sl],
                                 state.strength[sl] * val, 0.0), 0)
    # core corrections on 2*half+1 samples around each line
    pos = jax.lax.stop_gradient(state.window_centre - origin)  # unshifted centre, nu coords
    centre = jnp.searchsorted(nu, pos)
    offsets = _window_offsets(half)
    idx = centre[:, None] + offsets[None, :]
    valid = (idx >= 0) & (idx < n)
    safe = jnp.clip(idx, 0, n - 1)
    dnu_c = nu[safe] + (origin - state.window_centre)[sl]
    scale = SQRT_LN2 / state.gamma_d[sl]
    b = scale * (state.gamma_l[sl] + state.nu_vc[sl])
    r2_c = (scale * (dnu_c - state.shift[sl])) ** 2 + b * b
    use = valid & (r2_c < radius * radius) & (jnp.abs(dnu_c) <= state.half_window[sl])
    wing_c, _ = _wing_profile(dnu_c - state.shift[sl], state.gamma_d[sl], state.gamma_l[sl],
                              state.nu_vc[sl], state.y_mixing[sl], dicke=True, mixing=True)
    delta = _core_values(state, dnu_c, sl, small_y) - state.strength[sl] * wing_c
    cores = jnp.zeros((n,), wings.dtype).at[jnp.where(use, idx, n)].add(
        jnp.where(use, delta, 0.0), mode="drop")  # 2-D indices: see _core_scatter
    # coverage: grid samples with |z| < radius inside the line window, by bisection
    st = jax.tree.map(jax.lax.stop_gradient, state)
    s1 = SQRT_LN2 / st.gamma_d
    b1 = s1 * (st.gamma_l + st.nu_vc)
    reach = jnp.sqrt(jnp.maximum(radius * radius - b1 * b1, 0.0)) / s1 * (1 + 1e-6)
    lo = jnp.maximum(pos + st.shift - reach, pos - st.half_window)
    hi = jnp.minimum(pos + st.shift + reach, pos + st.half_window)
    first = jnp.searchsorted(nu, lo, side="left")
    last = jnp.searchsorted(nu, hi, side="right")  # samples first..last-1 need the core
    covered = (first >= last) | ((first >= centre - half)
                                 & (last <= centre - half + offsets.shape[0]))
    return jnp.where(jnp.all(covered | (b1 >= radius)), wings + cores, jnp.nan)


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
    fitted to the concrete (T, p), or to ``conditions`` (dict t_min, t_max, p_max_atm and
    optionally p_min_atm) when T and p are traced (``jit``/``vmap``); outside those ranges
    the result is NaN, never silently wrong. Traced conditions without ``conditions``, a
    traced or non-uniform grid, or a traced line list use the exact dense path (one-time
    warning naming the cost in the traced-conditions case).

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


@functools.partial(jax.jit, static_argnames=("profile", "line_mixing", "line_chunk", "shift"))
def _dense_jit(lines, nu, temperature, p_atm, diluent, wing, nu_origin, *, profile,
               line_mixing, line_chunk, shift=True):
    state = line_state(
        lines, temperature, p_atm, profile=profile, diluent=diluent, wing=wing,
        line_mixing=line_mixing, shift=shift,
    )
    return spectrum_from_state(state, nu, line_chunk=line_chunk, nu_origin=nu_origin)


@dataclass(frozen=True)
class UniformGrid:
    """Uniform wavenumber grid nu_j = start + j * step, j = 0..n-1 (static, hashable)."""

    start: float
    step: float
    n: int

    def values(self, dtype=None) -> jax.Array:
        return self.start + self.step * jnp.arange(self.n, dtype=dtype)


@dataclass(frozen=True)
class WindowSizes:
    """Static sizes (grid points / lines) for ``absorption_coefficient_uniform``.

    The wing sum is evaluated block by block: the grid is cut into blocks of
    ``block_points`` points and each block sums the ``block_lines`` centre-sorted lines that
    start at the first line whose window can reach it (all lines that can, by construction).
    The core (|z| < ``core_z``) is scattered from ``core_points`` windows per line;
    ``core_z`` must be at least ``core_radius`` of the dtype used (checked when tracing).
    """

    wing_cm: float  # largest wing * max(gamma_L, gamma_D) over lines and conditions
    core_points: int  # covers |z| < core_z (a few Doppler widths) plus the shift
    block_points: int
    block_lines: int
    core_z: float = ASYMPTOTIC_Z
    small_y: bool = True  # False: no line reaches y < taylor_y (see ``small_y_needed``)
    # optional split of the blocks into groups with their own line counts (sparse blocks
    # then evaluate fewer lines): ((block indices, lines), ...); None: one group
    block_groups: tuple[tuple[tuple[int, ...], int], ...] | None = None


def window_sizes(
    lines: LineList,
    grid: UniformGrid,
    *,
    t_min: float,
    t_max: float,
    p_max_atm: float,
    wing: float = 50.0,
    diluent_self_max: float = 0.0,
    block_points: int = 128,
    dtype=None,
    p_min_atm: float = 0.0,
) -> WindowSizes:
    """Sizes that make the windowed sum exact for all T in [t_min, t_max], p <= p_max_atm.

    Computed on the host from concrete line parameters (call outside ``jit``). ``dtype``
    (default: that of ``lines``) selects the core radius (``core_radius``). ``p_min_atm`` > 0
    (a lower bound on p) lets the core kernel skip its small-y region when no line needs it
    (``small_y_needed``; if a lower pressure is used anyway the spectrum is NaN).
    """
    core_z = core_radius(lines.nu0.dtype if dtype is None else dtype)
    nu0 = np.asarray(lines.nu0, np.float64)
    mass = np.asarray(lines.mass, np.float64)
    n_air = np.asarray(lines.n_air, np.float64)
    g_air = np.asarray(lines.gamma_air, np.float64)
    g = np.maximum(g_air, (1 - diluent_self_max) * g_air
                   + diluent_self_max * np.asarray(lines.gamma_self, np.float64))
    t_lo = np.where(n_air >= 0, t_min, t_max)
    gl_max = p_max_atm * (296.0 / t_lo) ** n_air * g
    gd_max = nu0 / C_LIGHT_CM_S * np.sqrt(2 * K_BOLTZMANN_ERG_K * t_max * LN2 / (mass * AMU_G))
    shift_max = p_max_atm * np.abs(np.asarray(lines.delta_air, np.float64))
    wing_cm = float(wing * np.maximum(gl_max, gd_max).max()) * (1 + 1e-6 + WINDOW_TIE["float64"])
    core_cm = core_z * gd_max.max() / SQRT_LN2 + shift_max.max()
    core_points = int(math.ceil(core_cm / grid.step)) + 2
    # Lines whose window can reach a block [b0, b1]: centres in [b0 - wing, b1 + wing].
    centres = np.sort(nu0)
    n_blocks = math.ceil(grid.n / block_points)
    b0 = grid.start + grid.step * block_points * np.arange(n_blocks)
    b1 = b0 + grid.step * (block_points - 1)
    lo = np.searchsorted(centres, b0 - wing_cm, side="left")
    hi = np.searchsorted(centres, b1 + wing_cm, side="right")
    counts = hi - lo + 2  # +2 lines: float32 centres may round across a block's reach
    block_lines = max(1, int(counts.max()))
    # Blocks needing at most the median count (rounded up to 8) form a cheaper group.
    small = max(8, -(-int(np.median(counts)) // 8) * 8)
    groups = None
    if n_blocks >= 8 and small < 0.8 * block_lines:
        sparse = counts <= small
        groups = ((tuple(int(b) for b in np.nonzero(sparse)[0]), small),
                  (tuple(int(b) for b in np.nonzero(~sparse)[0]), block_lines))
    return WindowSizes(wing_cm=wing_cm, core_points=core_points, block_points=block_points,
                       block_lines=block_lines, core_z=core_z, block_groups=groups,
                       small_y=small_y_needed(lines, t_min=t_min, t_max=t_max,
                                              p_min_atm=p_min_atm, dtype=dtype))


def _wing_profile(dnu, gamma_d, gamma_l, nu_vc, y_mixing, *, dicke: bool, mixing: bool):
    """Re K + Y Im K from ``faddeeva_wing_real`` (asymptotic series), in real arithmetic.

    Valid where |z| >= ``core_radius`` of the dtype; returns (value, |z|^2).
    """
    s = SQRT_LN2 / gamma_d
    a = s * dnu
    b = s * (gamma_l + nu_vc)
    r2 = a * a + b * b
    wr, wi = faddeeva_wing_real(a, b)  # clamps |z| < wing_z: masked points stay finite
    if dicke:
        wr, wi = rautian_from_w(wr, wi, s * nu_vc)
    value = wr + y_mixing * wi if mixing else wr
    return s / SQRT_PI * value, r2


def _sum_lines(x, axis: int, max_unroll: int = 64):
    """Sum over the line axis. Up to ``max_unroll`` lines as an explicit chain of adds: XLA
    CPU then fuses the profile arithmetic into one loop instead of materialising the
    (lines x points) array for a separate reduction (PhysAE batch: 29 -> 10 ms)."""
    n = x.shape[axis]
    if n > max_unroll:
        return x.sum(axis=axis)
    rows = [jax.lax.index_in_dim(x, i, axis, keepdims=False) for i in range(n)]
    out = rows[0]
    for r in rows[1:]:
        out = out + r
    return out


def _window_offsets(half: int) -> jax.Array:
    """Sample offsets -half .. of a core window, padded at the end to a multiple of 8
    samples: XLA CPU vectorises the flattened (lines x window) value computation of the
    scatter only for such widths (measured 2-4x faster than an odd width)."""
    width = -(-(2 * half + 1) // 8) * 8
    return jnp.arange(width) - half


def _split_step(step: float, n: int) -> tuple[float, float]:
    """step = hi + lo with hi of few enough mantissa bits that j * hi is exact in float32
    for all j < n (hi has 24 - bit_length(n) significant bits)."""
    bits = max(1, 24 - int(n).bit_length())
    exponent = math.floor(math.log2(abs(step))) if step else 0
    quantum = 2.0 ** (exponent - bits + 1)
    hi = round(step / quantum) * quantum
    return hi, step - hi


def _start_minus_centre_plus(grid: UniformGrid, centre, index, dtype):
    """(grid.start - centre) + index * grid.step, accurate in float32 for large grids.

    start - centre is exact (close numbers) and index * step_hi is exact, so their
    (nearly cancelling) sum is exact; only the small index * step_lo term rounds.
    """
    hi, lo = _split_step(grid.step, grid.n + 1)
    idx = index.astype(dtype)
    return ((grid.start - centre) + idx * hi) + idx * lo


def _core_values(state: LineState, dnu0, sl, small_y: bool = True):
    """strength * (Re K + Y Im K) at detunings ``dnu0`` (from the unshifted centre), with the
    core Faddeeva kernel ``faddeeva_core_real`` (real arithmetic), masked to the line window.
    For core samples (|z| < ``core_radius``)."""
    dnu = dnu0 - state.shift[sl]
    s = SQRT_LN2 / state.gamma_d[sl]
    nvc = state.nu_vc[sl]
    wr, wi = faddeeva_core_real(s * dnu, s * (state.gamma_l[sl] + nvc), small_y)
    kr, ki = rautian_from_w(wr, wi, s * nvc)
    value = s / SQRT_PI * (kr + state.y_mixing[sl] * ki)
    inside = jnp.abs(dnu0) <= state.half_window[sl]
    return jnp.where(inside, state.strength[sl] * value, 0.0)


def _core_scatter(state: LineState, grid: UniformGrid, half: int, core_z: float,
                  small_y: bool = True):
    """Core-kernel contributions where |z| < ``core_z``, scattered onto the grid."""
    dtype = state.strength.dtype
    if core_z < core_radius(dtype):
        raise ValueError(f"WindowSizes.core_z = {core_z} is below the {jnp.dtype(dtype).name} "
                         f"core radius {core_radius(dtype)}: build the sizes with "
                         f"window_sizes(..., dtype={jnp.dtype(dtype).name!r})")
    offsets = _window_offsets(half)
    centre_idx = jax.lax.stop_gradient(
        jnp.round((state.window_centre - grid.start) / grid.step).astype(jnp.int32)
    )
    idx = centre_idx[:, None] + offsets[None, :]  # (L, 2h+1)
    # Detuning from the unshifted centre, built from small numbers (precise in float32).
    base = _start_minus_centre_plus(grid, state.window_centre, centre_idx, dtype)
    dnu0 = base[:, None] + (offsets * grid.step).astype(dtype)[None, :]
    sl = (slice(None), None)
    dnu = dnu0 - state.shift[sl]
    scale = SQRT_LN2 / state.gamma_d[sl]
    zabs2 = (scale * dnu) ** 2 + (scale * (state.gamma_l[sl] + state.nu_vc[sl])) ** 2
    use = (zabs2 < core_z**2) & (idx >= 0) & (idx < grid.n)
    vals = jnp.where(use, _core_values(state, dnu0, sl, small_y), 0.0)
    safe_idx = jnp.where(use, idx, grid.n)  # out of range -> dropped
    # 2-D index array (no reshape): XLA CPU then keeps the value fusion vectorised (~2x
    # faster than scattering the flattened arrays)
    return jnp.zeros((grid.n,), dtype).at[safe_idx].add(vals, mode="drop")


def _wing_blocks(state: LineState, grid: UniformGrid, sizes: WindowSizes, *, dicke, mixing,
                 exact: bool = False):
    """Wing contributions (|z| >= ``sizes.core_z``), block by block, without scatter.

    ``exact``: the whole window of every line with its full profile (``profile_values``;
    the windowed path of the profiles without a core/wing split)."""
    dtype = state.strength.dtype
    order = jnp.argsort(jax.lax.stop_gradient(state.window_centre))
    st = jax.tree.map(lambda x: x[order], state)
    n_lines = st.window_centre.shape[0]
    bp = sizes.block_points
    n_blocks = math.ceil(grid.n / bp)
    groups = sizes.block_groups or ((tuple(range(n_blocks)), sizes.block_lines),)
    outs = []
    for blocks, m in groups:
        m = min(m, n_lines)
        # barrier: with a literal constant XLA would fold and reassociate the exact
        # (start - nu0) + k hi + k lo sum of ``_start_minus_centre_plus`` (float32 precision)
        kb = jax.lax.optimization_barrier(jnp.asarray(np.asarray(blocks, np.int32)))
        block_start = grid.start + grid.step * bp * kb
        first = jnp.searchsorted(jax.lax.stop_gradient(st.window_centre),
                                 block_start.astype(dtype) - sizes.wing_cm, side="left")
        first = jnp.minimum(first, n_lines - m)  # keep the m lines in range (extras masked)
        rows = first[:, None] + jnp.arange(m)[None, :]  # (blocks, m) line indices
        g = jax.tree.map(lambda x, rows=rows: x[rows][:, :, None], st)  # (blocks, m, 1)
        # detuning from the unshifted centre: (block start - nu0) + j * step, small numbers
        k = kb[:, None, None] * bp
        base = _start_minus_centre_plus(grid, g.window_centre, k, dtype)
        dnu0 = base + (jnp.arange(bp) * grid.step).astype(dtype)[None, None, :]
        use = jnp.abs(dnu0) <= g.half_window
        if exact:
            val = profile_values(g, dnu0)
        else:
            val, r2 = _wing_profile(dnu0 - g.shift, g.gamma_d, g.gamma_l, g.nu_vc, g.y_mixing,
                                    dicke=dicke, mixing=mixing)
            use = use & (r2 >= sizes.core_z**2)
        outs.append(jnp.where(use, g.strength * val, 0.0).sum(axis=1))  # (blocks, bp)
    out = jnp.concatenate(outs, axis=0) if len(outs) > 1 else outs[0]
    if len(groups) > 1:  # back to block order
        out = out[np.argsort(np.concatenate([np.asarray(b, np.int64) for b, _ in groups]))]
    return out.reshape(-1)[: grid.n]


def spectrum_uniform_from_state(
    state: LineState, grid: UniformGrid, sizes: WindowSizes, *, dicke: bool = True,
    mixing: bool = True,
):
    """k on ``grid`` from a ``LineState``: exact core scatter + blocked wing sums.

    ``dicke``/``mixing`` = False skip those terms in the wing arithmetic (use when the
    state has zero ``nu_vc`` / ``y_mixing``; the result is the same, only faster).
    Profiles other than Voigt/Rautian are evaluated exactly on each line's whole window.
    """
    if state.profile not in FADDEEVA_SPLIT_PROFILES:
        return _wing_blocks(state, grid, sizes, dicke=False, mixing=False, exact=True)
    core = _core_scatter(state, grid, sizes.core_points, sizes.core_z, sizes.small_y)
    wings = _wing_blocks(state, grid, sizes, dicke=dicke, mixing=mixing)
    return core + wings


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


@functools.partial(jax.jit, static_argnames=("grid", "sizes", "profile", "line_mixing",
                                             "shift"))
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
    if is_concrete((temperature, p_atm)):
        return k
    return inside_ranges(k, temperature, p_atm, t_min, t_max, p_min, p_max)
