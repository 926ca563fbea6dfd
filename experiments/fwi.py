"""Full-waveform inversion (replaces Seistorch's fwi.py and seistorch_dist.py).

    python experiments/fwi.py --config configs/fwi/demo.py --mode forward
    python experiments/fwi.py --config configs/fwi/demo.py --mode inversion \\
        --opt adam --loss vp=l2 --lr vp=25.0 [--config.training.epochs=4] [--resume]

Shots are spread over all visible devices (and hosts, when started under a cluster
launcher: jax.distributed is initialised from the usual environment variables).
"""

from __future__ import annotations

import os
import sys


def _early_device_setup(argv: list[str]) -> None:
    """--num_threads / --use-cuda / --gpuid must act before jax is imported."""
    def value(flag):
        for i, a in enumerate(argv):
            if a == flag and i + 1 < len(argv):
                return argv[i + 1]
            if a.startswith(flag + "="):
                return a.split("=", 1)[1]
        return None
    threads = value("--num_threads")
    if threads == "1":
        # XLA:CPU has no thread-count flag; one thread = no multi-threaded Eigen kernels.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false")
    if "--use-cuda" not in argv:
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    gpuid = value("--gpuid")
    if "--use-cuda" in argv and gpuid is not None:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", gpuid)


def main(argv: list[str] | None = None, *, coding: bool = False) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _early_device_setup(argv)
    from jaxgeo.core.logging import get_logger
    from jaxgeo.fwi import config as fwi_config
    from jaxgeo.fwi import workflow

    prog = "codingfwi.py" if coding else "fwi.py"
    config = fwi_config.parse_args(argv, prog=prog)
    fwi_config.validate(config)
    log = get_logger("jaxgeo.fwi")
    if coding and config.geometry.spread != "fixed":
        config.geometry.spread = "fixed"
        log.info("codingfwi: switched to a fixed receiver spread (required for encoding)")
    if config.mode == "forward":
        workflow.run_forward(config)
    else:
        result = workflow.invert(config, coding=coding)
        log.info("results: %s (final_*.npy, para*F*E*.npy, loss.npy, figures/, logs/)",
                 os.path.abspath(result.save_path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
