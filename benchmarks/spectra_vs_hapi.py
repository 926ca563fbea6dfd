"""Time jaxgeo.spectra against HAPI (hitran-api) on the issue-5 cases; its section of RESULTS.md.

    python benchmarks/spectra_vs_hapi.py [--repeats 5] [--no-record]

Cases (all after compilation; medians of repeats; ``block_until_ready``):
  1. 1,017-line CH4 list, 0.002 cm^-1 grid (37,500 points), Voigt, one (T, p) = (296 K, 1 atm).
  2. Same list, a batch of 64 (T, p) conditions (250-320 K, 0.1-1 atm): time per spectrum
     (``absorption_coefficient_uniform_batch``, 8 pressure buckets).
  3. PhysAE window (13 lines, 800 points), batch of 1024 spectra: spectra per second.
  4. Hartmann-Tran on the CH4 case: (a) the .par lines (no speed dependence: both sides take
     their exact Rautian/Voigt branch), obvious call vs ``absorptionCoefficient_HT``;
     (b) with speed dependence gamma2 = 0.1 gamma0, eta = 0.2, nu_VC = 0.01 p cm^-1 on every
     line: jaxgeo's windowed HT vs HAPI's ``PROFILE_HT`` called line by line on each line's
     window (the inner loop of ``absorptionCoefficient_HT``, its parameters precomputed and
     not timed: a lower bound on HAPI's time; HAPI cannot read these parameters from .par).
HAPI uses TIPS-2021 (``partitionFunction=hapi.PYTIPS2021``) like jaxgeo. HAPI's per-spectrum
times for the batches are the mean over a few of the batch's conditions (one by one).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _results import record  # noqa: E402

import jaxgeo.spectra as sp
from jaxgeo.spectra.linelist import host_arrays

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "spectra"
CH4_PAR = DATA / "hitran_CH4_4975_5050.par"
PHYSAE_YAML = DATA / "physae_window_3085.yaml"


def timed(fn, repeats):
    """Median and spread (min, max) of wall times of ``fn()`` (result blocked)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def hapi_module():
    with contextlib.redirect_stdout(io.StringIO()):
        import hapi
    return hapi


def hapi_table(hapi, folder: Path, name: str, par_text: str) -> None:
    (folder / f"{name}.data").write_text(par_text)
    header = dict(hapi.HITRAN_DEFAULT_HEADER, table_name=name)
    (folder / f"{name}.header").write_text(json.dumps(header))


def hapi_voigt(hapi, table, nu, t, p, diluent=None):
    with contextlib.redirect_stdout(io.StringIO()):
        return hapi.absorptionCoefficient_Voigt(
            SourceTables=table, WavenumberGrid=nu, Environment={"T": t, "p": p},
            HITRAN_units=False, partitionFunction=hapi.PYTIPS2021,
            Diluent=diluent or {"air": 1.0})[1]


def physae_par_text(window: sp.PhysAEWindow) -> str:
    """The PhysAE lines as HITRAN 160-character records (for HAPI)."""
    out = []
    for lines in window.lines.values():
        host = host_arrays(lines)
        for j in range(lines.n_lines):
            def f(name, j=j, host=host):
                return float(host[name][j])
            rec = (f"{int(host['mol_id'][j]):2d}{int(host['iso_id'][j]):1d}{f('nu0'):12.6f}"
                   f"{f('sw'):10.3E}{0.0:10.3E}"
                   + f"{f('gamma_air'):6.4f}"[1:] + f"{f('gamma_self'):6.4f}"[1:]
                   + f"{f('elower'):10.4f}{f('n_air'):4.2f}{f('delta_air'):8.5f}")
            # blank quanta, zero error/reference codes, statistical weights 1
            out.append(rec.ljust(127) + "0" * 18 + " " + f"{1.0:7.1f}" * 2)
    return "\n".join(out) + "\n"


