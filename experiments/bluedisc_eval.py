"""BlueDisc evaluation (the original ``03_evaluation.py``): score trained runs on a split.

    python experiments/bluedisc_eval.py runs/PN_D runs/PN_D_GAN_Data1.0 --split test \
        --output results/

For each run directory (written by ``experiments/bluedisc.py``): the generator is restored from
the last checkpoint, the split's windows are predicted, peaks (height 0.1, 100 samples apart)
are matched greedily to the labelled P and S picks; printed: a comparison table (effective
detections: |Δt| <= 10 samples and peak >= 0.7; the suppression band: peak 0.4-0.6 with
|Δt| < 0.1 s); written with --output: ``comparison.md`` and one density figure per run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jaxgeo.core.config import ConfigError  # noqa: E402
from jaxgeo.core.files import write_text  # noqa: E402
from jaxgeo.seismic.bluedisc_eval import comparison_table, density_figure  # noqa: E402
from jaxgeo.seismic.bluedisc_run import evaluate_run  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories of experiments/bluedisc.py")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-traces", type=int, default=0, help="0: the whole split")
    parser.add_argument("--output", default="", help="folder for comparison.md and figures")
    args = parser.parse_args(argv)
    try:
        results = {Path(r).name: evaluate_run(r, split=args.split, batch_size=args.batch_size,
                                              max_traces=args.max_traces) for r in args.runs}
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    table = comparison_table(results)
    print(table)
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "comparison.md", table)
        for name, scores in results.items():
            fig = density_figure(scores, name)
            fig.savefig(out / f"{name}_density.png", dpi=80)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
