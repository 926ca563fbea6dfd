"""Shot-parallel execution: the shot axis is split over the devices of a one-axis mesh.

Each device propagates its own shots with `shard_map` (no communication during the time
loop); models are replicated; the result is a global array in shot order. A shot count
that does not divide the mesh is padded with silent shots, which are dropped again.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec

from jaxgeo.core.parallel import pad_to_multiple


def run_sharded(kernel: Callable, models: tuple, source_amplitudes, source_locations,
                receiver_locations, mesh: Mesh, extra=()):
    """Run ``kernel(models, amps, src, rec, *extra)`` with shots sharded over ``mesh``.

    ``extra`` are replicated arguments (for example the CPML frequency). Returns the
    kernel's output pytree (leading axis n_shots), sharded over the mesh.
    """
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must have one axis (shots), got axes {mesh.axis_names}; "
                         "build it with jaxgeo.core.parallel.make_mesh('shots')")
    axis = mesh.axis_names[0]
    n_dev = mesh.devices.size
    amps = jnp.asarray(source_amplitudes)
    n_shots = amps.shape[0]
    amps, _ = pad_to_multiple(amps, n_dev)
    # padded shots reuse shot 0's (valid) locations and inject zeros
    src, rec = (jnp.asarray(x) for x in (source_locations, receiver_locations))
    extra_shots = amps.shape[0] - n_shots
    if extra_shots:
        src = jnp.concatenate([src, jnp.repeat(src[:1], extra_shots, axis=0)])
        rec = jnp.concatenate([rec, jnp.repeat(rec[:1], extra_shots, axis=0)])
    shots = PartitionSpec(axis)
    mapped = jax.shard_map(
        kernel, mesh=mesh,
        in_specs=(PartitionSpec(), shots, shots, shots) + (PartitionSpec(),) * len(extra),
        out_specs=shots, check_vma=False)
    out = mapped(tuple(models), amps, src, rec, *extra)
    return jax.tree_util.tree_map(lambda y: y[:n_shots], out)
