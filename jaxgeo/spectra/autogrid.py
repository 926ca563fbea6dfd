"""The obvious call's fast path: recognise a uniform grid and size its windows.

``absorption_coefficient`` calls ``fast_path`` first; it returns None whenever the dense
path must be used (non-uniform or traced grid, traced line list, traced conditions without
declared ranges).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

CONDITION_KEYS = ("t_min", "t_max", "p_min_atm", "p_max_atm")
_WARNED: set[str] = set()


def is_concrete(x) -> bool:
    """True when ``x`` (a pytree) holds no tracer (its values are known on the host)."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def as_uniform_grid(nu, grid_type, *, nu_origin=None, rtol: float = 1e-6):
    """A ``grid_type`` (``UniformGrid``) if the concrete 1-D ``nu`` is evenly spaced, else None.

    Evenly spaced means every point lies within ``rtol`` * step + 4 ulp(max |nu|) of
    nu[0] + j * step, step = (nu[-1] - nu[0]) / (n - 1) > 0 (np.arange / np.linspace grids
    pass; a grid with one point moved by 1e-4 of a step does not). ``nu_origin``: ``nu`` holds
    offsets from it.
    """
    if isinstance(nu, grid_type):
        return nu
    if not is_concrete(nu) or not is_concrete(nu_origin):
        return None
    a = np.asarray(nu)
    if a.ndim != 1 or a.size < 3 or not np.issubdtype(a.dtype, np.floating):
        return None
    a = a.astype(np.float64)
    step = (a[-1] - a[0]) / (a.size - 1)
    if not step > 0:
        return None
    ulp = float(np.finfo(np.asarray(nu).dtype).eps) * float(np.abs(a).max())
    dev = np.abs(a - (a[0] + step * np.arange(a.size))).max()
    if dev > rtol * step + 4 * ulp:
        return None
    origin = 0.0 if nu_origin is None else float(nu_origin)
    return grid_type(float(origin + a[0]), float(step), int(a.size))


def condition_ranges(temperature, p_atm, conditions: Mapping[str, float] | None,
                     n_lines: int, n_points: int):
    """(t_min, t_max, p_min, p_max) from ``conditions`` when given (concrete or traced T, p:
    equal ranges give equal window sizes, so repeated calls reuse one compilation), else from
    concrete conditions; None (after a one-time warning) when traced without ranges."""
    if conditions is None and is_concrete((temperature, p_atm)):
        t = np.asarray(temperature, np.float64)
        p = np.asarray(p_atm, np.float64)
        return float(t.min()), float(t.max()), float(p.min()), float(p.max())
    if conditions is None:
        msg = (f"absorption_coefficient: T/p are traced and no conditions=dict(t_min=..., "
               f"t_max=..., p_min_atm=..., p_max_atm=...) was given, so the exact dense path "
               f"evaluates all {n_lines} lines on all {n_points} points ({n_lines * n_points:.2g}"
               " profile values per spectrum, typically 10-30x slower than the windowed path)")
        if msg not in _WARNED:
            _WARNED.add(msg)
            warnings.warn(msg, stacklevel=4)
        return None
    unknown = set(conditions) - set(CONDITION_KEYS)
    missing = {"t_min", "t_max", "p_max_atm"} - set(conditions)
    if unknown or missing:
        raise ValueError(f"conditions needs keys t_min, t_max, p_max_atm (optional p_min_atm); "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}")
    t_min, t_max = float(conditions["t_min"]), float(conditions["t_max"])
    p_min, p_max = float(conditions.get("p_min_atm", 0.0)), float(conditions["p_max_atm"])
    if not (0 < t_min <= t_max and 0 <= p_min <= p_max and math.isfinite(p_max)):
        raise ValueError(f"conditions must satisfy 0 < t_min <= t_max and 0 <= p_min_atm <= "
                         f"p_max_atm, got {dict(conditions)}")
    return t_min, t_max, p_min, p_max


def broadening_bounds(diluent: Mapping[str, object] | None) -> tuple[float, float] | None:
    """(total fraction, self share) of a concrete diluent for ``window_sizes``; (1, 1) bounds
    any traced mixture with fractions <= 1 (width max(gamma_air, gamma_self))."""
    diluent = {"air": 1.0} if diluent is None else diluent
    if not is_concrete(dict(diluent)):
        return 1.0, 1.0
    f_air = float(np.max(np.asarray(diluent.get("air", 0.0), np.float64)))
    f_self = float(np.max(np.asarray(diluent.get("self", 0.0), np.float64)))
    total = f_air + f_self
    return (total, f_self / total) if total > 0 else (1.0, 0.0)


def inside_ranges(k, temperature, p_atm, t_min, t_max, p_min, p_max):
    """``k`` where (T, p) lie inside the ranges the windows were sized for, NaN elsewhere."""
    tol = 1e-9
    ok = ((temperature >= t_min * (1 - tol)) & (temperature <= t_max * (1 + tol))
          & (p_atm >= p_min * (1 - tol)) & (p_atm <= p_max * (1 + tol)))
    return jnp.where(ok, k, jnp.nan)
