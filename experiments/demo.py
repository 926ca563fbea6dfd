"""`make demo`: FWI forward modelling + a two-band inversion with configs/fwi/demo.py.

Builds a small procedural model (gradient background with a Gaussian low-velocity
anomaly), models observed data, inverts it from the smooth background, and prints where
the results and PNG figures are. Runs in well under 3 minutes on 2 CPU cores.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, str(ROOT / "experiments"))
from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()


def main() -> int:
    os.chdir(ROOT)
    from fwi import main as fwi_main

    config = str(ROOT / "configs" / "fwi" / "demo.py")
    start = time.time()
    fwi_main(["--config", config, "--mode", "forward"])
    fwi_main(["--config", config, "--mode", "inversion"])
    out = ROOT / "demo_output" / "fwi"
    pngs = sorted((out / "figures").glob("*.png"))
    print(f"\nFWI demo finished in {time.time() - start:.0f} s")
    print(f"results (models, gradients, loss, config, checkpoints, tensorboard logs): {out}")
    print("pictures:")
    for p in pngs:
        print(f"  {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
