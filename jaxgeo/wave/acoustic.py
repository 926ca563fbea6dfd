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
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_derivatives import linear_call

from jaxgeo.wave import checks
from jaxgeo.wave.acoustic3d import acoustic_3d_kernel
from jaxgeo.wave.adjoint import linear_time_loop, transposed_time_loop
from jaxgeo.wave.pml import (
    axis_profiles,
    correct_derivative,
    cpml_correction,
    cpml_correction_transpose,
    embed_blocks,
    embed_strips,
    pml_velocity,
    strip_profiles,
    take_along,
)
from jaxgeo.wave.stencils import (
    first_derivative,
    second_derivative,
    staggered_derivative,
)
from jaxgeo.wave.timeloop import default_checkpoint_every, run_time_loop


def acoustic(vp, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
             rho=None, order: int = 8, pml_width: int = 20, free_surface: bool = False,
             checkpoint_every: int | None = None, pml_freq: float | None = None,
             mesh=None, adjoint: bool = False, storage_compression: bool = False
             ) -> jax.Array:
    """Propagate acoustic waves and record pressure at the receivers.

    A ``[nz, ny, nx]`` vp propagates in 3-D (`jaxgeo.wave.acoustic3d`: constant density,
    locations ``(z, y, x)``, CPML on all six faces, the same options otherwise).

    Args:
      vp: ``[nz, nx]`` (or ``[nz, ny, nx]``) P velocity (m/s).
      dx: grid spacing in metres, a scalar or ``(dz, dx)`` (3-D: ``(dz, dy, dx)``).
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
      adjoint: ``True``: reverse mode runs the adjoint-state method. Constant density:
        a hand-written transposed step (`jaxgeo.wave.adjoint.transposed_time_loop`): the
        forward pass stores the loop carry every ``checkpoint_every`` steps, the backward
        pass recomputes one chunk storing each step's stretched Laplacian and runs the
        transposed steps backwards in time, accumulating the vp gradient as
        ``sum_t lambda_{t+1} * lap u_t``; ``checkpoint_every=0`` stores every step's
        Laplacian in the forward pass instead (no recomputation; memory
        ``nt * n_shots * NZ * NX`` values). Variable density: `linear_time_loop`, whose
        backward step is JAX's transpose of the forward step. Equal to the autodiff
        gradient to rounding; no second derivatives (use ``False`` for Hessian-vector
        products). ``False`` (default): JAX autodiff of the checkpointed loop (jvp, grad,
        HVP). With ``adjoint=True`` and constant density, ``checkpoint_every=None``
        stores every step when that takes at most `STORE_ALL_BUDGET_BYTES` (512 MiB per
        device) and checkpoints every ~sqrt(nt) steps otherwise.
      storage_compression: with ``adjoint=True`` and constant density, keep the stored
        Laplacians in bfloat16 (half the memory; gradient relative error ~1e-3).
      mesh: optional `jax.sharding.Mesh` (one axis, e.g. from
        `jaxgeo.core.parallel.make_mesh("shots")`): shots are sharded over its devices
        (n_shots must divide evenly) and the result is returned in shot order.
    Returns:
      ``[n_shots, n_receivers, nt]`` pressure; sample ``i`` at time ``i * dt``.
    """
    ndim = jnp.ndim(vp)
    checks.check_model("vp", vp, ndims=(2, 3))
    spacing = checks.grid_spacing(dx, ndim)
    checks.check_order(order)
    if ndim == 3 and (rho is not None or adjoint):
        raise ValueError("3-D acoustic propagation is constant density with autodiff "
                         "gradients: pass rho=None and adjoint=False for a [nz, ny, nx] vp")
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
                  free_surface=bool(free_surface), checkpoint_every=checkpoint_every)
    models = (vp,) if rho is None else (vp, rho)
    freq = resolve_pml_freq(pml_freq, source_amplitudes, dt)
    if ndim == 3:
        kernel = acoustic_3d_kernel
    else:
        kernel = _acoustic_cd if rho is None else _acoustic_vd
    if ndim == 2:
        kwargs["adjoint"] = bool(adjoint)
    if storage_compression:
        if not adjoint or rho is not None or ndim != 2:
            raise ValueError("storage_compression applies to the constant-density 2-D "
                             "adjoint path: pass adjoint=True and rho=None, or drop it")
        kwargs["store_dtype"] = "bfloat16"
    if mesh is not None:
        from jaxgeo.wave.sharded import run_sharded
        return run_sharded(kernel, kwargs, models, source_amplitudes, source_locations,
                           receiver_locations, mesh, extra=(freq,))
    return kernel(models, jnp.asarray(source_amplitudes), jnp.asarray(source_locations),
                  jnp.asarray(receiver_locations), freq, **kwargs)


