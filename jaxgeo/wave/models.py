"""Velocity / density model builders and loaders. Models are ``[nz, nx]`` float32 arrays.

Cell ``(z, x)`` is at depth ``z * dz`` and distance ``x * dx``; z increases downwards.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from scipy.ndimage import gaussian_filter


def _check_shape(shape) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"model shape must be (nz, nx) with positive sizes, got {shape}")
    return int(shape[0]), int(shape[1])


def layered(shape: tuple[int, int], interfaces: Sequence[int],
            values: Sequence[float]) -> jnp.ndarray:
    """Flat layers: ``values[k]`` from row ``interfaces[k-1]`` (0 for k = 0) down.

    Args:
      shape: ``(nz, nx)``.
      interfaces: increasing row indices where a new layer starts (len = len(values) - 1).
      values: property of each layer, top to bottom (e.g. m/s).
    """
    nz, nx = _check_shape(shape)
    if len(values) != len(interfaces) + 1:
        raise ValueError(f"{len(values)} layer values need {len(values) - 1} interfaces, got "
                         f"{len(interfaces)}")
    if list(interfaces) != sorted(interfaces) or any(not 0 < z < nz for z in interfaces):
        raise ValueError(f"interfaces {list(interfaces)} must increase within 1..{nz - 1}")
    model = np.empty((nz, nx), np.float32)
    bounds = [0, *interfaces, nz]
    for value, top, bottom in zip(values, bounds[:-1], bounds[1:], strict=True):
        model[top:bottom] = value
    return jnp.asarray(model)


def smooth_gradient(shape: tuple[int, int], top: float, bottom: float,
                    start_row: int = 0, top_value: float | None = None) -> jnp.ndarray:
    """Linear increase with depth from ``top`` (at ``start_row``) to ``bottom`` (last row).

    Rows above ``start_row`` (e.g. water) get ``top_value`` (default ``top``). A typical
    FWI starting model.
    """
    nz, nx = _check_shape(shape)
    if not 0 <= start_row < nz:
        raise ValueError(f"start_row={start_row} must be within 0..{nz - 1}")
    depth = np.clip((np.arange(nz) - start_row) / max(nz - 1 - start_row, 1), 0.0, 1.0)
    column = top + (bottom - top) * depth
    column[:start_row] = top if top_value is None else top_value
    return jnp.asarray(np.repeat(column[:, None], nx, axis=1).astype(np.float32))


def smoothed(model, sigma_cells: float, keep_rows: int = 0) -> jnp.ndarray:
    """Gaussian-smoothed copy of ``model`` (a starting model); the top ``keep_rows`` rows
    (e.g. a known water layer) are kept unchanged."""
    model = np.asarray(model, np.float32)
    out = gaussian_filter(model, sigma_cells, mode="nearest")
    out[:keep_rows] = model[:keep_rows]
    return jnp.asarray(out)


def gaussian_anomaly(model, center: tuple[float, float], radius: float,
                     amplitude: float) -> jnp.ndarray:
    """``model + amplitude * exp(-|x - center|^2 / (2 radius^2))`` (cells; same units)."""
    model = jnp.asarray(model, jnp.float32)
    if radius <= 0:
        raise ValueError(f"radius must be positive (cells), got {radius}")
    z = jnp.arange(model.shape[0])[:, None]
    x = jnp.arange(model.shape[1])[None, :]
    r2 = (z - center[0]) ** 2 + (x - center[1]) ** 2
    return model + amplitude * jnp.exp(-r2 / (2.0 * radius**2))


def marmousi_like(shape: tuple[int, int] = (100, 300), *, water_rows: int = 10,
                  water_velocity: float = 1500.0, v_min: float = 1700.0,
                  v_max: float = 4500.0, n_layers: int = 18, n_faults: int = 3,
                  seed: int = 0) -> jnp.ndarray:
    """Procedural faulted, folded layered P-velocity model (m/s) with a water layer.

    Layers get velocities increasing with depth (plus random contrasts), interfaces are
    folded by smooth sinusoids, and ``n_faults`` dipping normal faults offset them.
    Deterministic for a given ``seed``.
    """
    nz, nx = _check_shape(shape)
    if not 0 <= water_rows < nz - 2:
        raise ValueError(f"water_rows={water_rows} must leave sediment rows below it")
    rng = np.random.default_rng(seed)
    z = np.arange(nz)[:, None].astype(np.float64)
    x = np.arange(nx)[None, :].astype(np.float64)
    # folded "stratigraphic depth": depth plus smooth lateral undulations
    fold = sum(rng.uniform(1, 4) * np.sin(2 * np.pi * x / rng.uniform(0.3, 1.5) / nx
                                          + rng.uniform(0, 2 * np.pi)) for _ in range(3))
    strat = z + fold * (z - water_rows).clip(0) / nz * 3
    for _ in range(n_faults):  # normal faults: throw applied on the hanging-wall side
        x0 = rng.uniform(0.15, 0.85) * nx
        dip = rng.uniform(0.3, 0.8)
        throw = rng.uniform(3, 8) * (nz / 100)
        hanging = x > x0 + (z - water_rows) * dip
        strat = strat - throw * hanging
    sediment_rows = nz - water_rows
    edges = np.sort(rng.uniform(0, 1, n_layers - 1)) * sediment_rows + water_rows
    trend = np.linspace(v_min, v_max, n_layers)
    velocities = trend + rng.uniform(-0.15, 0.15, n_layers) * (v_max - v_min)
    layer = np.searchsorted(edges, strat)
    vp = np.clip(velocities[layer], v_min, v_max)
    vp = gaussian_filter(vp, 0.7)
    vp[:water_rows] = water_velocity
    return jnp.asarray(vp.astype(np.float32))


def rho_gardner(vp) -> jnp.ndarray:
    """Gardner's relation rho = 310 vp^0.25 (kg/m^3, vp in m/s); 1000 in water (vp<=1500)."""
    vp = jnp.asarray(vp, jnp.float32)
    return jnp.where(vp <= 1500.0, 1000.0, 310.0 * vp**0.25)


