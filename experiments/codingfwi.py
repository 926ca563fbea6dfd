"""Source-encoded FWI (replaces Seistorch's codingfwi.py).

    python experiments/codingfwi.py --config configs/fwi/marmousi_encoded.py --batchsize 8
    python experiments/codingfwi.py forward.yml --opt adam --loss vp=l2 --mode inversion \
        --batchsize 20 --lr vp=10.0 --save-path ./results --checkpoint ./none --grad-cut

Each update fires ``--batchsize`` randomly chosen shots together, each with a random
polarity and a random delay in [0, 0.2·nt) samples (a fresh code every update), against
the equally encoded observed super gather. Needs a fixed receiver spread.

Takes every flag of ``fwi.py`` (same ``main``): ``--num_threads N`` limits the run to N
CPU cores (process affinity set before jax starts), ``--config.dtype=float64`` runs in
float64.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()

from fwi import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(coding=True))
