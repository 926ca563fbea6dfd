"""Line shapes: Faddeeva function; Voigt, Rautian (hard-collision Dicke), Lorentz, Gauss,
speed-dependent Voigt and Hartmann-Tran (pCqSDHC) profiles.

All profiles are area-normalised in cm (integral over wavenumber = 1) and take the
detuning ``dnu = nu - nu_centre`` (cm^-1) and half widths (HWHM, cm^-1); arguments broadcast.
"""

from __future__ import annotations

import decimal
import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.constants import SQRT_LN2, SQRT_PI

__all__ = [
    "FADDEEVA_PLANS", "HT_SMALL_A", "FaddeevaPlan", "asymptotic_coefficients",
    "complex_profile", "dawson_taylor_table",
    "doppler", "faddeeva", "faddeeva_asymptotic", "faddeeva_core_real", "faddeeva_plan",
    "faddeeva_real", "faddeeva_wing_real", "gauss", "hartmann_tran", "hartmann_tran_complex",
    "lorentz", "lorentz_complex", "rautian", "rautian_from_w", "sdvoigt", "voigt",
    "weideman_coefficients",
]

_SQRT_LN2_OVER_PI = SQRT_LN2 / SQRT_PI


# Production Faddeeva kernels, in real arithmetic, for y = Im z >= 0. Regions:
#   |z| >= wing_z               asymptotic series, ``wing_terms`` terms (line wings: the bulk
#                               of all evaluations, so few terms)
#   near_z <= |z| < wing_z      asymptotic series, ``near_terms`` terms
#   |z| < near_z, y < taylor_y  w = exp(-z^2) + (2i/sqrt(pi)) D(z), D (Dawson) by its Taylor
#                               series about the nearest real node (exact tabulated
#                               coefficients): Re w stays relatively accurate as y -> 0,
#                               where Re w ~ exp(-x^2) + y/(sqrt(pi) x^2) << |w|
#   |z| < near_z, y >= taylor_y Weideman (1994) rational expansion, ``weideman_terms`` terms
# Max relative errors of w and of Re w vs scipy.special.wofz over |x| <= 100, 1e-6 <= y <= 100
# (float64 and float32 arithmetic) are measured in tests/test_spectra_lineshapes.py.


@dataclass(frozen=True)
class FaddeevaPlan:
    """Region boundaries and term counts of the production Faddeeva kernels (one dtype)."""

    wing_z: float
    wing_terms: int
    near_z: float
    near_terms: int
    weideman_terms: int
    taylor_y: float
    taylor_step: float
    taylor_terms: int


# float64: 1e-12 target. Truncation of the asymptotic series after n terms: relative error of
# w ~ (2n-1)!!/(2|z|^2)^n, of Re w ~ (2n+1) times that: 10 terms at |z| >= 10 (1.3e-13),
# 13 terms at |z| >= 8 (9e-14). (Wing radius 10 / 10 terms was the fastest of 8/13,
# 10/10, 12/8 and 16/7 on the CH4 batch benchmark: core windows grow with the radius.)
# Weideman with 36 terms: Re w relative error <= 3e-13 for
# y >= 0.1 (its absolute error ~1e-15 |w| is too large relative to Re w below that).
# Taylor: 14 terms on nodes 0.25 apart, |zeta| <= 0.16: truncation ~3e-14.
# float32: 1e-5 target. Asymptotic 4 terms at |z| >= 8 (Re w: 3.5e-6); Weideman 16 terms
# for y >= 0.4 (rounding-limited: 3.5e-6 in float32); Taylor 12 terms, nodes 0.5 apart.
FADDEEVA_PLANS = {
    "float64": FaddeevaPlan(wing_z=10.0, wing_terms=10, near_z=8.0, near_terms=13,
                            weideman_terms=36, taylor_y=0.1, taylor_step=0.25, taylor_terms=14),
    "float32": FaddeevaPlan(wing_z=8.0, wing_terms=4, near_z=8.0, near_terms=4,
                            weideman_terms=16, taylor_y=0.4, taylor_step=0.5, taylor_terms=12),
}


