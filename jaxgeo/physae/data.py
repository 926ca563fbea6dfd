"""On-device synthetic PhysAE data: key -> parameters -> clean spectrum -> noise -> input.

Batch ``k`` of a stream with seed ``s`` is drawn from ``fold_in(PRNGKey(s), k)``, so every run
(and a resumed run) sees the same batches. Parameters are drawn uniformly in normalised space
(log-uniform for log-scale parameters) over the *training* ranges; the fixed validation set is
drawn over the *validation* ranges. There is no host loader: ``--num_workers`` is accepted by
the entry scripts for compatibility and unused.

Noise profiles (physae.py's): :func:`noise_train` — Gaussian multiplicative (mean one) and
additive (zero mean) noise with std drawn in [0, 1e-3], baseline drift with probability 0.1,
etalon fringes 0.2, spikes 0.1, clipping to [0, 1.1]; :func:`noise_val` — Gaussian std in
[0, 1e-5], nothing else, no clipping.

LOWESS normalisation (physae.py's, on when ``obs.lowess_window > 0``): the noise is added
to the raw spectrum, then the noisy input is divided by *its own* LOWESS scale and the
clean target by its own (:mod:`jaxgeo.physae.lowess`); the baseline's overall level then
cancels and ``baseline0`` is not predicted (``run.build`` drops it from ``space.predicted``;
the model re-simulates with it at the centre of its range, see the lowess module).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import ParameterSpace
from jaxgeo.spectra import NoiseProfile, apply_noise

__all__ = ["noise_train", "noise_val", "NOISE_PROFILES", "sample_normalised", "make_batch",
           "SyntheticStream", "validation_set"]


def noise_train() -> NoiseProfile:
    """physae.py's training noise (see the module docstring)."""
    return NoiseProfile(std_add_range=(0.0, 1e-3), std_mult_range=(0.0, 1e-3), p_drift=0.1,
                        p_fringes=0.2, p_spikes=0.1, p_shot=0.0, p_flicker=0.0,
                        p_glitches=0.0, clip=(0.0, 1.1))


def noise_val() -> NoiseProfile:
    """physae.py's validation noise: Gaussian std <= 1e-5 only."""
    return NoiseProfile(std_add_range=(0.0, 1e-5), std_mult_range=(0.0, 1e-5), p_drift=0.0,
                        p_fringes=0.0, p_spikes=0.0, p_shot=0.0, p_flicker=0.0,
                        p_glitches=0.0, clip=None)


NOISE_PROFILES = {"noise_train": noise_train, "noise_val": noise_val,
                  "none": lambda: None}


def sample_normalised(key, space: ParameterSpace, n: int, which: str = "train",
                      dtype=jnp.float32) -> jax.Array:
    """(n, 9) normalised parameters uniform over the `which` ranges ("train" or "val")."""
    u_lo, u_hi = space.unit_bounds(which)
    u = jax.random.uniform(key, (n, len(space.names)), dtype)
    return (u_lo + (u_hi - u_lo) * u).astype(dtype)


def make_batch(key, *, obs: ObservationModel, space: ParameterSpace, n: int,
               which: str = "train", noise: NoiseProfile | None = None) -> dict:
    """One batch: ``{"x": noisy (n, N), "clean": (n, N), "u": normalised params (n, 9)}``
    (x and clean each divided by its own LOWESS scale when ``obs.lowess_window > 0``).

    jit-compiled once per (obs, space, n, which, noise), however the arguments are passed.

    Args:
      key: PRNG key; obs, space: forward model and parameter space; n: spectra;
      which: "train" or "val" ranges; noise: a NoiseProfile or None (clean input).
    """
    return _make_batch(key, obs, space, int(n), which, noise)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _make_batch(key, obs: ObservationModel, space: ParameterSpace, n: int, which: str,
                noise: NoiseProfile | None) -> dict:
    k_param, k_noise = jax.random.split(key)
    u = sample_normalised(k_param, space, n, which)
    clean = jax.vmap(obs.raw)(space.denormalise(u))
    if noise is None:
        x = clean
    else:
        x = jax.vmap(lambda k, y: apply_noise(k, y, noise)[0])(jax.random.split(k_noise, n),
                                                             clean)
    return {"x": obs.normalise(x), "clean": obs.normalise(clean), "u": u}


@dataclass
class SyntheticStream:
    """An endless, deterministic stream for :func:`jaxgeo.core.train.fit`.

    Attributes:
      obs, space: the forward model and parameter space.
      batch_size: spectra per batch; train_samples: spectra per epoch.
      noise: a NoiseProfile or None; seed: the stream's seed.
    """

    obs: ObservationModel
    space: ParameterSpace
    batch_size: int
    train_samples: int
    noise: NoiseProfile | None = None
    seed: int = 0

    def __post_init__(self):
        if self.batch_size < 1 or self.train_samples < self.batch_size:
            raise ValueError(f"train_samples={self.train_samples} must be >= batch_size="
                             f"{self.batch_size} >= 1")

    def batches_per_epoch(self) -> int:
        return self.train_samples // self.batch_size

    def batch(self, k: int) -> dict:
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), k)
        return make_batch(key, obs=self.obs, space=self.space, n=self.batch_size,
                          which="train", noise=self.noise)

    def iterate(self, start: int = 0) -> Iterator[dict]:
        k = start
        while True:
            yield self.batch(k)
            k += 1


def validation_set(obs: ObservationModel, space: ParameterSpace, n: int, *, seed: int = 1,
                   noise: NoiseProfile | None = None, chunk: int = 256) -> dict:
    """A fixed validation set of `n` spectra over the validation ranges (chunks of `chunk`)."""
    parts = []
    for j, start in enumerate(range(0, n, chunk)):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), j)
        parts.append(make_batch(key, obs=obs, space=space, n=min(chunk, n - start),
                                which="val", noise=noise))
    return jax.tree.map(lambda *a: jnp.concatenate(a), *parts)
