"""Benchmark (not in CI): acoustic FWI of a downsampled Marmousi from linear_vp.npy.

Reports model RMS error and SSIM vs updates and wall time per update for per-shot
inversion (each update simulates one minibatch of `batchsize` individual shots: the 16
shots are split into 16 // batchsize minibatches, used in turn) and for source-encoded
inversion (codingfwi: one super shot of `batchsize` encoded shots per update), the
speed-up of codingfwi per update at the same number of model updates (goal >= 0.7 x
batchsize: both see `batchsize` shots per update, codingfwi simulates them in one
propagation), and the final errors of both. Writes its section of RESULTS.md.

    .venv/bin/python benchmarks/fwi_marmousi.py [--updates 8] [--batchsize 8]

``--shipped`` instead runs the shipped recipe ``configs/fwi/marmousi_acoustic.py`` unchanged
(87 x 281 cells of 40 m, from linear_vp.npy, data modelled with the same propagator) and
records its curve: relative model error ||v - v_true|| / ||v_true|| and SSIM (Gaussian
window, sigma 1.5 cells) after every epoch against wall time and process CPU time
(``resource.getrusage``: on the shared 2-core machine CPU time / 2 estimates the wall time
of a quiet machine), with the 1-minute load average. Section ``fwi_marmousi: shipped``.

    .venv/bin/python benchmarks/fwi_marmousi.py --shipped

``--vs-deepwave`` runs, in one process on the same observed data (modelled by jaxgeo from
the true model), the shipped recipe with jaxgeo and the same inversion with Deepwave as the
propagator (``benchmarks/_fwi_deepwave.py``: same scaling, band filters, cc loss, Adam,
schedule, minibatches, seabed mask and bounds; torch autograd through Deepwave's C
adjoint). It checks that both start from the same loss on the first update, prints both
error curves, and the headline of issue 17: jaxgeo's wall time to reach Deepwave's final
model error divided by Deepwave's total wall time (goal <= 0.5). ``--quick`` runs bands
3 / 5 Hz x 2 epochs instead (about 5 min). Section ``fwi_marmousi: vs deepwave``.

    .venv/bin/python benchmarks/fwi_marmousi.py --vs-deepwave [--quick]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import _fwi_deepwave as dw  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.fwi import workflow  # noqa: E402
from jaxgeo.fwi.config import default_config, load_with_model_folder  # noqa: E402
from jaxgeo.fwi.metrics import relative_error, ssim  # noqa: E402
from jaxgeo.fwi.setup import build_problem  # noqa: E402
from jaxgeo.fwi.simulate import forward_all, make_mesh  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "marmousi"


def make_config(updates: int, batchsize: int, out: Path, opt: str = "sd", lr: float = 60.0):
    c = default_config()
    c.equation, c.dx, c.dt, c.nt, c.order = "acoustic", 20.0, 0.005, 600, 8
    c.model.source, c.model.downsample = "files", 3            # 58 x 187 cells of 60 m
    c.model.true = {"vp": str(DATA / "true_vp.npy")}
    c.model.init = {"vp": str(DATA / "linear_vp.npy")}
    c.model.seabed = str(DATA / "seabed.npy")
    c.model.bounds.vp = (1500.0, 5500.0)
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 17, 170, 10, 1   # 16 shots
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 17, 170, 1, 1
    c.wavelet.freq, c.wavelet.delay = 4.0, 0.35
    c.boundary.pml_width = 15
    c.grad.cut = True
    c.training.epochs, c.training.step_per_epoch, c.training.num_batches = updates, 1, 1
    c.optim.name, c.optim.lr = opt, {"vp": lr}
    c.encoding.batchsize = batchsize
    c.devices.num_devices = 1
    c.log.tensorboard = c.log.figures = False
    c.save_path, c.data.observed = str(out), str(out / "observed.h5")
    return c


def run(config, problem, observed, coding):
    t0 = time.perf_counter()
    res = workflow.invert(config, coding=coding, observed=observed, problem=problem,
                          write=False, timings=True)
    total = time.perf_counter() - t0
    return res, total


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def shipped_config():
    """``configs/fwi/marmousi_acoustic.py`` with its data paths pointed at ``DATA``."""
    c = load_with_model_folder(ROOT / "configs" / "fwi" / "marmousi_acoustic.py", DATA)
    c.log.tensorboard = c.log.figures = False
    return c


def run_shipped() -> int:
    """The shipped recipe, error and SSIM per epoch vs wall and CPU time (module doc)."""
    config = shipped_config()
    problem = build_problem(config, need_true=True)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    observed = forward_all(problem.true_model, problem.source_amplitudes(),
                           problem.source_locations, problem.receiver_locations,
                           problem.settings, make_mesh(1))
    t_fwd, c_fwd = time.perf_counter() - t0, _cpu_seconds() - c0
    true, init = problem.true_model["vp"], problem.init_model["vp"]
    rows = [("start", -1, relative_error(init, true), ssim(init, true), 0.0, 0.0,
             os.getloadavg()[0])]
    t0, c0 = time.perf_counter(), _cpu_seconds()

    def callback(event, info):
        if event == "epoch":
            m = info["model"]["vp"]
            rows.append((config.multiscale.bands[info["band"]], info["epoch"],
                         relative_error(m, true), ssim(m, true), time.perf_counter() - t0,
                         _cpu_seconds() - c0, os.getloadavg()[0]))

    workflow.invert(config, observed=observed, problem=problem, write=False,
                    callback=callback)
    best = min(rows, key=lambda r: r[2])
    lines = [f"grid {problem.shape} cells of {problem.settings.spacing[1]:g} m, nt "
             f"{problem.nt}, dt {problem.settings.dt:g} s, {problem.n_shots} shots, Ricker "
             f"{config.wavelet.freq:g} Hz; bands {list(config.multiscale.bands)} x "
             f"{config.training.epochs} epochs x {config.training.step_per_epoch} updates "
             f"({config.training.num_batches} minibatches); {config.optim.name} lr "
             f"{dict(config.optim.lr)} m/s, epoch decay {config.optim.epoch_decay}, band "
             f"decay {config.optim.band_decay}; observed data: {t_fwd:.0f} s wall, "
             f"{c_fwd:.0f} s CPU (not counted below). SSIM: Gaussian window sigma 1.5 cells.",
             "",
             "| band (Hz) | epoch | rel. model error | SSIM | wall (s) | CPU (s) | "
             "CPU/2 (s) | load (1 min) |",
             "|---|---|---|---|---|---|---|---|"]
    for band, epoch, err, sim, wall, cpu, load in rows:
        lines.append(f"| {band} | {epoch} | {err:.4f} | {sim:.4f} | {wall:.0f} | {cpu:.0f} | "
                     f"{cpu / 2:.0f} | {load:.2f} |")
    end = rows[-1]
    lines.append(f"\nStart {rows[0][2]:.4f} / {rows[0][3]:.3f} -> end {end[2]:.4f} / "
                 f"{end[3]:.3f} (rel. error / SSIM) in {end[4] / 60:.1f} min wall, "
                 f"{end[5] / 60:.1f} min CPU (quiet-machine estimate {end[5] / 120:.1f} min); "
                 f"best rel. error {best[2]:.4f}. Target (issue 17): <= 0.17 and >= 0.60 "
                 "within 30 min on 2 cores; goal <= 0.13 and >= 0.70.")
    text = "\n".join(lines)
    print(text)
    record("fwi_marmousi: shipped", "fwi_marmousi: shipped config marmousi_acoustic.py",
           "Per-shot inversion with configs/fwi/marmousi_acoustic.py as shipped.", text)
    return 0


def _time_to_reach(rows, target: float) -> float | None:
    """Wall seconds of the first epoch row whose rel. error is <= ``target`` (None: never)."""
    for row in rows[1:]:
        if row[2] <= target:
            return row[4]
    return None


def run_vs_deepwave(quick: bool) -> int:
    """The shipped recipe with jaxgeo and with Deepwave, same data (module doc)."""
    config = shipped_config()
    if quick:
        config.multiscale.bands, config.training.epochs = [3.0, 5.0], 2
    problem = build_problem(config, need_true=True)
    observed = np.asarray(forward_all(problem.true_model, problem.source_amplitudes(),
                                      problem.source_locations, problem.receiver_locations,
                                      problem.settings, make_mesh(1)))
    true, init = problem.true_model["vp"], problem.init_model["vp"]
    bands = list(config.multiscale.bands)
    first = {}
    n_epochs = len(bands) * config.training.epochs

    def with_first_loss(name, curve, rows):
        """``curve`` plus the first update's loss and a progress line per epoch."""
        def callback(event, info):
            if event == "update" and name not in first:
                first[name] = float(info["loss"])
            curve(event, info)
            if event == "epoch":
                done, wall = len(rows) - 1, rows[-1][4]
                print(f"{name}: band {rows[-1][0]} epoch {info['epoch']}: rel. error "
                      f"{rows[-1][2]:.4f}, SSIM {rows[-1][3]:.3f}, {done}/{n_epochs} epochs, "
                      f"{wall:.0f} s, ETA {wall / done * (n_epochs - done):.0f} s",
                      flush=True)
        return callback

    total = {}
    rows_j, curve = dw.epoch_curve(bands, true, init)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    workflow.invert(config, observed=observed, problem=problem, write=False,
                    callback=with_first_loss("jaxgeo", curve, rows_j))
    total["jaxgeo"] = (time.perf_counter() - t0, _cpu_seconds() - c0)
    print(f"jaxgeo: {rows_j[0][2]:.4f} -> {rows_j[-1][2]:.4f} in {total['jaxgeo'][0]:.0f} s")
    rows_d, curve = dw.epoch_curve(bands, true, init)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    out = dw.invert(config, problem, observed,
                    callback=with_first_loss("deepwave", curve, rows_d))
    total["deepwave"] = (time.perf_counter() - t0, _cpu_seconds() - c0)
    print(f"deepwave: {rows_d[0][2]:.4f} -> {rows_d[-1][2]:.4f} in "
          f"{total['deepwave'][0]:.0f} s")

    target = rows_d[-1][2]
    reach = _time_to_reach(rows_j, target)
    ratio = f"{reach / total['deepwave'][0]:.2f}" if reach is not None else "not reached"
    loss_gap = abs(first["jaxgeo"] - first["deepwave"]) / abs(first["deepwave"])
    lines = [f"grid {problem.shape} cells of {problem.settings.spacing[1]:g} m, nt "
             f"{problem.nt}, {problem.n_shots} shots; bands {bands} x "
             f"{config.training.epochs} epochs x {config.training.step_per_epoch} updates of "
             f"{problem.n_shots // config.training.num_batches} shots; Adam lr "
             f"{dict(config.optim.lr)} m/s, cc loss, seabed mask, no preconditioning; "
             f"jaxgeo gradient '{config.gradient}', {len(jax.devices())} JAX device(s); "
             f"Deepwave step_ratio {out['step_ratio']}, torch {torch.get_num_threads()} threads. "
             f"First-update loss: jaxgeo {first['jaxgeo']:.6f}, Deepwave "
             f"{first['deepwave']:.6f} (relative difference {loss_gap:.1e}).",
             "",
             "| band (Hz) | epoch | jaxgeo rel. error | jaxgeo SSIM | jaxgeo wall (s) | "
             "Deepwave rel. error | Deepwave SSIM | Deepwave wall (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for a, b in zip(rows_j, rows_d, strict=True):
        lines.append(f"| {a[0]} | {a[1]} | {a[2]:.4f} | {a[3]:.4f} | {a[4]:.0f} | "
                     f"{b[2]:.4f} | {b[3]:.4f} | {b[4]:.0f} |")
    (wj, cj), (wd, cd) = total["jaxgeo"], total["deepwave"]
    lines.append(f"\nTotal: jaxgeo {wj:.0f} s wall / {cj:.0f} s CPU (incl. compilation), "
                 f"Deepwave {wd:.0f} s wall / {cd:.0f} s CPU; wall ratio {wj / wd:.2f}, CPU "
                 f"ratio {cj / cd:.2f}. Deepwave's final rel. error {target:.4f}; jaxgeo "
                 f"reaches it after {reach if reach is None else round(reach)} s: headline "
                 f"ratio {ratio} (goal <= 0.5, issue 17).")
    text = "\n".join(lines)
    print(text)
    record("fwi_marmousi: vs deepwave" + (" (quick)" if quick else ""),
           "fwi_marmousi: jaxgeo vs Deepwave, same inversion",
           "The shipped per-shot recipe" + (" shortened by --quick" if quick else "")
           + ", jaxgeo and Deepwave as propagators, one process.", text)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=8)
    ap.add_argument("--batchsize", type=int, default=8)
    ap.add_argument("--opt", default="sd", choices=("sd", "cg", "adam", "lbfgs"))
    ap.add_argument("--lr", type=float, default=60.0, help="vp learning rate (m/s)")
    ap.add_argument("--shipped", action="store_true",
                    help="run configs/fwi/marmousi_acoustic.py and record its curve")
    ap.add_argument("--vs-deepwave", action="store_true",
                    help="the shipped recipe with jaxgeo and with Deepwave, same data")
    ap.add_argument("--quick", action="store_true",
                    help="with --vs-deepwave: bands 3 / 5 Hz x 2 epochs only")
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"Marmousi files not found in {DATA}")
        return 1
    if args.shipped:
        return run_shipped()
    if args.vs_deepwave:
        return run_vs_deepwave(args.quick)
    config = make_config(args.updates, args.batchsize, Path("/tmp/jaxgeo_fwi_bench"),
                         args.opt, args.lr)
    problem = build_problem(config, need_true=True)
    observed = forward_all(problem.true_model, problem.source_amplitudes(),
                           problem.source_locations, problem.receiver_locations,
                           problem.settings, make_mesh(1))
    true = problem.true_model["vp"]
    rows = {}
    n_shots = problem.n_shots
    for label, coding in ((f"per-shot ({args.batchsize} shots simulated/update)", False),
                          (f"codingfwi (1 super shot of {args.batchsize})", True)):
        # same number of shots per update: per-shot uses minibatches of `batchsize` shots
        config.training.num_batches = 1 if coding else n_shots // args.batchsize
        res, _ = run(config, problem, observed, coding)
        step_times = np.asarray(res.step_times[1:])   # first update includes compilation
        rows[label] = dict(err=res.model_error, ssim=[ssim(m, true) for m in res.snapshots],
                           t=float(np.median(step_times)), spread=(float(step_times.min()),
                                                                  float(step_times.max())))
    e0 = float(np.sqrt(np.mean((problem.init_model["vp"] - true) ** 2)))
    s0 = ssim(problem.init_model["vp"], true)
    lines = [f"device: {jax.devices()[0].platform} ({len(jax.devices())} visible); grid "
             f"{problem.shape}, 60 m, nt={problem.nt}, order 8, 16 shots, {args.opt} lr "
             f"{args.lr:g} m/s, "
             f"{args.updates} updates; initial RMS {e0:.1f} m/s, SSIM {s0:.3f}",
             "| run | s/update (median, min-max) | final RMS (m/s) | final SSIM | RMS by update |",
             "|---|---|---|---|---|"]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['t']:.2f} ({r['spread'][0]:.2f}-{r['spread'][1]:.2f}) "
                     f"| {r['err'][-1]:.1f} | {r['ssim'][-1]:.3f} | "
                     f"{', '.join(f'{e:.0f}' for e in r['err'])} |")
    (a, ra), (b, rb) = rows.items()
    speedup = ra["t"] / rb["t"]
    lines.append(f"\ncodingfwi speed-up per update: {speedup:.1f}x (goal >= "
                 f"{0.7 * args.batchsize:.1f}x = 0.7 x batchsize); SSIM by update per-shot: "
                 f"{', '.join(f'{s:.3f}' for s in ra['ssim'])}; coded: "
                 f"{', '.join(f'{s:.3f}' for s in rb['ssim'])}")
    text = "\n".join(lines)
    print(text)
    record("fwi_marmousi", "fwi_marmousi: per-shot vs coded inversion",
           f"{args.updates} updates, batch size {args.batchsize}, {args.opt}, lr {args.lr:g}.",
           text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
