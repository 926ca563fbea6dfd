"""Device meshes, sharding of host batches, multi-host start-up, gathering to host.

Everything parallel in jaxgeo goes through a one-axis `Mesh` (axis name ``"data"`` for
training batches, ``"shots"`` for seismic shots). With one device the same code runs
unchanged: the mesh simply has one entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "distributed_init_args",
    "maybe_initialize_distributed",
    "make_mesh",
    "batch_sharding",
    "replicated",
    "check_divisible",
    "shard_batch",
    "replicate",
    "pad_to_multiple",
    "gather",
]

_initialized = {"done": False}

# The srun job-step variables JAX's own SLURM detection reads (jax._src.clusters.SlurmCluster).
_SLURM_STEP_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
                    "SLURM_LOCALID")


def _int_env(env: Mapping[str, str], *names: str) -> int | None:
    """The first of `names` that is set in `env`, as an int (None when none is set)."""
    for name in names:
        if env.get(name):
            try:
                return int(env[name])
            except ValueError:
                raise ValueError(f"environment variable {name}={env[name]!r} is not an "
                                 f"integer") from None
    return None


def distributed_init_args(env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The keyword arguments for `jax.distributed.initialize`, or None for a one-process run.

    Recognised launchers, checked in this order:

    * **explicit**: ``JAX_COORDINATOR_ADDRESS=host:port`` with ``JAX_NUM_PROCESSES`` and
      ``JAX_PROCESS_ID`` (the count and id may instead come from ``SLURM_NTASKS`` /
      ``SLURM_PROCID`` or ``OMPI_COMM_WORLD_SIZE`` / ``OMPI_COMM_WORLD_RANK``) ->
      ``coordinator_address``, ``num_processes`` and ``process_id`` are passed explicitly;
    * **SLURM** job step (``srun``: ``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``, ``SLURM_NTASKS``
      > 1, ``SLURM_PROCID``, ``SLURM_LOCALID``) -> ``{}``: JAX derives everything itself;
    * **Open MPI** ``mpirun`` (``OMPI_COMM_WORLD_SIZE`` > 1 and ``OMPI_MCA_orte_hnp_uri``)
      -> ``{}``, likewise.

    A process count of 1, or no such variables (including a plain ``sbatch`` script outside
    ``srun``), means one process: None. An Open MPI job JAX cannot locate the coordinator of
    (Open MPI 5 sets no ``OMPI_MCA_orte_hnp_uri``), or a coordinator address without a process
    count or id, raises a ValueError saying which variables to set.
    """
    env = os.environ if env is None else env
    coordinator = env.get("JAX_COORDINATOR_ADDRESS")
    if coordinator:
        n = _int_env(env, "JAX_NUM_PROCESSES", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")
        pid = _int_env(env, "JAX_PROCESS_ID", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK")
        if n is None or pid is None:
            raise ValueError(
                f"JAX_COORDINATOR_ADDRESS={coordinator} is set but the number of processes "
                f"or this process's id is not; set JAX_NUM_PROCESSES and JAX_PROCESS_ID "
                f"(or launch with srun / mpirun)")
        if n <= 1:
            return None
        return {"coordinator_address": coordinator, "num_processes": n, "process_id": pid}
    if all(env.get(v) for v in _SLURM_STEP_VARS):
        return {} if _int_env(env, "SLURM_NTASKS") > 1 else None
    world = _int_env(env, "OMPI_COMM_WORLD_SIZE")
    if world is not None and world > 1:
        if not env.get("OMPI_MCA_orte_hnp_uri"):
            raise ValueError(
                f"Open MPI job of {world} processes, but JAX cannot find its coordinator "
                f"(no OMPI_MCA_orte_hnp_uri, as with Open MPI 5); set "
                f"JAX_COORDINATOR_ADDRESS=<host of rank 0>:<free port>")
        return {}
    return None


def maybe_initialize_distributed() -> bool:
    """Call `jax.distributed.initialize()` once when cluster variables are set.

    The variables and the arguments passed are those of `distributed_init_args`. Returns True
    when a multi-process runtime was (or already had been) initialised; single-process runs
    do nothing and return False.
    """
    if _initialized["done"]:
        return True
    kwargs = distributed_init_args()
    if kwargs is None:
        return False
    jax.distributed.initialize(**kwargs)
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
        from jax.experimental import multihost_utils  # local: multi-host runs only
        tree = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree_util.tree_map(np.asarray, tree)
