"""Shot-parallel execution: the shot axis is split over the devices of a one-axis mesh.

Each device propagates its own shots with `shard_map` (no communication during the time
loop); models are replicated; the result is a global array in shot order. A shot count
that does not divide the mesh is padded with silent shots, which are dropped again.

The padding and the `shard_map` run inside one `jax.jit` whose static arguments are the
kernel, its keyword arguments and the mesh, so a second call with the same shapes, options
and mesh reuses the compiled program (outside `jax.jit` too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec


def run_sharded(kernel: Callable, options: dict, models: tuple, source_amplitudes,
                source_locations, receiver_locations, mesh: Mesh, extra=()):
    """Run ``kernel(models, amps, src, rec, *extra, **options)`` with shots sharded over
    ``mesh``.

    Args:
      kernel: the (hashable, module-level) propagator kernel.
      options: its static keyword arguments (hashable values).
      models: tuple of ``[nz, nx]`` models, replicated.
      source_amplitudes, source_locations, receiver_locations: per-shot arrays (leading
        axis n_shots), split over the mesh.
      mesh: one-axis `jax.sharding.Mesh`.
      extra: replicated array arguments (for example the CPML frequency).
    Returns:
      the kernel's output pytree (leading axis n_shots), sharded over the mesh.
    """
    if len(mesh.axis_names) != 1:
        raise ValueError(f"mesh must have one axis (shots), got axes {mesh.axis_names}; "
                         "build it with jaxgeo.core.parallel.make_mesh('shots')")
    return _sharded(tuple(models), jnp.asarray(source_amplitudes),
                    jnp.asarray(source_locations), jnp.asarray(receiver_locations),
                    tuple(extra), kernel=kernel, options=tuple(sorted(options.items())),
                    mesh=mesh)


@functools.partial(jax.jit, static_argnames=("kernel", "options", "mesh"))
def _sharded(models, amps, src, rec, extra, *, kernel, options, mesh):
    axis = mesh.axis_names[0]
    n_dev = mesh.devices.size
    n_shots = amps.shape[0]
    extra_shots = (-n_shots) % n_dev
    if extra_shots:
        # padded shots reuse shot 0's (valid) locations and inject zeros
        amps = jnp.concatenate([amps, jnp.zeros((extra_shots,) + amps.shape[1:], amps.dtype)])
        src = jnp.concatenate([src, jnp.repeat(src[:1], extra_shots, axis=0)])
        rec = jnp.concatenate([rec, jnp.repeat(rec[:1], extra_shots, axis=0)])
    shots = PartitionSpec(axis)
    mapped = jax.shard_map(
        functools.partial(kernel, **dict(options)), mesh=mesh,
        in_specs=(PartitionSpec(), shots, shots, shots) + (PartitionSpec(),) * len(extra),
        out_specs=shots, check_vma=False)
    out = mapped(models, amps, src, rec, *extra)
    return jax.tree_util.tree_map(lambda y: y[:n_shots], out)
