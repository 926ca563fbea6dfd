"""Forward modelling on jaxgeo.wave and the sharded FWI objective.

Data layout: ``[n_shots, n_components, n_receivers, nt]`` (time last, so every misfit
treats the leading axes as traces). Acoustic data has the single component ``"p"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jaxgeo.wave as wave
from jaxgeo.fwi import filters
from jaxgeo.fwi.setup import SimSettings

Array = jax.Array
AXIS = "shots"


def simulate(model: Mapping[str, Array], amplitudes: Array, src: Array, rec: Array,
             settings: SimSettings) -> Array:
    """Receiver data ``[n_shots, n_comp, n_rec, nt]`` for ``model`` (dict of ``[nz, nx]``)."""
    s = settings
    common = dict(order=s.order, pml_width=s.pml_width, free_surface=s.free_surface,
                  checkpoint_every=s.checkpoint_every)
    if s.equation == "elastic":
        out = wave.elastic(model["vp"], model["vs"], model["rho"], s.spacing, s.dt, amplitudes,
                           src, rec, source_type=s.elastic_source, pml_freq=s.pml_freq,
                           adjoint=s.adjoint, **common)
        return jnp.stack([out[c] for c in s.components], axis=1)
    if s.equation == "viscoacoustic":
        out = wave.viscoacoustic(model["vp"], model["q"], s.spacing, s.dt, amplitudes, src, rec,
                                 q_band=s.q_band, reference_freq=s.reference_freq,
                                 pml_freq=s.pml_freq, **common)
        return out[:, None]
    if s.equation == "vti":
        out = wave.vti(model["vp"], model["epsilon"], model["delta"], s.spacing, s.dt,
                       amplitudes, src, rec, pml_freq=s.pml_freq, **common)
        return out[:, None]
    rho = model["rho"] if s.equation == "acoustic_vd" else None
    out = wave.acoustic(model["vp"], s.spacing, s.dt, amplitudes, src, rec, rho=rho,
                        pml_freq=s.pml_freq, adjoint=s.adjoint, **common)
    return out[:, None]


def make_mesh(num_devices: int = 0) -> Mesh:
    """One-axis ``"shots"`` mesh over the first ``num_devices`` devices (0: all)."""
    from jaxgeo.core.parallel import make_mesh as core_mesh
    return core_mesh(AXIS, num_devices=num_devices or None)


def put_sharded(x: np.ndarray, mesh: Mesh) -> Array:
    """Global array split over ``mesh`` along axis 0 from a host array every process holds."""
    x = np.asarray(x)
    sharding = NamedSharding(mesh, PartitionSpec(AXIS, *([None] * (x.ndim - 1))))
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def pad_batch(indices: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad shot indices to a multiple of the device count; weights 1/n real, 0 padding."""
    n = len(indices)
    extra = (-n) % multiple
    padded = np.concatenate([indices, np.repeat(indices[:1], extra)])
    weights = np.concatenate([np.full(n, 1.0 / n), np.zeros(extra)]).astype(np.float32)
    return padded, weights


def make_objective(settings: SimSettings, loss_fn: Callable[[Array, Array], Array],
                   mesh: Mesh, syn_sos: np.ndarray | None = None
                   ) -> Callable[..., Array]:
    """``objective(params, fixed, amps, src, rec, obs, weights) -> scalar``.

    The weighted sum over shots of ``loss_fn(syn_shot, obs_shot)`` (per shot
    ``[n_comp, n_rec, nt]``); shots are split over ``mesh`` with ``shard_map`` and the
    partial sums added with ``psum``, so any device count gives the same value
    (``check_vma=False``: the propagator's scan carries are device-invariant zeros). Padded
    shots carry weight 0. ``syn_sos``: zero-phase filter applied to the synthetics.
    """
    rep, shard = PartitionSpec(), PartitionSpec(AXIS)

    def local(params, fixed, amps, src, rec, obs, weights):
        model = {**fixed, **params}
        syn = simulate(model, amps, src, rec, settings)
        syn = filters.sosfiltfilt(syn_sos, syn)
        per_shot = jax.vmap(loss_fn)(syn, obs)
        return jax.lax.psum(jnp.sum(per_shot * weights), AXIS)

    return jax.shard_map(local, mesh=mesh, in_specs=(rep, rep, shard, shard, shard, shard,
                                                     shard), out_specs=rep,
                         check_vma=False)