# --------------------------------------------------------------------------- helpers


STORE_ALL_BUDGET_BYTES = 512 * 2**20  # adjoint=True default: store every step below this


def adjoint_checkpoint_interval(checkpoint_every: int | None, steps: int, cells: int,
                                itemsize: int) -> int:
    """Steps per stored carry of the constant-density adjoint path.

    Args:
      checkpoint_every: the user's choice: ``0`` stores every step's Laplacian in the
        forward pass, ``k > 0`` every ``k`` steps with one chunk recomputed at a time,
        ``None`` picks: every step if that takes at most `STORE_ALL_BUDGET_BYTES`, else
        ~sqrt(steps).
      steps: time steps; cells: values per stored Laplacian (shots x grid, per device);
      itemsize: bytes per stored value.
    Returns:
      the interval, ``steps`` meaning store everything.
    """
    if checkpoint_every == 0 or (checkpoint_every is None
                                 and steps * cells * itemsize <= STORE_ALL_BUDGET_BYTES):
        return steps + 1
    return checkpoint_every or default_checkpoint_every(steps)


def pad_widths(pml_width: int, free_surface: bool) -> tuple[int, int, int, int]:
    """Cells added (top, bottom, left, right) around the model."""
    return (0 if free_surface else pml_width, pml_width, pml_width, pml_width)


def pad_model(model, widths):
    """Extend a model into the PML by replicating its edge values."""
    top, bottom, left, right = widths
    return jnp.pad(model, ((top, bottom), (left, right)), mode="edge")


def per_shot(model, n_shots: int):
    """Broadcast a model-derived array to ``[n_shots, NZ, NX]`` before the time loop.

    Reverse mode then accumulates its cotangent elementwise per shot at every step and
    reduces over shots once at the end, instead of a reduction in every step.
    """
    return jnp.broadcast_to(model, (n_shots,) + model.shape)


def shot_indices(locations, offset_z: int, offset_x: int):
    """(shot, z, x) index arrays for gathers/scatters on ``[n_shots, NZ, NX]`` fields."""
    locations = locations.astype(jnp.int32)
    shots = jnp.broadcast_to(jnp.arange(locations.shape[0])[:, None], locations.shape[:2])
    return shots, locations[..., 0] + offset_z, locations[..., 1] + offset_x


def resolve_pml_freq(pml_freq, source_amplitudes, dt):
    """CPML frequency: the given one, else the peak of the summed source spectrum."""
    if pml_freq is not None:
        return jnp.float32(pml_freq)
    return checks.dominant_frequency(source_amplitudes, dt)


