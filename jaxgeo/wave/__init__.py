"""jaxgeo.wave: differentiable finite-difference propagators: 2-D and 3-D acoustic, 2-D
elastic, viscoacoustic (constant Q) and pseudo-acoustic VTI; Born modelling.

Public API (pure functions; jit-, grad-, vmap-compatible)::

    ricker(freq, nt, dt, peak_time=None) -> [nt]
    load_wavelet(path, nt=None)
    acoustic(vp, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
             rho=None, order=8, pml_width=20, free_surface=False, checkpoint_every=None,
             pml_freq=None, mesh=None) -> [n_shots, n_receivers, nt]
    elastic(vp, vs, rho, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
            source_type="fz", order=4, pml_width=20, free_surface=False,
            checkpoint_every=None, pml_freq=None, mesh=None) -> {"vz", "vx", "p"}
    viscoacoustic(vp, q, dx, dt, ..., n_mechanisms=3, q_band=None, reference_freq=None,
                  + order, pml_width, free_surface, checkpoint_every, pml_freq, mesh)
        -> [n_shots, n_receivers, nt]             (constant-Q, generalised SLS, staggered)
    vti(vp, epsilon, delta, dx, dt, ..., elliptic_radius=3, + the same keywords)
        -> [n_shots, n_receivers, nt]                    (pseudo-acoustic VTI, staggered)
    born(vp, dvp, dx, dt, ...) -> [n_shots, n_receivers, nt]    (Born data J dvp, jvp)
    born_adjoint(vp, data, dx, dt, ...) -> [nz, nx]               (J^T data, vjp)
    models: layered, smooth_gradient, smoothed, gaussian_anomaly, marmousi_like,
            rho_gardner, vs_from_vp, load_model

Conventions: models ``[nz, nx]`` (m/s, kg/m^3); locations are integer ``(z, x)`` cells
relative to the model (the CPML is added outside); amplitudes ``[n_shots, n_sources, nt]``;
sample ``i`` of sources and data is time ``i * dt``. The acoustic source approximates
``s(t) delta(x - x_s)`` so a homogeneous trace is ``G * s`` with
``lap G - c^-2 G_tt = -delta delta`` (see `jaxgeo.wave.acoustic` and `jaxgeo.wave.elastic`
for the elastic sources and staggered-grid positions).

Multiple devices: pass ``mesh=jaxgeo.core.parallel.make_mesh("shots")`` (any one-axis
mesh): the shot axis is split over its devices with `shard_map` (models replicated, no
communication in the time loop) and the data come back as one array in shot order; the
shot count is padded with silent shots when it does not divide the mesh. Gradients flow
through the sharded path (per-device model gradients are summed). On a CPU host, one
virtual device per core (``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` set
before jax is imported) runs the shots of each device side by side; XLA also splits large
loops over its CPU thread pool, so one device already uses several cores (on the 2-core
benchmark survey: 0.22 s with 2 devices, 0.29 s with one).
"""

from jaxgeo.wave import models
from jaxgeo.wave.acoustic import acoustic
from jaxgeo.wave.born import born, born_adjoint, born_with_background
from jaxgeo.wave.elastic import elastic
from jaxgeo.wave.viscoacoustic import viscoacoustic
from jaxgeo.wave.vti import vti
from jaxgeo.wave.wavelets import load_wavelet, ricker

__all__ = ["acoustic", "born", "born_adjoint", "born_with_background", "elastic", "load_wavelet",
           "models", "ricker", "viscoacoustic", "vti"]
