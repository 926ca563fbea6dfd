"""Multi-host start-up: which cluster variables lead to `jax.distributed.initialize`, with what."""

import os

import jax
import pytest
from jax._src.clusters import ClusterEnv

from jaxgeo.core import parallel

_JAX_VARS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID",
             "JAX_COORDINATOR_PORT")


@pytest.fixture
def calls(monkeypatch):
    """A clean environment (no cluster variables), a fresh start-up flag, and a recorder in
    place of `jax.distributed.initialize` (the real one would wait for peers that never come)."""
    for name in list(os.environ):
        if name.startswith(("SLURM_", "OMPI_", "PMIX_")) or name in _JAX_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setitem(parallel._initialized, "done", False)
    recorded = []
    monkeypatch.setattr(jax.distributed, "initialize",
                        lambda *args, **kwargs: recorded.append((args, kwargs)))
    return recorded


def _setenv(monkeypatch, variables: dict) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_no_cluster_variables_does_nothing(calls):
    assert parallel.maybe_initialize_distributed() is False
    assert calls == []


def test_explicit_coordinator_passes_address_count_and_id(calls, monkeypatch):
    _setenv(monkeypatch, {
        "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234",
        "JAX_NUM_PROCESSES": "4",
        "JAX_PROCESS_ID": "3",
    })
    assert parallel.maybe_initialize_distributed() is True
    assert calls == [((), {"coordinator_address": "10.0.0.1:1234", "num_processes": 4,
                           "process_id": 3})]
    # Once only: a second call (e.g. a second workflow in the same process) does not re-init.
    assert parallel.maybe_initialize_distributed() is True
    assert len(calls) == 1


def test_explicit_coordinator_takes_count_and_id_from_the_launcher(calls, monkeypatch):
    _setenv(monkeypatch, {
        "JAX_COORDINATOR_ADDRESS": "head:5000",
        "OMPI_COMM_WORLD_SIZE": "2",  # Open MPI 5: no OMPI_MCA_orte_hnp_uri
        "OMPI_COMM_WORLD_RANK": "1",
    })
    assert parallel.maybe_initialize_distributed() is True
    assert calls == [((), {"coordinator_address": "head:5000", "num_processes": 2,
                           "process_id": 1})]


def test_explicit_coordinator_without_count_says_what_to_set(calls, monkeypatch):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "10.0.0.1:1234")
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES and JAX_PROCESS_ID"):
        parallel.maybe_initialize_distributed()
    assert calls == []


def _set_srun_step(monkeypatch, ntasks):
    _setenv(monkeypatch, {"SLURM_JOB_ID": "4099", "SLURM_STEP_NODELIST": "node[003-004]",
                          "SLURM_NTASKS": str(ntasks), "SLURM_PROCID": "1",
                          "SLURM_LOCALID": "0"})


def test_slurm_step_leaves_detection_to_jax(calls, monkeypatch):
    _set_srun_step(monkeypatch, ntasks=2)
    assert parallel.maybe_initialize_distributed() is True
    assert calls == [((), {})]
    # With no arguments JAX reads the same variables itself; its detector must find this job:
    # first node of the list, port = 65535 - 2**12 + 1 + job_id % 2**12 = 61440 + 3 = 61443.
    address, n, pid, _ = ClusterEnv.auto_detect_unset_distributed_params(
        None, None, None, None, None, None)
    assert (address, n, pid) == ("node003:61443", 2, 1)


@pytest.mark.parametrize("case", ["one task", "sbatch script outside srun"])
def test_single_process_slurm_does_nothing(calls, monkeypatch, case):
    _set_srun_step(monkeypatch, ntasks=1 if case == "one task" else 4)
    if case != "one task":
        monkeypatch.delenv("SLURM_STEP_NODELIST")  # set by srun only
    assert parallel.maybe_initialize_distributed() is False
    assert calls == []


def test_open_mpi_leaves_detection_to_jax(calls, monkeypatch):
    _setenv(monkeypatch, {
        "OMPI_MCA_orte_hnp_uri": "1531576320.0;tcp://10.96.0.1,10.148.0.1:34911",
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_RANK": "0",
        "OMPI_COMM_WORLD_LOCAL_RANK": "0",
    })
    assert parallel.maybe_initialize_distributed() is True
    assert calls == [((), {})]
    # JAX's own Open MPI detector: launcher IP, port 61440 + (1531576320 // 2**12) % 2**12.
    address, n, pid, _ = ClusterEnv.auto_detect_unset_distributed_params(
        None, None, None, None, None, None)
    assert (address, n, pid) == (f"10.96.0.1:{61440 + (1531576320 // 4096) % 4096}", 2, 0)


def test_open_mpi_without_coordinator_says_what_to_set(calls, monkeypatch):
    _setenv(monkeypatch, {
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_RANK": "0",
    })
    with pytest.raises(ValueError, match="JAX_COORDINATOR_ADDRESS"):
        parallel.maybe_initialize_distributed()
    assert calls == []