def vs_from_vp(vp, ratio: float = 1.0 / 3.0**0.5) -> jnp.ndarray:
    """vs = ratio * vp, and 0 in water (vp <= 1500 m/s)."""
    vp = jnp.asarray(vp, jnp.float32)
    return jnp.where(vp <= 1500.0, 0.0, ratio * vp)


def load_model(path: str | os.PathLike, shape: tuple[int, int] | None = None,
               dtype=np.float32, transpose: bool = False) -> jnp.ndarray:
    """Load a model from ``.npy`` or a raw binary file (e.g. Marmousi ``.bin``).

    Args:
      path: ``.npy`` file, or raw little-endian samples (``dtype``) for any other suffix.
      shape: ``(nz, nx)``; required for raw files, checked for ``.npy``.
      transpose: raw files stored x-major (``[nx, nz]``, as the Marmousi distribution):
        read as ``(nx, nz)`` and transpose.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.suffix == ".npy":
        model = np.load(path)
        if transpose:
            model = model.T
    else:
        if shape is None:
            raise ValueError(f"{path} is a raw binary file: pass shape=(nz, nx)")
        raw = np.fromfile(path, dtype=dtype)
        if raw.size != shape[0] * shape[1]:
            raise ValueError(f"{path} holds {raw.size} {np.dtype(dtype).name} samples but "
                             f"shape {tuple(shape)} needs {shape[0] * shape[1]}; check shape "
                             "and dtype")
        model = raw.reshape(shape[::-1]).T if transpose else raw.reshape(shape)
    if model.ndim != 2:
        raise ValueError(f"{path} holds a {model.ndim}-D array; expected [nz, nx]")
    if shape is not None and tuple(model.shape) != tuple(shape):
        raise ValueError(f"{path} has shape {model.shape}, expected {tuple(shape)}")
    if not np.all(np.isfinite(model)):
        raise ValueError(f"{path} contains NaN or inf")
    return jnp.asarray(model.astype(np.float32))
