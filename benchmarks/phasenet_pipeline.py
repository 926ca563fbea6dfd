"""Does the PhaseNet training step wait on data? Prefetching loaders vs in-memory batches.

Writes a synthetic SeisBench-format dataset (1000 traces) to a temporary folder, then times
``--steps`` Adam steps of PhaseNet (batch 64 x 3001 x 3), in one process:

* in memory: the same pre-built batch every step (the step alone);
* for each pipeline of ``phase_loader`` (``batched``: the split in memory, batches made a batch
  at a time; ``seisbench``: seisbench.generate one trace at a time), batches from the
  background prefetch queue, as ``train_phase`` consumes them, and the producer alone without
  prefetch (the CPU one batch costs to make).

The dataset is opened as ``train_phase`` opens it (``waveform_cache="auto"``: traces are kept
in memory after their first read) and one pass is made before timing.

On 2 cores the producer thread competes with XLA for CPU, so "loader / in memory" above 1 is
that contention plus any real waiting; the time blocked in ``next()`` is reported apart.
Appends a section to benchmarks/RESULTS.md unless ``--no-record``.

    python benchmarks/phasenet_pipeline.py [--steps 20] [--waveform_cache auto|trace|none]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.train import compile_step  # noqa: E402
from jaxgeo.seismic.data import load_dataset, phase_loader  # noqa: E402
from jaxgeo.seismic.phasenet import PhaseNet  # noqa: E402
from jaxgeo.seismic.registry import PHASE_TASK  # noqa: E402
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset  # noqa: E402
from jaxgeo.seismic.train import create_state, make_step  # noqa: E402

BATCH = 64


def run_steps(step, state, next_batch, n: int) -> tuple[float, float]:
    """(seconds per step, seconds per step blocked in next_batch) over n steps."""
    waited, losses = 0.0, []
    t0 = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        batch = next_batch()
        waited += time.perf_counter() - t
        state, loss = step(state, {"X": jnp.asarray(batch["X"]), "y": jnp.asarray(batch["y"])})
        losses.append(loss)
    jax.block_until_ready(losses)
    return (time.perf_counter() - t0) / n, waited / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--waveform_cache", default="auto", choices=("auto", "trace", "none"))
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = write_synthetic_dataset(Path(tmp) / "synthetic", SyntheticConfig(n_traces=1000))
        dataset = load_dataset(path, waveform_cache=args.waveform_cache)
        module = PhaseNet()
        step = compile_step(make_step(module, PHASE_TASK))
        state = create_state(module, 1e-3, 0)

        def loader(pipeline: str, prefetch: int):
            return iter(phase_loader(dataset, "train", batch_size=BATCH, epochs=None,
                                     prefetch=prefetch, pipeline=pipeline))

        warm = loader("seisbench", 0)
        for _ in range(len(dataset) // BATCH):  # one pass: the waveform cache is now warm
            fixed = next(warm)
        fixed_batch = {"X": jnp.asarray(fixed["X"]), "y": jnp.asarray(fixed["y"])}
        state, loss = step(state, fixed_batch)  # compile
        loss.block_until_ready()
        t_memory, _ = run_steps(step, state, lambda: fixed, args.steps)
        rows.append(("step, in-memory batch", t_memory))
        for pipeline in ("batched", "seisbench"):
            batches = loader(pipeline, 4)
            next(batches)  # start the worker, as the first epoch does
            t_loader, t_wait = run_steps(step, state, lambda b=batches: next(b), args.steps)
            unfetched = loader(pipeline, 0)
            next(unfetched)
            t0 = time.perf_counter()
            for _ in range(5):
                next(unfetched)
            t_produce = (time.perf_counter() - t0) / 5
            rows += [(f"step, {pipeline} prefetching loader", t_loader),
                     ("  of which blocked in next()", t_wait),
                     (f"{pipeline} producer alone, one batch", t_produce)]
            ratios.append(f"{pipeline}: loader / in memory = {t_loader / t_memory:.2f}, "
                          f"blocked in next() {100 * t_wait / t_loader:.1f}% of the loader run")
    table = "\n".join(["| case | s per step or batch |", "|---|---|"]
                      + [f"| {name} | {t:.4f} |" for name, t in rows])
    summary = "; ".join(ratios)
    print(table)
    print(summary)
    if not args.no_record:
        record(
            f"phasenet_pipeline: cache {args.waveform_cache}",
            "PhaseNet data pipeline: prefetching loaders vs in-memory batches",
            f"Batch {BATCH} "
            f"x 3001 x 3, {args.steps} Adam steps per case, synthetic dataset of 1000 traces, "
            f"waveform cache {args.waveform_cache!r} ({dataset.cache}).", f"{table}\n\n{summary}")


if __name__ == "__main__":
    main()
