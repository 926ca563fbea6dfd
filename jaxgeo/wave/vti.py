"""2-D pseudo-acoustic VTI propagation (vertical symmetry axis, Thomsen epsilon and delta).

Formulation. The first-order system of Duveneck & Bakker (2011) for a VTI medium with
zero shear velocity on the symmetry axis (Alkhalifah's acoustic approximation), in terms
of a horizontal and a vertical pressure ``p_H``, ``p_V`` (compression positive) and the
particle velocity, with unit density (it cancels from a constant-density medium)::

    dvx/dt = -dp_H/dx                 dvz/dt = -dp_V/dz
    dp_H/dt = -vp^2 ((1 + 2 epsilon) dvx/dx + sqrt(1 + 2 delta) dvz/dz) + source
    dp_V/dt = -vp^2 (sqrt(1 + 2 delta) dvx/dx + dvz/dz) + source

``vp`` is the vertical P velocity, ``vp sqrt(1 + 2 epsilon)`` the horizontal one and
``vp sqrt(1 + 2 delta)`` the NMO velocity. Its dispersion relation is exactly
Alkhalifah's (1998, 2000) acoustic VTI relation
``v^2(theta) = vp^2 / 2 [1 + 2 eps s^2 + sqrt((1 + 2 eps s^2)^2 - 8 (eps - delta) s^2 c^2)]``
(``s = sin``, ``c = cos`` of the phase angle from the vertical), plus a second, slow root
(the "diamond" qSV artefact) with velocity zero along both axes. The system's matrix is
symmetric and its roots are real for ``epsilon >= delta``, where it is stable; for
``epsilon < delta`` it is not, so that is refused.

No diamond artefact. The slow root is only excited where ``epsilon != delta``: the source
sits inside a small elliptical zone (``delta`` replaced by ``epsilon`` within
``elliptic_radius`` cells of each source, blended back to ``delta`` over as many cells again
with a cosine taper), the usual practical fix (Alkhalifah 2000; Duveneck et al. 2008).
There the medium is elliptical, which keeps the vertical and horizontal velocities (only
``delta``, the near-45-degree velocity, changes inside the zone), so traveltimes through it
are barely perturbed (a few cells of path at ``(epsilon - delta) / 4`` relative slowness).
``elliptic_radius=0`` switches the zone off. Gradients w.r.t. ``delta`` inside the zone are
correspondingly reduced (they flow to ``epsilon`` there).

Grid: the staggered grid, stencils and CPML of `jaxgeo.wave.staggered` (those of the
variable-density path of `jaxgeo.wave.acoustic`); with ``epsilon = delta = 0`` both
pressures equal the acoustic pressure and the trace equals ``wave.acoustic(..., rho=1)``
to rounding. The recorded pressure is ``(p_H + p_V) / 2``; the source is added to both
(the isotropic volume source of `jaxgeo.wave.acoustic`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.wave import checks
from jaxgeo.wave.acoustic import pad_model, per_shot, resolve_pml_freq
from jaxgeo.wave.pml import pml_velocity
from jaxgeo.wave.staggered import (
    divergence,
    gradient,
    make_grid,
    source_receiver_indices,
    source_term,
    zero_memory,
)
from jaxgeo.wave.timeloop import default_checkpoint_every, run_time_loop

__all__ = ["check_thomsen", "elliptic_zone", "vti"]


def vti(vp, epsilon, delta, dx, dt, source_amplitudes, source_locations, receiver_locations,
        *, order: int = 8, pml_width: int = 20, free_surface: bool = False,
        elliptic_radius: int = 3, checkpoint_every: int | None = None,
        pml_freq: float | None = None, mesh=None) -> jax.Array:
    """Propagate pseudo-acoustic qP waves in a VTI medium and record pressure.

    Args:
      vp: ``[nz, nx]`` vertical P velocity (m/s).
      epsilon: ``[nz, nx]`` Thomsen epsilon (dimensionless, > -0.5).
      delta: ``[nz, nx]`` Thomsen delta (dimensionless, > -0.5, ``<= epsilon``).
      dx: grid spacing in metres, a scalar or ``(dz, dx)``.
      dt: time step (s); also the sample interval of sources and data.
      source_amplitudes: ``[n_shots, n_sources, nt]`` source time functions ``s(t)``.
      source_locations: ``[n_shots, n_sources, 2]`` integer ``(z, x)`` cells in the model.
      receiver_locations: ``[n_shots, n_receivers, 2]`` integer ``(z, x)`` cells.
      order: spatial order of the staggered stencils, 2, 4, 6 or 8.
      pml_width: CPML thickness in cells, added outside the model.
      free_surface: pressure-free top edge (no PML on top).
      elliptic_radius: radius in cells of the elliptical zone around each source (delta set
        to epsilon; cosine taper over as many cells again); 0 disables it.
      checkpoint_every: chunk length of the rematerialised time loop; ``None`` ~sqrt(nt).
      pml_freq: CPML frequency (Hz); default: the peak of the source spectrum.
      mesh: optional one-axis `jax.sharding.Mesh`: shots are sharded over its devices.
    Returns:
      ``[n_shots, n_receivers, nt]`` pressure ``(p_H + p_V) / 2``; sample ``i`` at ``i dt``.
    """
    spacing = checks.grid_spacing(dx)
    checks.check_order(order)
    checks.check_model("vp", vp)
    shape = tuple(jnp.shape(vp))
    check_thomsen(epsilon, delta, shape)
    checks.check_geometry(source_amplitudes, source_locations, receiver_locations, shape)
    if pml_width < 0:
        raise ValueError(f"pml_width must be >= 0 cells, got {pml_width}")
    if int(elliptic_radius) < 0:
        raise ValueError(f"elliptic_radius must be >= 0 cells, got {elliptic_radius}")
    dt = float(dt)
    vp_values, eps_values = checks.concrete(vp), checks.concrete(epsilon)
    if vp_values is not None and eps_values is not None:
        checks.check_cfl(vp_values * np.sqrt(1 + 2 * eps_values), dt, spacing, order,
                         staggered=True, what="the horizontal velocity vp sqrt(1 + 2 epsilon)")
    checks.warn_sampling(vp, source_amplitudes, dt, spacing, order)
    kwargs = dict(spacing=spacing, dt=dt, order=int(order), pml_width=int(pml_width),
                  free_surface=bool(free_surface), elliptic_radius=int(elliptic_radius),
                  checkpoint_every=checkpoint_every)
    extra = (resolve_pml_freq(pml_freq, source_amplitudes, dt),)
    models = (vp, epsilon, delta)
    if mesh is not None:
        from jaxgeo.wave.sharded import run_sharded
        return run_sharded(_vti, kwargs, models, source_amplitudes, source_locations,
                           receiver_locations, mesh, extra=extra)
    return _vti(models, jnp.asarray(source_amplitudes), jnp.asarray(source_locations),
                jnp.asarray(receiver_locations), *extra, **kwargs)


def check_thomsen(epsilon, delta, shape) -> None:
    """Raise unless epsilon and delta have ``shape``, are finite, > -0.5 and epsilon >= delta
    (concrete arrays only; traced ones are checked for shape alone)."""
    for name, model in (("epsilon", epsilon), ("delta", delta)):
        if tuple(jnp.shape(model)) != shape:
            raise ValueError(f"{name} has shape {tuple(jnp.shape(model))} but vp has shape "
                             f"{shape}; all models must share one grid")
        values = checks.concrete(model)
        if values is not None and not np.all(np.isfinite(values)):
            raise ValueError(f"{name} contains NaN or inf; fix the model before propagating")
        if values is not None and np.any(values <= -0.5):
            idx = tuple(int(i) for i in np.argwhere(values <= -0.5)[0])
            raise ValueError(f"{name} must be > -0.5 everywhere (1 + 2 {name} is a squared "
                             f"velocity ratio); {name}{list(idx)} = {values[idx]}")
    eps, dlt = checks.concrete(epsilon), checks.concrete(delta)
    if eps is not None and dlt is not None and np.any(eps < dlt):
        idx = tuple(int(i) for i in np.argwhere(eps < dlt)[0])
        raise ValueError(f"epsilon must be >= delta everywhere (pseudo-acoustic VTI is "
                         f"unstable otherwise); epsilon{list(idx)} = {eps[idx]:g} < delta = "
                         f"{dlt[idx]:g} ({int(np.sum(eps < dlt))} cells); raise epsilon there")


def elliptic_zone(shape: tuple[int, int], source_cells, radius: int) -> jax.Array:
    """Weight ``[n_shots, NZ, NX]`` in [0, 1]: 1 within ``radius`` cells of a source,
    a cosine taper to 0 over the next ``radius`` cells, 0 beyond.

    Args:
      shape: ``(NZ, NX)`` of the (padded) grid.
      source_cells: ``(shot, z, x)`` index arrays ``[n_shots, n_sources]`` on that grid.
      radius: zone radius in cells (0: all zeros).
    """
    _, sz, sx = source_cells
    if radius == 0:
        return jnp.zeros((sz.shape[0], *shape))
    zz = jnp.arange(shape[0], dtype=jnp.float32)[None, None, :, None]
    xx = jnp.arange(shape[1], dtype=jnp.float32)[None, None, None, :]
    d2 = (zz - sz[..., None, None]) ** 2 + (xx - sx[..., None, None]) ** 2
    d = jnp.sqrt(jnp.min(d2, axis=1))
    taper = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip(d / radius - 1.0, 0.0, 1.0)))
    return jax.lax.stop_gradient(taper)


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "elliptic_radius",
                                             "checkpoint_every"))
def _vti(models, source_amplitudes, source_locations, receiver_locations, freq, *, spacing,
         dt, order, pml_width, free_surface, elliptic_radius, checkpoint_every):
    vp, epsilon, delta = models
    dtype = jnp.result_type(vp, epsilon, delta, jnp.float32)
    vp, epsilon, delta = (m.astype(dtype) for m in (vp, epsilon, delta))
    grid = make_grid(vp.shape, spacing, dt, order, pml_width, free_surface,
                     pml_velocity(vp * jnp.sqrt(1.0 + 2.0 * epsilon)), freq, dtype)
    n_shots, _, nt = source_amplitudes.shape
    src, rec = source_receiver_indices(source_locations, receiver_locations, grid)
    zone = elliptic_zone(grid.shape, src, elliptic_radius).astype(dtype)
    kdt = pad_model(vp**2 * dt, grid.widths)
    eps, dlt = pad_model(epsilon, grid.widths), pad_model(delta, grid.widths)
    dlt = dlt + zone * (eps - dlt)  # [n_shots, NZ, NX]: elliptical near the sources
    k_h = per_shot(kdt * (1.0 + 2.0 * eps), n_shots)
    k_n = per_shot(kdt, n_shots) * jnp.sqrt(1.0 + 2.0 * dlt)
    k_v = per_shot(kdt, n_shots)
    inputs = source_term(source_amplitudes, dt, grid, dtype) * kdt[src[1], src[2]][None]

    def step(carry, src_t):
        p_h, p_v, vz, vx, mem = carry
        record = 0.5 * (p_h + p_v)[rec]
        dpdz, dpdx, mem = gradient(p_v, p_h, mem, grid)
        vz = vz - dt * dpdz
        vx = vx - dt * dpdx
        dvzdz, dvxdx, mem = divergence(vz, vx, mem, grid)
        p_h = (p_h - (k_h * dvxdx + k_n * dvzdz)).at[src].add(src_t)
        p_v = (p_v - (k_n * dvxdx + k_v * dvzdz)).at[src].add(src_t)
        if free_surface:
            p_h = p_h.at[:, 0, :].set(0.0)
            p_v = p_v.at[:, 0, :].set(0.0)
        return (p_h, p_v, vz, vx, mem), record

    field = jnp.zeros((n_shots, *grid.shape), dtype)
    carry = (field, field, field, field, zero_memory(n_shots, grid, dtype))
    data = run_time_loop(step, carry, inputs, nt, default_checkpoint_every(nt)
                         if checkpoint_every is None else checkpoint_every)
    return jnp.moveaxis(data, 0, -1)
