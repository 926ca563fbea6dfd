"""2-D constant-Q (viscoacoustic) propagation with a generalised standard linear solid.

Model (constant density; ``exp(-i omega t)`` time dependence). The pressure obeys
``dp/dt = -(dpsi/dt * (div v - S))`` with the relaxation function of ``L`` standard linear
solids in parallel, with relaxation times ``tau_sigma,l`` and strengths ``tau_l``
(``tau_eps,l = tau_sigma,l (1 + tau_l)``, Robertsson et al. 1994; Blanch et al. 1995)::

    psi(t) = M_R (1 + sum_l tau_l exp(-t / tau_sigma,l)),  t >= 0
    M(omega) = M_R (1 + sum_l tau_l z_l / (1 + z_l)),  z_l = -i omega tau_sigma,l

``dv/dt = -grad p`` (unit density: it cancels from the pressure of a constant-density
medium) and ``S`` is the injected volume per unit area (the source of
`jaxgeo.wave.acoustic`, also relaxed). ``Q(omega) = Re M / -Im M`` and the complex
velocity is ``c(omega) = sqrt(M(omega))``, so in a homogeneous medium the recorded pressure
is ``G * s`` with ``G = (i/4) H0^(1)(omega r / c(omega))``.

Fit. The relaxation times ``tau_sigma,l = 1 / (2 pi f_l)`` are log-spaced over the band
``q_band = (f_min, f_max)`` (both ends included). With ``w_l = omega tau_sigma,l``,
``a_l = w_l^2 / (1 + w_l^2)`` and ``b_l = w_l / (1 + w_l^2)``, the model has
``1/Q = sum_l tau_l b_l / (1 + sum_l tau_l a_l)``, so ``Q = q`` is the linear condition
``sum_l tau_l (b_l - a_l / q) = 1 / q``; it is solved per cell in the least-squares sense on
64 log-spaced frequencies of the band (an ``L x L`` system, smooth in ``q``, so gradients
w.r.t. ``q`` flow through it). With the default 3 mechanisms over the band of a Ricker
wavelet (4-58 Hz at 25 Hz), Q stays within -2 %/+5 % of ``q`` for q from 5 to 1e6
(tests/test_wave_viscoacoustic.py compares it with Kjartansson's exact constant-Q law).

Reference frequency. ``vp`` is the phase velocity at ``reference_freq`` (default: the peak
of the source spectrum on its FFT grid; pass it explicitly when vp must mean the same for
several wavelets): ``M_R = (vp Re[(M(omega_r) / M_R)^(-1/2)])^2``. Lower frequencies travel
slower, higher ones faster (physical dispersion); the unrelaxed (infinite-frequency)
velocity ``sqrt(M_R (1 + sum_l tau_l))`` sets the CFL limit.

Time stepping (acoustic form of Robertsson et al. 1994): memory variables ``r_l`` with
``dr_l/dt = -(r_l + tau_l e) / tau_sigma,l`` and
``dp/dt = -M_R ((1 + sum_l tau_l) e + sum_l r_l)``, ``e = div v - S``, advanced at integer
times with the trapezoidal rule on the staggered grid of `jaxgeo.wave.staggered` (the
stencils and CPML of the variable-density path of `jaxgeo.wave.acoustic`; with
``q -> inf`` the two agree to rounding). The CPML stretches the spatial derivatives only;
the memory variables keep relaxing inside it.
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

__all__ = ["N_MECHANISMS", "relaxation_times", "sls_strength", "source_band", "unrelaxed_modulus",
           "viscoacoustic"]

N_MECHANISMS = 3  # default number of relaxation mechanisms
N_FIT = 64  # frequencies of the least-squares Q fit
BAND_LEVEL = 0.05  # the default q_band: where the source amplitude spectrum >= 5% of its peak


def viscoacoustic(vp, q, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
                  order: int = 8, pml_width: int = 20, free_surface: bool = False,
                  n_mechanisms: int = N_MECHANISMS, q_band: tuple[float, float] | None = None,
                  reference_freq: float | None = None, checkpoint_every: int | None = None,
                  pml_freq: float | None = None, mesh=None) -> jax.Array:
    """Propagate constant-Q acoustic waves and record pressure at the receivers.

    Args:
      vp: ``[nz, nx]`` P velocity (m/s), the phase velocity at ``reference_freq``.
      q: ``[nz, nx]`` quality factor (dimensionless, > 0; ``1e6`` is practically elastic).
      dx: grid spacing in metres, a scalar or ``(dz, dx)``.
      dt: time step (s); also the sample interval of sources and data.
      source_amplitudes: ``[n_shots, n_sources, nt]`` source time functions ``s(t)``.
      source_locations: ``[n_shots, n_sources, 2]`` integer ``(z, x)`` cells in the model.
      receiver_locations: ``[n_shots, n_receivers, 2]`` integer ``(z, x)`` cells.
      order: spatial order of the staggered stencils, 2, 4, 6 or 8.
      pml_width: CPML thickness in cells, added outside the model.
      free_surface: pressure-free top edge (no PML on top).
      n_mechanisms: number ``L`` of relaxation mechanisms (>= 1).
      q_band: ``(f_min, f_max)`` in Hz over which Q is fitted to ``q``; default: where the
        summed source amplitude spectrum is >= 5% of its peak.
      reference_freq: frequency (Hz) at which ``vp`` is the phase velocity; default: the
        peak of the source spectrum.
      checkpoint_every: chunk length of the rematerialised time loop; ``None`` ~sqrt(nt).
      pml_freq: CPML frequency (Hz); default: the peak of the source spectrum.
      mesh: optional one-axis `jax.sharding.Mesh`: shots are sharded over its devices.
    Returns:
      ``[n_shots, n_receivers, nt]`` pressure; sample ``i`` at time ``i * dt``.
    """
    spacing = checks.grid_spacing(dx)
    checks.check_order(order)
    checks.check_model("vp", vp)
    checks.check_model("q", q, shape=jnp.shape(vp))
    checks.check_geometry(source_amplitudes, source_locations, receiver_locations,
                          tuple(jnp.shape(vp)))
    if pml_width < 0:
        raise ValueError(f"pml_width must be >= 0 cells, got {pml_width}")
    if int(n_mechanisms) < 1:
        raise ValueError(f"n_mechanisms must be >= 1, got {n_mechanisms}")
    dt = float(dt)
    peak = checks.dominant_frequency(source_amplitudes, dt)
    band = _resolve_band(q_band, source_amplitudes, dt)
    f_ref = jnp.float32(reference_freq) if reference_freq is not None else peak
    tau_sigma = relaxation_times(band, int(n_mechanisms))
    unrelaxed = checks.concrete(unrelaxed_modulus(vp, q, tau_sigma, f_ref))
    if unrelaxed is not None:
        checks.check_cfl(np.sqrt(unrelaxed), dt, spacing, order, staggered=True,
                         what="the unrelaxed velocity sqrt(M_R (1 + sum tau_l))")
    checks.warn_sampling(vp, source_amplitudes, dt, spacing, order)
    kwargs = dict(spacing=spacing, dt=dt, order=int(order), pml_width=int(pml_width),
                  free_surface=bool(free_surface), checkpoint_every=checkpoint_every)
    extra = (resolve_pml_freq(pml_freq, source_amplitudes, dt), tau_sigma, f_ref)
    if mesh is not None:
        from jaxgeo.wave.sharded import run_sharded
        return run_sharded(_viscoacoustic, kwargs, (vp, q), source_amplitudes,
                           source_locations, receiver_locations, mesh, extra=extra)
    return _viscoacoustic((vp, q), jnp.asarray(source_amplitudes),
                          jnp.asarray(source_locations), jnp.asarray(receiver_locations),
                          *extra, **kwargs)


# ----------------------------------------------------------------------- the SLS model


def _resolve_band(q_band, source_amplitudes, dt):
    if q_band is not None:
        f_min, f_max = (float(f) for f in q_band)
        if not 0 < f_min < f_max:
            raise ValueError(f"q_band must be (f_min, f_max) with 0 < f_min < f_max Hz, got "
                             f"{q_band}")
        return jnp.asarray([f_min, f_max], jnp.float32)
    return source_band(source_amplitudes, dt)


def source_band(source_amplitudes, dt: float, level: float = BAND_LEVEL) -> jax.Array:
    """``[f_min, f_max]`` (Hz) where the summed source amplitude spectrum is >= ``level``
    times its peak (``f_min`` at least ``f_max / 100``); no gradient flows through it."""
    trace = jnp.sum(jnp.asarray(source_amplitudes, jnp.float32), axis=(0, 1))
    n_fft = max(2 * trace.shape[0], 64)
    spectrum = jnp.abs(jnp.fft.rfft(trace, n=n_fft))
    freqs = jnp.fft.rfftfreq(n_fft, dt)
    above = spectrum >= level * jnp.max(spectrum)
    f_max = jnp.max(jnp.where(above, freqs, 0.0))
    f_min = jnp.min(jnp.where(above & (freqs > 0), freqs, jnp.inf))
    f_min = jnp.maximum(jnp.minimum(f_min, 0.5 * f_max), f_max / 100.0)
    return jax.lax.stop_gradient(jnp.stack([f_min, f_max]).astype(jnp.float32))


def relaxation_times(band, n_mechanisms: int) -> jax.Array:
    """``[L]`` relaxation times ``tau_sigma,l = 1 / (2 pi f_l)`` (s), ``f_l`` log-spaced over
    ``band = (f_min, f_max)`` Hz (a single mechanism sits at the geometric centre)."""
    band = jnp.asarray(band, jnp.float32)
    if n_mechanisms == 1:
        freqs = jnp.sqrt(band[0] * band[1])[None]
    else:
        freqs = jnp.exp(jnp.linspace(jnp.log(band[0]), jnp.log(band[1]), n_mechanisms))
    return 1.0 / (2.0 * jnp.pi * freqs)


def _fit_sums(tau_sigma):
    """``(sb, sa, Sbb, Sab, Saa)``: sums over the fit frequencies of ``b_l``, ``a_l`` and their
    products (``[L]`` and ``[L, L]``; see the module docstring)."""
    tau_sigma = jnp.asarray(tau_sigma)
    f = 1.0 / (2.0 * jnp.pi * tau_sigma)
    omega = 2.0 * jnp.pi * jnp.exp(jnp.linspace(jnp.log(jnp.min(f)), jnp.log(jnp.max(f)),
                                                N_FIT))
    w = omega[:, None] * tau_sigma[None, :]
    a = w**2 / (1.0 + w**2)
    b = w / (1.0 + w**2)
    return jnp.sum(b, 0), jnp.sum(a, 0), b.T @ b, a.T @ b, a.T @ a


def sls_strength(q, tau_sigma) -> jax.Array:
    """Per-mechanism, per-cell strengths ``tau_l`` (``tau_eps,l = tau_sigma,l (1 + tau_l)``)
    that fit ``Q(omega) ~ q`` over the band in the least-squares sense.

    Args:
      q: quality factor, any shape.
      tau_sigma: ``[L]`` relaxation times (s) from `relaxation_times`.
    Returns:
      ``[L, *q.shape]`` strengths (dimensionless).
    """
    sb, sa, sbb, sab, saa = _fit_sums(tau_sigma)
    y = (1.0 / jnp.asarray(q))[..., None]
    normal = (sbb - y[..., None] * (sab + sab.T) + y[..., None] ** 2 * saa)
    rhs = y * (sb - y * sa)
    return jnp.moveaxis(jnp.linalg.solve(normal, rhs[..., None])[..., 0], -1, 0)


def normalised_modulus(tau, tau_sigma, freq):
    """``M(omega) / M_R`` at ``freq`` (Hz), complex, for strengths ``tau [L, ...]``."""
    z = -2j * jnp.pi * freq * jnp.asarray(tau_sigma)
    z = (z / (1.0 + z)).reshape((-1,) + (1,) * (jnp.ndim(tau) - 1))
    return 1.0 + jnp.sum(jnp.asarray(tau) * z, axis=0)


def relaxed_modulus(vp, tau, tau_sigma, f_ref):
    """``M_R`` (m^2/s^2, unit density) so that ``vp`` is the phase velocity at ``f_ref``."""
    m = normalised_modulus(tau, tau_sigma, f_ref)
    return (jnp.asarray(vp) * jnp.real(m ** -0.5)) ** 2


def unrelaxed_modulus(vp, q, tau_sigma, f_ref):
    """``M_R (1 + sum_l tau_l)``: the infinite-frequency modulus (its root sets the CFL)."""
    tau = sls_strength(q, tau_sigma)
    return relaxed_modulus(vp, tau, tau_sigma, f_ref) * (1.0 + jnp.sum(tau, axis=0))


# ------------------------------------------------------------------------------ kernel


@functools.partial(jax.jit, static_argnames=("spacing", "dt", "order", "pml_width",
                                             "free_surface", "checkpoint_every"))
def _viscoacoustic(models, source_amplitudes, source_locations, receiver_locations, freq,
                   tau_sigma, f_ref, *, spacing, dt, order, pml_width, free_surface,
                   checkpoint_every):
    vp, q = models
    dtype = jnp.result_type(vp, q, jnp.float32)
    grid = make_grid(vp.shape, spacing, dt, order, pml_width, free_surface, pml_velocity(vp),
                     freq, dtype)
    n_shots, _, nt = source_amplitudes.shape
    tau_sigma = tau_sigma.astype(dtype)
    tau = sls_strength(q.astype(dtype), tau_sigma)
    m_r = relaxed_modulus(vp.astype(dtype), tau, tau_sigma, f_ref.astype(dtype)).astype(dtype)
    n_mech = tau_sigma.shape[0]
    m_r = pad_model(m_r, grid.widths)
    mu_dt = per_shot(m_r * (1.0 + pad_model(jnp.sum(tau, axis=0), grid.widths)) * dt,
                     n_shots)  # unrelaxed modulus * dt
    mr_dt = per_shot(m_r * dt, n_shots)
    # [L, S, NZ, NX]
    tau = jnp.stack([per_shot(pad_model(t, grid.widths), n_shots) for t in tau])
    # trapezoidal memory update r+ = c1 r - c2 tau e
    half = dt / (2.0 * tau_sigma)
    c1 = ((1.0 - half) / (1.0 + half))[:, None, None, None]
    c2 = (2.0 * half / (1.0 + half))[:, None, None, None]
    src, rec = source_receiver_indices(source_locations, receiver_locations, grid)
    inputs = source_term(source_amplitudes, dt, grid, dtype)

    def step(carry, src_t):
        p, vz, vx, r, mem = carry
        record = p[rec]
        dpdz, dpdx, mem = gradient(p, p, mem, grid)
        vz = vz - dt * dpdz
        vx = vx - dt * dpdx
        dvzdz, dvxdx, mem = divergence(vz, vx, mem, grid)
        e = (dvzdz + dvxdx).at[src].add(-src_t)
        r_new = c1 * r - c2 * tau * e[None]
        p = p - mu_dt * e - mr_dt * (0.5 * jnp.sum(r + r_new, axis=0))
        if free_surface:
            p = p.at[:, 0, :].set(0.0)
        return (p, vz, vx, r_new, mem), record

    field = jnp.zeros((n_shots, *grid.shape), dtype)
    memory = jnp.zeros((n_mech, n_shots, *grid.shape), dtype)
    carry = (field, field, field, memory, zero_memory(n_shots, grid, dtype))
    data = run_time_loop(step, carry, inputs, nt, default_checkpoint_every(nt)
                         if checkpoint_every is None else checkpoint_every)
    return jnp.moveaxis(data, 0, -1)
