"""What the training engine costs per step: ``core.train.fit`` vs a bare jitted step loop.

Both run the same PhaseNet train step (batch 64 x 3001 x 3, Adam) on one fixed batch: (a) a
bare ``for`` loop over ``jax.jit(step)`` without donation, as ``train_phase`` ran before it
moved onto the engine, reading the loss once at the end; (b) ``fit`` (donated state, the
previous step's metrics read while the next step runs, NaN check, progress bar, epoch
records). The two alternate, each repeat timing ``--steps`` steps after a warm-up; the ratio
of medians is printed and recorded in RESULTS.md.

    python benchmarks/engine_overhead.py [--steps 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.train import fit  # noqa: E402
from jaxgeo.seismic.phasenet import PhaseNet  # noqa: E402
from jaxgeo.seismic.registry import PHASE_TASK  # noqa: E402
from jaxgeo.seismic.train import create_state, make_step  # noqa: E402

BATCH = 64


def bare_loop(module, batch, steps: int) -> float:
    """The pre-engine loop: jit(step) without donation, losses kept on device."""
    state = create_state(module, 1e-3, 0)
    params, stats, opt_state, tx = (state.params, state.batch_stats, state.opt_state,
                                    optax.adam(1e-3))

    def loss_fn(p, s, x, y):
        prob, upd = module.apply({"params": p, "batch_stats": s}, x, train=True,
                                 mutable=["batch_stats"])
        return jnp.mean(PHASE_TASK.loss(prob, y)), upd["batch_stats"]

    @jax.jit
    def step(p, s, o, x, y):
        (loss, s), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
        updates, o = tx.update(g, o, p)
        return optax.apply_updates(p, updates), s, o, loss

    params, stats, opt_state, loss = step(params, stats, opt_state, batch["X"], batch["y"])
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    losses = []
    for _ in range(steps):
        params, stats, opt_state, loss = step(params, stats, opt_state, batch["X"], batch["y"])
        losses.append(loss)
    jax.block_until_ready(losses)
    return (time.perf_counter() - t0) / steps


def engine(module, step, batch, steps: int) -> float:
    """``fit`` over the same step; the first call (warm-up step) is excluded."""
    state, _ = fit(create_state(module, 1e-3, 0), step, lambda k: batch, num_steps=1)
    t0 = time.perf_counter()
    state, _ = fit(state, step, lambda k: batch, num_steps=1 + steps)
    jax.block_until_ready(state.params)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    batch = {"X": jnp.asarray(rng.standard_normal((BATCH, 3001, 3)), jnp.float32),
             "y": jnp.asarray(rng.dirichlet(np.ones(3), size=(BATCH, 3001)), jnp.float32)}
    module = PhaseNet()
    step = make_step(module, PHASE_TASK)  # one step object: fit compiles it once
    bare, eng = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(module, batch, args.steps))
        eng.append(engine(module, step, batch, args.steps))
    mb, me = float(np.median(bare)), float(np.median(eng))
    table = ("| case | median s/step | min-max |\n|---|---|---|\n"
             f"| bare jitted loop | {mb:.4f} | {min(bare):.4f}-{max(bare):.4f} |\n"
             f"| core.train.fit | {me:.4f} | {min(eng):.4f}-{max(eng):.4f} |")
    verdict = f"engine / bare = {me / mb:.3f} (ratio of medians)"
    print(table)
    print(verdict)
    if not args.no_record:
        record("engine_overhead", "Training engine overhead per step (PhaseNet)",
               f"PhaseNet filter_factor 1, batch {BATCH}, Adam; {args.repeats} alternating "
               f"repeats of {args.steps} steps each after a warm-up.", f"{table}\n\n{verdict}")


if __name__ == "__main__":
    main()