def forward_all(model: Mapping[str, np.ndarray], amplitudes: np.ndarray, src: np.ndarray,
                rec: np.ndarray, settings: SimSettings, mesh: Mesh,
                shots_per_call: int | None = None) -> np.ndarray:
    """Data for all shots ``[n_shots, n_comp, n_rec, nt]`` (host), sharded over ``mesh``."""
    n_dev = mesh.devices.size
    n = src.shape[0]
    per_call = shots_per_call or n
    per_call = int(np.ceil(per_call / n_dev) * n_dev)
    rep = PartitionSpec()

    @jax.jit
    def run(model, amps, s, r):
        f = jax.shard_map(lambda m, a, s_, r_: simulate(m, a, s_, r_, settings), mesh=mesh,
                          in_specs=(rep, PartitionSpec(AXIS), PartitionSpec(AXIS),
                                    PartitionSpec(AXIS)), out_specs=PartitionSpec(AXIS),
                          check_vma=False)
        return f(model, amps, s, r)

    model_dev = jax.device_put({k: jnp.asarray(v) for k, v in model.items()},
                               NamedSharding(mesh, rep))
    out = []
    for start in range(0, n, per_call):
        idx = np.arange(start, min(start + per_call, n))
        idx_p, _ = pad_batch(idx, per_call if len(idx) == per_call else n_dev)
        data = run(model_dev, put_sharded(amplitudes[idx_p], mesh),
                   put_sharded(src[idx_p], mesh), put_sharded(rec[idx_p], mesh))
        from jaxgeo.core.parallel import gather
        out.append(np.asarray(gather(data))[: len(idx)])
    return np.concatenate(out, axis=0)


def source_illumination(model: Mapping[str, np.ndarray], amplitudes: np.ndarray,
                        src: np.ndarray, settings: SimSettings,
                        rows_per_call: int = 8) -> np.ndarray:
    """Source illumination ``E[z, x] = sum_shots sum_t u(z, x, t)^2`` ``[nz, nx]`` (the
    pressure, or vz for elastic, squared), from forward runs in ``model``.

    The wave API records only at receivers, so every grid cell is made a receiver,
    ``rows_per_call`` model rows at a time (one extra forward run per row block and shot
    batch; float64 accumulation on the host).

    Args:
      model: ``{"vp": [nz, nx], ...}``.
      amplitudes: ``[n_shots, n_src, nt]`` source amplitudes.
      src: ``[n_shots, n_src, 2]`` (z, x) source cells.
      settings: the run's :class:`~jaxgeo.fwi.setup.SimSettings`.
      rows_per_call: model rows recorded per forward run (memory ``rows * nx * nt``).
    """
    if np.ndim(model["vp"]) == 3:
        from jaxgeo.fwi.problem3d import source_illumination_3d
        return source_illumination_3d(model, amplitudes, src, settings)
    nz, nx = np.asarray(model["vp"]).shape
    n_shots = src.shape[0]
    run = jax.jit(lambda m, a, s_, r_: simulate(m, a, s_, r_, settings))
    energy = np.zeros((nz, nx), np.float64)
    for z0 in range(0, nz, rows_per_call):
        rows = np.arange(z0, min(z0 + rows_per_call, nz))
        cells = np.stack(np.meshgrid(rows, np.arange(nx), indexing="ij"), -1).reshape(-1, 2)
        rec = np.broadcast_to(cells, (n_shots,) + cells.shape).astype(np.int32)
        data = np.asarray(run(model, amplitudes, src, rec), np.float64)[:, -1]
        energy[rows] = np.sum(data ** 2, axis=(0, 2)).reshape(rows.size, nx)
    return energy
