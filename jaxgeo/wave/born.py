"""Linearised (Born) acoustic modelling and its adjoint.

Born modelling is the derivative of the acoustic propagator with respect to the model:
for a background ``vp`` and a perturbation ``dvp`` the scattered data are
``J dvp = d/de acoustic(vp + e dvp) |_{e=0}``, computed here as one forward-mode pass
(`jax.jvp`) of the same discrete propagator, so it is exact for the discretised
equation and equals the centred finite difference of two forward runs to O(e^2).
`born_adjoint` applies ``J^T`` to data (one reverse-mode pass): that is the imaging
operator of reverse-time migration, and ``J^T (F(vp) - d)`` is the FWI gradient of
``0.5 |F(vp) - d|^2``.

Example (a point scatterer in a homogeneous medium)::

    vp = jnp.full((60, 80), 2000.0)
    dvp = jnp.zeros_like(vp).at[40, 40].set(100.0)
    amps = wave.ricker(15.0, 500, 0.001)[None, None]            # [1, 1, 500]
    src = jnp.array([[[2, 40]]]); rec = jnp.array([[[2, x] for x in range(80)]])
    scattered = wave.born(vp, dvp, 10.0, 0.001, amps, src, rec)  # [1, 80, 500]
    image = wave.born_adjoint(vp, scattered, 10.0, 0.001, amps, src, rec)  # [60, 80]
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgeo.wave.acoustic import acoustic

__all__ = ["born", "born_adjoint", "born_with_background"]


def born_with_background(vp, dvp, dx, dt, source_amplitudes, source_locations,
                         receiver_locations, **kwargs) -> tuple[jax.Array, jax.Array]:
    """Background data ``F(vp)`` and Born data ``J dvp`` from one forward-mode pass.

    Args:
      vp: ``[nz, nx]`` background P velocity (m/s).
      dvp: ``[nz, nx]`` velocity perturbation (m/s).
      dx, dt, source_amplitudes, source_locations, receiver_locations: as in
        `jaxgeo.wave.acoustic` (``[n_shots, n_sources, nt]`` amplitudes, ``(z, x)`` cells).
      **kwargs: any keyword of `jaxgeo.wave.acoustic` (``rho``, ``order``, ``pml_width``,
        ``free_surface``, ``checkpoint_every``, ``pml_freq``, ``mesh``).
    Returns:
      ``(data, scattered)``, both ``[n_shots, n_receivers, nt]`` (pressure).
    """
    if jnp.shape(dvp) != jnp.shape(vp):
        raise ValueError(f"dvp has shape {tuple(jnp.shape(dvp))} but vp has shape "
                         f"{tuple(jnp.shape(vp))}; the perturbation lives on the model grid")
    kwargs.pop("adjoint", None)  # forward mode never uses the reverse-mode loop

    def forward(model):
        return acoustic(model, dx, dt, source_amplitudes, source_locations,
                        receiver_locations, **kwargs)

    vp = jnp.asarray(vp)
    return jax.jvp(forward, (vp,), (jnp.asarray(dvp, vp.dtype),))


def born(vp, dvp, dx, dt, source_amplitudes, source_locations, receiver_locations,
         **kwargs) -> jax.Array:
    """Born (single-scattering) data ``J dvp`` ``[n_shots, n_receivers, nt]``.

    Args: as `born_with_background`. Returns only the scattered data.
    """
    return born_with_background(vp, dvp, dx, dt, source_amplitudes, source_locations,
                                receiver_locations, **kwargs)[1]


def born_adjoint(vp, data, dx, dt, source_amplitudes, source_locations, receiver_locations,
                 **kwargs) -> jax.Array:
    """Adjoint Born operator ``J^T data`` ``[nz, nx]`` (s/m times the data units squared).

    ``<J dvp, data> = <dvp, J^T data>`` holds to rounding (the dot-product test), since the
    transpose is the reverse-mode derivative of the same discrete propagator.

    Args:
      vp: ``[nz, nx]`` background P velocity (m/s).
      data: ``[n_shots, n_receivers, nt]`` data to back-propagate (e.g. residuals).
      dx, dt, source_amplitudes, source_locations, receiver_locations, **kwargs: as in
        `jaxgeo.wave.acoustic` (``adjoint=True`` selects the adjoint-state loop there).
    """
    vp = jnp.asarray(vp)
    expected = (jnp.shape(source_amplitudes)[0], jnp.shape(receiver_locations)[1],
                jnp.shape(source_amplitudes)[-1])
    if tuple(jnp.shape(data)) != expected:
        raise ValueError(f"data has shape {tuple(jnp.shape(data))}; the propagator records "
                         f"{expected} [n_shots, n_receivers, nt]")

    def forward(model):
        return acoustic(model, dx, dt, source_amplitudes, source_locations,
                        receiver_locations, **kwargs)

    out, pullback = jax.vjp(forward, vp)
    return pullback(jnp.asarray(data, out.dtype))[0]
