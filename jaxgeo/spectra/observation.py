"""Transmission and the PhysAE observation model (calibrated grid, baseline, mixture).

PhysAE forward model (per spectrum, index i = 0..N-1):
    nu(i)   = sig0 + dsig * i + sum_k c_k i^k            (k >= 2, calibration polynomial)
    tau(nu) = sum_mol x_mol * N_tot * L * sum_lines S(T) K(nu)   (Rautian + line mixing)
    y(i)    = exp(-tau(nu(i))) * (b0 + b1 i + b2 i^2)
with N_tot = L0 (P/P0) (T0/T) (Loschmidt scaling, PhysAE's column density), P in mbar,
path length L in cm, broadening by air (1 - x_mol) and self (x_mol).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import jax
import jax.numpy as jnp

from jaxgeo.spectra.absorption import line_state, spectrum_from_state
from jaxgeo.spectra.compile import spectra_jit
from jaxgeo.spectra.constants import ATM_MBAR, LOSCHMIDT_CM3, T_STP_K
from jaxgeo.spectra.linelist import LineList
from jaxgeo.spectra.physics import number_density, volume_per_molecule


def frequency_grid(sig0, dsig, poly_coeffs: Sequence[float] | jax.Array, n_points: int):
    """nu(i) = sig0 + dsig i + sum_k poly_coeffs[k-2] i^k, i = 0..n_points-1; (N,) cm^-1.

    ``poly_coeffs`` are the coefficients of i^2, i^3, ... (PhysAE ``poly_frequency``).
    """
    i = jnp.arange(n_points, dtype=jnp.result_type(sig0, dsig, float))
    poly = jnp.zeros_like(i)
    for c in reversed(tuple(poly_coeffs)):  # Horner on i^2 * (c2 + c3 i + ...)
        poly = poly * i + c
    poly = poly * i * i if len(tuple(poly_coeffs)) else poly
    return sig0 + dsig * i + poly


def frequency_offsets(dsig, poly_coeffs: Sequence[float] | jax.Array, n_points: int):
    """nu(i) - sig0 (small numbers: keeps float32 precise when sig0 is large)."""
    return frequency_grid(jnp.zeros_like(jnp.asarray(dsig)), dsig, poly_coeffs, n_points)


def polynomial_baseline(coeffs: Sequence | jax.Array, n_points: int) -> jax.Array:
    """b0 + b1 i + b2 i^2 + ... on i = 0..n_points-1; (N,)."""
    coeffs = jnp.asarray(coeffs)
    i = jnp.arange(n_points, dtype=coeffs.dtype)
    out = jnp.zeros_like(i)
    for k in range(coeffs.shape[0] - 1, -1, -1):
        out = out * i + coeffs[k]
    return out


def loschmidt_density(temperature, p_mbar, *, p0_mbar=ATM_MBAR, t0=T_STP_K, l0=LOSCHMIDT_CM3):
    """PhysAE's total number density L0 (P/P0) (T0/T), molecules/cm^3."""
    return l0 * (p_mbar / p0_mbar) * (t0 / temperature)


def optical_depth(
    lines_by_molecule: Mapping[str, LineList],
    nu,
    temperature,
    p_atm,
    mole_fractions: Mapping[str, object],
    path_length_cm,
    *,
    total_density=None,
    profile: str = "rautian",
    line_mixing: bool = True,
    self_broadening: bool = True,
    wing: float | None = 50.0,
    line_chunk: int = 64,
    nu_origin=None,
    core_points: int | None = None,
    core_small_y: bool = True,
    column_densities: Mapping[str, object] | None = None,
):
    """tau(nu) = sum_mol N_mol * sum_lines S K, N_mol = x_mol * n_tot * L; (N,).

    ``total_density`` (molecules/cm^3) defaults to the ideal gas p/(kT); PhysAE uses
    ``loschmidt_density``. ``column_densities`` (molecule -> molecules/cm^2) replaces
    x * n_tot * L when given (``path_length_cm`` is then unused). Broadening: air fraction
    1 - x, self fraction x (if ``self_broadening``). If ``nu_origin`` is given, ``nu`` holds
    offsets from it (precise detunings in float32).
    """
    if total_density is None:
        total_density = number_density(temperature, p_atm)
    missing = set(lines_by_molecule) - set(mole_fractions)
    if missing:
        raise ValueError(f"no mole fraction given for {sorted(missing)}")
    states = []
    for name, lines in lines_by_molecule.items():
        x = mole_fractions[name]
        diluent = {"air": 1.0 - x, "self": x} if self_broadening else {"air": 1.0}
        state = line_state(
            lines, temperature, p_atm, profile=profile, diluent=diluent, wing=wing,
            line_mixing=line_mixing,
        )
        # line_state includes the ideal-gas density; swap in the requested column. It is
        # divided out as a product with k T / p: a quotient of two ~1e19 densities has a
        # pressure tangent (column * d(ideal) / ideal^2) that overflows float32 (under jit
        # XLA reassociates any rescaling of it), which made every pixel's tangent NaN.
        column = (x * total_density * path_length_cm if column_densities is None
                  else column_densities[name])
        scale = column * volume_per_molecule(temperature, p_atm)
        states.append(replace(state, strength=state.strength * scale))
    # One evaluation for all molecules (one Faddeeva call in the compiled program).
    joined = jax.tree.map(lambda *a: jnp.concatenate(a), *states)
    return spectrum_from_state(joined, nu, line_chunk=line_chunk, nu_origin=nu_origin,
                               core_points=core_points, core_small_y=core_small_y)


