"""A small VTI FWI: epsilon recovered by a VTI inversion vs an isotropic one.

Observed data come from `jaxgeo.wave.vti` in a model with a vertical velocity gradient,
an epsilon anomaly (Gaussian, peak 0.2) and delta = 0.05 (known). Sources on the left and
top edges and receivers on the right and bottom edges see both vertical and horizontal
paths. Two inversions start from a smoothed vp and epsilon = delta (elliptical):

* VTI: `wave.vti`, inverting vp and epsilon (delta fixed at its true value);
* isotropic: `wave.acoustic` (staggered path, rho = 1, the same stencils), inverting vp
  only; its epsilon is 0 by construction.

Both minimise ``0.5 |d - d_obs|^2 / |d_obs|^2`` with scipy's L-BFGS-B (bounds keep
``epsilon >= delta``) for ``--iterations`` iterations. Printed and recorded: the relative
L2 error of epsilon (its anomaly, ``epsilon - delta``) and of vp, the final data misfit and
the wall time of each, with the ratio of epsilon errors.

    python benchmarks/vti_fwi.py [--iterations 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402
from _results import record  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402
from tqdm import tqdm  # noqa: E402

import jaxgeo.wave as wave  # noqa: E402

NZ, NX, DX, DT, NT, FREQ = 30, 40, 10.0, 1e-3, 450, 12.0
DELTA = 0.05
KW = dict(order=4, pml_width=10, pml_freq=FREQ)


def true_model():
    z, x = np.mgrid[0:NZ, 0:NX].astype(np.float64)
    vp = 1800.0 + 10.0 * z
    eps = DELTA + 0.15 * np.exp(-((z - 15) ** 2 + (x - 20) ** 2) / (2 * 6.0**2))
    return vp.astype(np.float32), eps.astype(np.float32)


def geometry():
    sources = [(z, 1) for z in (5, 15, 25)] + [(1, x) for x in (10, 30)]
    receivers = [(z, NX - 2) for z in range(1, NZ - 1, 2)] + [(NZ - 2, x)
                                                              for x in range(1, NX - 1, 2)]
    src = np.array([[s] for s in sources], np.int32)
    rec = np.tile(np.array([receivers], np.int32), (len(sources), 1, 1))
    amps = np.tile(np.asarray(wave.ricker(FREQ, NT, DT))[None, None], (len(sources), 1, 1))
    return amps, src, rec


def invert(name, forward, x0, bounds, observed, iterations):
    """L-BFGS-B on the normalised L2 misfit; returns (x, final misfit, seconds)."""
    norm = float(jnp.sum(observed**2))

    def loss(x):
        return 0.5 * jnp.sum((forward(x) - observed) ** 2) / norm

    value_and_grad = jax.jit(jax.value_and_grad(loss))

    def fun(x):
        value, grad = value_and_grad(jnp.asarray(x, jnp.float32))
        return float(value), np.asarray(grad, np.float64)

    fun(x0)  # compile outside the timing
    bar = tqdm(total=iterations, desc=f"{name} FWI", unit="it")
    start = time.perf_counter()
    result = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                     options=dict(maxiter=iterations),
                                     callback=lambda _x: bar.update(1))
    seconds = time.perf_counter() - start
    bar.close()
    return result.x, float(result.fun), seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=30)
    args = parser.parse_args(argv)

    vp_true, eps_true = true_model()
    delta = np.full_like(vp_true, DELTA)
    amps, src, rec = geometry()
    observed = wave.vti(vp_true, eps_true, delta, DX, DT, amps, src, rec, **KW)
    vp0 = gaussian_filter(vp_true, 8.0, mode="nearest")
    n = vp_true.size
    # parameters scaled so that a unit step changes the velocities alike: vp / 1000 and
    # 2 epsilon (d v_horizontal / d epsilon ~ vp ~ 2000 m/s)
    wave.vti(vp0, delta, delta, DX, DT, amps, src, rec, **KW)  # eager input checks

    def vti_forward(x):
        return wave.vti(1000.0 * x[:n].reshape(NZ, NX), 0.5 * x[n:].reshape(NZ, NX), delta,
                        DX, DT, amps, src, rec, **KW)

    def iso_forward(x):
        return wave.acoustic(1000.0 * x.reshape(NZ, NX), DX, DT, amps, src, rec,
                             rho=jnp.ones((NZ, NX)), **KW)

    vp_bounds = [(1.0, 3.0)] * n
    x_vti, misfit_vti, t_vti = invert(
        "VTI", vti_forward, np.concatenate([vp0.ravel() / 1000.0, 2.0 * delta.ravel()]),
        vp_bounds + [(2.0 * DELTA, 1.0)] * n, observed, args.iterations)
    x_iso, misfit_iso, t_iso = invert("isotropic", iso_forward, vp0.ravel() / 1000.0,
                                      vp_bounds, observed, args.iterations)

    anomaly = eps_true - DELTA

    def rel(a, b):
        return float(np.linalg.norm(a - b) / np.linalg.norm(b))

    eps_vti = 0.5 * x_vti[n:].reshape(NZ, NX)
    err_eps_vti = rel(eps_vti - DELTA, anomaly)
    err_eps_iso = rel(np.zeros_like(eps_true), eps_true)  # isotropic: epsilon = 0
    err_eps_vti_abs = rel(eps_vti, eps_true)
    err_vp_vti = rel(1000.0 * x_vti[:n].reshape(NZ, NX), vp_true)
    err_vp_iso = rel(1000.0 * x_iso.reshape(NZ, NX), vp_true)
    err_vp0 = rel(vp0, vp_true)
    rows = [
        "| inversion | epsilon rel. L2 error | epsilon - delta rel. L2 error | vp rel. L2 "
        "error | final misfit | wall s |",
        "|---|---|---|---|---|---|",
        f"| start | {rel(delta, eps_true):.3f} | 1.000 | {err_vp0:.4f} | - | - |",
        f"| VTI (vp, epsilon) | {err_eps_vti_abs:.3f} | {err_eps_vti:.3f} | {err_vp_vti:.4f} | "
        f"{misfit_vti:.2e} | {t_vti:.1f} |",
        f"| isotropic (vp) | {err_eps_iso:.3f} (epsilon = 0) | - | {err_vp_iso:.4f} | "
        f"{misfit_iso:.2e} | {t_iso:.1f} |",
    ]
    ratio = err_eps_iso / max(err_eps_vti_abs, 1e-12)
    body = "\n".join(rows) + (
        f"\n\nepsilon error ratio isotropic / VTI: {ratio:.1f}x; "
        f"load average after the run {' '.join(f'{x:.2f}' for x in os.getloadavg())}.\n")
    print(body)
    details = (f"Model {NZ} x {NX} cells of {DX:g} m, vp 1800-2090 m/s (linear in depth), "
               f"epsilon = {DELTA} + 0.15 Gaussian (sigma 6 cells), delta = {DELTA} (known); "
               f"{len(src)} shots (left and top edges), {rec.shape[1]} receivers (right and "
               f"bottom edges), Ricker {FREQ:g} Hz, nt {NT}, dt {DT:g} s, order 4, CPML 10 "
               f"cells. Start: vp smoothed (Gaussian sigma 8 cells), epsilon = delta. "
               f"scipy L-BFGS-B, {args.iterations} iterations each, float32.")
    record("vti_fwi", "VTI FWI vs isotropic FWI (epsilon recovery)", details, body)


if __name__ == "__main__":
    main()
