"""Time the 3-D acoustic forward of jaxgeo.wave against Deepwave's 3-D scalar propagator.

Survey (issue 19): a ``N x N x N`` model (default 60^3, dx = 10 m) + a 10-cell CPML on every
face, 1 shot at the centre of the top quarter, 64 receivers on a plane, ``nt`` = 300
(dt = 1 ms), 15 Hz Ricker, float32, spatial order 4 (Deepwave's default) and 8, on two
models: homogeneous 2000 m/s and a random smooth 1500-3500 m/s model (Deepwave's time
depends on the model on this machine). The call timed is the obvious one: ``wave.acoustic``
with the model as ``[nz, ny, nx]`` outside ``jax.jit``, one device, no XLA_FLAGS (a plain
session), after one warm-up call; Deepwave is ``deepwave.scalar`` with the same settings.
Times are the median of ``--repeats`` runs (spread min-max). The ratio quoted is the worse
of the two models.

Usage: python benchmarks/wave3d_vs_deepwave.py [--n 60] [--nt 300] [--repeats 3] [--no-append]
"""

from __future__ import annotations

import argparse
import time

import jax.numpy as jnp
import numpy as np
import torch
from _results import record
from scipy.ndimage import gaussian_filter

import jaxgeo.wave as wave

DX, DT, FREQ, PML = 10.0, 1e-3, 15.0, 10
CFL_NOTE = ("Deepwave's default CFL safety factor halves its internal time step when "
            "max(vp) = 3500 m/s here (`cfl_condition_n` gives 2 inner steps per dt), so on "
            "the random model it runs twice our steps; the homogeneous rows are "
            "step-for-step.")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=60, help="cells per axis")
    p.add_argument("--nt", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    return p.parse_args()


def models(n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    smooth = gaussian_filter(rng.standard_normal((n, n, n)), 6.0)
    smooth = 1500.0 + 2000.0 * (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return {"homogeneous": np.full((n, n, n), 2000.0, np.float32),
            "random smooth": smooth.astype(np.float32)}


def geometry(n: int, nt: int):
    amps = np.asarray(wave.ricker(FREQ, nt, DT), np.float32)[None, None]
    src = np.array([[[n // 4, n // 2, n // 2]]])
    ys, xs = np.meshgrid(np.linspace(2, n - 3, 8).astype(int),
                         np.linspace(2, n - 3, 8).astype(int), indexing="ij")
    rec = np.stack([np.full(ys.size, 2), ys.ravel(), xs.ravel()], -1)[None]
    return amps, src, rec


def timed(run, repeats: int) -> tuple[float, float, float]:
    run()  # warm-up (compilation for jaxgeo)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), min(times), max(times)


def main() -> None:
    import deepwave

    args = parse_args()
    amps, src, rec = geometry(args.n, args.nt)
    rows, worst = [], {}
    a_t, s_t, r_t = (torch.tensor(x) for x in (amps, src, rec))
    for name, vp in models(args.n).items():
        for order in (4, 8):
            def ours(vp=vp, order=order):
                return np.asarray(wave.acoustic(jnp.asarray(vp), DX, DT, amps, src, rec,
                                                order=order, pml_width=PML))

            v_t = torch.tensor(vp)

            def theirs(v_t=v_t, order=order):
                return deepwave.scalar(v_t, DX, DT, source_amplitudes=a_t,
                                       source_locations=s_t, receiver_locations=r_t,
                                       accuracy=order, pml_width=PML, pml_freq=FREQ)

            j, j_lo, j_hi = timed(ours, args.repeats)
            d, d_lo, d_hi = timed(theirs, args.repeats)
            ratio = j / d
            worst[order] = max(worst.get(order, 0.0), ratio)
            rows.append(f"| {name} | {order} | {j:.3f} ({j_lo:.3f}-{j_hi:.3f}) | "
                        f"{d:.3f} ({d_lo:.3f}-{d_hi:.3f}) | {ratio:.2f} |")
            print(rows[-1], flush=True)
    summary = ", ".join(f"order {o}: {r:.2f}x" for o, r in worst.items())
    print(f"worse ratio (jaxgeo / Deepwave) over the two models: {summary}; goal <= 1.2x")
    body = ("| model | order | jaxgeo s (min-max) | Deepwave s (min-max) | ratio |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows)
            + f"\n\nWorse ratio over the two models: {summary} (goal <= 1.2x). " + CFL_NOTE)
    details = (f"3-D acoustic forward, {args.n}^3 cells (dx {DX:g} m) + {PML}-cell CPML, "
               f"1 shot, 64 receivers, nt = {args.nt} (dt {DT:g} s), {FREQ:g} Hz Ricker, "
               f"float32; one device, plain session; median of {args.repeats} after a "
               "warm-up.")
    if not args.no_append:
        record("wave3d_vs_deepwave", "3-D acoustic forward: jaxgeo vs Deepwave", details, body)


if __name__ == "__main__":
    main()