def faddeeva_plan(dtype) -> FaddeevaPlan:
    """The kernel plan for a real dtype (float64, else float32)."""
    return FADDEEVA_PLANS["float64" if jnp.dtype(dtype) == jnp.float64 else "float32"]


@functools.lru_cache(maxsize=8)
def dawson_taylor_table(step: float, n_nodes: int, n_terms: int) -> np.ndarray:
    """(n_nodes, n_terms) Taylor coefficients D^(k)(c)/k! of Dawson's function
    D(x) = exp(-x^2) int_0^x exp(t^2) dt at the nodes c = j * step, rounded to float64.

    Exact decimal arithmetic (70 digits): D(c) = sum_n (-2 c^2)^n c/(2n+1)!!, D' = 1 - 2 c D,
    D^(k+1) = -2 c D^(k) - 2 k D^(k-1) (from D' = 1 - 2 x D).
    """
    ctx = decimal.Context(prec=70)
    dec = decimal.Decimal
    tiny = dec(10) ** -45
    out = np.zeros((n_nodes, n_terms))
    for j in range(n_nodes):
        c = ctx.multiply(dec(step), dec(j))  # step is a binary fraction: exact
        minus_2c2 = ctx.multiply(dec(-2), ctx.multiply(c, c))
        term, total, n = c, c, 0
        while n < 10 or abs(term) > tiny:
            n += 1
            term = ctx.divide(ctx.multiply(term, minus_2c2), dec(2 * n + 1))
            total = ctx.add(total, term)
        t = [total, ctx.subtract(dec(1), ctx.multiply(ctx.multiply(dec(2), c), total))]
        for k in range(1, n_terms - 1):  # t_k = D^(k)/k!
            num = ctx.subtract(ctx.multiply(ctx.multiply(dec(-2), c), t[k]),
                               ctx.multiply(dec(2), t[k - 1]))
            t.append(ctx.divide(num, dec(k + 1)))
        out[j] = [float(v) for v in t[:n_terms]]
    return out


@functools.lru_cache(maxsize=16)
def asymptotic_coefficients(n_terms: int) -> tuple[float, ...]:
    """c_k = (2k-1)!!/2^k, k < n_terms: w(z) ~ (i/(sqrt(pi) z)) sum_k c_k z^(-2k) (large |z|)."""
    coeffs = [1.0]
    for k in range(1, n_terms):
        coeffs.append(coeffs[-1] * (2 * k - 1) / 2.0)
    return tuple(coeffs)


def _asymptotic_real(x, y, n_terms: int, z_min: float):
    """(Re w, Im w) from w ~ (i/(sqrt(pi) z)) sum_{k<n} (2k-1)!!/(2 z^2)^k, for |z| >= z_min
    (smaller |z| are clamped to the circle |z| = z_min: finite values, safe gradients).

    The real-coefficient polynomial S(v) = sum c_k v^k at v = 1/z^2 is evaluated by the
    second-order (Goertzel) recurrence b_k = c_k + 2 Re(v) b_{k+1} - |v|^2 b_{k+2}, S =
    b_1 v + c_0 - |v|^2 b_2: 2 real multiply-adds per term instead of a complex Horner step's
    8 operations (stable here: |v| <= 1/z_min^2 << 1). With q = 1/|z|^2 (so |v| = q) the
    product with i/z collapses to Re w = (y q/sqrt(pi)) (c_0 + q^2 ((3x^2 - y^2) b_1 - b_2)),
    Im w = (x q/sqrt(pi)) (c_0 + q^2 ((x^2 - 3y^2) b_1 - b_2)): no cancellation as y -> 0.
    """
    xx, yy = x * x, y * y
    r2 = jnp.maximum(xx + yy, z_min * z_min)
    q = 1.0 / r2
    q2 = q * q
    c = asymptotic_coefficients(max(n_terms, 2))
    two_re_v = 2.0 * (xx - yy) * q2
    b2, b1 = 0.0, c[-1]
    for ck in reversed(c[1:-1]):
        b2, b1 = b1, ck + two_re_v * b1 - q2 * b2
    if n_terms == 1:  # c = (1, 1/2) above: drop the second term
        b1 = 0.0
    wr = (y * q / SQRT_PI) * (c[0] + q2 * ((3.0 * xx - yy) * b1 - b2))
    wi = (x * q / SQRT_PI) * (c[0] + q2 * ((xx - 3.0 * yy) * b1 - b2))
    return wr, wi


