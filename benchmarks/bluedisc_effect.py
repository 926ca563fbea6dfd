"""BlueDisc's effect on ambiguous S onsets: data-only vs hybrid PhaseNet (not run in CI).

Issue 15: on a synthetic data set whose S onsets are ambiguous (``SyntheticConfig(ambiguous_s=
True)``: S emergent on a high-amplitude P coda, S - P from the travel times, so growing with
distance), train the generator data-only (BCE alone, no discriminator) and hybrid (BCE weight
``data_weight`` x 4000 plus the adversarial term) with the same seed, batches and number of
steps, through :func:`jaxgeo.seismic.bluedisc_run.train_bluedisc` (the engine's loop), then
score the last checkpoints on the held-out test split with
:func:`jaxgeo.seismic.bluedisc_run.evaluate_run`: effective P and S detections (|Δt| <= 10
samples, peak >= 0.7) and the suppression-band fraction (peak 0.4-0.6, |Δt| < 0.1 s). The
paper's direction: more effective S detections with the hybrid (it reports +64 %). Replaces the
``bluedisc_effect`` section of benchmarks/RESULTS.md.

    python benchmarks/bluedisc_effect.py [--steps 300] [--batch 16] [--traces 600]
        [--data-weight 1.0] [--run-dir DIR] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.config import load_config  # noqa: E402
from jaxgeo.seismic.bluedisc_eval import comparison_table  # noqa: E402
from jaxgeo.seismic.bluedisc_run import evaluate_run, train_bluedisc  # noqa: E402
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset  # noqa: E402

DEFAULT_CONFIG = ROOT / "configs" / "seismic" / "bluedisc.py"


def _cpu_seconds() -> float:
    """CPU time (user + system) of this process and its finished children, in s."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _config(args: argparse.Namespace, dataset: Path, workdir: Path,
            data_weight: float | None) -> ml_collections.ConfigDict:
    """The shipped BlueDisc config with this benchmark's sizes (the same for both runs)."""
    c = load_config(DEFAULT_CONFIG)
    c.label = "D"
    c.dataset = str(dataset)
    c.data_weight = data_weight
    c.batch_size = args.batch
    c.max_steps = args.steps
    c.seed = args.seed
    c.workdir = str(workdir)
    c.checkpoint_every = args.steps  # the last state only
    c.eval_every = max(args.steps // 5, 1)
    c.log_every = 0
    c.device = "cpu"
    c.pipeline = "batched"
    return c


def _phase_cells(scores) -> str:
    return " | ".join(f"{scores[ph].effective}/{scores[ph].labels} "
                      f"({100 * scores[ph].effective_fraction:.1f} %)" for ph in ("P", "S"))


def _median_s_peak(scores) -> float:
    """Median peak height of the matched picks within 0.1 s (10 samples at 100 Hz)."""
    near = np.abs(scores.dts) < 10 if len(scores.dts) else np.zeros(0, bool)
    return float(np.median(scores.heights[near])) if near.any() else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=600, help="synthetic traces (all splits)")
    ap.add_argument("--steps", type=int, default=300, help="training steps of each run")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--data-weight", type=float, default=1.0,
                    help="hybrid's data weight (lambda = 4000 x this)")
    ap.add_argument("--seed", type=int, default=42, help="seed of both runs (init, batches)")
    ap.add_argument("--run-dir", default="", help="keep the data set and runs here")
    ap.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args()
    for name in ("traces", "steps", "batch"):
        if getattr(args, name) < 1:
            print(f"error: --{name} must be >= 1", file=sys.stderr)
            raise SystemExit(2)
    if args.data_weight <= 0:
        print("error: --data-weight must be > 0 (the hybrid; 0 would be pure GAN)",
              file=sys.stderr)
        raise SystemExit(2)
    jax.config.update("jax_platforms", "cpu")
    root = Path(args.run_dir or tempfile.mkdtemp(prefix="bluedisc_effect_"))
    root.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    print(f"run directory: {root}; {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.2f}' for x in load0)}", flush=True)

    t0 = time.perf_counter()
    syn = SyntheticConfig(n_traces=args.traces, seed=15, ambiguous_s=True,
                          split_fractions=(0.6, 0.05, 0.35))
    data = write_synthetic_dataset(root / "ambiguous", syn, overwrite=True)
    print(f"data set: {args.traces} traces, ambiguous S, {time.perf_counter() - t0:.0f} s",
          flush=True)

    runs, timing = {}, {}
    for name, weight in (("data-only", None), (f"hybrid (data weight {args.data_weight:g})",
                                                 args.data_weight)):
        workdir = root / ("data_only" if weight is None else "hybrid")
        print(f"training {name}: {args.steps} steps, batch {args.batch}", flush=True)
        w0, c0 = time.perf_counter(), _cpu_seconds()
        _, history = train_bluedisc(_config(args, data, workdir, weight))
        wall, cpu = time.perf_counter() - w0, _cpu_seconds() - c0
        w1 = time.perf_counter()
        runs[name] = evaluate_run(workdir, split="test", batch_size=32)
        timing[name] = (wall, cpu, time.perf_counter() - w1,
                        float(np.mean(history["g_data_loss"][-20:])))
        print(f"  {name}: training {wall:.0f} s wall / {cpu:.0f} s CPU, evaluation "
              f"{timing[name][2]:.0f} s; g_data_loss (mean of the last 20 steps) "
              f"{timing[name][3]:.4f}; effective P, S: {_phase_cells(runs[name])}", flush=True)

    (d_name, d_scores), (h_name, h_scores) = runs.items()
    lines = ["| run | steps | train wall / CPU (s) | data BCE, last 20 steps | P effective | "
             "S effective | P band % | S band % |", "|---|---|---|---|---|---|---|---|"]
    for name, scores in runs.items():
        wall, cpu, _, bce = timing[name]
        lines.append(f"| {name} | {args.steps} | {wall:.0f} / {cpu:.0f} | {bce:.4f} | "
                     f"{_phase_cells(scores)} | {100 * scores['P'].band_fraction:.1f} | "
                     f"{100 * scores['S'].band_fraction:.1f} |")
    table = "\n".join(lines)
    ratios = {}
    for ph in ("P", "S"):
        d, h = d_scores[ph].effective, h_scores[ph].effective
        ratios[ph] = h / d if d else float("inf") if h else float("nan")
    d_s, h_s = d_scores["S"].effective, h_scores["S"].effective
    if d_s:
        s_text = f"= {ratios['S']:.2f} ({100 * (ratios['S'] - 1):+.0f} %)"
    else:
        s_text = "(ratio undefined: no effective S detection data-only)"
    if ratios["S"] > 1:
        direction = "The paper's direction holds in this run."
    elif d_s == h_s == 0:
        direction = ("No effective S detection in either run: the paper's effect on the "
                     "count is not shown by this run.")
    else:
        direction = "The paper's direction does NOT hold in this run."
    medians = ", ".join(
        f"{name} {_median_s_peak(scores['S']):.2f}" for name, scores in runs.items())
    verdict = (f"Effective S detections hybrid / data-only = {h_s} / {d_s} {s_text}; the paper "
               f"reports +64 %. Effective P: {h_scores['P'].effective} / "
               f"{d_scores['P'].effective} = {ratios['P']:.2f}. Suppression band (S): "
               f"{100 * d_scores['S'].band_fraction:.1f} % data-only, "
               f"{100 * h_scores['S'].band_fraction:.1f} % hybrid. Median S peak of the "
               f"matched picks within 0.1 s: {medians}. {direction}")
    load1 = os.getloadavg()
    print()
    print(table)
    print()
    print(comparison_table({d_name: d_scores, h_name: h_scores}))
    print(verdict)
    if not args.no_record:
        total_wall = sum(t[0] + t[2] for t in timing.values())
        total_cpu = sum(t[1] for t in timing.values())
        record("bluedisc_effect", "BlueDisc: data-only vs hybrid on ambiguous S onsets",
               f"Synthetic data set `SyntheticConfig(n_traces={args.traces}, seed=15, "
               f"ambiguous_s=True, split_fractions=(0.6, 0.05, 0.35))` (S emergent on a "
               f"high-amplitude P coda; S - P from the travel times); PhaseNet generator with "
               f"channels P, S, D (tapered detection), `train_bluedisc` with the shipped "
               f"config except batch {args.batch}, {args.steps} steps for each run, seed "
               f"{args.seed} (same initial generator and batches), Adam lr 1e-3 (b1 0); "
               f"hybrid: data weight {args.data_weight:g} (lambda = "
               f"{4000 * args.data_weight:g}). Scored on the test split "
               f"({d_scores['S'].labels} S labels) with `evaluate_run`. Both runs: "
               f"{total_wall:.0f} s wall (training + evaluation), {total_cpu:.0f} s CPU "
               f"(training). Load average (1, 5, 15 min) at start "
               f"{', '.join(f'{x:.2f}' for x in load0)}, at end "
               f"{', '.join(f'{x:.2f}' for x in load1)}.",
               f"{table}\n\n{verdict}")


if __name__ == "__main__":
    main()
