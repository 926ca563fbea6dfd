"""jaxgeo.wave: differentiable 2-D acoustic and elastic finite-difference propagators.

Public API::

    ricker(freq, nt, dt, peak_time=None) -> [nt]
    acoustic(vp, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
             rho=None, order=8, pml_width=20, free_surface=False, checkpoint_every=None,
             pml_freq=None, mesh=None) -> [n_shots, n_receivers, nt]
    elastic(vp, vs, rho, dx, dt, source_amplitudes, source_locations, receiver_locations, *,
            source_type="fz", order=4, pml_width=20, free_surface=False,
            checkpoint_every=None, pml_freq=None, mesh=None) -> {"vz", "vx", "p"}
    models: layered, smooth_gradient, gaussian_anomaly, marmousi_like, load_model
"""

from jaxgeo.wave import models
from jaxgeo.wave.acoustic import acoustic
from jaxgeo.wave.elastic import elastic
from jaxgeo.wave.wavelets import load_wavelet, ricker

__all__ = ["acoustic", "elastic", "load_wavelet", "models", "ricker"]