def _asymptotic_derivative_real(x, y, n_terms: int, z_min: float):
    """(Re w', Im w') of the same series, differentiated term by term:
    w' ~ -(i/sqrt(pi)) sum_{k<n} (2k+1) c_k z^-(2k+2), c_k = (2k-1)!!/2^k (no cancellation,
    unlike -2 z w + 2i/sqrt(pi) at large |z|)."""
    r2 = jnp.maximum(x * x + y * y, z_min * z_min)
    inv = 1.0 / r2
    ur, ui = x * inv, -y * inv
    vr, vi = ur * ur - ui * ui, 2.0 * ur * ui
    coeffs = asymptotic_coefficients(n_terms)
    coeffs = [(2 * k + 1) * c for k, c in enumerate(coeffs)]
    sr, si = coeffs[-1], 0.0
    for c in reversed(coeffs[:-1]):
        sr, si = c + vr * sr - vi * si, vr * si + vi * sr
    tr, ti = vr * sr - vi * si, vr * si + vi * sr  # v s
    return ti / SQRT_PI, -tr / SQRT_PI  # -(i/sqrt(pi)) v s


def _jvp_from_derivative(w, dw, tangents):
    """Tangent of (Re w, Im w) for dz = dx + i dy: dw = w'(z) dz."""
    (dr, di), (tx, ty) = dw, tangents
    return w, (dr * tx - di * ty, di * tx + dr * ty)


def _weideman_real(x, y, n_terms: int):
    """(Re w, Im w) by Weideman's expansion w ~ 2 p(Z)/(L - iz)^2 + 1/(sqrt(pi) (L - iz)).

    p(Z) (real coefficients) by the second-order (Goertzel) recurrence in r = 2 Re Z,
    s = |Z|^2 (2 real multiply-adds per term instead of a complex Horner step); over the
    core region its rounding stays far below the expansion's truncation (float64, 36 terms:
    max relative error of Re w 3.3e-13 either way, tests/test_spectra_lineshapes.py)."""
    if n_terms < 2:
        raise ValueError(f"n_terms must be >= 2, got {n_terms}")
    coeffs, big_l = weideman_coefficients(n_terms)  # highest power first
    dr = big_l + y  # L - iz = (L + y) - i x
    inv_d2 = 1.0 / (dr * dr + x * x)
    nr = big_l - y  # L + iz = (L - y) + i x
    zr = (nr * dr - x * x) * inv_d2
    zi = (x * dr + nr * x) * inv_d2
    r, s = 2.0 * zr, zr * zr + zi * zi
    b2, b1 = 0.0, coeffs[0]
    for c in coeffs[1:-1]:
        b2, b1 = b1, c + r * b1 - s * b2
    pr, pi_ = b1 * zr + coeffs[-1] - s * b2, b1 * zi
    er, ei = dr * inv_d2, x * inv_d2  # 1/(L - iz)
    qr, qi = er * er - ei * ei, 2.0 * er * ei
    wr = 2.0 * (pr * qr - pi_ * qi) + er / SQRT_PI
    wi = 2.0 * (pr * qi + pi_ * qr) + ei / SQRT_PI
    return wr, wi


