"""Evaluate a trained PhysAE stage on validation spectra (noise_val): network only, after the
cascade refiners, network + Gauss-Newton, and Gauss-Newton alone from the range centres.

    python experiments/evaluate_physae.py --checkpoint runs/physae/stage_B2/best \
        [--val_samples 2000] [--gn_steps 10] [--batch_size 256] [--output DIR] [--lines PATH]

Prints the median / p90 error table; writes ``summary.md``, ``metrics.json``,
``errors_hist.png`` and ``pred_vs_true.png`` (all atomically) into ``--output`` (default:
``<checkpoint>/../eval``). ``--lines PATH`` replaces the run's line list (HITRAN .par/.data
or PhysAE YAML covering the window); a run on the synthetic list says so in every output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()

from jaxgeo.core.cli import exit_code_of  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--checkpoint", required=True,
                   help="a stage's checkpoint folder (out_dir/stage_<S>/best or .../last)")
    p.add_argument("--val_samples", type=int, default=0, help="0: the run's val_samples")
    p.add_argument("--gn_steps", type=int, default=10, help="Levenberg-Marquardt iterations")
    p.add_argument("--batch_size", type=int, default=256, help="spectra per compiled call")
    p.add_argument("--output", default="", help="results folder (default <checkpoint>/../eval)")
    p.add_argument("--seed", type=int, default=None,
                   help="validation seed (default: the run's seed + 1, its own validation set)")
    p.add_argument("--lines", default="",
                   help="line list (HITRAN .par/.data or PhysAE YAML) instead of the run's")
    return p


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from jaxgeo.physae.evaluate import evaluate_checkpoint  # after flags: jax starts here

    evaluate_checkpoint(args.checkpoint, val_samples=args.val_samples or None,
                        gn_steps=args.gn_steps, batch_size=args.batch_size,
                        output=args.output, seed=args.seed, lines=args.lines)
    return 0


def main(argv: list[str]) -> int:
    """Run the command line; a user error is one ``error:`` line and exit code 2."""
    return exit_code_of(lambda: _run(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