def transmission(
    lines_by_molecule: Mapping[str, LineList],
    nu,
    temperature,
    p_atm,
    mole_fractions: Mapping[str, object],
    path_length_cm,
    **kwargs,
):
    """exp(-tau(nu)); arguments as ``optical_depth``; (N,)."""
    return jnp.exp(-optical_depth(lines_by_molecule, nu, temperature, p_atm, mole_fractions,
                                  path_length_cm, **kwargs))


def physae_forward(
    lines_by_molecule: Mapping[str, LineList],
    *,
    sig0,
    dsig,
    poly_coeffs: Sequence[float],
    baseline,
    temperature,
    p_mbar,
    mole_fractions: Mapping[str, object],
    path_length_cm,
    n_points: int,
    line_mixing: bool = True,
    wing: float | None = None,
    core_points: int | None = None,
    core_small_y: bool = True,
    p0_mbar: float = ATM_MBAR,
    t0: float = T_STP_K,
    l0: float = LOSCHMIDT_CM3,
) -> tuple[jax.Array, jax.Array]:
    """PhysAE observation model for one spectrum (vmap for batches).

    Args:
        sig0, dsig: grid origin (cm^-1) and step (cm^-1 per index); scalars.
        poly_coeffs: calibration coefficients of i^2, i^3, ... (static).
        baseline: (3,) b0, b1, b2 (any length works).
        temperature: K; p_mbar: mbar; mole_fractions: molecule -> x.
        path_length_cm: absorption path, cm.
        wing: line cut-off in half widths; None (default, as PhysAE) evaluates every line on
            every point, which keeps the spectrum smooth in T, P and x (a cut-off edge
            crossing a grid point is a jump).
        core_points: static; if given, the fast split evaluation (exact Faddeeva only
            within +-core_points samples of each line, NaN if that misses the core; see
            ``jaxgeo.spectra.core_points_for``). None: full Faddeeva everywhere.
        core_small_y: static; False skips the core kernel's small-y region when
            ``jaxgeo.spectra.small_y_needed`` says no line needs it (NaN otherwise).
    Returns:
        (y, nu): (N,) observed transmission times baseline, and the (N,) grid in cm^-1.
    """
    return _physae_forward_jit(
        lines_by_molecule, sig0, dsig, baseline, temperature, p_mbar, mole_fractions,
        path_length_cm, poly_coeffs=tuple(float(c) for c in poly_coeffs), n_points=n_points,
        line_mixing=line_mixing, wing=wing, core_points=core_points,
        core_small_y=core_small_y, p0_mbar=p0_mbar, t0=t0,
        l0=l0,
    )


@spectra_jit(
    static_argnames=("poly_coeffs", "n_points", "line_mixing", "wing", "core_points",
                     "core_small_y", "p0_mbar", "t0", "l0"),
)
def _physae_forward_jit(lines_by_molecule, sig0, dsig, baseline, temperature, p_mbar,
                        mole_fractions, path_length_cm, *, poly_coeffs, n_points, line_mixing,
                        wing, core_points, core_small_y, p0_mbar, t0, l0):
    offsets = frequency_offsets(dsig, poly_coeffs, n_points)
    p_atm = p_mbar / p0_mbar
    n_tot = loschmidt_density(temperature, p_mbar, p0_mbar=p0_mbar, t0=t0, l0=l0)
    t = transmission(
        lines_by_molecule, offsets, temperature, p_atm, mole_fractions, path_length_cm,
        total_density=n_tot, profile="rautian", line_mixing=line_mixing, nu_origin=sig0,
        wing=wing, core_points=core_points, core_small_y=core_small_y,
    )
    return t * polynomial_baseline(baseline, n_points), sig0 + offsets