def _cis_small(theta, theta_max: float):
    """(cos theta, sin theta) for 0 <= theta <= theta_max by a Taylor polynomial of
    exp(i theta / 2^m) (|theta / 2^m| <= 0.8) and m complex squarings: pure multiply-adds,
    ~20x cheaper than XLA's CPU sin/cos; relative error a few ulp times 2^m."""
    m = max(0, math.ceil(math.log2(theta_max / 0.8)))
    phi = theta * (0.5**m)
    n_terms = 18 if theta.dtype == jnp.float64 else 10  # 0.8^n/n! < 1e-17 / 1e-9
    p2 = -phi * phi
    c, s_ = 1.0, 1.0  # cos = sum (-phi^2)^k/(2k)!, sin = phi sum (-phi^2)^k/(2k+1)!
    for k in range(n_terms // 2, 0, -1):
        c = 1.0 + p2 * c / ((2 * k - 1) * (2 * k))
        s_ = 1.0 + p2 * s_ / ((2 * k) * (2 * k + 1))
    c, s_ = c * jnp.ones_like(phi), s_ * phi
    for _ in range(m):
        c, s_ = c * c - s_ * s_, 2.0 * c * s_
    return c, s_


def _taylor_real(x, y, plan: FaddeevaPlan):
    """(Re w, Im w) = exp(-z^2) + (2i/sqrt(pi)) D(z), D by Taylor about the nearest node c:
    D(c + zeta) = sum_k t_k(c) zeta^k, zeta = (|x| - c) + i y; w(-x + iy) = conj w(x + iy).
    For |x| < near_z, y < taylor_y (inputs are clamped there: finite elsewhere)."""
    step = plan.taylor_step
    n_nodes = int(math.ceil(plan.near_z / step)) + 1
    table = dawson_taylor_table(step, n_nodes, plan.taylor_terms)
    ax = jnp.minimum(jnp.abs(x), plan.near_z)
    ys = jnp.minimum(y, plan.taylor_y)
    node = jax.lax.stop_gradient(jnp.round(ax / step)).astype(jnp.int32)
    u = ax - node.astype(ax.dtype) * step  # exact: step is a power of two
    # coefficient lookup by a chain of selects (vectorises and fuses on CPU; XLA's gathers
    # there are scalar loops and were ~10x slower here)
    is_node = [node == j for j in range(1, n_nodes)]
    coef = []
    for k in range(plan.taylor_terms):
        c = jnp.full_like(u, table[0, k])
        for j in range(1, n_nodes):
            c = jnp.where(is_node[j - 1], jnp.asarray(table[j, k], u.dtype), c)
        coef.append(c)
    pr, pi_ = coef[-1], jnp.zeros_like(u)
    for k in range(plan.taylor_terms - 2, -1, -1):
        pr, pi_ = coef[k] + u * pr - ys * pi_, u * pi_ + ys * pr
    e = jnp.exp(ys * ys - ax * ax)
    cos2xy, sin2xy = _cis_small(2.0 * ax * ys, 2.0 * plan.near_z * plan.taylor_y)
    wr = e * cos2xy - (2.0 / SQRT_PI) * pi_
    wi = (2.0 / SQRT_PI) * pr - e * sin2xy
    return wr, jnp.where(x < 0, -wi, wi)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def faddeeva_core_real(x, y, small_y: bool = True):
    """(Re w, Im w) of w(x + i y), y >= 0, |z| < ``faddeeva_plan(dtype).wing_z`` (line
    cores), in real arithmetic: Taylor/Weideman inside |z| < near_z, the ``near_terms``
    asymptotic series outside. Plan (term counts) by the dtype of ``x``. Derivatives are
    analytic: w'(z) = -2 z w + 2i/sqrt(pi) (cancellation <= |z|^2 <= 100 here).

    ``small_y`` (static) = False skips the Taylor region (about half the cost) for callers
    that know y >= ``taylor_y`` (see ``jaxgeo.spectra.absorption.small_y_needed``); any
    y < taylor_y then gives NaN, never a silently inaccurate value.
    """
    x, y = jnp.asarray(x), jnp.asarray(y)
    plan = faddeeva_plan(jnp.result_type(x, y))
    wr, wi = _weideman_real(x, y, plan.weideman_terms)
    below = y < plan.taylor_y
    if small_y:
        tr, ti = _taylor_real(x, y, plan)
        wr, wi = jnp.where(below, tr, wr), jnp.where(below, ti, wi)
    else:
        wr = jnp.where(below, jnp.nan, wr)
    if plan.wing_z > plan.near_z:
        ar, ai = _asymptotic_real(x, y, plan.near_terms, plan.near_z)
        far = x * x + y * y >= plan.near_z**2
        wr, wi = jnp.where(far, ar, wr), jnp.where(far, ai, wi)
    return wr, wi


@faddeeva_core_real.defjvp
def _faddeeva_core_real_jvp(small_y, primals, tangents):
    x, y = (jnp.asarray(a) for a in primals)
    wr, wi = faddeeva_core_real(x, y, small_y)
    dr = -2.0 * (x * wr - y * wi)  # Re(-2 z w)
    di = -2.0 * (x * wi + y * wr) + 2.0 / SQRT_PI
    return _jvp_from_derivative((wr, wi), (dr, di), tangents)


@jax.custom_jvp
def faddeeva_wing_real(x, y):
    """(Re w, Im w) of w(x + i y), y >= 0, for |z| >= ``faddeeva_plan(dtype).wing_z`` (line
    wings): the ``wing_terms`` asymptotic series (cheap: no exp, no table). Smaller |z| are
    clamped to |z| = wing_z (finite, but not w there). Derivative: the series' own."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    plan = faddeeva_plan(jnp.result_type(x, y))
    return _asymptotic_real(x, y, plan.wing_terms, plan.wing_z)


@faddeeva_wing_real.defjvp
def _faddeeva_wing_real_jvp(primals, tangents):
    x, y = (jnp.asarray(a) for a in primals)
    plan = faddeeva_plan(jnp.result_type(x, y))
    w = _asymptotic_real(x, y, plan.wing_terms, plan.wing_z)
    dw = _asymptotic_derivative_real(x, y, plan.wing_terms, plan.wing_z)
    return _jvp_from_derivative(w, dw, tangents)


def faddeeva_real(x, y):
    """(Re w, Im w) of w(x + i y) for y >= 0 anywhere: core or wing kernel by |z|."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    plan = faddeeva_plan(jnp.result_type(x, y))
    cr, ci = faddeeva_core_real(x, y)
    wr, wi = faddeeva_wing_real(x, y)
    wing = x * x + y * y >= plan.wing_z**2
    return jnp.where(wing, wr, cr), jnp.where(wing, wi, ci)


@jax.custom_jvp
def faddeeva(z: jax.Array) -> jax.Array:
    """Faddeeva function w(z) = exp(-z^2) erfc(-i z) for complex ``z`` (complex64/128).

    Built from ``faddeeva_real`` (upper half plane; w(z) = 2 exp(-z^2) - w(-z) below).
    Derivative: w'(z) = -2 z w(z) + 2i/sqrt(pi).
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.complexfloating):
        z = z.astype(jnp.result_type(z.dtype, jnp.complex64))
    x, y = z.real, z.imag
    wr, wi = faddeeva_real(x, jnp.abs(y))
    upper = jax.lax.complex(wr, wi)
    zs = jnp.where(y < 0, z, 0.0)  # exp(-z^2) only where needed (may overflow elsewhere)
    lower = 2.0 * jnp.exp(-zs * zs) - jnp.conj(upper)
    return jnp.where(y < 0, lower, upper)


@faddeeva.defjvp
def _faddeeva_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    w = faddeeva(z)
    return w, (-2.0 * z * w + 2j / SQRT_PI) * dz


def faddeeva_asymptotic(z: jax.Array, n_terms: int = 7) -> jax.Array:
    """Large-|z| expansion (i/(sqrt(pi) z)) sum_{k<n} (2k-1)!!/(2 z^2)^k of w(z), Im z >= 0.

    Relative truncation error ~ (2n-1)!!/(2|z|^2)^n (7 terms: 1e-13 at |z| >= 16). Cheap (no
    exp/erfc): for line wings. (The production kernels are ``faddeeva_wing_real`` and
    ``faddeeva_core_real``; this is the same series in complex arithmetic.)
    """
    u = 1.0 / z
    v = u * u
    coeffs = asymptotic_coefficients(n_terms)
    series = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        series = c + v * series
    return (1j / SQRT_PI) * u * series


@functools.lru_cache(maxsize=4)
def weideman_coefficients(n_terms: int) -> tuple[tuple[float, ...], float]:
    """Coefficients (highest power first) and L of Weideman's (1994) rational expansion
    w(z) ~ 2 p(Z)/(L - iz)^2 + 1/(sqrt(pi) (L - iz)), Z = (L + iz)/(L - iz), Im z >= 0.

    Computed by FFT as in the paper; L = sqrt(n / sqrt(2)).
    """
    m = 2 * n_terms
    k = np.arange(-m + 1, m)
    big_l = np.sqrt(n_terms / np.sqrt(2.0))
    t = big_l * np.tan(k * np.pi / m / 2.0)
    f = np.concatenate([[0.0], np.exp(-t * t) * (big_l**2 + t * t)])
    a = np.real(np.fft.fft(np.fft.fftshift(f))) / (2 * m)
    return tuple(float(c) for c in np.flipud(a[1 : n_terms + 1])), float(big_l)


def complex_profile(dnu, gamma_d, gamma_l, nu_vc=0.0, *, w=None):
    """Complex Rautian profile (Voigt when ``nu_vc`` = 0), normalised: returns (re, im) in cm.

    With z = sqrt(ln2) (dnu + i (gamma_l + nu_vc)) / gamma_d and zeta = sqrt(ln2) nu_vc / gamma_d,
    K = sqrt(ln2/pi)/gamma_d * w(z) / (1 - sqrt(pi) zeta w(z)). Re K is the absorption profile;
    Im K is the dispersion used for Rosenkranz line mixing. w(z) is ``faddeeva_real`` (real
    arithmetic, Im z >= 0 since widths are >= 0) unless ``w`` (a complex function) is given.
    """
    scale = SQRT_LN2 / gamma_d
    zeta = scale * nu_vc
    if w is None:
        wr, wi = faddeeva_real(scale * dnu, scale * gamma_l + zeta)
    else:
        wz = w(scale * dnu + 1j * (scale * gamma_l + zeta))
        wr, wi = wz.real, wz.imag
    kr, ki = rautian_from_w(wr, wi, zeta)
    norm = scale / SQRT_PI
    return norm * kr, norm * ki


def voigt(dnu, gamma_d, gamma_l):
    """Normalised Voigt profile (cm): Doppler HWHM ``gamma_d``, Lorentz HWHM ``gamma_l``."""
    scale = SQRT_LN2 / gamma_d
    return (scale / SQRT_PI) * faddeeva_real(scale * dnu, scale * gamma_l)[0]


def rautian(dnu, gamma_d, gamma_l, nu_vc, y_mixing=0.0):
    """Normalised Rautian (hard-collision) profile with optional Rosenkranz mixing ``y_mixing``.

    Returns Re K + Y Im K (see ``complex_profile``); ``nu_vc`` is the Dicke narrowing
    (velocity-changing collision) frequency in cm^-1.
    """
    re, im = complex_profile(dnu, gamma_d, gamma_l, nu_vc)
    return re + y_mixing * im


def lorentz(dnu, gamma_l):
    """Normalised Lorentz profile (cm)."""
    return gamma_l / (jnp.pi * (dnu * dnu + gamma_l * gamma_l))


def doppler(dnu, gamma_d):
    """Normalised Gaussian (Doppler) profile (cm)."""
    return _SQRT_LN2_OVER_PI / gamma_d * jnp.exp(-((SQRT_LN2 * dnu / gamma_d) ** 2))


def rautian_from_w(wr, wi, zeta):
    """(Re K, Im K) of the Rautian kernel w / (1 - sqrt(pi) zeta w), in units of w.

    ``(wr, wi)`` = w(z) (any Faddeeva kernel), ``zeta`` = sqrt(ln2) nu_vc / gamma_d; the one
    place this formula is written (dense, core and wing evaluations all call it).
    """
    er, ei = 1.0 - SQRT_PI * zeta * wr, -SQRT_PI * zeta * wi
    inv = 1.0 / (er * er + ei * ei)
    return (wr * er + wi * ei) * inv, (wi * er - wr * ei) * inv


# |a| = |sqrt(ln2) (1 - eta) (gamma2 + i delta2) / gamma_d| below which the Hartmann-Tran
# profile uses its expansion to first order in a (exact at a = 0, where the closed form has
# 1/a terms). Expansion error ~ |a u|^2; the closed form's derivative of the eta c2 B term
# loses ~ eps/|a| (cancellation of O(1/a) terms): float64 1e-8 balances both at ~1e-8,
# float32 1e-4 (expansion error <= 1e-5 for |u| <= 30, derivative error ~6e-4, eta != 0 only).
HT_SMALL_A = {"float64": 1e-8, "float32": 1e-4}


def hartmann_tran_complex(dnu, gamma_d, gamma0, gamma2=0.0, delta0=0.0, delta2=0.0,
                          nu_vc=0.0, eta=0.0):
    """Complex Hartmann-Tran (pCqSDHC) profile K, area-normalised: returns (Re K, Im K), cm.

    Ngo, Lisak, Tran, Hartmann, JQSRT 129 (2013) 89 and Tran, Ngo, Hartmann, JQSRT 129 (2013)
    199 (as HAPI's ``pcqsdhc``). With c0 = gamma0 + i delta0, c2 = gamma2 + i delta2,
    c0~ = (1 - eta)(c0 - 3 c2/2) + nu_vc, c2~ = (1 - eta) c2, s = sqrt(ln2)/gamma_d:
    u = s (c0~ - i dnu), a = s c2~, Z1 = 2u / (1 + sqrt(1 + 4 a u)) (= sqrt(X + Y) - sqrt(Y)
    of the paper without its cancellation), Z2 = Z1 + 1/a,
    A = sqrt(pi) s (w(i Z1) - w(i Z2)),
    B = (-1 + sqrt(pi) a ((1 - Z1^2) w(i Z1) - (1 - Z2^2) w(i Z2))) / c2~,
    K = (1/pi) A / (1 - (nu_vc - eta (c0 - 3 c2/2)) A + eta c2 B).
    For |a| < ``HT_SMALL_A`` the first order in a is used instead:
    A = sqrt(pi) s (w(iu) - i a u^2 w'(iu)) - s a, B = s (sqrt(pi) (1 - u^2) w(iu) + u).
    Limits: gamma2 = delta2 = eta = 0 is the Rautian profile (Voigt if also nu_vc = 0);
    nu_vc = eta = 0 the speed-dependent Voigt profile.

    Args:
        dnu: detuning nu - nu0 from the unshifted centre, cm^-1 (the shift is ``delta0``).
        gamma_d: Doppler HWHM, cm^-1 (> 0).
        gamma0, gamma2: speed-averaged collisional HWHM and its speed dependence, cm^-1.
        delta0, delta2: speed-averaged pressure shift and its speed dependence, cm^-1.
        nu_vc: velocity-changing (Dicke) collision frequency, cm^-1.
        eta: correlation parameter (dimensionless, 0 <= eta < 1).
    Returns:
        (Re K, Im K) broadcast over the arguments; Re K is the absorption profile (cm).
    """
    args = [jnp.asarray(v) for v in (dnu, gamma_d, gamma0, gamma2, delta0, delta2, nu_vc, eta)]
    dtype = jnp.result_type(*args, float)
    dnu, gamma_d, gamma0, gamma2, delta0, delta2, nu_vc, eta = (v.astype(dtype) for v in args)
    ctype = jnp.result_type(dtype, jnp.complex64)
    a_min = HT_SMALL_A["float64" if dtype == jnp.float64 else "float32"]
    s = SQRT_LN2 / gamma_d
    c0 = jax.lax.complex(gamma0, delta0)
    c2 = jax.lax.complex(gamma2, delta2)
    c02 = c0 - 1.5 * c2
    c2t = (1.0 - eta) * c2
    u = s * ((1.0 - eta) * c02 + nu_vc - 1j * dnu)
    a = s * c2t
    small = jnp.abs(a) < a_min
    a_s = jnp.where(small, jnp.ones_like(a), a)  # safe value: no 1/0 on either branch
    z1 = jnp.where(small, u, 2.0 * u / (1.0 + jnp.sqrt(1.0 + 4.0 * a_s * u)))
    z2 = z1 + 1.0 / a_s
    w1 = faddeeva((1j * z1).astype(ctype))
    w2 = faddeeva((1j * z2).astype(ctype))
    rpi = SQRT_PI
    a_general = rpi * s * (w1 - w2)
    b_general = (-1.0 + rpi * a_s * ((1.0 - z1 * z1) * w1 - (1.0 - z2 * z2) * w2)) / (a_s / s)
    dw1 = -2.0 * (1j * u) * w1 + 2j / rpi  # w'(iu)
    a_small = rpi * s * (w1 - 1j * a * u * u * dw1) - s * a
    b_small = s * (rpi * (1.0 - u * u) * w1 + u)
    big_a = jnp.where(small, a_small, a_general)
    big_b = jnp.where(small, b_small, b_general)
    k = big_a / (1.0 - (nu_vc - eta * c02) * big_a + eta * c2 * big_b) / jnp.pi
    return k.real, k.imag


def hartmann_tran(dnu, gamma_d, gamma0, gamma2=0.0, delta0=0.0, delta2=0.0, nu_vc=0.0,
                  eta=0.0, y_mixing=0.0):
    """Normalised Hartmann-Tran profile Re K + Y Im K (cm); see ``hartmann_tran_complex``
    (``dnu`` from the unshifted centre, shift ``delta0``) and HAPI's ``PROFILE_HT``."""
    re, im = hartmann_tran_complex(dnu, gamma_d, gamma0, gamma2, delta0, delta2, nu_vc, eta)
    return re + y_mixing * im


def sdvoigt(dnu, gamma_d, gamma0, gamma2, delta0=0.0, delta2=0.0, y_mixing=0.0):
    """Normalised speed-dependent Voigt profile (cm): ``hartmann_tran`` with nu_vc = eta = 0
    (HAPI's ``PROFILE_SDVOIGT``); ``dnu`` from the unshifted centre, shift ``delta0``."""
    return hartmann_tran(dnu, gamma_d, gamma0, gamma2, delta0, delta2, 0.0, 0.0, y_mixing)


def lorentz_complex(dnu, gamma_l):
    """Complex Lorentz profile (1/pi) / (gamma_l - i dnu): (Re, Im), cm. Re + Y Im is HAPI's
    ``PROFILE_LORENTZ`` with Rosenkranz mixing Y (``dnu`` from the shifted centre)."""
    inv = 1.0 / (jnp.pi * (dnu * dnu + gamma_l * gamma_l))
    return gamma_l * inv, dnu * inv


gauss = doppler
