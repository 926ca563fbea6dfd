"""2-D isotropic elastic propagator: velocity-stress staggered grid (Virieux 1986).

Grid (cell indices (z, x) relative to the model):

* ``sxx``, ``szz`` (and pressure) at ``(z, x)``; ``vz`` at ``(z + 1/2, x)``;
  ``vx`` at ``(z, x + 1/2)``; ``sxz`` at ``(z + 1/2, x + 1/2)``.
* velocities at integer times ``i dt``; stresses at half steps. Receiver sample ``i`` of
  ``vz``/``vx`` is the velocity at ``i dt``; ``p = -(sxx + szz) / 2`` is averaged over
  the two neighbouring half steps, so it is also at ``i dt``.

Source conventions (a source at cell ``(z, x)`` is injected at that cell's node of the
field it drives, as a single-cell delta of amplitude ``1 / (dz dx)``):

* ``"fz"`` / ``"fx"``: body force density ``f(t) delta(x - x_s)`` (N/m^3 per unit
  amplitude) added to ``rho dv/dt``; receivers record particle velocity (m/s), so for a
  homogeneous medium ``vz = d/dt (G_zz * f)`` with ``G`` the 2-D elastic Green's function.
* ``"explosion"``: isotropic moment-rate density ``m(t) delta(x - x_s)`` added to
  ``dsxx/dt`` and ``dszz/dt``. With ``vs = 0`` the pressure equals that of
  ``acoustic(..., rho=rho)`` driven by ``s(t)`` when ``m(t) = -vp(x_s)^2 int_0^t s``.

Cells with ``vs = 0`` (fluids) are handled: ``mu`` at the ``sxz`` nodes is the harmonic
mean of the four neighbours, which is zero next to any fluid cell.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxgeo.wave import checks
from jaxgeo.wave.acoustic import (
    pad_model,
    pad_widths,
    per_shot,
    resolve_pml_freq,
    shot_indices,
)
from jaxgeo.wave.adjoint import linear_time_loop
from jaxgeo.wave.pml import correct_derivative, pml_velocity, strip_profiles
from jaxgeo.wave.stencils import staggered_derivative
from jaxgeo.wave.timeloop import default_checkpoint_every, run_time_loop

SOURCE_TYPES = ("fz", "fx", "explosion")


def elastic(vp, vs, rho, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
            source_type: str = "fz", order: int = 4, pml_width: int = 20,
            free_surface: bool = False, checkpoint_every: int | None = None,
            pml_freq: float | None = None, mesh=None, adjoint: bool = False) -> dict:
    """Propagate elastic waves; returns receiver data ``{"vz", "vx", "p"}``.

    Args:
      vp, vs, rho: ``[nz, nx]`` P and S velocity (m/s, vs may be 0) and density (kg/m^3).
      dx: grid spacing in metres, a scalar or ``(dz, dx)``.
      dt: time step (s), also the sample interval of sources and data.
      source_amplitudes: ``[n_shots, n_sources, nt]``.
      source_locations / receiver_locations: ``[n_shots, n, 2]`` integer ``(z, x)`` cells.
      source_type: ``"fz"``, ``"fx"`` (body forces) or ``"explosion"`` (see module doc).
      order: spatial order of the staggered stencils: 2, 4, 6 or 8.
      pml_width: CPML thickness in cells added outside the model.
      free_surface: traction-free top edge at model row 0 (stress imaging), no PML there.
      checkpoint_every: chunk length of the rematerialised time loop (None: ~sqrt(nt),
        0: no checkpointing).
      pml_freq: CPML frequency (Hz); default the peak of the source spectrum.
      mesh: optional one-axis mesh; shots are sharded over its devices.
      adjoint: ``True``: reverse mode runs the adjoint-state method
        (`jaxgeo.wave.adjoint.linear_time_loop`): the forward pass stores the loop carry
        (5 fields and the CPML memories) every ``checkpoint_every`` steps (``0``: every
        step), and the backward pass recomputes one chunk at a time and runs the
        transpose of the same step backwards in time, accumulating the gradients of the
        per-shot coefficients (lambda, lambda + 2 mu, the harmonic-mean mu at the sxz
        nodes, the buoyancies times dt) step by step; vp, vs and rho gradients follow
        from those by the chain rule. Equal to the autodiff gradient to rounding; forward
        mode (``jax.jvp``, Born) runs the tangent of the plain loop. No second
        derivatives (use ``False`` for Hessian-vector products). ``False`` (default): JAX
        autodiff of the checkpointed loop.
    Returns:
      dict of ``[n_shots, n_receivers, nt]`` arrays: ``vz``, ``vx`` (m/s), ``p`` (Pa).
    """
    if source_type not in SOURCE_TYPES:
        raise ValueError(f"source_type={source_type!r} is not supported; choose one of "
                         f"{SOURCE_TYPES}")
    spacing = checks.grid_spacing(dx)
    checks.check_order(order)
    checks.check_model("vp", vp)
    checks.check_model("vs", vs, shape=jnp.shape(vp), allow_zero=True)
    checks.check_model("rho", rho, shape=jnp.shape(vp))
    checks.check_geometry(source_amplitudes, source_locations, receiver_locations,
                          tuple(jnp.shape(vp)))
    if pml_width < 0:
        raise ValueError(f"pml_width must be >= 0 cells, got {pml_width}")
    vp_c, vs_c = checks.concrete(vp), checks.concrete(vs)
    if vp_c is not None and vs_c is not None and (vs_c > vp_c / 2**0.5).any():
        raise ValueError("vs > vp / sqrt(2) somewhere (negative lambda); check the vs model")
    dt = float(dt)
    checks.check_cfl(vp, dt, spacing, order, staggered=True)
    if vs_c is not None and (vs_c > 0).any():
        checks.warn_sampling(vs_c[vs_c > 0][None], source_amplitudes, dt, spacing, order,
                             what="vs")
    else:
        checks.warn_sampling(vp, source_amplitudes, dt, spacing, order)
    freq = resolve_pml_freq(pml_freq, source_amplitudes, dt)
    options = dict(spacing=spacing, dt=dt, order=int(order), pml_width=int(pml_width),
                   free_surface=bool(free_surface), checkpoint_every=checkpoint_every,
                   source_type=source_type, adjoint=bool(adjoint))
    if mesh is not None:
        from jaxgeo.wave.sharded import run_sharded
        return run_sharded(_elastic, options, (vp, vs, rho), source_amplitudes,
                           source_locations, receiver_locations, mesh, extra=(freq,))
    return _elastic((vp, vs, rho), jnp.asarray(source_amplitudes),
                    jnp.asarray(source_locations), jnp.asarray(receiver_locations), freq,
                    **options)


def _harmonic4(mu):
    """Harmonic mean of the 4 cells around each (z + 1/2, x + 1/2) node (0 if any is 0)."""
    nb = [mu,
          jnp.concatenate([mu[1:], mu[-1:]], axis=0),
          jnp.concatenate([mu[:, 1:], mu[:, -1:]], axis=1)]
    nb.append(jnp.concatenate([nb[1][:, 1:], nb[1][:, -1:]], axis=1))
    positive = jnp.all(jnp.stack([m > 0 for m in nb]), axis=0)
    safe = [jnp.where(positive, m, 1.0) for m in nb]
    return jnp.where(positive, 4.0 / sum(1.0 / m for m in safe), 0.0)


def _pad_z(f, h: int, free_surface: bool, image: str):
    """Pad along z by h. Free surface images: 'odd' about row 0 (szz), 'odd_half'
    about row -1/2 (sxz), 'even' about row 0 (vx), 'even_half' about -1/2 (vz)."""
    bottom = jnp.zeros_like(f[:, :h])
    if not free_surface:
        return jnp.concatenate([jnp.zeros_like(f[:, :h]), f, bottom], axis=1)
    if image == "odd":
        top = -f[:, h:0:-1]
    elif image == "even":
        top = f[:, h:0:-1]
    elif image == "odd_half":
        top = -f[:, h - 1::-1]
    else:
        top = f[:, h - 1::-1]
    return jnp.concatenate([top, f, bottom], axis=1)


def _pad_x(f, h: int):
    return jnp.pad(f, ((0, 0), (0, 0), (h, h)))


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every",
                                             "source_type", "adjoint"))
def _elastic(models, source_amplitudes, source_locations, receiver_locations, freq, *,
             spacing, dt, order, pml_width, free_surface, checkpoint_every, source_type,
             adjoint=False):
    vp, vs, rho = models
    dtype = jnp.result_type(vp, vs, rho, jnp.float32)
    dz, dx = spacing
    h = order // 2
    widths = pad_widths(pml_width, free_surface)
    vp_p, vs_p, rho_p = (pad_model(m.astype(dtype), widths) for m in (vp, vs, rho))
    nzp, nxp = vp_p.shape
    n_shots, _, nt = source_amplitudes.shape
    mu = rho_p * vs_p**2
    lam2mu = rho_p * vp_p**2
    lam = lam2mu - 2.0 * mu
    mu_xz = _harmonic4(mu)
    rho_z = jnp.concatenate([rho_p[1:], rho_p[-1:]], axis=0)
    rho_x = jnp.concatenate([rho_p[:, 1:], rho_p[:, -1:]], axis=1)
    bz_dt = 2.0 * dt / (rho_p + rho_z)
    bx_dt = 2.0 * dt / (rho_p + rho_x)
    if free_surface:  # szz = 0 on row 0: sxx there is driven by the plane-stress modulus
        safe = jnp.where(lam2mu > 0, lam2mu, 1.0)
        lam2mu_top = lam2mu - lam**2 / safe
        lam2mu_sxx = lam2mu.at[0].set(lam2mu_top[0])
        lam_sxx = lam.at[0].set(0.0)
    else:
        lam2mu_sxx, lam_sxx = lam2mu, lam

    c_max = pml_velocity(vp)
    zw, xw = widths[:2], widths[2:]
    prof = {}
    # derivative name -> (axis, shift of its evaluation point)
    derivs = {"dvx_dx": (2, 0.0), "dvz_dz": (1, 0.0), "dvx_dz": (1, 0.5), "dvz_dx": (2, 0.5),
              "dsxx_dx": (2, 0.5), "dsxz_dz": (1, 0.0), "dsxz_dx": (2, 0.0), "dszz_dz": (1, 0.5)}
    for name, (ax, shift) in derivs.items():
        n, w, hh = (nzp, zw, dz) if ax == 1 else (nxp, xw, dx)
        a, b = strip_profiles(n, w, hh, dt, c_max, freq, dtype, shift)
        shape = (-1, 1) if ax == 1 else (1, -1)
        prof[name] = (a.reshape(shape), b.reshape(shape), ax, w)

    src = shot_indices(source_locations, widths[0], widths[2])
    rec = shot_indices(receiver_locations, widths[0], widths[2])
    amps = jnp.moveaxis(source_amplitudes.astype(dtype), -1, 0) / (dz * dx)  # [nt, S, ns]
    if source_type == "explosion":
        inputs = amps * dt  # moment rate sampled at the stress update time i dt
    else:
        buoy = (bz_dt if source_type == "fz" else bx_dt)[src[1], src[2]]
        nxt = jnp.concatenate([amps[1:], jnp.zeros_like(amps[:1])])
        inputs = 0.5 * (amps + nxt) * buoy[None]  # force at (i + 1/2) dt

    coeffs = {"lam2mu": lam2mu, "lam": lam, "mu_xz": mu_xz, "bz_dt": bz_dt, "bx_dt": bx_dt}
    if free_surface:
        coeffs.update(lam2mu_sxx=lam2mu_sxx, lam_sxx=lam_sxx)
    coeffs = {name: per_shot(m, n_shots) for name, m in coeffs.items()}
    consts = ({name: (a, b) for name, (a, b, _, _) in prof.items()}, src, rec)
    strips = {name: w for name, (_, _, _, w) in prof.items()}  # static CPML widths

    def step(consts, coeffs, carry, src_t):
        """One step (stresses then velocities), linear in (carry, src_t) for fixed
        coefficients ``coeffs`` (``[S, NZ, NX]`` each); ``consts`` = (CPML (a, b) per
        derivative, source and receiver indices)."""
        ab, src, rec = consts
        lam2mu, lam, mu_xz = coeffs["lam2mu"], coeffs["lam"], coeffs["mu_xz"]
        lam2mu_sxx = coeffs.get("lam2mu_sxx", lam2mu)
        lam_sxx = coeffs.get("lam_sxx", lam)
        vz, vx, sxx, szz, sxz, memory = carry
        new = {}

        def d(name, padded, forward):
            ax = derivs[name][0]
            raw = staggered_derivative(padded, ax, order, 1.0 / (dz if ax == 1 else dx),
                                       forward)
            corrected, new[name] = correct_derivative(raw, memory[name], *ab[name], ax,
                                                      strips[name])
            return corrected

        # stresses: half step n-1/2 -> n+1/2 from velocities at n
        dvx_dx = d("dvx_dx", _pad_x(vx, h), forward=False)
        dvz_dz = d("dvz_dz", _pad_z(vz, h, free_surface, "even_half"), False)
        dvx_dz = d("dvx_dz", _pad_z(vx, h, free_surface, "even"), True)
        dvz_dx = d("dvz_dx", _pad_x(vz, h), forward=True)
        sxx_new = sxx + dt * (lam2mu_sxx * dvx_dx + lam_sxx * dvz_dz)
        szz_new = szz + dt * (lam * dvx_dx + lam2mu * dvz_dz)
        sxz_new = sxz + dt * mu_xz * (dvx_dz + dvz_dx)
        if source_type == "explosion":
            sxx_new = sxx_new.at[src].add(src_t)
            szz_new = szz_new.at[src].add(src_t)
        if free_surface:
            szz_new = szz_new.at[:, 0].set(0.0)
        p = -0.25 * (sxx + szz + sxx_new + szz_new)
        record = (vz[rec], vx[rec], p[rec])
        # velocities: n -> n+1 from stresses at n+1/2
        dsxx_dx = d("dsxx_dx", _pad_x(sxx_new, h), forward=True)
        dsxz_dz = d("dsxz_dz", _pad_z(sxz_new, h, free_surface, "odd_half"), False)
        dsxz_dx = d("dsxz_dx", _pad_x(sxz_new, h), forward=False)
        dszz_dz = d("dszz_dz", _pad_z(szz_new, h, free_surface, "odd"), True)
        vx_new = vx + coeffs["bx_dt"] * (dsxx_dx + dsxz_dz)
        vz_new = vz + coeffs["bz_dt"] * (dsxz_dx + dszz_dz)
        if source_type == "fz":
            vz_new = vz_new.at[src].add(src_t)
        elif source_type == "fx":
            vx_new = vx_new.at[src].add(src_t)
        return (vz_new, vx_new, sxx_new, szz_new, sxz_new, new), record

    def stacked_step(consts, coeffs, carry, src_t):
        """`step` with the three records stacked into one ``[3, S, n_receivers]`` array
        (`linear_time_loop` takes one output array)."""
        carry, record = step(consts, coeffs, carry, src_t)
        return carry, jnp.stack(record)

    def zero_carry():
        field = jnp.zeros((n_shots, nzp, nxp), dtype)
        mem = {}
        for name, w in strips.items():
            shape = [n_shots, nzp, nxp]
            shape[derivs[name][0]] = sum(w)
            mem[name] = jnp.zeros(shape, dtype)
        return (field, field, field, field, field, mem)

    k = default_checkpoint_every(nt) if checkpoint_every is None else checkpoint_every
    if adjoint:
        data = linear_time_loop(stacked_step, zero_carry, consts, coeffs, inputs, max(1, k))
        vz_d, vx_d, p_d = (data[:, i] for i in range(3))
    else:
        vz_d, vx_d, p_d = run_time_loop(lambda carry, x: step(consts, coeffs, carry, x),
                                        zero_carry(), inputs, nt, k)
    return {"vz": jnp.moveaxis(vz_d, 0, -1), "vx": jnp.moveaxis(vx_d, 0, -1),
            "p": jnp.moveaxis(p_d, 0, -1)}