def case_ch4(hapi, folder, repeats):
    hapi_table(hapi, folder, "CH4", CH4_PAR.read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        hapi.db_begin(str(folder))
    lines = sp.read_hitran_par(CH4_PAR)
    grid = sp.UniformGrid(4975.0, 0.002, 37_500)
    nu = grid.start + grid.step * np.arange(grid.n)
    rows = []
    # 1. one condition
    t_hapi = timed(lambda: hapi_voigt(hapi, "CH4", nu, 296.0, 1.0), max(2, repeats // 2))
    k_hapi = hapi_voigt(hapi, "CH4", nu, 296.0, 1.0)
    for x64 in (False, True):
        with jax.enable_x64(x64):
            ll = sp.read_hitran_par(CH4_PAR) if x64 else lines
            sizes = sp.window_sizes(ll, grid, t_min=296.0, t_max=296.0, p_max_atm=1.0,
                                    p_min_atm=1.0)
            run = jax.jit(lambda t, p, ll=ll, sizes=sizes:
                          sp.absorption_coefficient_uniform(ll, grid, t, p, sizes))
            k = np.asarray(run(296.0, 1.0))
            t_jax = timed(lambda run=run: run(296.0, 1.0), repeats)
            err = np.linalg.norm(k - k_hapi) / np.linalg.norm(k_hapi)
            rows.append(("CH4 1017 lines, 37.5k pts, 1 (T,p)", "float64" if x64 else "float32",
                         t_jax, t_hapi, err))
    # 1b. the obvious call (HAPI's array grid, no UniformGrid/window_sizes), under jit with
    # declared condition ranges: the fast path must be what it does
    for x64 in (False, True):
        with jax.enable_x64(x64):
            ll = sp.read_hitran_par(CH4_PAR) if x64 else lines
            ranges = dict(t_min=250.0, t_max=320.0, p_min_atm=0.1, p_max_atm=1.0)
            obvious = jax.jit(lambda t, p, ll=ll, ranges=ranges: sp.absorption_coefficient(
                ll, nu, t, p, profile="voigt", diluent={"air": 1.0}, conditions=ranges))
            k = np.asarray(obvious(296.0, 1.0))
            t_obv = timed(lambda obvious=obvious: obvious(296.0, 1.0), repeats)
            t_hapi_again = timed(lambda: hapi_voigt(hapi, "CH4", nu, 296.0, 1.0), 2)
            err = np.linalg.norm(k - k_hapi) / np.linalg.norm(k_hapi)
            rows.append(("CH4 obvious call absorption_coefficient(lines, nu, T, p), jit",
                         "float64" if x64 else "float32", t_obv, t_hapi_again, err))
    # 2. batch of 64 conditions
    rng = np.random.default_rng(0)
    temps = rng.uniform(250.0, 320.0, 64)
    press = rng.uniform(0.1, 1.0, 64)
    sample = range(0, 64, 16)
    t_hapi_each = [timed(lambda i=i: hapi_voigt(hapi, "CH4", nu, temps[i], press[i]), 1)[0]
                   for i in sample]
    t_hapi_b = (statistics.mean(t_hapi_each), min(t_hapi_each), max(t_hapi_each))
    k_hapi_0 = hapi_voigt(hapi, "CH4", nu, temps[0], press[0])
    for x64 in (False, True):
        with jax.enable_x64(x64):
            ll = sp.read_hitran_par(CH4_PAR) if x64 else lines

            def run(ll=ll):
                return sp.absorption_coefficient_uniform_batch(ll, grid, temps, press,
                                                               n_buckets=8)

            k0 = np.asarray(run()[0])
            med, lo, hi = timed(run, max(2, repeats // 2))
            err = np.linalg.norm(k0 - k_hapi_0) / np.linalg.norm(k_hapi_0)
            rows.append(("CH4, batch of 64 (T,p), per spectrum", "float64" if x64 else "float32",
                         (med / 64, lo / 64, hi / 64), t_hapi_b, err))
    return rows


def case_ht(hapi, folder, repeats):
    """Hartmann-Tran rows (see the module docstring, case 4); CH4 table already loaded."""
    grid_nu = 4975.0 + 0.002 * np.arange(37_500)
    ranges = dict(t_min=250.0, t_max=320.0, p_min_atm=0.1, p_max_atm=1.0)
    rows = []

    def hapi_ht():
        with contextlib.redirect_stdout(io.StringIO()):
            return hapi.absorptionCoefficient_HT(
                SourceTables="CH4", WavenumberGrid=grid_nu, Environment={"T": 296.0, "p": 1.0},
                HITRAN_units=False, partitionFunction=hapi.PYTIPS2021)[1]

    k_hapi = hapi_ht()
    t_hapi = timed(hapi_ht, 2)
    for x64 in (False, True):
        with jax.enable_x64(x64):
            ll = sp.read_hitran_par(CH4_PAR)
            run = jax.jit(lambda t, p, ll=ll: sp.absorption_coefficient(
                ll, grid_nu, t, p, profile="ht", conditions=ranges))
            k = np.asarray(run(296.0, 1.0))
            t_jax = timed(lambda run=run: run(296.0, 1.0), repeats)
            err = np.linalg.norm(k - k_hapi) / np.linalg.norm(k_hapi)
            rows.append(("CH4 HT, .par lines (no speed dependence), obvious call, jit",
                         "float64" if x64 else "float32", t_jax, t_hapi, err))
    # (b) with speed dependence: HAPI's PROFILE_HT line by line on its windows
    for x64 in (True, False):
        with jax.enable_x64(x64):
            host = host_arrays(sp.read_hitran_par(CH4_PAR))
            n = host["nu0"].size
            host.update(sd_air=np.full(n, 0.1), eta=np.full(n, 0.2), g_dicke=np.full(n, 0.01),
                        n_dicke=np.ones(n))
            ll = sp.make_line_list(**host, partition_version=2021)
            if x64:  # HAPI's inputs: the same per-line parameters, float64
                st = jax.tree.map(np.asarray, sp.line_state(ll, 296.0, 1.0, profile="ht"))
                nu0 = host["nu0"]

                def hapi_loop(st=st, nu0=nu0):
                    out = np.zeros_like(grid_nu)
                    for j in range(nu0.size):
                        lo, hi = np.searchsorted(grid_nu, [nu0[j] - st.half_window[j],
                                                           nu0[j] + st.half_window[j]])
                        out[lo:hi] += st.strength[j] * hapi.PROFILE_HT(
                            nu0[j], st.gamma_d[j], st.gamma_l[j], st.gamma2[j], st.delta0[j],
                            0.0, st.nu_vc[j], st.eta[j], grid_nu[lo:hi])
                    return out

                k_loop = hapi_loop()
                t_loop = timed(hapi_loop, 1)
            run = jax.jit(lambda t, p, ll=ll: sp.absorption_coefficient(
                ll, grid_nu, t, p, profile="ht", conditions=ranges))
            k = np.asarray(run(296.0, 1.0))
            t_jax = timed(lambda run=run: run(296.0, 1.0), repeats)
            err = np.linalg.norm(k - k_loop) / np.linalg.norm(k_loop)
            rows.append(("CH4 HT with speed dependence + correlation + Dicke, jit",
                         "float64" if x64 else "float32", t_jax, t_loop, err))
    return rows


def case_physae(hapi, folder, repeats):
    window = sp.load_physae_yaml(PHYSAE_YAML)
    k = window.constants
    hapi_table(hapi, folder, "PHYSAE", physae_par_text(window))
    with contextlib.redirect_stdout(io.StringIO()):
        hapi.db_begin(str(folder))
    ranges = window.ranges_val
    rng = np.random.default_rng(0)
    n = 1024

    def draw(name):
        lo, hi = ranges[name]
        return rng.uniform(lo, hi, n)

    prm = {name: draw(name) for name in ("sig0", "dsig", "T", "P", "mf_CH4", "mf_H2O",
                                         "baseline0", "baseline1", "baseline2")}
    poly = window.poly_frequency["CH4"]
    rows = []
    # HAPI one by one: Voigt k for all 13 lines on the same 800-point grid, then the same
    # transmission arithmetic (HAPI has no Rautian/Dicke profile: a lower bound on its cost).
    i = np.arange(800.0)

    def hapi_one(j):
        nu = prm["sig0"][j] + prm["dsig"][j] * i + sum(c * i ** (m + 2) for m, c in enumerate(poly))
        x = prm["mf_CH4"][j]
        kk = hapi_voigt(hapi, "PHYSAE", nu, prm["T"][j], prm["P"][j] / k["P0_mbar"],
                        diluent={"air": 1 - x, "self": x})
        return np.exp(-kk * x * k["path_length_m"] * 100.0)

    t_each = [timed(lambda j=j: hapi_one(j), 1)[0] for j in range(16)]
    t_hapi = (statistics.mean(t_each), min(t_each), max(t_each))
    for x64 in (False, True):
        with jax.enable_x64(x64):
            win = sp.load_physae_yaml(PHYSAE_YAML) if x64 else window
            batch = {name: jnp.asarray(v) for name, v in prm.items()}
            # exact Faddeeva within +-core samples of each line (NaN if ever too small)
            core = sp.core_points_for(win.all_lines(), min_step=0.0012, t_max=330.0,
                                      p_max_atm=0.8)
            # no line of the window reaches the core kernel's small-y region in these ranges
            small_y = sp.small_y_needed(win.all_lines(), t_min=float(prm["T"].min()),
                                        t_max=330.0,
                                        p_min_atm=float(prm["P"].min()) / k["P0_mbar"])

            def forward(p, win=win, core=core, small_y=small_y):
                return sp.physae_forward(
                    win.lines, sig0=p["sig0"], dsig=p["dsig"], poly_coeffs=poly,
                    baseline=jnp.stack([p["baseline0"], p["baseline1"], p["baseline2"]]),
                    temperature=p["T"], p_mbar=p["P"],
                    mole_fractions={"CH4": p["mf_CH4"], "H2O": p["mf_H2O"]},
                    path_length_cm=k["path_length_m"] * 100.0, n_points=800,
                    p0_mbar=k["P0_mbar"], t0=k["T0_K"], l0=k["L0"], core_points=core,
                    core_small_y=small_y)[0]

            run = jax.jit(jax.vmap(forward))
            if not np.all(np.isfinite(np.asarray(run(batch)))):
                raise RuntimeError("PhysAE batch has NaN: core window too small")
            med, lo, hi = timed(lambda run=run, batch=batch: run(batch), repeats)
            rows.append(("PhysAE window 13 lines x 800 pts, batch 1024, per spectrum",
                         "float64" if x64 else "float32", (med / n, lo / n, hi / n), t_hapi,
                         float("nan")))
    return rows


def table(rows):
    head = ("| case | jaxgeo dtype | jaxgeo s/spectrum (min-max) | HAPI s/spectrum (min-max) "
            "| ratio jaxgeo/HAPI | speed-up | spectra/s (jaxgeo) | rel. L2 vs HAPI |")
    lines = [head, "|" + "---|" * 8]
    for name, dtype, (tj, tjl, tjh), (th, thl, thh), err in rows:
        err_s = "-" if np.isnan(err) else f"{err:.1e}"
        lines.append(
            f"| {name} | {dtype} | {tj:.4g} ({tjl:.3g}-{tjh:.3g}) | {th:.4g} ({thl:.3g}-{thh:.3g}) "
            f"| {tj / th:.4f} | {th / tj:.1f}x | {1 / tj:.0f} | {err_s} |")
    return "\n".join(lines)


GOALS = (  # (case name prefix, description, test on the jaxgeo/HAPI time ratio)
    ("CH4 1017 lines, 37.5k pts, 1 (T,p)", "jaxgeo/HAPI <= 0.2", lambda r: r <= 0.2),
    ("CH4 obvious call", "jaxgeo/HAPI <= 0.05", lambda r: r <= 0.05),
    ("CH4, batch of 64", "jaxgeo/HAPI <= 0.02 per spectrum", lambda r: r <= 0.02),
    ("PhysAE window", ">= 100x HAPI one by one", lambda r: 1 / r >= 100),
)


def goal_lines(rows):
    """One line per (goal, dtype): the median-time ratio and whether the goal is met."""
    out = []
    for prefix, text, ok in GOALS:
        for name, dtype, (tj, _, _), (th, _, _), _ in rows:
            if name.startswith(prefix):
                ratio = tj / th
                out.append(f"- {prefix} ({dtype}): goal {text}; measured ratio {ratio:.4f} "
                           f"({1 / ratio:.0f}x) on medians: {'met' if ok(ratio) else 'NOT met'}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-record", action="store_true", help="do not append RESULTS.md")
    args = parser.parse_args()
    if not CH4_PAR.is_file() or not PHYSAE_YAML.is_file():
        raise SystemExit(f"benchmark data not found under {DATA}")
    device = jax.devices()[0]
    print(f"device: {device.platform} ({device.device_kind}), {len(jax.devices())} device(s)")
    hapi = hapi_module()
    load_start = os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="hapi_bench_"))
    try:
        rows = (case_ch4(hapi, folder, args.repeats) + case_ht(hapi, folder, args.repeats)
                + case_physae(hapi, folder, args.repeats))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    load_end = os.getloadavg()
    load = (f"Load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}, "
            f"at end {', '.join(f'{x:.2f}' for x in load_end)} ({os.cpu_count()} cores).")
    text = table(rows) + "\n\n" + goal_lines(rows)
    print(text)
    print(load)
    if args.no_record:
        return
    path = record(
        "spectra_vs_hapi", "spectra vs HAPI",
        f"Device: {device.platform}. HAPI 1.3 `absorptionCoefficient_Voigt` with TIPS-2021, one "
        "spectrum per call; jaxgeo after compilation (jit), windowed path for CH4, "
        "`physae_forward` (Rautian + line mixing) vmapped for PhysAE. HAPI has no "
        "Rautian/mixing: its PhysAE time is a Voigt lower bound for the same lines and grid. "
        "HT rows: see the script's docstring (case 4); CPU-time ratios are not shown, wall "
        "times are medians under the load below. "
        + load, text)
    print(f"wrote its section of {path}")


if __name__ == "__main__":
    main()
