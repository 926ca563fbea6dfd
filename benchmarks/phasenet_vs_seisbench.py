"""jaxgeo PhaseNet vs SeisBench's PyTorch PhaseNet: one Adam training step and inference,
each with the default C allocator (glibc malloc) and with tcmalloc preloaded.

Training step: batch 64 x 3 x 3001, loss -mean_t sum_c y log(y_hat + 1e-5), BatchNorm in
training mode, Adam (jaxgeo: the step of ``jaxgeo.core.train.make_train_step``, jit with the
state donated, as ``fit`` runs it). Inference: batch 256, eval mode. The allocator is fixed
when a process starts, so each measurement runs in a child process, with ``LD_PRELOAD`` unset
or set to tcmalloc (``apt-get install libtcmalloc-minimal4``; without it only the default
allocator is measured); the children alternate default/tcmalloc (ABBA over rounds). Inside a
child both frameworks run on the same cores (torch limited to the same thread count), after
warm-up/compilation, alternately, so background load hits both; medians of the repeats.
Goal: ratio jaxgeo / SeisBench <= 1.0 for both. Appends a section to benchmarks/RESULTS.md.

    python benchmarks/phasenet_vs_seisbench.py [--rounds 2] [--repeats 5] [--filter_factor 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import seisbench.models as sbm  # noqa: E402
import torch  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.allocator import MARKER_VAR, find_tcmalloc, tcmalloc_mapped  # noqa: E402
from jaxgeo.core.train import compile_step  # noqa: E402
from jaxgeo.seismic.convert import from_seisbench  # noqa: E402
from jaxgeo.seismic.evaluate import make_predict  # noqa: E402
from jaxgeo.seismic.registry import PHASE_TASK  # noqa: E402
from jaxgeo.seismic.train import create_state, make_step  # noqa: E402

ALLOCATORS = ("default", "tcmalloc")


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure(args: argparse.Namespace) -> dict:
    """One child: both frameworks, alternately; per-repeat seconds per case and framework."""
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    device = f"{jax.devices()[0].platform} ({threads} cores); torch {torch.__version__} " \
             f"{torch.get_num_threads()} threads"

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    ref = sbm.PhaseNet(filter_factor=args.filter_factor)
    module, variables = from_seisbench(ref)

    # ---- training step
    xb = rng.standard_normal((args.train_batch, 3001, 3)).astype(np.float32)
    yb = rng.dirichlet(np.ones(3), size=(args.train_batch, 3001)).astype(np.float32)
    state = create_state(module, 1e-3, 0)
    step = compile_step(make_step(module, PHASE_TASK))
    xj, yj = jnp.asarray(xb), jnp.asarray(yb)
    holder = {"state": state}

    def jax_train():
        holder["state"], metrics = step(holder["state"], {"X": xj, "y": yj})
        metrics["loss"].block_until_ready()

    ref.train()
    opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    xt = torch.from_numpy(xb.transpose(0, 2, 1).copy())
    yt = torch.from_numpy(yb.transpose(0, 2, 1).copy())

    def torch_train():
        opt.zero_grad(set_to_none=True)
        loss = -(yt * torch.log(ref(xt) + 1e-5)).sum(dim=1).mean()
        loss.backward()
        opt.step()

    # ---- inference
    xi = rng.standard_normal((args.infer_batch, 3001, 3)).astype(np.float32)
    predict = make_predict(module)
    xij = jnp.asarray(xi)
    xit = torch.from_numpy(xi.transpose(0, 2, 1).copy())

    def jax_infer():
        predict(variables, xij).block_until_ready()

    def torch_infer():
        with torch.inference_mode():
            ref(xit)

    cases = {}
    for name, jfn, tfn in ((f"train step (batch {args.train_batch}, Adam)", jax_train,
                            torch_train),
                           (f"inference (batch {args.infer_batch})", jax_infer, torch_infer)):
        if "inference" in name:
            ref.eval()
        for _ in range(2):  # warm-up / compile
            jfn()
            tfn()
        jt, tt = [], []
        for _ in range(args.repeats):
            jt.append(_time(jfn))
            tt.append(_time(tfn))
        cases[name] = {"jaxgeo": jt, "torch": tt}
    return {"device": device, "tcmalloc": tcmalloc_mapped(), "cases": cases}


def _loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def run_child(args: argparse.Namespace, library: str | None) -> dict:
    """`measure` in a fresh process with ``LD_PRELOAD=library`` (None: the default malloc)."""
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", MARKER_VAR)}
    if library:
        env["LD_PRELOAD"] = library
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--repeats",
           str(args.repeats), "--filter_factor", str(args.filter_factor), "--train_batch",
           str(args.train_batch), "--infer_batch", str(args.infer_batch)]
    load = _loadavg()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    if result["tcmalloc"] != bool(library):
        raise RuntimeError(f"child with LD_PRELOAD={library!r}: tcmalloc mapped = "
                           f"{result['tcmalloc']}")
    result["load"] = load
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2,
                    help="child processes per allocator (alternating, ABBA)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per child")
    ap.add_argument("--filter_factor", type=int, default=1)
    ap.add_argument("--train_batch", type=int, default=64)
    ap.add_argument("--infer_batch", type=int, default=256)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        return

    library = find_tcmalloc()
    allocators = ALLOCATORS if library else ALLOCATORS[:1]
    if not library:
        print("tcmalloc not found (apt-get install libtcmalloc-minimal4): default allocator "
              "only")
    runs: dict[str, list[dict]] = {a: [] for a in allocators}
    for r in range(args.rounds):
        for alloc in allocators if r % 2 == 0 else allocators[::-1]:
            res = run_child(args, library if alloc == "tcmalloc" else None)
            runs[alloc].append(res)
            print(f"round {r + 1} {alloc}: load {res['load']}; " + "; ".join(
                f"{name}: jaxgeo {np.median(t['jaxgeo']):.3f} s, SeisBench "
                f"{np.median(t['torch']):.3f} s" for name, t in res["cases"].items()),
                flush=True)
    device = runs["default"][0]["device"]

    lines = ["| case | allocator | jaxgeo median (s) | SeisBench median (s) | "
             "ratio jaxgeo/SeisBench | jaxgeo per-child medians | SeisBench per-child medians "
             "| load avg at child start |", "|---|---|---|---|---|---|---|---|"]
    medians: dict[tuple[str, str, str], float] = {}
    for name in runs["default"][0]["cases"]:
        for alloc in allocators:
            per = {lib: [res["cases"][name][lib] for res in runs[alloc]]
                   for lib in ("jaxgeo", "torch")}
            for lib, times in per.items():
                medians[name, alloc, lib] = float(np.median(np.concatenate(times)))
            jm, tm = medians[name, alloc, "jaxgeo"], medians[name, alloc, "torch"]
            jr, tr = (", ".join(f"{np.median(t):.3f}" for t in per[lib])
                      for lib in ("jaxgeo", "torch"))
            loads = "; ".join(res["load"] for res in runs[alloc])
            lines.append(f"| {name} | {alloc} | {jm:.3f} | {tm:.3f} | {jm / tm:.2f} | {jr} | "
                         f"{tr} | {loads} |")
    if library:
        lines.append("")
        lines.append("| case | jaxgeo default/tcmalloc | SeisBench default/tcmalloc |")
        lines.append("|---|---|---|")
        for name in runs["default"][0]["cases"]:
            cells = []
            for lib in ("jaxgeo", "torch"):
                d, t = medians[name, "default", lib], medians[name, "tcmalloc", lib]
                cells.append(f"{d:.3f}/{t:.3f} = {d / t:.2f}x")
            lines.append(f"| {name} | {' | '.join(cells)} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record(
            "phasenet_vs_seisbench",
            "PhaseNet: jaxgeo vs SeisBench PyTorch, default malloc vs tcmalloc",
            f"Device: {device}. filter_factor {args.filter_factor}, float32. tcmalloc: "
            f"{library or 'not installed'} (LD_PRELOAD). {args.rounds} child processes per "
            f"allocator, alternating; in each, {args.repeats} alternating jaxgeo/SeisBench "
            "repeats after 2 warm-ups; medians over all repeats of an allocator.", table)


if __name__ == "__main__":
    main()
