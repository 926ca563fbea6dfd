"""PhaseNet layer by layer: forward + backward of each layer alone, jaxgeo vs PyTorch.

For every convolution of SeisBench's PhaseNet (filter_factor 1, batch 64: the stride-1
convolutions, the stride-4 down-sampling and the transposed up-sampling) and for BatchNorm +
ReLU at the two largest shapes, times one forward and backward pass (gradients of the input
and the weights for a fixed output cotangent): jaxgeo's Flax layer under ``jax.jit(jax.vjp)``
and the torch layer with ``backward()``, alternately in one process, medians of ``--repeats``.
Then the whole training step both ways, to compare the sum of the layers with the step.

Run on 1 core as well (``taskset -c 0 python benchmarks/phasenet_layers.py``): the thread count
follows the process's CPU affinity. Appends a section to benchmarks/RESULTS.md unless
``--no-record``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import seisbench.models as sbm  # noqa: E402
import torch  # noqa: E402
from _results import record  # noqa: E402

from jaxgeo.core.train import compile_step  # noqa: E402
from jaxgeo.seismic.phasenet import (  # noqa: E402
    BN_EPS,
    DOWN_PADDING,
    KERNEL_SIZE,
    PhaseNet,
    StridedConv1d,
    TransposedConv1d,
    decoder_filters,
    encoder_filters,
)
from jaxgeo.seismic.registry import PHASE_TASK  # noqa: E402
from jaxgeo.seismic.train import create_state, make_step  # noqa: E402

BATCH = 64
LEVEL_SAMPLES = (3001, 751, 188, 47, 12)


def layer_specs() -> list[tuple[str, str, int, int, int]]:
    """(name, kind, in channels, out channels, input samples) of PhaseNet's layers."""
    enc, dec = encoder_filters(1), decoder_filters(1)
    specs = [("inc", "conv_bias", 3, enc[0], LEVEL_SAMPLES[0])]
    previous = enc[0]
    for i, filters in enumerate(enc):
        specs.append((f"down{i}_conv_same", "conv", previous, filters, LEVEL_SAMPLES[i]))
        if i < len(enc) - 1:
            specs.append((f"down{i}_conv_down", f"strided{i}", filters, filters,
                          LEVEL_SAMPLES[i]))
        previous = filters
    for i, filters in enumerate(dec):
        specs.append((f"up{i}_conv_up", "transposed", previous, filters, LEVEL_SAMPLES[4 - i]))
        specs.append((f"up{i}_conv_same", "conv", 2 * filters, filters, LEVEL_SAMPLES[3 - i]))
        previous = filters
    specs += [("bn+relu 3001x8", "bn", 8, 8, 3001), ("bn+relu 751x16", "bn", 16, 16, 751)]
    return specs


def build(kind: str, cin: int, cout: int):
    """(flax module, torch module) of one layer kind."""
    half = KERNEL_SIZE // 2
    if kind.startswith("conv"):
        bias = kind == "conv_bias"
        return (nn.Conv(cout, (KERNEL_SIZE,), padding=[(half, half)], use_bias=bias),
                torch.nn.Conv1d(cin, cout, KERNEL_SIZE, padding=half, bias=bias))
    if kind.startswith("strided"):
        pad = DOWN_PADDING[int(kind[-1])]
        return (StridedConv1d(cout, padding=pad),
                torch.nn.Sequential(torch.nn.ConstantPad1d(pad, 0.0),
                                    torch.nn.Conv1d(cin, cout, KERNEL_SIZE, stride=4,
                                                    bias=False)))
    if kind == "transposed":
        return (TransposedConv1d(cout),
                torch.nn.ConvTranspose1d(cin, cout, KERNEL_SIZE, stride=4, bias=False))
    return (nn.BatchNorm(momentum=0.9, epsilon=BN_EPS, use_running_average=False),
            torch.nn.Sequential(torch.nn.BatchNorm1d(cin, eps=BN_EPS), torch.nn.ReLU()))


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def time_layer(kind: str, cin: int, cout: int, samples: int, repeats: int, rng):
    """(jaxgeo ms, torch ms, max |output difference|) for one forward + backward."""
    module, torch_module = build(kind, cin, cout)
    x = rng.standard_normal((BATCH, samples, cin)).astype(np.float32)
    variables = module.init(jax.random.key(0), jnp.asarray(x))

    def apply(params, inputs):
        if kind == "bn":
            out, _ = module.apply({"params": params, "batch_stats": variables["batch_stats"]},
                                  inputs, mutable=["batch_stats"])
            return nn.relu(out)
        return module.apply({"params": params}, inputs)

    xj = jnp.asarray(x)
    out = apply(variables["params"], xj)
    cotangent = jnp.asarray(rng.standard_normal(out.shape).astype(np.float32))
    backward = jax.jit(lambda p, inputs: jax.vjp(apply, p, inputs)[1](cotangent))
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).requires_grad_(True)
    ct = torch.from_numpy(np.asarray(cotangent).transpose(0, 2, 1).copy())
    torch_module.train()

    def torch_step():
        torch_module.zero_grad()
        xt.grad = None
        (torch_module(xt) * ct).sum().backward()

    jax_ms = median_ms(lambda: jax.block_until_ready(backward(variables["params"], xj)),
                       repeats)
    torch_ms = median_ms(torch_step, repeats)
    return jax_ms, torch_ms, tuple(out.shape) == tuple(torch_module(xt).permute(0, 2, 1).shape)


