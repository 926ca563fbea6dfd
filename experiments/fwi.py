"""Full-waveform inversion (replaces Seistorch's fwi.py and seistorch_dist.py).

    python experiments/fwi.py --config configs/fwi/demo.py --mode forward
    python experiments/fwi.py --config configs/fwi/demo.py --mode inversion \\
        --opt adam --loss vp=l2 --lr vp=25.0 [--config.training.epochs=4] [--resume]

A Seistorch project runs unchanged (its config.yml first, or ``--config x.yml``; paths
relative to the .yml; geometry from sources.pkl/receivers.pkl)::

    python experiments/fwi.py config.yml --mode forward --num-batches 4
    python experiments/fwi.py config.yml --opt adam --loss vp=l2 --mode inversion \
        --lr vp=10.0 --save-path ./results --checkpoint ./none --grad-cut

Imaging in the background ``config.model.init`` (Born operator, :mod:`jaxgeo.fwi.migration`)::

    python experiments/fwi.py --config configs/fwi/demo.py --mode rtm
    python experiments/fwi.py --config configs/fwi/demo.py --mode lsrtm \
        --config.migration.iterations=10

Shots are spread over all visible devices (and hosts, when started under a cluster
launcher: jax.distributed is initialised from the usual environment variables, in both
modes).

``--num_threads N`` limits the run to N CPU cores: the process's CPU affinity is cut to N
cores before jax starts, which sizes and pins XLA's CPU thread pool (see
``set_num_threads``). ``--config.dtype=float64`` runs in float64 (jax x64 is enabled for
the run only, inside ``jaxgeo.fwi.workflow``).
"""

from __future__ import annotations

import os
import sys

from jaxgeo.core.allocator import use_tcmalloc  # no jax; must run first

if __name__ == "__main__":
    use_tcmalloc()


def _flag_value(argv: list[str], *flags: str) -> str | None:
    for i, a in enumerate(argv):
        for flag in flags:
            if a == flag and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
    return None


def set_num_threads(n: int) -> int:
    """Limit this process to ``n`` CPU cores (Seistorch's ``--num_threads``); returns the
    number of cores kept.

    XLA:CPU has no thread-count option: its intra-op thread pool is sized from, and its
    threads may only run on, the CPUs in the process's affinity mask. So the mask is cut
    to the first ``n`` allowed CPUs (``os.sched_setaffinity``; capped at the CPUs
    available), which limits every thread started later, XLA's included, to ``n`` cores.
    With ``n == 1`` Eigen's multi-threaded kernels are switched off as well
    (``--xla_cpu_multi_thread_eigen=false``). ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/
    ``MKL_NUM_THREADS`` are set to ``n`` (host numpy/scipy), unless already set. Acts only
    when called before jax starts its CPU backend (this script calls it first thing).
    """
    if n < 1:
        raise ValueError(f"--num_threads {n}: give a number of threads >= 1")
    if not hasattr(os, "sched_setaffinity"):
        print(f"--num_threads {n}: this platform cannot restrict CPU affinity; ignored",
              file=sys.stderr)
        return n
    allowed = sorted(os.sched_getaffinity(0))
    if n > len(allowed):
        print(f"--num_threads {n}: only {len(allowed)} CPU(s) available; using "
              f"{len(allowed)}", file=sys.stderr)
    keep = allowed[:n]
    os.sched_setaffinity(0, keep)
    if len(keep) == 1 and "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false").strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(len(keep)))
    return len(keep)


def _early_device_setup(argv: list[str]) -> int | None:
    """--num_threads / --use-cuda / --gpuid must act before jax is imported. Returns the
    thread count applied (None: not given on the command line)."""
    threads = _flag_value(argv, "--num_threads", "--config.devices.num_threads")
    applied = None
    if threads is not None:
        try:
            n = int(threads)
        except ValueError:
            n = None   # the config parser reports the malformed value
        if n:          # 0: the default (all allowed CPUs)
            applied = set_num_threads(n)
    if "--use-cuda" not in argv:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    gpuid = _flag_value(argv, "--gpuid")
    if "--use-cuda" in argv and gpuid is not None:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", gpuid)
    return applied


def _late_thread_setup(n: int, log) -> None:
    """devices.num_threads set in a config file (not on the command line): apply it if the
    jax CPU backend has not started yet (parsing the config does not start it)."""
    from jax._src import xla_bridge
    if xla_bridge.backends_are_initialized():
        log.warning("config.devices.num_threads = %d comes too late (jax already started); "
                    "pass --num_threads %d on the command line", n, n)
        return
    set_num_threads(n)


def main(argv: list[str] | None = None, *, coding: bool = False) -> int:
    """Run the command line `argv`; a user error is one ``error:`` line and exit code 2."""
    from jaxgeo.core.cli import exit_code_of

    return exit_code_of(lambda: _run(sys.argv[1:] if argv is None else argv, coding))


def _run(argv: list[str], coding: bool) -> int:
    applied = _early_device_setup(argv)
    from jaxgeo.core.logging import get_logger
    from jaxgeo.fwi import config as fwi_config
    from jaxgeo.fwi import workflow

    prog = "codingfwi.py" if coding else "fwi.py"
    config = fwi_config.parse_args(argv, prog=prog)
    fwi_config.validate(config)
    log = get_logger("jaxgeo.fwi")
    if config.devices.num_threads and applied is None:
        _late_thread_setup(int(config.devices.num_threads), log)
    if coding and config.geometry.spread != "fixed":
        config.geometry.spread = "fixed"
        log.info("codingfwi: switched to a fixed receiver spread (required for encoding)")
    if config.mode == "forward":
        workflow.run_forward(config)
    elif config.mode in ("rtm", "lsrtm"):
        workflow.run_migration(config)
    else:
        result = workflow.invert(config, coding=coding)
        log.info("results: %s (final_*.npy, para*F*E*.npy, loss.npy, figures/, logs/)",
                 os.path.abspath(result.save_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
