"""Line parameters at given conditions: intensity, widths, shift (HITRAN/HAPI conventions).

Temperatures in K, pressures in atm; all functions are pure and broadcast, so they work
under ``jit``/``vmap``/``grad``. Shapes: line parameters (L,), conditions scalar or
broadcastable.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from jaxgeo.spectra.constants import (
    AMU_G,
    ATM_DYN_CM2,
    C2_CM_K,
    C_LIGHT_CM_S,
    K_BOLTZMANN_ERG_K,
    LN2,
    T_REF_K,
)
from jaxgeo.spectra.linelist import LineList

DILUENTS = ("air", "self")


def partition_ratio(lines: LineList, temperature) -> jax.Array:
    """Q(T_ref)/Q(T) per line, (L,)."""
    q_t = lines.partition(lines.q_row, temperature)
    q_ref = lines.partition(lines.q_row, jnp.asarray(T_REF_K, q_t.dtype))
    return q_ref / q_t


def line_intensity(lines: LineList, temperature, *, c2: float = C2_CM_K) -> jax.Array:
    """S(T) per line, cm^-1/(molecule cm^-2), (L,).

    S(T) = S(296) Q(296)/Q(T) exp(-c2 E''(1/T - 1/296)) (1 - exp(-c2 nu0/T))/(1 - exp(-c2 nu0/296)).
    """
    t = temperature
    boltz = jnp.exp(-c2 * lines.elower * (1.0 / t - 1.0 / T_REF_K))
    stim = -jnp.expm1(-c2 * lines.nu0 / t) / -jnp.expm1(-c2 * lines.nu0 / T_REF_K)
    return lines.sw * partition_ratio(lines, t) * boltz * stim


def doppler_hwhm(lines: LineList, temperature) -> jax.Array:
    """Doppler HWHM, cm^-1: nu0/c sqrt(2 k T ln2 / m), m = ``lines.mass`` amu; (L,)."""
    return lines.nu0 / C_LIGHT_CM_S * jnp.sqrt(
        2.0 * K_BOLTZMANN_ERG_K * temperature * LN2 / (lines.mass * AMU_G)
    )


def _check_diluent(diluent: Mapping[str, object]) -> None:
    unknown = set(diluent) - set(DILUENTS)
    if unknown:
        raise ValueError(
            f"unknown diluent(s) {sorted(unknown)}: broadening is available for {DILUENTS}; "
            "fractions are given like {'air': 0.99, 'self': 0.01}"
        )


def lorentz_hwhm(lines: LineList, temperature, p_atm, diluent: Mapping[str, object] | None = None):
    """Pressure-broadened Lorentz HWHM, cm^-1: p (296/T)^n_air sum_d f_d gamma_d; (L,).

    ``diluent`` maps 'air'/'self' to fractions (arrays allowed, e.g. a traced mole fraction);
    default {'air': 1}. The temperature exponent n_air is used for both broadeners (HITRAN
    .par files carry no n_self; HAPI falls back the same way).
    """
    diluent = {"air": 1.0} if diluent is None else diluent
    _check_diluent(diluent)
    gamma = 0.0
    for name, frac in diluent.items():
        gamma = gamma + frac * (lines.gamma_air if name == "air" else lines.gamma_self)
    return p_atm * (T_REF_K / temperature) ** lines.n_air * gamma


def pressure_shift(lines: LineList, p_atm) -> jax.Array:
    """Pressure shift delta_air * p, cm^-1 (HAPI convention, no T dependence); (L,)."""
    return lines.delta_air * p_atm


def dicke_frequency(lines: LineList, temperature, p_atm) -> jax.Array:
    """Dicke narrowing frequency nu_vc = g_dicke p (296/T)^n_dicke, cm^-1 (PhysAE); (L,)."""
    return lines.g_dicke * p_atm * (T_REF_K / temperature) ** lines.n_dicke


def line_mixing_y(lines: LineList, temperature, p_atm) -> jax.Array:
    """Rosenkranz coefficient Y = lmf p (296/T)^nlmf (dimensionless, PhysAE); (L,)."""
    return lines.lmf * p_atm * (T_REF_K / temperature) ** lines.nlmf


def number_density(temperature, p_atm) -> jax.Array:
    """Ideal-gas number density p/(k T), molecules/cm^3."""
    return p_atm * ATM_DYN_CM2 / (K_BOLTZMANN_ERG_K * temperature)


def volume_per_molecule(temperature, p_atm) -> jax.Array:
    """Ideal-gas k T / p, cm^3 per molecule (~4e-20): 1 / `number_density` without the ~1e19
    intermediate, so that products with other densities stay inside float32's range."""
    return K_BOLTZMANN_ERG_K * temperature / (p_atm * ATM_DYN_CM2)
