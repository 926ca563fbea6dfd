"""PhysAE networks (flax.linen): EfficientNetV2-1D encoder, head, cascade refiners, denoiser.

Shapes: spectra (B, N) float; normalised parameters (B, 9) in [0, 1] (order
:data:`jaxgeo.physae.params.PARAM_NAMES`). The network computes in ``dtype`` (float32 or
bfloat16); the simulator inside the refiners always runs in float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import ParameterSpace

__all__ = ["Block", "VARIANTS", "EfficientNet1D", "Head", "Refiner", "Denoiser", "PhysAE",
           "count_params"]


@dataclass(frozen=True)
class Block:
    """One EfficientNetV2 stage: block kind, expansion, stride, output channels, repeats."""

    kind: str  # "fused" | "mb"
    expand: int
    stride: int
    channels: int
    repeats: int


# EfficientNetV2 S/M/L stage tables (Tan & Le 2021, Table 4 and the reference code), in 1D
# (kernel 3). "tiny" is for tests.
VARIANTS: dict[str, tuple[int, tuple[Block, ...], int]] = {
    "s": (24, (Block("fused", 1, 1, 24, 2), Block("fused", 4, 2, 48, 4),
               Block("fused", 4, 2, 64, 4), Block("mb", 4, 2, 128, 6),
               Block("mb", 6, 1, 160, 9), Block("mb", 6, 2, 256, 15)), 1280),
    "m": (24, (Block("fused", 1, 1, 24, 3), Block("fused", 4, 2, 48, 5),
               Block("fused", 4, 2, 80, 5), Block("mb", 4, 2, 160, 7),
               Block("mb", 6, 1, 176, 14), Block("mb", 6, 2, 304, 18),
               Block("mb", 6, 1, 512, 5)), 1280),
    "l": (32, (Block("fused", 1, 1, 32, 4), Block("fused", 4, 2, 64, 7),
               Block("fused", 4, 2, 96, 7), Block("mb", 4, 2, 192, 10),
               Block("mb", 6, 1, 224, 19), Block("mb", 6, 2, 384, 25),
               Block("mb", 6, 1, 640, 7)), 1280),
    "tiny": (8, (Block("fused", 1, 1, 8, 1), Block("fused", 2, 2, 16, 1),
                 Block("mb", 2, 2, 16, 1)), 32),
}


def _groups(channels: int, max_groups: int = 8) -> int:
    return math.gcd(channels, max_groups)


def count_params(params) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(x.size for x in jax.tree.leaves(params)))


class _ConvGN(nn.Module):
    features: int
    kernel: int = 1
    stride: int = 1
    groups: int = 1  # feature_group_count (depthwise when == input channels)
    act: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.features, (self.kernel,), strides=(self.stride,), padding="SAME",
                    feature_group_count=self.groups, use_bias=False, dtype=self.dtype)(x)
        x = nn.GroupNorm(num_groups=_groups(self.features), dtype=self.dtype)(x)
        return nn.silu(x) if self.act else x


class _SqueezeExcite(nn.Module):
    reduced: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        s = jnp.mean(x, axis=1, keepdims=True)
        s = nn.silu(nn.Dense(self.reduced, dtype=self.dtype)(s))
        s = nn.sigmoid(nn.Dense(x.shape[-1], dtype=self.dtype)(s))
        return x * s


class _MBBlock(nn.Module):
    """Fused-MBConv (kind "fused") or MBConv with squeeze-excitation (kind "mb")."""

    kind: str
    expand: int
    stride: int
    channels: int
    drop_rate: float = 0.0
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        c_in = x.shape[-1]
        hidden = c_in * self.expand
        h = x
        if self.kind == "fused":
            if self.expand == 1:
                h = _ConvGN(self.channels, 3, self.stride, dtype=self.dtype)(h)
            else:
                h = _ConvGN(hidden, 3, self.stride, dtype=self.dtype)(h)
                h = _ConvGN(self.channels, 1, act=False, dtype=self.dtype)(h)
        else:
            h = _ConvGN(hidden, 1, dtype=self.dtype)(h)
            h = _ConvGN(hidden, 3, self.stride, groups=hidden, dtype=self.dtype)(h)
            h = _SqueezeExcite(max(1, c_in // 4), dtype=self.dtype)(h)
            h = _ConvGN(self.channels, 1, act=False, dtype=self.dtype)(h)
        if self.stride == 1 and c_in == self.channels:
            if train and self.drop_rate > 0:  # stochastic depth: drop the whole branch
                keep = 1.0 - self.drop_rate
                mask = jax.random.bernoulli(self.make_rng("dropout"), keep, (h.shape[0], 1, 1))
                h = h * mask / keep
            h = h + x
        return h


class EfficientNet1D(nn.Module):
    """EfficientNetV2-style 1D encoder: (B, N) -> pooled features (B, head_width)."""

    variant: str = "s"
    drop_path: float = 0.2
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = False):
        if self.variant not in VARIANTS:
            raise ValueError(f"encoder_variant={self.variant!r}: allowed {sorted(VARIANTS)}")
        stem, blocks, head = VARIANTS[self.variant]
        h = x[..., None].astype(self.dtype)
        h = _ConvGN(stem, 3, 2, dtype=self.dtype)(h)
        total = sum(b.repeats for b in blocks)
        j = 0
        for b in blocks:
            for r in range(b.repeats):
                h = _MBBlock(b.kind, b.expand, b.stride if r == 0 else 1, b.channels,
                             self.drop_path * j / total, dtype=self.dtype)(h, train)
                j += 1
        h = _ConvGN(head, 1, dtype=self.dtype)(h)
        return jnp.mean(h, axis=1)


class Head(nn.Module):
    """Shared MLP on pooled features -> (B, n_out) in (0, 1); optional FiLM on (P, T)."""

    n_out: int
    hidden: int = 256
    dropout: float = 0.1
    film: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, feats, cond=None, train: bool = False):
        if self.film:
            gb = nn.Dense(2 * feats.shape[-1], dtype=self.dtype,
                          kernel_init=nn.initializers.zeros)(cond.astype(self.dtype))
            gamma, beta = jnp.split(gb, 2, axis=-1)
            feats = feats * (1.0 + gamma) + beta
        h = nn.silu(nn.Dense(self.hidden, dtype=self.dtype)(feats))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return nn.sigmoid(nn.Dense(self.n_out, dtype=jnp.float32)(h).astype(jnp.float32))


class Refiner(nn.Module):
    """(measured, residual, current estimate) -> bounded, gated correction (B, 9).

    correction = sigmoid(gate) * max_step * tanh(net), applied to the `refined` entries only.
    """

    width: int = 32
    depth: int = 3
    dropout: float = 0.1
    max_step: float = 0.1
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, measured, residual, u, mask, train: bool = False):
        h = jnp.stack([measured, residual * 100.0], axis=-1).astype(self.dtype)
        for d in range(self.depth):
            h = _ConvGN(self.width, 5, 2 if d else 1, dtype=self.dtype)(h)
        h = jnp.concatenate([jnp.mean(h, axis=1), u.astype(self.dtype)], axis=-1)
        h = nn.silu(nn.Dense(2 * self.width, dtype=self.dtype)(h))
        h = nn.Dropout(self.dropout, deterministic=not train)(h)
        delta = jnp.tanh(nn.Dense(u.shape[-1], dtype=jnp.float32,
                                  kernel_init=nn.initializers.zeros)(h).astype(jnp.float32))
        gate = nn.sigmoid(self.param("gate", nn.initializers.constant(-2.0), ()))
        return gate * self.max_step * delta * mask


class Denoiser(nn.Module):
    """Dilated residual 1D conv net: noisy (B, N) -> denoised (B, N) = x - predicted noise."""

    width: int = 32
    dilations: Sequence[int] = (1, 2, 4, 8, 16)
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        h = nn.Conv(self.width, (3,), padding="SAME", dtype=self.dtype)(x[..., None].astype(
            self.dtype))
        for d in self.dilations:
            r = nn.silu(nn.GroupNorm(num_groups=_groups(self.width), dtype=self.dtype)(h))
            r = nn.Conv(self.width, (3,), kernel_dilation=(d,), padding="SAME",
                        dtype=self.dtype)(r)
            h = h + r
        noise = nn.Conv(1, (1,), dtype=jnp.float32, kernel_init=nn.initializers.zeros)(h)
        return x - noise[..., 0].astype(jnp.float32)


class PhysAE(nn.Module):
    """Encoder + head, `num_refiners` cascade refiners through the simulator, denoiser.

    Parameters of ``init`` (``method=PhysAE.init_all``) live under ``encoder``, ``head``,
    ``refiner_<k>`` and ``denoiser``. Entries of the parameter vector not in
    ``space.predicted`` are taken from ``known`` (normalised, e.g. measured P and T).
    """

    obs: ObservationModel
    space: ParameterSpace
    variant: str = "s"
    num_refiners: int = 2
    film: bool = False
    mlp_dropout: float = 0.1
    refiner_dropout: float = 0.1
    drop_path: float = 0.2
    refiner_width: int = 32
    head_hidden: int = 256
    dtype: jnp.dtype = jnp.float32

    def setup(self):
        self.encoder = EfficientNet1D(self.variant, self.drop_path, dtype=self.dtype)
        self.head = Head(len(self.space.names), self.head_hidden, self.mlp_dropout, self.film,
                         dtype=self.dtype)
        self.refiners = [Refiner(self.refiner_width, dropout=self.refiner_dropout,
                                 dtype=self.dtype, name=f"refiner_{k}")
                         for k in range(self.num_refiners)]
        self.denoiser = Denoiser(dtype=self.dtype)

    def _cond(self, known):
        i_p, i_t = self.space.index("P"), self.space.index("T")
        return jnp.stack([known[:, i_p], known[:, i_t]], axis=-1)

    def simulate(self, u):
        """Normalised (B, 9) -> spectra (B, N), float32."""
        return jax.vmap(self.obs)(self.space.denormalise(u.astype(jnp.float32)))

    def __call__(self, x, known=None, active_refiners: int | None = None, train: bool = False,
                 frozen_backbone: bool = False):
        """Estimates after the head and after each active refiner: list of (B, 9).

        ``frozen_backbone`` stops the gradient at the head's estimate (stage B1: the
        refiners' gradients are unchanged, the backward pass through the encoder and the
        first re-simulation is skipped).
        """
        mask = jnp.asarray(self.space.predicted_mask(), jnp.float32)
        if known is None:
            known = jnp.full((x.shape[0], len(self.space.names)), 0.5, jnp.float32)
        u = self.head(self.encoder(x, train), self._cond(known) if self.film else None, train)
        u = mask * u + (1 - mask) * known
        if frozen_backbone:
            u = jax.lax.stop_gradient(u)
        out = [u]
        n_active = self.num_refiners if active_refiners is None else active_refiners
        for k in range(n_active):
            residual = x - self.simulate(u)  # differentiable: B2 trains through it
            u = jnp.clip(u + self.refiners[k](x, residual, u, mask, train), 0.0, 1.0)
            out.append(u)
        return out

    def denoise(self, x):
        return self.denoiser(x)

    def init_all(self, x, known=None):
        """Touch every sub-module (for ``init``)."""
        return self(x, known, None, False), self.denoise(x)
