"""PhaseNet pick quality on the synthetic SeisBench-format dataset (not run in CI).

Trains jaxgeo's PhaseNet with ``train_phase`` on the synthetic train split and evaluates on the
test split: task 1 ROC-AUC, task 2 MCC, task 3 residuals and pick precision/recall/F1 within
0.1 s. Goal: P F1 >= 0.95, S F1 >= 0.85. Appends a section to benchmarks/RESULTS.md.

    python benchmarks/phasenet_quality.py [--steps 900] [--lr 3e-3] [--filter_factor 2]
        [--sigma 10] [--run_dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.seismic.data import load_dataset  # noqa: E402
from jaxgeo.seismic.evaluate import evaluate, load_trained  # noqa: E402
from jaxgeo.seismic.experiment import default_config  # noqa: E402
from jaxgeo.seismic.registry import build_model  # noqa: E402
from jaxgeo.seismic.train import init_variables, train_phase  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--filter_factor", type=int, default=2)
    # 10 samples (0.1 s), the label width of SeisBench's pick benchmark for PhaseNet; the
    # 0.2 s labels of earlier runs gave the same F1 but a wider P residual spread.
    ap.add_argument("--sigma", type=float, default=10.0)
    ap.add_argument("--model_path", default="",
                    help="evaluate this finished run (written by this script) without training")
    ap.add_argument("--run_dir", default="",
                    help="train into this directory and keep it (default: a temporary one)")
    ap.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = ap.parse_args()

    run_dir = Path(args.model_path or args.run_dir
                   or tempfile.mkdtemp(prefix="phasenet_quality_"))
    print(f"run directory: {run_dir}")
    c = default_config()
    c.model_path = str(run_dir)
    c.data.synthetic_traces = args.traces
    c.data.cache_dir = str(Path(tempfile.gettempdir()) / "jaxgeo_cache")
    c.model.filter_factor = args.filter_factor
    c.data.sigma = args.sigma
    c.train.batch_size = args.batch
    c.train.lr = args.lr
    c.train.epochs = args.epochs
    c.train.steps_per_epoch = args.steps // args.epochs
    c.train.lr_decay_steps = args.steps
    c.train.max_eval_batches = 4
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}  ({os.cpu_count()} cores)")
    t0 = time.perf_counter()
    dataset = load_dataset("synthetic", synthetic_traces=args.traces, seed=0,
                           cache_dir=c.data.cache_dir)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    if args.model_path:
        history = json.loads((run_dir / "history.json").read_text())["epochs"]
        t_train = sum(h["seconds"] for h in history)
    else:
        _, history = train_phase(c, dataset)
        t_train = time.perf_counter() - t0

    module, variables = load_trained(c)
    rows = []
    for threshold in (0.3, 0.5):
        c.eval.threshold = threshold
        metrics, _ = evaluate(module, variables, dataset, c, "test")
        rows.append(("trained", threshold, metrics))
    c.eval.threshold = 0.3
    # For comparison with the earlier sections: the training windows, where onsets may sit on
    # (or just outside) the window border.
    c.eval.window = "around_picks"
    border, _ = evaluate(module, variables, dataset, c, "test")
    rows.append(("trained", 0.3, border))
    c.eval.window = "onsets_inside"
    untrained, _ = evaluate(build_model(c), init_variables(build_model(c), 0), dataset, c, "test")
    rows.append(("untrained", 0.3, untrained))

    header = ("| model | test windows | threshold | task1 AUC | task2 MCC | "
              "P res mean/RMS/MAE (s) | S res mean/RMS/MAE (s) | P prec/rec/F1 | S prec/rec/F1 |")
    lines = [header, "|" + "---|" * 9]
    for name, thr, m in rows:
        p3, s3, pp, sp = m["task3_P"], m["task3_S"], m["picks_P"], m["picks_S"]
        lines.append(
            f"| {name} | {m['window']} | {thr} | {m['task1_auc']:.3f} | {m['task2_mcc']:.3f} | "
            f"{p3['mean']:+.3f}/{p3['rms']:.3f}/{p3['mae']:.3f} | "
            f"{s3['mean']:+.3f}/{s3['rms']:.3f}/{s3['mae']:.3f} | "
            f"{pp['precision']:.3f}/{pp['recall']:.3f}/{pp['f1']:.3f} | "
            f"{sp['precision']:.3f}/{sp['recall']:.3f}/{sp['f1']:.3f} |")
    table = "\n".join(lines)
    best = rows[0][2]
    verdict = (f"P F1 {best['picks_P']['f1']:.3f} (goal >= 0.95), "
               f"S F1 {best['picks_S']['f1']:.3f} (goal >= 0.85) at threshold 0.3, "
               f"tolerance 0.1 s, picks merged within {best['min_pick_distance_s']} s, "
               f"{best['n_windows']} test windows (one per test trace, every onset >= "
               f"{c.eval.window_margin_s} s inside its window as in SeisBench's pick benchmark)")
    print(table)
    print(verdict)
    print(f"data {t_data:.0f} s, training {t_train:.0f} s, history: "
          + json.dumps([(h['epoch'], round(h['train_loss'], 4), round(h['dev_loss'], 4))
                        for h in history]))
    if not args.no_record:
        record("phasenet_quality", "PhaseNet pick quality on synthetic data (jaxgeo.seismic)",
               f"PhaseNet filter_factor {args.filter_factor}, label sigma {args.sigma} samples. "
               f"Synthetic dataset {args.traces} traces (seed 0), {args.steps} Adam steps, batch "
               f"{args.batch}, lr {args.lr} cosine-decayed; training took {t_train:.0f} s.",
               f"{table}\n\n{verdict}")


if __name__ == "__main__":
    main()
