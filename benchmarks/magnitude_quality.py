"""Magnitude quality of the three regressors on the synthetic dataset (not run in CI).

Trains phasenet_mag, eqtransformer_mag and amag_v2 with ``train_mag`` for the same CPU
budget (``--seconds`` wall-clock seconds per model: as many epochs of ``--steps_per_epoch``
steps as fit), then ``eval_mag`` on the test split: per-trace MAE, RMSE, bias, R^2. Goal:
per-trace MAE <= 0.2 magnitude units for the best model. Appends to benchmarks/RESULTS.md.

    python benchmarks/magnitude_quality.py [--seconds 600] [--traces 3000] [--no-record]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import append_results  # noqa: E402
from jaxgeo.seismic.evaluate import eval_mag  # noqa: E402
from jaxgeo.seismic.experiment import apply_train_defaults, default_config  # noqa: E402
from jaxgeo.seismic.train import train_mag  # noqa: E402

MODELS = ("phasenet_mag", "eqtransformer_mag", "amag_v2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=600.0, help="training budget per model")
    ap.add_argument("--traces", type=int, default=3000)
    ap.add_argument("--steps_per_epoch", type=int, default=20)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            c = default_config()
            c.model_type = model
            apply_train_defaults(c, set())
            c.data.synthetic_traces = args.traces
            c.train.steps_per_epoch = args.steps_per_epoch
            c.train.max_eval_batches = 4
            c.model_path = str(Path(tmp) / model)
            # epochs from a 1-epoch probe: the budget is wall-clock on a shared machine
            c.train.epochs = 1
            t0 = time.perf_counter()
            train_mag(c)
            per_epoch = time.perf_counter() - t0
            c.train.epochs = max(1, int(args.seconds / max(per_epoch, 1e-9)))
            c.train.resume = True
            train_mag(c)
            seconds = time.perf_counter() - t0
            m = eval_mag(c)
            rows.append((model, c.train.epochs, seconds, m))
    table = ["| model | epochs | train s | traces | MAE | RMSE | bias | R² |",
             "|---|---|---|---|---|---|---|---|"]
    for model, epochs, seconds, m in rows:
        table.append(f"| {model} | {epochs} | {seconds:.0f} | {m['n_traces']} | {m['mae']:.3f} "
                     f"| {m['rmse']:.3f} | {m['bias']:+.3f} | {m['r2']:.3f} |")
    best = min(rows, key=lambda r: r[3]["mae"])
    verdict = (f"best per-trace MAE {best[3]['mae']:.3f} ({best[0]}); goal <= 0.2: "
               + ("met" if best[3]["mae"] <= 0.2 else "NOT met"))
    body = "\n".join(table) + "\n\n" + verdict + "\n"
    print(body)
    if not args.no_record:
        append_results("Magnitude quality on synthetic data (jaxgeo.seismic)",
                       f"Machine: 2 CPU cores, shared. Budget {args.seconds:.0f} s of training "
                       f"per model (epochs of {args.steps_per_epoch} steps), {args.traces} "
                       "synthetic traces, per-model default lr / batch / warmup.", body)


if __name__ == "__main__":
    main()
