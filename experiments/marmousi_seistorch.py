"""Write the Seistorch-style Marmousi project read by ``configs/fwi/marmousi_acoustic.yml``.

From Seistorch's example files (``true_vp.npy``, ``linear_vp.npy``, ``seabed.npy``; 173 x 561
cells of 20 m) it writes, into ``--out``, the models at 40 m (every 2nd cell, as
``configs/fwi/marmousi_acoustic.py`` reads them) and the geometry of that config as
Seistorch's pickles::

    python experiments/marmousi_seistorch.py --data data/marmousi --out data/marmousi_seistorch
    # -> velocity_model/{true_vp,linear_vp,seabed}.npy, geometry/{sources,receivers}.pkl
    python experiments/fwi.py configs/fwi/marmousi_acoustic.yml --mode forward
    python experiments/fwi.py configs/fwi/marmousi_acoustic.yml --mode inversion \\
        --opt adam --loss vp=cc --grad-cut --step-per-epoch 3 --config.gradient=adjoint

The inversion then runs the same recipe as the ``.py`` config (see its docstring for the
run time and the expected result).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from jaxgeo.core.cli import exit_code_of
from jaxgeo.core.config import ConfigError
from jaxgeo.core.files import atomic_path
from jaxgeo.fwi.config import load_with_model_folder
from jaxgeo.fwi.io import load_model_file
from jaxgeo.fwi.seistorch import write_geometry
from jaxgeo.fwi.setup import build_problem

ROOT = Path(__file__).resolve().parents[1]
FILES = {"true_vp.npy": "true_vp.npy", "linear_vp.npy": "linear_vp.npy",
         "seabed.npy": "seabed.npy"}


def marmousi_config(data: Path):
    """``configs/fwi/marmousi_acoustic.py`` with its model paths pointed at ``data``."""
    return load_with_model_folder(ROOT / "configs" / "fwi" / "marmousi_acoustic.py", data)


def write_project(data: Path, out: Path) -> list[Path]:
    """Downsampled models and Seistorch geometry pickles under ``out``; returns the files.

    Args:
      data: folder with Seistorch's ``true_vp.npy``, ``linear_vp.npy``, ``seabed.npy``.
      out: project folder (``velocity_model/`` and ``geometry/`` are created in it).
    """
    missing = [name for name in FILES if not (data / name).is_file()]
    if missing:
        raise ConfigError(f"{data}: missing {', '.join(missing)} (Seistorch's Marmousi "
                          "example files); give their folder with --data")
    config = marmousi_config(data)
    problem = build_problem(config, need_true=True)
    k = int(config.model.downsample)
    written = []
    for name in FILES:
        model = load_model_file(str(data / name), name, None, k)
        target = out / "velocity_model" / name
        with atomic_path(target) as tmp, tmp.open("wb") as f:
            np.save(f, model.astype(np.float32))
        written.append(target)
    written += write_geometry(out / "geometry", problem.source_locations,
                              problem.receiver_locations)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/marmousi"),
                    help="Seistorch's Marmousi files (20 m)")
    ap.add_argument("--out", type=Path, default=Path("data/marmousi_seistorch"),
                    help="project folder the .yml points at")
    args = ap.parse_args(argv)

    def run() -> int:
        for path in write_project(args.data, args.out):
            print(path)
        return 0

    return exit_code_of(run)


if __name__ == "__main__":
    sys.exit(main())
