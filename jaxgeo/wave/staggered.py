"""Shared pieces of the 2-D staggered-grid (pressure-velocity) propagators.

Used by `jaxgeo.wave.viscoacoustic` and `jaxgeo.wave.vti`; the layout is that of the
variable-density path of `jaxgeo.wave.acoustic`: pressure-like fields at integer cells and
times, ``vz`` at ``(z + 1/2, x)``, ``vx`` at ``(z, x + 1/2)``, both at half time steps;
CPML memory variables live only in the layer strips (`jaxgeo.wave.pml.correct_derivative`).
The density is constant (1 in the equations: it cancels from the pressure field of a
constant-density medium), so ``dv/dt = -grad p`` and ``dp/dt = -M (div v - source)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgeo.wave.acoustic import pad_field, pad_widths, shot_indices
from jaxgeo.wave.pml import correct_derivative, strip_profiles
from jaxgeo.wave.stencils import staggered_derivative

__all__ = ["StaggeredGrid", "divergence", "gradient", "make_grid", "source_receiver_indices",
           "source_term", "zero_memory"]


class StaggeredGrid(NamedTuple):
    """Static and array data of one staggered grid (padded by the CPML)."""

    order: int
    spacing: tuple[float, float]
    free_surface: bool
    widths: tuple[int, int, int, int]  # cells added (top, bottom, left, right)
    shape: tuple[int, int]  # padded (NZ, NX)
    profiles: dict  # name -> (a, b) CPML strip coefficients, broadcastable along its axis


def make_grid(model_shape: tuple[int, int], spacing: tuple[float, float], dt: float,
              order: int, pml_width: int, free_surface: bool, c_max, freq,
              dtype) -> StaggeredGrid:
    """CPML strip profiles for the four staggered derivatives (vz, vx, pz, px).

    Args:
      model_shape: ``(nz, nx)`` of the model.
      spacing: ``(dz, dx)`` in metres.
      dt: time step (s).
      order, pml_width, free_surface: as in `jaxgeo.wave.acoustic`.
      c_max: velocity (m/s) that sets the CPML damping (see `jaxgeo.wave.pml.pml_velocity`).
      freq: CPML frequency (Hz).
      dtype: float dtype of the profiles.
    """
    widths = pad_widths(pml_width, free_surface)
    nzp, nxp = model_shape[0] + widths[0] + widths[1], model_shape[1] + widths[2] + widths[3]
    dz, dx = spacing
    zw, xw = widths[:2], widths[2:]
    profiles = {}
    for name, n, w, hh, shift, axis in (("vz", nzp, zw, dz, 0.5, 1), ("vx", nxp, xw, dx, 0.5, 2),
                                        ("pz", nzp, zw, dz, 0.0, 1), ("px", nxp, xw, dx, 0.0, 2)):
        a, b = strip_profiles(n, w, hh, dt, c_max, freq, dtype, shift)
        shape = (-1, 1) if axis == 1 else (1, -1)
        profiles[name] = (a.reshape(shape), b.reshape(shape))
    return StaggeredGrid(order, spacing, free_surface, widths, (nzp, nxp), profiles)


def _axis_widths(grid: StaggeredGrid, name: str) -> tuple[int, tuple[int, int]]:
    axis = 1 if name.endswith("z") else 2
    return axis, (grid.widths[:2] if axis == 1 else grid.widths[2:])


def zero_memory(n_shots: int, grid: StaggeredGrid, dtype) -> dict:
    """Zero CPML memory variables ``{name: [n_shots, strips...]}`` for the four derivatives."""
    memory = {}
    for name in grid.profiles:
        axis, widths = _axis_widths(grid, name)
        shape = [n_shots, *grid.shape]
        shape[axis] = sum(widths)
        memory[name] = jnp.zeros(shape, dtype)
    return memory


def gradient(p_z, p_x, memory: dict, grid: StaggeredGrid):
    """CPML-stretched ``(dp_z/dz at vz nodes, dp_x/dx at vx nodes)`` of ``[S, NZ, NX]`` fields.

    Two fields so that an anisotropic medium can differentiate its vertical and horizontal
    stresses; an isotropic one passes the pressure twice. A free surface makes ``p_z`` odd
    about row 0. Returns ``(dpdz, dpdx, memory)`` with the vz/vx memories updated.
    """
    h = grid.order // 2
    dz, dx = grid.spacing
    memory = dict(memory)
    dpdz, memory["vz"] = correct_derivative(
        staggered_derivative(pad_field(p_z, h, grid.free_surface, axis=1), 1, grid.order,
                             1.0 / dz, forward=True),
        memory["vz"], *grid.profiles["vz"], 1, grid.widths[:2])
    dpdx, memory["vx"] = correct_derivative(
        staggered_derivative(pad_field(p_x, h, False, axis=2), 2, grid.order, 1.0 / dx,
                             forward=True),
        memory["vx"], *grid.profiles["vx"], 2, grid.widths[2:])
    return dpdz, dpdx, memory


def divergence(vz, vx, memory: dict, grid: StaggeredGrid):
    """CPML-stretched ``(dvz/dz, dvx/dx)`` at the pressure nodes; ``vz`` is even about a
    free surface (ghost rows mirror rows ``0..h-1``). Returns ``(dvzdz, dvxdx, memory)``."""
    h = grid.order // 2
    dz, dx = grid.spacing
    memory = dict(memory)
    if grid.free_surface:
        vzp = jnp.concatenate([vz[:, h - 1::-1], vz, jnp.zeros_like(vz[:, :h])], axis=1)
    else:
        vzp = pad_field(vz, h, False, axis=1)
    dvzdz, memory["pz"] = correct_derivative(
        staggered_derivative(vzp, 1, grid.order, 1.0 / dz, forward=False),
        memory["pz"], *grid.profiles["pz"], 1, grid.widths[:2])
    dvxdx, memory["px"] = correct_derivative(
        staggered_derivative(pad_field(vx, h, False, axis=2), 2, grid.order, 1.0 / dx,
                             forward=False),
        memory["px"], *grid.profiles["px"], 2, grid.widths[2:])
    return dvzdz, dvxdx, memory


def source_receiver_indices(source_locations, receiver_locations, grid: StaggeredGrid):
    """``(source, receiver)`` (shot, z, x) index triples on the padded grid."""
    return (shot_indices(source_locations, grid.widths[0], grid.widths[2]),
            shot_indices(receiver_locations, grid.widths[0], grid.widths[2]))


def source_term(source_amplitudes, dt: float, grid: StaggeredGrid, dtype) -> jax.Array:
    """Injected volume per unit cell area, ``[nt, n_shots, n_sources]``.

    Step ``n`` subtracts ``dt * sum_{m <= n} s^m / (dz dx)`` from the divergence at the
    source cell; with ``dp/dt = -c^2 (div v - that)`` this reproduces the source of
    `jaxgeo.wave.acoustic` (``p_tt = c^2 lap p + c^2 s delta``) on the same clock.
    """
    dz, dx = grid.spacing
    cumulative = jnp.cumsum(jnp.asarray(source_amplitudes).astype(dtype), axis=-1)
    return jnp.moveaxis(cumulative, -1, 0) * (dt / (dz * dx))