def time_steps(repeats: int, rng) -> tuple[float, float]:
    """Median ms of one Adam training step (batch 64), jaxgeo and SeisBench, alternately."""
    x = rng.standard_normal((BATCH, 3001, 3)).astype(np.float32)
    y = np.full((BATCH, 3001, 3), 1 / 3, np.float32)
    module = PhaseNet()
    state = create_state(module, 1e-3, 0)
    step = compile_step(make_step(module, PHASE_TASK))
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    ref = sbm.PhaseNet()
    opt = torch.optim.Adam(ref.parameters(), 1e-3)
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy())
    yt = torch.from_numpy(y.transpose(0, 2, 1).copy())

    def torch_step():
        ref.train()
        opt.zero_grad()
        prob = ref(xt)
        (-(yt * torch.log(prob + 1e-5)).mean(-1).sum(-1).mean()).backward()
        opt.step()

    jax_step = lambda: jax.block_until_ready(step(state, {"X": xj, "y": yj}))  # noqa: E731
    jax_step(), torch_step()
    jt, tt = [], []
    for _ in range(repeats):
        jt.append(median_ms(jax_step, 1))
        tt.append(median_ms(torch_step, 1))
    return float(np.median(jt)), float(np.median(tt))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    rng = np.random.default_rng(0)
    rows, total_jax, total_torch = [], 0.0, 0.0
    for name, kind, cin, cout, samples in layer_specs():
        jax_ms, torch_ms, same_shape = time_layer(kind, cin, cout, samples, args.repeats, rng)
        if not same_shape:
            raise RuntimeError(f"{name}: jaxgeo and torch output shapes differ")
        total_jax, total_torch = total_jax + jax_ms, total_torch + torch_ms
        rows.append(f"| {name} | {cin}->{cout} | {samples} | {jax_ms:.2f} | {torch_ms:.2f} | "
                    f"{jax_ms / torch_ms:.2f} |")
        print(rows[-1], flush=True)
    step_jax, step_torch = time_steps(args.repeats, rng)
    rows.append(f"| **sum of the layers above** | | | {total_jax:.1f} | {total_torch:.1f} | "
                f"{total_jax / total_torch:.2f} |")
    rows.append(f"| **whole training step** (Adam) | | | {step_jax:.1f} | {step_torch:.1f} | "
                f"{step_jax / step_torch:.2f} |")
    table = "\n".join(["| layer (forward + backward) | channels | samples in | jaxgeo ms | "
                       "torch ms | ratio |", "|---|---|---|---|---|---|", *rows])
    print("\n".join(rows[-2:]))
    if not args.no_record:
        record(
            f"phasenet_layers: {cores} core(s)",
            "PhaseNet layer by layer: forward + backward, jaxgeo vs PyTorch",
            f"{cores} CPU core(s) in this process's affinity; torch {torch.get_num_threads()} "
            f"threads. Batch {BATCH}, medians of {args.repeats}.", table)


if __name__ == "__main__":
    main()
