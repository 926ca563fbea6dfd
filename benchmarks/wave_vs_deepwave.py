"""Time jaxgeo.wave against Deepwave on the same survey, one process, after compilation.

Survey (issue 3): 200 x 300 model (dx = 10 m, Marmousi-like, 1500-3500 m/s) + 20-cell PML,
4 shots, 100 receivers, nt = 1000 (dt = 1 ms), 10 Hz Ricker, float32.

* acoustic forward, order 8: jaxgeo.wave.acoustic vs deepwave.scalar
* acoustic forward + gradient w.r.t. vp (loss = sum of squared data), with the peak
  resident memory of a separate process doing only that (ru_maxrss)
* acoustic forward + gradient through jaxgeo's adjoint-state path (``adjoint=True``,
  issue 16: hand-written transposed step), with the default checkpointing and with
  ``checkpoint_every=0`` (every step's Laplacian stored), vs the same Deepwave gradient;
  the table's last lines give gradient/forward, from wall times and (jaxgeo) CPU times
* elastic forward, order 4, vertical force: jaxgeo.wave.elastic vs deepwave.elastic, on
  the Marmousi-like model and on a two-layer model (Deepwave's time depends on the model)

``--devices 0`` runs a plain session (no XLA_FLAGS, one CPU device, as a user would).

jaxgeo runs twice: on one device, and with the shots sharded over a mesh of all local
devices (on CPU: ``--devices`` virtual host devices, default the number of cores, so both
cores work as Deepwave's two OpenMP threads do; XLA also splits large loops over its own
CPU thread pool, so the one-device run uses both cores too). Ratios use the mesh run.
Times are the median of ``--repeats`` runs after one warm-up run; the spread is min-max.
Device-agnostic: on a GPU machine both libraries use the GPU. The peak memory of each
library is measured in a separate process that imports only that library.

Usage: python benchmarks/wave_vs_deepwave.py [--repeats 3] [--devices N] [--no-append]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

NZ, NX, PML, N_SHOTS, N_REC, NT, DX, DT, FREQ = 200, 300, 20, 4, 100, 1000, 10.0, 1e-3, 10.0


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--devices", type=int, default=os.cpu_count(),
                   help="virtual CPU devices for the jaxgeo mesh (ignored on GPU)")
    p.add_argument("--no-append", action="store_true", help="do not write RESULTS.md")
    p.add_argument("--memory-probe", choices=("jaxgeo", "deepwave", "jaxgeo:grad_adjoint",
                                              "jaxgeo:grad_adjoint_store"),
                   help=argparse.SUPPRESS)
    return p.parse_args()


ARGS = parse_args()
if ARGS.devices and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + f" --xla_force_host_platform_device_count={ARGS.devices}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _results import record  # noqa: E402

import jaxgeo.wave as wave  # noqa: E402
from jaxgeo.core.parallel import make_mesh  # noqa: E402


def torch_modules():
    """(torch, deepwave, device), imported on first use so that the jaxgeo memory probe
    measures jaxgeo alone."""
    import deepwave
    import torch
    return torch, deepwave, torch.device("cuda" if torch.cuda.is_available() else "cpu")


def two_layers():
    """(vp, vs, rho) of a two-layer model (interface at mid depth)."""
    vp = np.asarray(wave.models.layered((NZ, NX), [NZ // 2], [2000.0, 3000.0]))
    return vp, np.asarray(wave.models.vs_from_vp(vp)), np.asarray(wave.models.rho_gardner(vp))


def survey():
    vp = np.asarray(wave.models.marmousi_like((NZ, NX), v_max=3500.0, seed=0))
    vs = np.asarray(wave.models.vs_from_vp(vp))
    rho = np.asarray(wave.models.rho_gardner(vp))
    amps = np.tile(np.asarray(wave.ricker(FREQ, NT, DT)), (N_SHOTS, 1, 1)).astype(np.float32)
    src = np.array([[[2, 30 + i * (NX - 60) // (N_SHOTS - 1)]] for i in range(N_SHOTS)])
    rec_x = np.linspace(0, NX - 1, N_REC).round().astype(int)
    rec = np.tile(np.stack([np.full(N_REC, 2), rec_x], -1)[None], (N_SHOTS, 1, 1))
    return vp, vs, rho, amps, src, rec


def median_time(fn, repeats):
    """(median, min, max) wall seconds and the median CPU seconds of this process (all
    threads) over ``repeats`` runs after a warm-up (compilation)."""
    fn()
    times, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return float(np.median(times)), min(times), max(times), float(np.median(cpu))


def jaxgeo_functions(mesh):
    vp, vs, rho, amps, src, rec = survey()

    def acoustic(v, adjoint=False, checkpoint_every=None):
        return wave.acoustic(v, DX, DT, amps, src, rec, order=8, pml_width=PML,
                             pml_freq=FREQ, mesh=mesh, adjoint=adjoint,
                             checkpoint_every=checkpoint_every)

    forward = jax.jit(acoustic)
    grad = jax.jit(jax.grad(lambda v: jnp.sum(acoustic(v) ** 2)))
    grad_adjoint = jax.jit(jax.grad(lambda v: jnp.sum(acoustic(v, True) ** 2)))
    grad_store = jax.jit(jax.grad(lambda v: jnp.sum(acoustic(v, True, 0) ** 2)))
    elastic = jax.jit(lambda v, s, r: wave.elastic(v, s, r, DX, DT, amps, src, rec,
                                                   source_type="fz", order=4, pml_width=PML,
                                                   pml_freq=FREQ, mesh=mesh)["vz"])
    v, s, r = (jnp.asarray(m) for m in (vp, vs, rho))
    v2, s2, r2 = (jnp.asarray(m) for m in two_layers())
    return {"forward": lambda: forward(v).block_until_ready(),
            "grad": lambda: grad(v).block_until_ready(),
            "grad_adjoint": lambda: grad_adjoint(v).block_until_ready(),
            "grad_adjoint_store": lambda: grad_store(v).block_until_ready(),
            "elastic": lambda: elastic(v, s, r).block_until_ready(),
            "elastic_layers": lambda: elastic(v2, s2, r2).block_until_ready()}


def deepwave_functions():
    torch, deepwave, device = torch_modules()
    vp, vs, rho, amps, src, rec = survey()
    t = lambda x: torch.tensor(x, device=device)  # noqa: E731
    v, amps_t, src_t, rec_t = t(vp), t(amps), t(src), t(rec)
    lamb = t(rho * (vp**2 - 2 * vs**2))
    mu, buoyancy = t(rho * vs**2), t(1.0 / rho)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def forward():
        deepwave.scalar(v, DX, DT, source_amplitudes=amps_t, source_locations=src_t,
                        receiver_locations=rec_t, accuracy=8, pml_width=PML, pml_freq=FREQ)
        sync()

    def grad():
        vg = v.clone().requires_grad_()
        out = deepwave.scalar(vg, DX, DT, source_amplitudes=amps_t, source_locations=src_t,
                              receiver_locations=rec_t, accuracy=8, pml_width=PML,
                              pml_freq=FREQ)
        (out[-1] ** 2).sum().backward()
        sync()

    def elastic_of(lamb, mu, buoyancy):
        def run():
            deepwave.elastic(lamb, mu, buoyancy, DX, DT, source_amplitudes_y=amps_t,
                             source_locations_y=src_t, receiver_locations_y=rec_t,
                             accuracy=4, pml_width=PML, pml_freq=FREQ)
            sync()
        return run

    vp2, vs2, rho2 = two_layers()
    return {"forward": forward, "grad": grad, "grad_adjoint": grad, "grad_adjoint_store": grad,
            "elastic": elastic_of(lamb, mu, buoyancy),
            "elastic_layers": elastic_of(t(rho2 * (vp2**2 - 2 * vs2**2)), t(rho2 * vs2**2),
                                         t(1.0 / rho2))}


def memory_probe(which: str) -> None:
    """One warm-up and one forward+gradient, then print this process's peak RSS (MB).
    ``which``: ``deepwave``, ``jaxgeo`` (autodiff) or ``jaxgeo:<case>``."""
    library, _, case = which.partition(":")
    if library == "jaxgeo":
        fns = jaxgeo_functions(make_mesh("shots") if len(jax.devices()) > 1 else None)
    else:
        fns = deepwave_functions()
    fns[case or "grad"]()
    fns[case or "grad"]()
    # VmHWM: this process's own peak RSS (ru_maxrss would include the parent's after fork)
    status = Path("/proc/self/status")
    if status.exists():
        hwm = [ln for ln in status.read_text().splitlines() if ln.startswith("VmHWM:")]
        print(float(hwm[0].split()[1]) / 1024.0)
    else:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def peak_rss_mb(which: str) -> float:
    cmd = [sys.executable, __file__, "--memory-probe", which, "--devices", str(ARGS.devices)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if ARGS.memory_probe:
        memory_probe(ARGS.memory_probe)
        return
    devices = jax.devices()
    mesh = make_mesh("shots") if len(devices) > 1 else None
    torch, deepwave, device = torch_modules()
    print(f"jax {jax.__version__} devices: {len(devices)} x {devices[0].platform} "
          f"({devices[0].device_kind}); torch {torch.__version__} on {device} "
          f"({torch.get_num_threads()} threads); deepwave {deepwave.__version__}")
    cells = (NZ + 2 * PML) * (NX + 2 * PML) * N_SHOTS * NT
    dw = deepwave_functions()
    jg1 = jaxgeo_functions(None)
    jgm = jaxgeo_functions(mesh) if mesh is not None else jg1
    rows = []
    for key, label in (("forward", "acoustic forward (order 8)"),
                       ("grad", "acoustic forward + grad vp"),
                       ("grad_adjoint", "acoustic forward + grad vp, adjoint=True"),
                       ("grad_adjoint_store",
                        "acoustic forward + grad vp, adjoint=True, checkpoint_every=0"),
                       ("elastic", "elastic forward (order 4)"),
                       ("elastic_layers", "elastic forward (order 4), two layers")):
        t_dw = median_time(dw[key], ARGS.repeats)
        t_1 = median_time(jg1[key], ARGS.repeats)
        t_m = median_time(jgm[key], ARGS.repeats) if mesh is not None else t_1
        rows.append((label, t_dw, t_1, t_m))
        print(f"{label}: deepwave {t_dw[0]:.3f}s, jaxgeo 1 dev {t_1[0]:.3f}s, "
              f"jaxgeo {len(devices)} dev {t_m[0]:.3f}s, ratio {t_m[0] / t_dw[0]:.2f}",
              flush=True)
    rss_jg, rss_dw = peak_rss_mb("jaxgeo"), peak_rss_mb("deepwave")
    rss_adj = {case: peak_rss_mb(f"jaxgeo:{case}")
               for case in ("grad_adjoint", "grad_adjoint_store")}

    n_dev = len(devices)
    lines = [
        f"| case | Deepwave s | jaxgeo 1 device s | jaxgeo {n_dev} devices s | "
        f"ratio jaxgeo/Deepwave "
        f"of medians | ratio of minima | Gcell/s Deepwave | Gcell/s jaxgeo {n_dev} dev |",
        "|---|---|---|---|---|---|---|---|"]
    for label, t_dw, t_1, t_m in rows:
        spread = lambda t: f"{t[0]:.3f} ({t[1]:.3f}-{t[2]:.3f})"  # noqa: E731
        lines.append(f"| {label} | {spread(t_dw)} | {spread(t_1)} | {spread(t_m)} | "
                     f"{t_m[0] / t_dw[0]:.2f} | {t_m[1] / t_dw[1]:.2f} | "
                     f"{cells / t_dw[0] / 1e9:.3f} | "
                     f"{cells / t_m[0] / 1e9:.3f} |")
    lines.append(f"\nPeak resident memory of a process running one forward + gradient: "
                 f"jaxgeo {rss_jg:.0f} MiB, Deepwave {rss_dw:.0f} MiB (VmHWM of a separate "
                 "process that imports only that library: jax or torch included, and "
                 "for jaxgeo the compilation); jaxgeo adjoint=True: "
                 f"{rss_adj['grad_adjoint']:.0f} MiB (default checkpointing), "
                 f"{rss_adj['grad_adjoint_store']:.0f} MiB (checkpoint_every=0).")
    lines.append("Gcell/s counts forward cell updates (padded grid x shots x nt) per second "
                 "of the measured wall time (for the gradient case this includes the "
                 "backward pass).")
    times = {key: row for key, row in zip(
        ("forward", "grad", "grad_adjoint", "grad_adjoint_store", "elastic", "elastic_layers"),
        rows, strict=True)}
    for col, name in ((1, "Deepwave"), (2, "jaxgeo 1 device"), (3, f"jaxgeo {n_dev} devices")):
        if col == 1:
            lines.append(f"gradient/forward, {name} (wall): "
                         f"{times['grad'][1][0] / times['forward'][1][0]:.2f}")
            continue
        for unit, i in (("wall", 0), ("CPU", 3)):
            fwd = times["forward"][col][i]
            lines.append(
                f"gradient/forward, {name} ({unit}): autodiff "
                f"{times['grad'][col][i] / fwd:.2f}, adjoint=True "
                f"{times['grad_adjoint'][col][i] / fwd:.2f}, adjoint=True + "
                f"checkpoint_every=0 {times['grad_adjoint_store'][col][i] / fwd:.2f}")
    lines.append(f"load average at the end: {open('/proc/loadavg').read().strip()}"
                 if Path("/proc/loadavg").exists() else "")
    table = "\n".join(lines)
    print(table)
    if not ARGS.no_append:
        path = record(
            "wave_vs_deepwave", "wave_vs_deepwave",
            f"Survey: {NZ}x{NX} + {PML}-cell PML, {N_SHOTS} shots, {N_REC} receivers, nt={NT}, "
            f"float32; median of {ARGS.repeats} after a warm-up (min-max in brackets).", table)
        print(f"wrote its section of {path}")


if __name__ == "__main__":
    main()
