"""2-D acoustic finite-difference propagators.

Conventions (both equations):

* The source term approximates ``s(t) delta(x - x_s)``: in a homogeneous medium the
  recorded pressure approximates ``G * s`` where ``G`` solves
  ``lap G - c^-2 d_t^2 G = -delta(x) delta(t)`` (2-D: ``G = (i/4) H0^(1)(omega r / c)``
  with an ``exp(-i omega t)`` time dependence). On the grid, the delta is one cell with
  amplitude ``1 / (dz dx)``.
* Sample ``i`` of the receiver data is the wavefield at time ``i * dt``, on the same clock
  as sample ``i`` of the source amplitudes (sample 0 of the data is the zero initial field).
* Locations are ``(z, x)`` cell indices relative to the model; the CPML of ``pml_width``
  cells is added outside the model on every edge except a free surface.
* ``free_surface=True``: pressure-release top edge at model row 0 (odd image; ``p = 0`` on
  row 0, no PML there).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgeo.wave import checks
from jaxgeo.wave.pml import axis_profiles
from jaxgeo.wave.stencils import (
    first_derivative,
    second_derivative,
    staggered_derivative,
)
from jaxgeo.wave.timeloop import run_time_loop


def acoustic(vp, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
             rho=None, order: int = 8, pml_width: int = 20, free_surface: bool = False,
             checkpoint_every: int | None = None, pml_freq: float | None = None,
             mesh=None) -> jax.Array:
    """Propagate acoustic waves and record pressure at the receivers.

    Args:
      vp: ``[nz, nx]`` P velocity (m/s).
      dx: grid spacing in metres, a scalar or ``(dz, dx)``.
      dt: time step (s); also the sample interval of sources and data.
      source_amplitudes: ``[n_shots, n_sources, nt]`` source time functions ``s(t)``.
      source_locations: ``[n_shots, n_sources, 2]`` integer ``(z, x)`` cells in the model.
      receiver_locations: ``[n_shots, n_receivers, 2]`` integer ``(z, x)`` cells.
      rho: optional ``[nz, nx]`` density (kg/m^3). ``None``: constant-density second-order
        scalar equation; given: first-order pressure-velocity system on a staggered grid.
      order: spatial order of accuracy, 2, 4, 6 or 8.
      pml_width: CPML thickness in cells, added outside the model.
      free_surface: pressure-free top edge (no PML on top).
      checkpoint_every: chunk length of the rematerialised time loop (reverse-mode memory
        O(nt/k + k) wavefields); ``None`` picks ~sqrt(nt), ``0`` disables checkpointing.
      pml_freq: frequency (Hz) the CPML is tuned to; default: the peak of the source
        spectrum.
      mesh: optional `jax.sharding.Mesh` (one axis, e.g. from
        `jaxgeo.core.parallel.make_mesh("shots")`): shots are sharded over its devices
        (n_shots must divide evenly) and the result is returned in shot order.
    Returns:
      ``[n_shots, n_receivers, nt]`` pressure; sample ``i`` at time ``i * dt``.
    """
    spacing = checks.grid_spacing(dx)
    checks.check_order(order)
    checks.check_model("vp", vp)
    if rho is not None:
        checks.check_model("rho", rho, shape=jnp.shape(vp))
    checks.check_geometry(source_amplitudes, source_locations, receiver_locations,
                          tuple(jnp.shape(vp)))
    if pml_width < 0:
        raise ValueError(f"pml_width must be >= 0 cells, got {pml_width}")
    dt = float(dt)
    checks.check_cfl(vp, dt, spacing, order, staggered=rho is not None)
    checks.warn_sampling(vp, source_amplitudes, dt, spacing, order)
    kwargs = dict(spacing=spacing, dt=dt, order=int(order), pml_width=int(pml_width),
                  free_surface=bool(free_surface), checkpoint_every=checkpoint_every,
                  pml_freq=None if pml_freq is None else float(pml_freq))
    models = (vp,) if rho is None else (vp, rho)
    kernel = _acoustic_cd if rho is None else _acoustic_vd
    if mesh is not None:
        from jaxgeo.wave.sharded import run_sharded
        return run_sharded(functools.partial(kernel, **kwargs), models, source_amplitudes,
                           source_locations, receiver_locations, mesh)
    return kernel(models, jnp.asarray(source_amplitudes), jnp.asarray(source_locations),
                  jnp.asarray(receiver_locations), **kwargs)


# --------------------------------------------------------------------------- helpers


def pad_widths(pml_width: int, free_surface: bool) -> tuple[int, int, int, int]:
    """Cells added (top, bottom, left, right) around the model."""
    return (0 if free_surface else pml_width, pml_width, pml_width, pml_width)


def pad_model(model, widths):
    """Extend a model into the PML by replicating its edge values."""
    top, bottom, left, right = widths
    return jnp.pad(model, ((top, bottom), (left, right)), mode="edge")


def shot_indices(locations, offset_z: int, offset_x: int):
    """(shot, z, x) index arrays for gathers/scatters on ``[n_shots, NZ, NX]`` fields."""
    locations = locations.astype(jnp.int32)
    shots = jnp.broadcast_to(jnp.arange(locations.shape[0])[:, None], locations.shape[:2])
    return shots, locations[..., 0] + offset_z, locations[..., 1] + offset_x


def resolve_pml_freq(pml_freq, source_amplitudes, dt):
    if pml_freq is not None:
        return jnp.float32(pml_freq)
    return checks.dominant_frequency(source_amplitudes, dt)


def pad_field(u, halo: int, free_surface: bool, axis: int, odd_top: bool = True):
    """Pad field ``[S, NZ, NX]`` by ``halo`` along ``axis`` (1=z, 2=x) with zeros.

    With a free surface the top (z) side gets an odd (``odd_top``) or even image instead.
    """
    if axis == 2 or not free_surface:
        widths = [(0, 0)] * 3
        widths[axis] = (halo, halo)
        return jnp.pad(u, widths)
    image = u[:, halo:0:-1, :]
    image = -image if odd_top else image
    bottom = jnp.zeros((u.shape[0], halo, u.shape[2]), u.dtype)
    return jnp.concatenate([image, u, bottom], axis=1)


# ---------------------------------------------------------- constant density (2nd order)


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every", "pml_freq"))
def _acoustic_cd(models, source_amplitudes, source_locations, receiver_locations, *,
                 spacing, dt, order, pml_width, free_surface, checkpoint_every, pml_freq):
    (vp,) = models
    dtype = jnp.result_type(vp, jnp.float32)
    vp = vp.astype(dtype)
    dz, dx = spacing
    h = order // 2
    widths = pad_widths(pml_width, free_surface)
    vp_pad = pad_model(vp, widths)
    nzp, nxp = vp_pad.shape
    n_shots, _, nt = source_amplitudes.shape
    c_max = jax.lax.stop_gradient(jnp.max(vp))
    freq = resolve_pml_freq(pml_freq, source_amplitudes, dt)
    az, bz = axis_profiles(nzp, widths[:2], dz, dt, c_max, freq, dtype)
    ax, bx = axis_profiles(nxp, widths[2:], dx, dt, c_max, freq, dtype)
    daz = first_derivative(jnp.pad(az, h, mode="edge"), 0, order, 1.0 / dz)
    dax = first_derivative(jnp.pad(ax, h, mode="edge"), 0, order, 1.0 / dx)
    az, bz, daz = (p[:, None] for p in (az, bz, daz))
    ax, bx, dax = (p[None, :] for p in (ax, bx, dax))
    c2dt2 = vp_pad**2 * dt**2

    src = shot_indices(source_locations, widths[0], widths[2])
    rec = shot_indices(receiver_locations, widths[0], widths[2])
    # delta source: one cell of amplitude 1/(dz dx), times c^2 dt^2 from the update
    src_scale = c2dt2[src[1], src[2]] / (dz * dx)
    inputs = jnp.moveaxis(source_amplitudes.astype(dtype), -1, 0) * src_scale[None]

    def step(carry, src_t):
        u, u_prev, psi_z, zeta_z, psi_x, zeta_x = carry
        record = u[rec]
        uz = pad_field(u, h, free_surface, axis=1)
        ux = pad_field(u, h, free_surface, axis=2)
        d2z = second_derivative(uz, 1, order, 1.0 / dz**2)
        d1z = first_derivative(uz, 1, order, 1.0 / dz)
        d2x = second_derivative(ux, 2, order, 1.0 / dx**2)
        d1x = first_derivative(ux, 2, order, 1.0 / dx)
        tmp_z = ((1 + az) * d2z + daz * d1z
                 + first_derivative(pad_field(bz * psi_z, h, False, 1), 1, order, 1.0 / dz))
        tmp_x = ((1 + ax) * d2x + dax * d1x
                 + first_derivative(pad_field(bx * psi_x, h, False, 2), 2, order, 1.0 / dx))
        lap = (1 + az) * tmp_z + bz * zeta_z + (1 + ax) * tmp_x + bx * zeta_x
        u_next = c2dt2 * lap + 2 * u - u_prev
        u_next = u_next.at[src].add(src_t)
        if free_surface:
            u_next = u_next.at[:, 0, :].set(0.0)
        carry = (u_next, u, bz * psi_z + az * d1z, bz * zeta_z + az * tmp_z,
                 bx * psi_x + ax * d1x, bx * zeta_x + ax * tmp_x)
        return carry, record

    zeros = jnp.zeros((n_shots, nzp, nxp), dtype)
    data = run_time_loop(step, (zeros,) * 6, inputs, nt, checkpoint_every)
    return jnp.moveaxis(data, 0, -1)


def _acoustic_vd(*args, **kwargs):  # placeholder until the staggered solver lands
    raise NotImplementedError("variable-density acoustic (rho=...) is not implemented yet")


_ = staggered_derivative