def leapfrog_loop(first_step, second_step, fields, memories, inputs, nt, checkpoint_every):
    """Run a two-level scheme for nt steps (checkpointed chunks, see `run_time_loop`).

    Steps alternate between ``first_step`` and ``second_step``, each
    ``(u, u_prev, memories, x) -> (u_next, memories, record)``; ``fields = (u_prev, u)``
    are the initial fields in the layout ``first_step`` takes, and a pair of steps returns
    them in that layout again. Returns the ``[nt, ...]`` records, one per step. Two steps
    per loop iteration: the fields swap roles instead of being copied into the carry.
    """
    if checkpoint_every is None:
        checkpoint_every = default_checkpoint_every(nt)
    n_pairs = -(-nt // 2)
    pad = 2 * n_pairs - nt

    def pairs(x):
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)]) if pad else x
        return x.reshape((n_pairs, 2) + x.shape[1:])

    def step(carry, x):
        u_prev, u, mem = carry
        u_next, mem, r0 = first_step(u, u_prev, mem, x[0])
        u_after, mem, r1 = second_step(u_next, u, mem, x[1])
        return (u_next, u_after, mem), jnp.stack([r0, r1])

    k = checkpoint_every if checkpoint_every == 0 else max(1, checkpoint_every // 2)
    records = run_time_loop(step, (*fields, memories), pairs(inputs), n_pairs, k)
    return records.reshape((2 * n_pairs,) + records.shape[2:])[:nt]


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


def laplacian(u_halo, order: int, inv_dz2: float, inv_dx2: float, free_surface: bool,
              halo: int):
    """Plain (unstretched) d2u/dz2 + d2u/dx2 of a field stored with ``halo >= h = order // 2``
    cells around the grid, ``u_halo [S, NZ + 2 halo, NX + 2 halo]``, on the grid plus a ring
    of ``halo - h`` cells: ``[S, NZ + 2 (halo - h), NX + 2 (halo - h)]``.

    The halo holds zeros (nothing outside the grid); with a free surface the ``h`` halo rows
    above grid row 0 are replaced by the odd image about it. Stencil taps are plain slices.
    """
    h = order // 2
    uz = u_halo[:, :, h:-h]
    if free_surface:
        g = halo
        uz = jnp.concatenate([uz[:, :g - h], -uz[:, g + h:g:-1], uz[:, g:]], axis=1)
    return (second_derivative(uz, 1, order, inv_dz2)
            + second_derivative(u_halo[:, h:-h, :], 2, order, inv_dx2))


class GridReads(NamedTuple):
    """Static description of `grid_reads`: stencil, free surface, input halo and strips."""

    order: int
    inv_dz2: float
    inv_dx2: float
    free_surface: bool
    halo: int  # cells of zero halo around the grid in the input field
    strips_z: tuple[int, int]  # CPML strip cells (top, bottom)
    strips_x: tuple[int, int]  # CPML strip cells (left, right)


def _side_slices(n: int, strips, h: int):
    """(start, stop) of each non-empty strip along an axis of length n + 2h (h-padded)."""
    lo, hi = strips
    return [(a, b) for a, b, w in ((0, lo + 2 * h, lo), (n - hi, n + 2 * h, hi)) if w]


def _grid_reads(u, g: GridReads):
    h = g.order // 2
    lap = laplacian(u, g.order, g.inv_dz2, g.inv_dx2, g.free_surface, g.halo)
    nz, nx = u.shape[1] - 2 * g.halo, u.shape[2] - 2 * g.halo
    near = u[:, g.halo - h:g.halo + nz + h, g.halo - h:g.halo + nx + h]  # grid + h cells
    sides_z = tuple(near[:, a:b] for a, b in _side_slices(nz, g.strips_z, h))
    sides_x = tuple(near[:, :, a:b] for a, b in _side_slices(nx, g.strips_x, h))
    return lap, u[:, h:-h, h:-h], sides_z, sides_x


def _grid_reads_transpose(cts, g: GridReads):
    """Transpose of `_grid_reads`, accumulated on the grid plus ``halo - h`` cells and padded
    once. Cells outside that (the outer h of the halo, and with ``halo = h`` the ring the
    strips read) get no cotangent: they hold zeros that do not depend on the inputs (the
    halo is rebuilt as zeros, the ring is multiplied by zero coefficients)."""
    ct_lap, ct_interior, ct_z, ct_x = cts
    h = g.order // 2
    o = g.halo - h
    pad = ((0, 0), (h, h), (h, h))
    total = laplacian(jnp.pad(ct_lap, pad), g.order, g.inv_dz2, g.inv_dx2, g.free_surface,
                      g.halo) + ct_interior
    nz, nx = ct_lap.shape[1] - 2 * o, ct_lap.shape[2] - 2 * o
    near = None
    if ct_z:
        # rows of a [S, rows, cols] array are contiguous: embedding them as a concatenation
        # of flattened blocks along the minor axis keeps XLA from fusing the strip stencils'
        # transposes into the full-grid loop below (it fuses major-axis concatenations)
        cols = ct_z[0].shape[2]
        flat = tuple(c.reshape(c.shape[0], -1) for c in ct_z)
        spans = [(a * cols, b * cols) for a, b in _side_slices(nz, g.strips_z, h)]
        near = embed_blocks(flat, 1, spans, (nz + 2 * h) * cols)
        near = near.reshape(ct_z[0].shape[0], nz + 2 * h, cols)
    if ct_x:
        part = embed_blocks(ct_x, 2, _side_slices(nx, g.strips_x, h), nx + 2 * h)
        near = part if near is None else near + part
    if near is not None:
        total = total + (near if o == h else near[:, h - o:nz + h + o, h - o:nx + h + o])
    return jnp.pad(total, pad)


def _add_block(total, block, axis: int, start: int):
    """``total`` with ``block`` added at ``start`` along ``axis`` (an in-place update)."""
    index = [0] * total.ndim
    index[axis] = start
    current = jax.lax.dynamic_slice(total, index, block.shape)
    return jax.lax.dynamic_update_slice(total, current + block, index)


def grid_reads_transpose_on_grid(cts, g: GridReads):
    """The grid part of `_grid_reads_transpose` for a field read with ``halo = h``.

    Args:
      cts: cotangents of `grid_reads`'s outputs: the Laplacian and the interior on the
        grid ``[S, NZ, NX]``, and the z and x strips (as `grid_reads` returns them).
      g: the reads' description (``g.halo == order // 2``).
    Returns:
      ``[S, NZ, NX]`` cotangent of the field on the grid. Halo cells are dropped (they hold
      a zero pad), and the strip cotangents are added into their rows and columns in place
      instead of through a zero-filled full-grid embedding.
    """
    ct_lap, ct_interior, ct_z, ct_x = cts
    h = g.order // 2
    pad = ((0, 0), (h, h), (h, h))
    total = laplacian(jnp.pad(ct_lap, pad), g.order, g.inv_dz2, g.inv_dx2, g.free_surface,
                      h) + ct_interior
    nz, nx = ct_lap.shape[1:]
    # a strip spans rows (cols) a - h .. b - h of the grid and h cells beyond it across
    for part, (a, b) in zip(ct_z, _side_slices(nz, g.strips_z, h), strict=True):
        lo, hi = max(a - h, 0), min(b - h, nz)
        total = _add_block(total, part[:, lo - a + h:hi - a + h, h:h + nx], 1, lo)
    for part, (a, b) in zip(ct_x, _side_slices(nx, g.strips_x, h), strict=True):
        lo, hi = max(a - h, 0), min(b - h, nx)
        total = _add_block(total, part[:, h:h + nz, lo - a + h:hi - a + h], 2, lo)
    return total


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def grid_reads(u, g: GridReads):
    """Everything one time step reads from the haloed field ``u`` (linear in u):
    ``(laplacian, u on the grid plus halo - h cells, z strips, x strips)``, the strips padded
    by h along their axis and spanning the grid plus h cells along the other.

    Reverse mode uses a hand-written transpose (`_grid_reads_transpose`): the Laplacian's
    matrix is symmetric (the zero-padded centred stencil is; the odd image of a free surface
    adds ``-w_{i+j}`` terms, symmetric in (i, j), except for the couplings of row 0, which is
    forced to zero after every step so that its cotangent is discarded), and all cotangents
    are summed before a single pad. Autodiff of the slices instead pads each one into the
    full grid and XLA adds them in one branchy full-grid loop per step (~2 ms each under the
    profiler); without it the gradient is 4-6% faster in wall time.
    """
    return _grid_reads(u, g)


@grid_reads.defjvp
def _grid_reads_jvp(g, primals, tangents):
    # custom_jvp hands over instantiated zero tangents (linear_call's own jvp rule cannot
    # take symbolic zeros); the tangent map is linear with the custom transpose.
    (u,), (du,) = primals, tangents
    tangent = linear_call(lambda _, x: _grid_reads(x, g),
                          lambda _, ct: _grid_reads_transpose(ct, g), None, du)
    return _grid_reads(u, g), tangent


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every", "adjoint",
                                             "store_dtype"))
