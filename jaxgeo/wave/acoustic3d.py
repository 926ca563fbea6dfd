"""3-D constant-density acoustic propagator (reached through `jaxgeo.wave.acoustic` with a
``[nz, ny, nx]`` model).

Equation and conventions are those of the 2-D propagator, one dimension up:
``u_tt = c^2 (lap u + s delta)``, leapfrog in time, centred stencils of order 2-8 in space,
the delta source one cell of amplitude ``1 / (dz dy dx)`` (so a homogeneous trace is
``G * s`` with ``G = delta(t - r / c) / (4 pi r)``), sample ``i`` of sources and data at
time ``i * dt``, locations ``(z, y, x)`` cells relative to the model, CPML of
``pml_width`` cells outside the model on every face (Pasalic-McGarry form, computed on the
layer slabs only), and ``free_surface=True`` a pressure-release top face at row 0 (odd
image). Reverse mode runs JAX autodiff of the checkpointed time loop (memory
``O(nt / k + k)`` wavefields for chunks of ``k`` steps); forward mode gives Born data.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgeo.wave.pml import (
    axis_profiles,
    cpml_correction,
    embed_strips,
    pml_velocity,
    take_along,
)
from jaxgeo.wave.stencils import first_derivative, second_derivative
from jaxgeo.wave.timeloop import run_time_loop

__all__ = ["acoustic_3d_kernel"]


def _pad_field(u, h: int, free_surface: bool):
    """``[S, NZ, NY, NX]`` -> padded by ``h`` zeros on every face; with a free surface the
    ``h`` rows above row 0 hold the odd image ``u[-k] = -u[k]``."""
    u = jnp.pad(u, ((0, 0), (0, h), (h, h), (h, h)))
    if free_surface:
        image = -u[:, h:0:-1]
    else:
        image = jnp.zeros_like(u[:, :h])
    return jnp.concatenate([image, u], axis=1)


def _interior(x, h: int, keep_axis: int):
    """Remove ``h`` cells on both sides of every spatial axis except ``keep_axis``."""
    index = [slice(None)] * 4
    for axis in (1, 2, 3):
        if axis != keep_axis:
            index[axis] = slice(h, x.shape[axis] - h)
    return x[tuple(index)]


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every"))
def acoustic_3d_kernel(models, source_amplitudes, source_locations, receiver_locations, freq,
                       *, spacing, dt, order, pml_width, free_surface, checkpoint_every):
    """Propagate in 3-D; arguments as `jaxgeo.wave.acoustic` after its checks.

    Args:
      models: ``(vp,)`` with vp ``[nz, ny, nx]`` (m/s).
      source_amplitudes: ``[n_shots, n_sources, nt]``.
      source_locations, receiver_locations: ``[n_shots, n, 3]`` integer ``(z, y, x)`` cells.
      freq: CPML frequency (Hz), a scalar array.
      spacing: ``(dz, dy, dx)`` metres; dt: seconds; order, pml_width, free_surface,
        checkpoint_every: as in `jaxgeo.wave.acoustic`.
    Returns:
      ``[n_shots, n_receivers, nt]`` pressure.
    """
    (vp,) = models
    dtype = jnp.result_type(vp, jnp.float32)
    vp = vp.astype(dtype)
    h = order // 2
    w = pml_width
    widths = ((0 if free_surface else w, w), (w, w), (w, w))
    vp_pad = jnp.pad(vp, widths, mode="edge")
    grid = vp_pad.shape
    n_shots, _, nt = source_amplitudes.shape
    c_max = pml_velocity(vp)

    layers = {}
    for axis, (n, pair, hh) in enumerate(zip(grid, widths, spacing, strict=True), start=1):
        # the slabs reach h cells into the model, where the stencil derivative of a is non-zero
        strips = tuple(min(p + h, n // 2) if p else 0 for p in pair)
        if sum(strips) == 0:
            continue
        a, b = axis_profiles(n, pair, hh, dt, c_max, freq, dtype)
        da = first_derivative(jnp.pad(a, h, mode="edge"), 0, order, 1.0 / hh)
        keep = jnp.concatenate([jnp.arange(strips[0]), jnp.arange(n - strips[1], n)])
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        layers[axis] = (strips, tuple(p[keep].reshape(shape) for p in (a, b, da)), hh)

    c2dt2 = vp_pad**2 * dt**2
    offset = jnp.array([widths[0][0], w, w], jnp.int32)

    def indices(locations):
        cells = locations.astype(jnp.int32) + offset
        shots = jnp.broadcast_to(jnp.arange(n_shots)[:, None], cells.shape[:2])
        return shots, cells[..., 0], cells[..., 1], cells[..., 2]

    src, rec = indices(source_locations), indices(receiver_locations)
    src_scale = c2dt2[src[1:]] / (spacing[0] * spacing[1] * spacing[2])
    inputs = jnp.moveaxis(source_amplitudes.astype(dtype), -1, 0) * src_scale[None]

    def step(carry, src_t):
        u_prev, u, memory = carry
        up = _pad_field(u, h, free_surface)
        lap = sum(second_derivative(_interior(up, h, axis), axis, order, 1.0 / hh**2)
                  for axis, hh in zip((1, 2, 3), spacing, strict=True))
        new_memory = {}
        for axis, (strips, prof, hh) in layers.items():
            field = _interior(up, h, axis)
            n = grid[axis - 1]
            sides = [take_along(field, axis, start, stop) for start, stop, width in
                     ((0, strips[0] + 2 * h, strips[0]), (n - strips[1], n + 2 * h, strips[1]))
                     if width]
            corr, psi, zeta = cpml_correction(sides, *memory[axis], prof, axis, strips, order,
                                              1.0 / hh)
            lap = lap + embed_strips(corr, axis, strips, n)
            new_memory[axis] = (psi, zeta)
        u_next = c2dt2 * lap + 2 * u - u_prev
        u_next = u_next.at[src].add(src_t)
        if free_surface:
            u_next = u_next.at[:, 0].set(0.0)
        return (u, u_next, new_memory), u_next[rec]

    field = jnp.zeros((n_shots,) + grid, dtype)
    memory = {}
    for axis, (strips, _, _) in layers.items():
        shape = [n_shots, *grid]
        shape[axis] = sum(strips)
        memory[axis] = (jnp.zeros(shape, dtype), jnp.zeros(shape, dtype))
    initial = jnp.zeros((1, n_shots, rec[0].shape[1]), dtype)
    if nt == 1:
        return jnp.moveaxis(initial, 0, -1)
    data = run_time_loop(step, (field, field, memory), inputs[:-1], nt - 1, checkpoint_every)
    return jnp.moveaxis(jnp.concatenate([initial, data]), 0, -1)
