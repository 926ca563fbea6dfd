"""Device meshes, sharding of host batches, multi-host start-up, gathering to host.

Everything parallel in jaxgeo goes through a one-axis `Mesh` (axis name ``"data"`` for
training batches, ``"shots"`` for seismic shots). With one device the same code runs
unchanged: the mesh simply has one entry.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# Environment variables that signal a multi-host job (SLURM, Open MPI, or JAX's own).
_CLUSTER_VARS = ("JAX_COORDINATOR_ADDRESS", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
_initialized = {"done": False}


def maybe_initialize_distributed() -> bool:
    """Call `jax.distributed.initialize()` once when cluster variables are set.

    Returns True when a multi-host runtime was initialised. Single-process runs (no
    cluster variables, or a cluster of one task) do nothing.
    """
    if _initialized["done"]:
        return True
    present = [v for v in _CLUSTER_VARS if os.environ.get(v)]
    if not present:
        return False
    n_tasks = int(os.environ.get("SLURM_NTASKS") or os.environ.get("OMPI_COMM_WORLD_SIZE") or 2)
    if n_tasks <= 1 and "JAX_COORDINATOR_ADDRESS" not in os.environ:
        return False
    jax.distributed.initialize()
    _initialized["done"] = True
    return True


def make_mesh(axis_name: str = "data", devices: Sequence[jax.Device] | None = None,
              num_devices: int | None = None) -> Mesh:
    """A one-axis mesh over `devices` (default: all global devices, or the first `num_devices`)."""
    devs = list(jax.devices() if devices is None else devices)
    if num_devices is not None:
        if not 1 <= num_devices <= len(devs):
            raise ValueError(
                f"num_devices={num_devices} but {len(devs)} device(s) are visible; "
                f"choose 1..{len(devs)}")
        devs = devs[:num_devices]
    return Mesh(np.asarray(devs), (axis_name,))


def batch_sharding(mesh: Mesh, ndim: int = 1) -> NamedSharding:
    """Sharding that splits the leading axis over the mesh and keeps the others whole."""
    axis = mesh.axis_names[0]
    return NamedSharding(mesh, PartitionSpec(axis, *([None] * (ndim - 1))))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device of `mesh`."""
    return NamedSharding(mesh, PartitionSpec())


def check_divisible(n: int, mesh: Mesh, what: str = "batch") -> None:
    """Raise a ValueError naming the fix when `n` does not split evenly over `mesh`."""
    size = mesh.devices.size
    if n % size:
        raise ValueError(
            f"{what} size {n} is not divisible by the {size} devices of the mesh; "
            f"use a multiple of {size} (or pad with `pad_to_multiple`)")


def shard_batch(tree: Any, mesh: Mesh) -> Any:
    """Place a pytree of host arrays on `mesh`, split along the leading axis."""
    def put(x):
        x = np.asarray(x) if not isinstance(x, jax.Array) else x
        check_divisible(x.shape[0], mesh)
        return jax.device_put(x, batch_sharding(mesh, x.ndim))
    return jax.tree_util.tree_map(put, tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a full copy of every leaf of `tree` on every device of `mesh`."""
    return jax.device_put(tree, replicated(mesh))


def pad_to_multiple(x: np.ndarray | jax.Array, multiple: int, axis: int = 0):
    """Pad `x` with zeros along `axis` to a multiple of `multiple`; returns (padded, n_orig)."""
    n = x.shape[axis]
    extra = (-n) % multiple
    if extra == 0:
        return x, n
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, extra)
    lib = jnp if isinstance(x, jax.Array) else np
    return lib.pad(x, widths), n


def gather(tree: Any) -> Any:
    """Bring a (possibly sharded, possibly multi-host) pytree back as numpy arrays on host."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(np.asarray, tree)
