"""Magnitude quality of the three regressors on the synthetic dataset (not run in CI).

Trains phasenet_mag, eqtransformer_mag and amag_v2 with ``train_mag`` for the same CPU
budget (``--cpu_seconds`` of process CPU time per model, counted over all threads: on a
shared machine wall-clock time would depend on the other jobs), in epochs of
``--steps_per_epoch`` steps, then runs ``eval_mag`` on the whole test split: per-trace MAE,
RMSE, bias, R^2 (the per-trace estimate is the mean prediction after the first pick). Goal:
per-trace MAE <= 0.2 magnitude units for the best model. Records its section of
benchmarks/RESULTS.md.

    python benchmarks/magnitude_quality.py [--cpu_seconds 500] [--traces 3000] \
        [--mag_loss after_pick] [--no-log_amplitude] [--models phasenet_mag,amag_v2] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._results import record  # noqa: E402
from jaxgeo.seismic.evaluate import eval_mag  # noqa: E402
from jaxgeo.seismic.experiment import apply_train_defaults, default_config  # noqa: E402
from jaxgeo.seismic.train import train_mag  # noqa: E402

MODELS = ("phasenet_mag", "eqtransformer_mag", "amag_v2")


def _run(model: str, args, folder: Path) -> tuple[int, float, float, dict]:
    """Train `model` until its CPU budget is spent; returns (epochs, CPU s, wall s, metrics)."""
    c = default_config()
    c.model_type = model
    apply_train_defaults(c, set())
    c.model.log_amplitude = bool(args.log_amplitude)
    c.data.synthetic_traces = int(args.traces)
    c.train.steps_per_epoch = int(args.steps_per_epoch)
    c.train.max_eval_batches = 4
    c.train.mag_loss = str(args.mag_loss)
    c.train.epochs = 10_000  # the budget stops the run (or early stopping, patience 10)
    c.model_path = str(folder / model)
    cpu0, wall0 = time.process_time(), time.perf_counter()

    def budget(epoch: int, record_: dict) -> bool:
        return time.process_time() - cpu0 >= args.cpu_seconds

    _, history = train_mag(c, on_epoch_end=budget)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    c.train.resume = False
    return len(history), cpu, wall, eval_mag(c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu_seconds", type=float, default=500.0,
                    help="training budget per model, process CPU seconds")
    ap.add_argument("--traces", type=int, default=3000)
    ap.add_argument("--steps_per_epoch", type=int, default=20)
    ap.add_argument("--mag_loss", default="after_pick", choices=("all", "after_pick"))
    ap.add_argument("--log_amplitude", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            epochs, cpu, wall, m = _run(model, args, Path(tmp))
            rows.append((model, epochs, cpu, wall, m))
            print(f"{model}: {epochs} epochs, {cpu:.0f} CPU s, {wall:.0f} s, per-trace MAE "
                  f"{m['mae']:.3f} RMSE {m['rmse']:.3f} bias {m['bias']:+.3f} R2 {m['r2']:.3f}"
                  f" ({m['n_traces']} traces); load {os.getloadavg()}", flush=True)
    table = ["| model | epochs | steps | CPU s | wall s | test traces | MAE | RMSE | bias | R² |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for model, epochs, cpu, wall, m in rows:
        table.append(f"| {model} | {epochs} | {epochs * args.steps_per_epoch} | {cpu:.0f} "
                     f"| {wall:.0f} | {m['n_traces']} | {m['mae']:.3f} | {m['rmse']:.3f} "
                     f"| {m['bias']:+.3f} | {m['r2']:.3f} |")
    best = min(rows, key=lambda r: r[4]["mae"])
    verdict = (f"Best per-trace MAE {best[4]['mae']:.3f} ({best[0]}); goal <= 0.2: "
               + ("met." if best[4]["mae"] <= 0.2 else "NOT met."))
    body = "\n".join(table) + "\n\n" + verdict + "\n"
    print(body)
    if not args.no_record:
        load1 = " ".join(f"{x:.2f}" for x in os.getloadavg())
        key, title = "magnitude_quality", "Magnitude quality on synthetic data (jaxgeo.seismic)"
        if not args.log_amplitude:
            key, title = key + ": no log amplitude", title + ", normalised waveforms only"
        record(key, title,
               f"Budget {args.cpu_seconds:.0f} s of process CPU time (all threads) of "
               f"training per model, in epochs of {args.steps_per_epoch} steps; "
               f"{args.traces} synthetic traces (generator v3, seed 0), per-model default "
               f"lr / batch / warmup of the original README, loss `{args.mag_loss}`, "
               f"log-amplitude input channels {'on' if args.log_amplitude else 'off'}. "
               f"A run stops at the budget or by early stopping (dev loss, patience 10), "
               f"whichever comes first. Metrics on the whole test split (onsets-inside "
               f"windows). Load average at "
               f"start {' '.join(f'{x:.2f}' for x in load0)}, at end {load1}.", body)


if __name__ == "__main__":
    main()
