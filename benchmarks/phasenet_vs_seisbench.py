"""jaxgeo PhaseNet vs SeisBench's PyTorch PhaseNet: one Adam training step and inference.

Training step: batch 64 x 3 x 3001, loss -mean_t sum_c y log(y_hat + 1e-5), BatchNorm in
training mode, Adam. Inference: batch 256, eval mode. Both in one process on the same cores
(torch limited to the same thread count), after warm-up/compilation; median of repeats,
the two frameworks measured alternately so that background load hits both. Goal: ratio
jaxgeo / SeisBench <= 1.0 for both. Appends a section to benchmarks/RESULTS.md.

    python benchmarks/phasenet_vs_seisbench.py [--repeats 5] [--filter_factor 1]
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
import seisbench.models as sbm  # noqa: E402
import torch  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.train import compile_step  # noqa: E402
from jaxgeo.seismic.convert import from_seisbench  # noqa: E402
from jaxgeo.seismic.evaluate import make_predict  # noqa: E402
from jaxgeo.seismic.registry import PHASE_TASK  # noqa: E402
from jaxgeo.seismic.train import create_state, make_step  # noqa: E402


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--filter_factor", type=int, default=1)
    ap.add_argument("--train_batch", type=int, default=64)
    ap.add_argument("--infer_batch", type=int, default=256)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    device = f"{jax.devices()[0].platform} ({threads} cores); torch {torch.__version__} " \
             f"{torch.get_num_threads()} threads"
    print("device:", device)

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

    rows = []
    cases = ((f"train step (batch {args.train_batch}, Adam)", jax_train, torch_train),
             (f"inference (batch {args.infer_batch})", jax_infer, torch_infer))
    for name, jfn, tfn in cases:
        if "inference" in name:
            ref.eval()
        for _ in range(2):  # warm-up / compile
            jfn()
            tfn()
        jt, tt = [], []
        for _ in range(args.repeats):
            jt.append(_time(jfn))
            tt.append(_time(tfn))
        rows.append((name, np.median(jt), np.median(tt), min(jt), max(jt), min(tt), max(tt)))

    lines = ["| case | jaxgeo median (s) | SeisBench median (s) | ratio jaxgeo/SeisBench | "
             "jaxgeo min-max | SeisBench min-max |", "|---|---|---|---|---|---|"]
    for name, jm, tm, jlo, jhi, tlo, thi in rows:
        lines.append(f"| {name} | {jm:.3f} | {tm:.3f} | {jm / tm:.2f} | {jlo:.3f}-{jhi:.3f} | "
                     f"{tlo:.3f}-{thi:.3f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record(
            "phasenet_vs_seisbench", "PhaseNet: jaxgeo vs SeisBench PyTorch",
            f"Device: {device}. filter_factor {args.filter_factor}, float32, "
            f"median of {args.repeats} alternating repeats after 2 warm-ups.", table)


if __name__ == "__main__":
    main()