def _acoustic_cd(models, source_amplitudes, source_locations, receiver_locations, freq, *,
                 spacing, dt, order, pml_width, free_surface, checkpoint_every,
                 adjoint=True, store_dtype=None):
    """Constant density: ``u_tt = c^2 lap u + c^2 s delta`` (leapfrog in time).

    Each step is one full-grid stencil pass (``grid_reads``) plus CPML
    corrections computed on the layer strips only and added where they apply.
    """
    (vp,) = models
    dtype = jnp.result_type(vp, jnp.float32)
    vp = vp.astype(dtype)
    dz, dx = spacing
    h = order // 2
    widths = pad_widths(pml_width, free_surface)
    vp_pad = pad_model(vp, widths)
    nzp, nxp = vp_pad.shape
    n_shots, _, nt = source_amplitudes.shape
    c_max = pml_velocity(vp)
    # layers reach h cells into the model, where the stencil derivative of `a` is non-zero
    strips_z = tuple(min(w + h, nzp // 2) if w else 0 for w in widths[:2])
    strips_x = tuple(min(w + h, nxp // 2) if w else 0 for w in widths[2:])
    profiles = {}
    for axis, n, w, strips, hh in ((1, nzp, widths[:2], strips_z, dz),
                                   (2, nxp, widths[2:], strips_x, dx)):
        a, b = axis_profiles(n, w, hh, dt, c_max, freq, dtype)
        da = first_derivative(jnp.pad(a, h, mode="edge"), 0, order, 1.0 / hh)
        keep = jnp.concatenate([jnp.arange(strips[0]), jnp.arange(n - strips[1], n)])
        shape = (-1, 1) if axis == 1 else (1, -1)
        profiles[axis] = tuple(p[keep].reshape(shape) for p in (a, b, da))
    c2dt2 = vp_pad**2 * dt**2

    src = shot_indices(source_locations, widths[0], widths[2])
    rec = shot_indices(receiver_locations, widths[0], widths[2])
    # delta source: one cell of amplitude 1/(dz dx), times c^2 dt^2 from the update
    src_scale = c2dt2[src[1], src[2]] / (dz * dx)
    inputs = jnp.moveaxis(source_amplitudes.astype(dtype), -1, 0) * src_scale[None]
    ring = ((0, 0), (h, h), (h, h))
    c2dt2_ring = per_shot(jnp.pad(c2dt2, ring[1:]), n_shots)  # zero outside the grid
    c2dt2 = per_shot(c2dt2, n_shots)

    # The loop carries u with a zero halo of 2h cells and u_prev with a ring of h cells.
    # The first step of a pair updates the grid plus a ring of h cells (zero there: the
    # coefficient is), so its output is directly the h-halo input of the second step, which
    # updates the grid only; one pad per pair of steps rebuilds the 2h halo.
    reads = {halo: GridReads(order, 1.0 / dz**2, 1.0 / dx**2, free_surface, halo, strips_z,
                             strips_x) for halo in (h, 2 * h)}

    def stretched_laplacian(u, memory, halo, consts):
        """(CPML-stretched Laplacian of u on the grid plus ``halo - h`` cells, interior of
        u there, new memories) for u with halo ``halo`` (2h or h)."""
        profiles = consts[0]
        o = halo - h
        lap, interior, sides_z, sides_x = grid_reads(u, reads[halo])
        new_memory = []
        for axis, strips, mem, inv_h, sides in ((1, strips_z, memory[0], 1.0 / dz, sides_z),
                                                (2, strips_x, memory[1], 1.0 / dx, sides_x)):
            if sum(strips) == 0:
                new_memory.append(mem)
                continue
            # strip memories span the grid plus h cells along the other axis
            corr, psi, zeta = cpml_correction(sides, *mem, profiles[axis], axis, strips,
                                              order, inv_h)
            if o == 0:
                corr = corr[:, :, h:-h] if axis == 1 else corr[:, h:-h, :]
            lap = lap + embed_strips(corr, axis, strips, nzp if axis == 1 else nxp, o)
            new_memory.append((psi, zeta))
        return lap, interior, tuple(new_memory)

    def update(lap, interior, u_prev, src_t, halo, coeff, consts):
        """(new field, record) from a step's stretched Laplacian; halo ``halo - h``."""
        _, src, rec = consts
        o = halo - h
        u_next = coeff * lap + 2 * interior - u_prev
        u_next = u_next.at[src[0], src[1] + o, src[2] + o].add(src_t)
        if free_surface:
            u_next = u_next.at[:, o, :].set(0.0)
        # the record comes from the new field: recording the input kept it alive past the
        # write of the loop carry and cost a full-grid copy per iteration
        return u_next, u_next[rec[0], rec[1] + o, rec[2] + o]

    def advance(u, u_prev, memory, src_t, halo, coeff, consts):
        """u: halo ``halo`` (2h or h); u_prev and the result: halo ``halo - h``."""
        lap, interior, new_memory = stretched_laplacian(u, memory, halo, consts)
        u_next, record = update(lap, interior, u_prev, src_t, halo, coeff, consts)
        return u_next, new_memory, record

    def step_transpose(ct, ct_memory, ct_record, lap, coeff, consts):
        """Transpose of one `advance` on the grid: ``ct`` ``[S, NZ, NX]`` is the cotangent
        of the new field on the grid (its CPML ring and halo never reach the grid: the
        ring's coefficient is zero and the halo is a pad), ``lap`` the step's stretched
        Laplacian on the grid. Returns (cotangent of u on the grid, ``ct`` after the
        record, free-surface and source transposes (u_prev's cotangent is its negative),
        memory cotangents, source cotangent, coefficient cotangent ``ct * lap``)."""
        profiles, src, rec = consts
        ct = ct.at[rec[0], rec[1], rec[2]].add(ct_record)
        if free_surface:
            ct = ct.at[:, 0, :].set(0.0)
        ct_lap = coeff * ct
        ct_sides, ct_memory_old = {}, []
        for axis, strips, mem, inv_h in ((1, strips_z, ct_memory[0], 1.0 / dz),
                                         (2, strips_x, ct_memory[1], 1.0 / dx)):
            if sum(strips) == 0:
                ct_sides[axis] = ()
                ct_memory_old.append(mem)
                continue
            n = nzp if axis == 1 else nxp
            ct_corr = jnp.concatenate(
                [take_along(ct_lap, axis, start, start + w)
                 for start, w in ((0, strips[0]), (n - strips[1], strips[1])) if w], axis=axis)
            other = [(0, 0)] * 3
            other[2 if axis == 1 else 1] = (h, h)
            sides, psi, zeta = cpml_correction_transpose(jnp.pad(ct_corr, other), *mem,
                                                         profiles[axis], axis, strips, order,
                                                         inv_h)
            ct_sides[axis] = sides
            ct_memory_old.append((psi, zeta))
        ct_u = grid_reads_transpose_on_grid((ct_lap, 2 * ct, ct_sides[1], ct_sides[2]),
                                            reads[h])
        return ct_u, ct, tuple(ct_memory_old), ct[src[0], src[1], src[2]], ct * lap

    def first_step(u, u_prev, memory, src_t, consts, coeff):
        return advance(u, u_prev, memory, src_t, 2 * h, coeff, consts)

    def second_step(u, u_prev, memory, src_t, consts, coeff):
        u_next, memory, record = advance(u, u_prev[:, 2 * h:-2 * h, 2 * h:-2 * h], memory,
                                         src_t, h, coeff, consts)
        return jnp.pad(u_next, ((0, 0), (2 * h, 2 * h), (2 * h, 2 * h))), memory, record

    def pair_with_residual(consts, coeff, carry, x):
        """`pair` with the grid coefficient ``coeff`` ``[S, NZ, NX]`` that also returns both
        steps' stretched Laplacians on the grid (the gradient's residuals; recomputing them
        in the backward pass from stored fields measured 1.5x slower)."""
        u_prev, u, mem = carry
        lap0, interior0, mem1 = stretched_laplacian(u, mem, 2 * h, consts)
        u_next, r0 = update(lap0, interior0, u_prev, x[0], 2 * h, jnp.pad(coeff, ring), consts)
        lap1, interior1, mem2 = stretched_laplacian(u_next, mem1, h, consts)
        u_after, r1 = update(lap1, interior1, u[:, 2 * h:-2 * h, 2 * h:-2 * h], x[1], h,
                             coeff, consts)
        u_after = jnp.pad(u_after, ((0, 0), (2 * h, 2 * h), (2 * h, 2 * h)))
        return (u_next, u_after, mem2), jnp.stack([r0, r1]), (lap0[:, h:-h, h:-h], lap1)

    def pair_transpose(consts, coeff, laps, ct_carry, ct_y):
        """Hand-written transpose of `pair_with_residual` in (carry, x), on the grid.

        The cotangent carry is ``(-ct(u_prev), ct(u), ct(memory))`` with both fields on
        the grid only (`zero_cotangent`): the sign saves a negation pass per pair."""
        neg_next, ct_after, ct_mem = ct_carry
        g_next, ct1, ct_mem, ct_x1, ct_c1 = step_transpose(ct_after, ct_mem, ct_y[1],
                                                           laps[1], coeff, consts)
        g_u, ct0, ct_mem, ct_x0, ct_c0 = step_transpose(g_next - neg_next, ct_mem, ct_y[0],
                                                        laps[0], coeff, consts)
        return (ct0, g_u - ct1, ct_mem), jnp.stack([ct_x0, ct_x1]), ct_c0 + ct_c1

    def zero_cotangent():
        grid = jnp.zeros((n_shots, nzp, nxp), dtype)
        return (grid, grid, zero_carry()[2])

    def zero_carry():
        memory = (tuple(jnp.zeros((n_shots, sum(strips_z), nxp + 2 * h), dtype)
                        for _ in range(2)),
                  tuple(jnp.zeros((n_shots, nzp + 2 * h, sum(strips_x)), dtype)
                        for _ in range(2)))
        fields = (jnp.zeros((n_shots, nzp + 2 * h, nxp + 2 * h), dtype),
                  jnp.zeros((n_shots, nzp + 4 * h, nxp + 4 * h), dtype))
        return (*fields, memory)

    initial = jnp.zeros((1, n_shots, rec[0].shape[1]), dtype)
    if nt == 1:
        return jnp.moveaxis(initial, 0, -1)
    consts = (profiles, src, rec)
    if adjoint:
        steps = nt - 1
        n_pairs = -(-steps // 2)
        xs = inputs[:-1]
        if 2 * n_pairs > steps:
            xs = jnp.concatenate([xs, jnp.zeros_like(xs[:1])])
        xs = xs.reshape((n_pairs, 2) + xs.shape[1:])
        k = adjoint_checkpoint_interval(checkpoint_every, steps, c2dt2.size,
                                        jnp.dtype(store_dtype or dtype).itemsize)
        step, transpose = pair_with_residual, pair_transpose
        if store_dtype is not None:
            # compressed storage: rounded on store, widened on use; kept as raw 16-bit words
            # (XLA may drop a float round trip as "excess precision", storing float32)
            def step(consts, coeff, carry, x):
                carry, y, laps = pair_with_residual(consts, coeff, carry, x)
                return carry, y, tuple(jax.lax.bitcast_convert_type(
                    lap.astype(store_dtype), jnp.uint16) for lap in laps)

            def transpose(consts, coeff, laps, ct_carry, ct_y):
                laps = tuple(jax.lax.bitcast_convert_type(lap, store_dtype).astype(dtype)
                             for lap in laps)
                return pair_transpose(consts, coeff, laps, ct_carry, ct_y)
        data = transposed_time_loop(step, transpose, zero_carry, zero_cotangent, consts,
                                    c2dt2, xs, max(1, k // 2))
        data = data.reshape((2 * n_pairs,) + data.shape[2:])[:steps]
    else:
        data = leapfrog_loop(
            lambda u, up, m, x: first_step(u, up, m, x, consts, c2dt2_ring),
            lambda u, up, m, x: second_step(u, up, m, x, consts, c2dt2),
            zero_carry()[:2], zero_carry()[2], inputs[:-1], nt - 1, checkpoint_every)
    data = jnp.concatenate([initial, data])
    return jnp.moveaxis(data, 0, -1)


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every", "adjoint"))
def _acoustic_vd(models, source_amplitudes, source_locations, receiver_locations, freq, *,
                 spacing, dt, order, pml_width, free_surface, checkpoint_every,
                 adjoint=False):
    """Variable density: ``dp/dt = -K div v``, ``dv/dt = -grad p / rho`` (staggered grid).

    p lives at integer cells and times; vz at (z + 1/2, x), vx at (z, x + 1/2), both at
    half time steps. With constant density this reproduces the second-order equation.
    """
    vp, rho = models
    dtype = jnp.result_type(vp, rho, jnp.float32)
    dz, dx = spacing
    h = order // 2
    widths = pad_widths(pml_width, free_surface)
    vp_pad = pad_model(vp.astype(dtype), widths)
    rho_pad = pad_model(rho.astype(dtype), widths)
    nzp, nxp = vp_pad.shape
    n_shots, _, nt = source_amplitudes.shape
    c_max = pml_velocity(vp)
    kdt = rho_pad * vp_pad**2 * dt
    # buoyancy at the velocity nodes: inverse of the arithmetic mean density
    rho_z = jnp.concatenate([rho_pad[1:], rho_pad[-1:]], axis=0)
    rho_x = jnp.concatenate([rho_pad[:, 1:], rho_pad[:, -1:]], axis=1)
    bz_dt = 2.0 * dt / (rho_pad + rho_z)
    bx_dt = 2.0 * dt / (rho_pad + rho_x)

    zw, xw = widths[:2], widths[2:]
    prof = {}
    for name, n, w, hh, shift, ax in (("vz", nzp, zw, dz, 0.5, 1), ("vx", nxp, xw, dx, 0.5, 2),
                                      ("pz", nzp, zw, dz, 0.0, 1), ("px", nxp, xw, dx, 0.0, 2)):
        a, b = strip_profiles(n, w, hh, dt, c_max, freq, dtype, shift)
        shape = (-1, 1) if ax == 1 else (1, -1)
        prof[name] = (a.reshape(shape), b.reshape(shape), ax, w)

    src = shot_indices(source_locations, widths[0], widths[2])
    rec = shot_indices(receiver_locations, widths[0], widths[2])
    # p^{n+1} += c^2 dt^2 sum_{m<=n} s^m / (dz dx) reproduces u_tt = c^2 lap u + c^2 s delta
    src_scale = (vp_pad**2)[src[1], src[2]] * dt**2 / (dz * dx)
    cumulative = jnp.cumsum(source_amplitudes.astype(dtype), axis=-1)
    inputs = jnp.moveaxis(cumulative, -1, 0) * src_scale[None]
    kdt, bz_dt, bx_dt = (per_shot(m, n_shots) for m in (kdt, bz_dt, bx_dt))

    axes = {name: (ax, w) for name, (_, _, ax, w) in prof.items()}

    def step(consts, coeffs, carry, src_t):
        """One step, linear in (carry, src_t) for fixed coefficients."""
        prof, src, rec = consts
        kdt, bz_dt, bx_dt = coeffs
        p, vz, vx, mem = carry
        record = p[rec]
        new_mem = {}
        pz = pad_field(p, h, free_surface, axis=1)
        px = pad_field(p, h, False, axis=2)
        dpdz, new_mem["vz"] = correct_derivative(
            staggered_derivative(pz, 1, order, 1.0 / dz, forward=True), mem["vz"],
            *prof["vz"][:2], 1, zw)
        dpdx, new_mem["vx"] = correct_derivative(
            staggered_derivative(px, 2, order, 1.0 / dx, forward=True), mem["vx"],
            *prof["vx"][:2], 2, xw)
        vz = vz - bz_dt * dpdz
        vx = vx - bx_dt * dpdx
        if free_surface:  # vz is even about the surface: ghost rows mirror rows 0..h-1
            vzp = jnp.concatenate([vz[:, h - 1::-1], vz, jnp.zeros_like(vz[:, :h])], axis=1)
        else:
            vzp = pad_field(vz, h, False, axis=1)
        dvzdz, new_mem["pz"] = correct_derivative(
            staggered_derivative(vzp, 1, order, 1.0 / dz, forward=False), mem["pz"],
            *prof["pz"][:2], 1, zw)
        dvxdx, new_mem["px"] = correct_derivative(
            staggered_derivative(pad_field(vx, h, False, 2), 2, order, 1.0 / dx,
                                 forward=False), mem["px"], *prof["px"][:2], 2, xw)
        p = p - kdt * (dvzdz + dvxdx)
        p = p.at[src].add(src_t)
        if free_surface:
            p = p.at[:, 0, :].set(0.0)
        return (p, vz, vx, new_mem), record

    def zero_carry():
        field = jnp.zeros((n_shots, nzp, nxp), dtype)
        mem = {}
        for name, (ax, w) in axes.items():
            shape = [n_shots, nzp, nxp]
            shape[ax] = sum(w)
            mem[name] = jnp.zeros(shape, dtype)
        return (field, field, field, mem)

    consts = ({name: (a, b) for name, (a, b, _, _) in prof.items()}, src, rec)
    coeffs = (kdt, bz_dt, bx_dt)
    k = default_checkpoint_every(nt) if checkpoint_every is None else checkpoint_every
    if adjoint:
        data = linear_time_loop(step, zero_carry, consts, coeffs, inputs, max(1, k))
    else:
        data = run_time_loop(lambda carry, x: step(consts, coeffs, carry, x), zero_carry(),
                             inputs, nt, k)
    return jnp.moveaxis(data, 0, -1)


