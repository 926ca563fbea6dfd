"""EQTransformer (Mousavi et al. 2020) in Flax, matching SeisBench's ``EQTransformer``.

Channels-last: ``x [batch, in_samples, in_channels]`` -> ``(detection, P, S)``, each
``[batch, in_samples]`` (sigmoid probabilities, or logits). Mirrors SeisBench's default
``original_compatible=False`` variant: conv encoder with TF-style max-pool padding, ResCNN
stack, BiLSTM blocks, two global additive self-attention transformers, a detection decoder and
one LSTM + local attention + decoder branch per phase. Dropout is active only with
``train=True`` (needs a ``"dropout"`` rng).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "FILTERS",
    "KERNEL_SIZES",
    "RES_CNN_KERNELS",
    "LSTM_HIDDEN",
    "BN_EPS",
    "BN_MOMENTUM",
    "normalize_waveforms",
    "TorchLSTM",
    "SeqSelfAttention",
    "LayerNormalization",
    "Transformer",
    "Encoder",
    "Decoder",
    "ResCNNBlock",
    "BiLSTMBlock",
    "EQTransformerTrunk",
    "EQTransformer",
]

FILTERS = (8, 16, 16, 32, 32, 64, 64)
KERNEL_SIZES = (11, 9, 7, 7, 5, 5, 3)
RES_CNN_KERNELS = (3, 3, 3, 3, 2, 3, 2)
LSTM_HIDDEN = 16
BN_EPS = 1e-3
BN_MOMENTUM = 0.9  # torch momentum 0.1


def normalize_waveforms(x: jax.Array, norm: str = "std", eps: float = 1e-10) -> jax.Array:
    """SeisBench EQTransformer pre-processing on ``[..., samples, channels]``.

    Demean per channel; divide by the std over samples *and* channels (ddof 1) or by the
    per-channel peak; then a 6-sample cosine taper at both ends.
    """
    if norm not in ("std", "peak"):
        raise ValueError(f"norm must be 'std' or 'peak', got {norm!r}")
    x = x - jnp.mean(x, axis=-2, keepdims=True)
    if norm == "std":
        scale = jnp.std(x, axis=(-1, -2), keepdims=True, ddof=1)
    else:
        scale = jnp.max(jnp.abs(x), axis=-2, keepdims=True)
    x = x / (scale + eps)
    taper = 0.5 * (1.0 + np.cos(np.linspace(np.pi, 2 * np.pi, 6)))
    window = np.ones(x.shape[-2])
    window[:6] = taper
    window[-6:] = taper[::-1]
    return x * jnp.asarray(window, x.dtype)[:, None]


def _conv(features: int, kernel: int, name: str, padding=None) -> nn.Conv:
    pad = padding if padding is not None else [(kernel // 2, kernel // 2)]
    return nn.Conv(features, (kernel,), padding=pad, name=name)


def _bn(name: str) -> nn.BatchNorm:
    return nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPS, name=name)


class TorchLSTM(nn.Module):
    """Single-layer LSTM with PyTorch's parameter layout and gate order (i, f, g, o).

    x ``[B, T, in]`` -> hidden states ``[B, T, hidden]``; ``reverse`` runs right to left.
    Parameters: ``w_ih [in, 4H]``, ``w_hh [H, 4H]``, ``b_ih [4H]``, ``b_hh [4H]``.
    """

    hidden: int
    reverse: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h4 = 4 * self.hidden
        bound = 1.0 / np.sqrt(self.hidden)
        init = nn.initializers.uniform(2 * bound)
        shift = lambda f: (lambda k, s, d=jnp.float32: f(k, s, d) - bound)  # noqa: E731
        w_ih = self.param("w_ih", shift(init), (x.shape[-1], h4))
        w_hh = self.param("w_hh", shift(init), (self.hidden, h4))
        b_ih = self.param("b_ih", shift(init), (h4,))
        b_hh = self.param("b_hh", shift(init), (h4,))
        xw = x @ w_ih + b_ih + b_hh  # [B, T, 4H]: input projection for all steps at once
        seq = jnp.swapaxes(xw, 0, 1)

        def step(carry, xw_t):
            c, h = carry
            i, f, g, o = jnp.split(xw_t + h @ w_hh, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (c, h), h

        zeros = jnp.zeros((x.shape[0], self.hidden), x.dtype)
        _, hs = jax.lax.scan(step, (zeros, zeros), seq, reverse=self.reverse)
        return jnp.swapaxes(hs, 0, 1)


class SeqSelfAttention(nn.Module):
    """Additive self-attention (keras-self-attention, as in SeisBench). x ``[B, T, C]``."""

    units: int = 32
    attention_width: int | None = None
    eps: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = x.shape[-1]
        init = nn.initializers.uniform(0.04)
        shifted = lambda k, s, d=jnp.float32: init(k, s, d) - 0.02  # noqa: E731
        wx = self.param("Wx", shifted, (c, self.units))
        wt = self.param("Wt", shifted, (c, self.units))
        bh = self.param("bh", nn.initializers.zeros, (self.units,))
        wa = self.param("Wa", shifted, (self.units, 1))
        ba = self.param("ba", nn.initializers.zeros, (1,))
        q = (x @ wt)[:, :, None, :]
        k = (x @ wx)[:, None, :, :]
        e = (jnp.tanh(q + k + bh) @ wa)[..., 0] + ba[0]  # [B, T, T]
        e = jnp.exp(e - jnp.max(e, axis=-1, keepdims=True))
        if self.attention_width is not None:
            t = x.shape[1]
            lower = jnp.arange(t) - self.attention_width // 2
            rows = jnp.arange(t)[:, None]
            mask = (lower <= rows) & (rows < lower + self.attention_width)
            e = jnp.where(mask, e, 0.0)
        a = e / (jnp.sum(e, axis=-1, keepdims=True) + self.eps)
        return a @ x


class LayerNormalization(nn.Module):
    """Layer norm over channels with eps 1e-14 inside the sqrt (SeisBench's custom layer)."""

    eps: float = 1e-14

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        gamma = self.param("gamma", nn.initializers.ones, (x.shape[-1],))
        beta = self.param("beta", nn.initializers.zeros, (x.shape[-1],))
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mean) ** 2, axis=-1, keepdims=True) + self.eps
        return (x - mean) / jnp.sqrt(var) * gamma + beta


class Transformer(nn.Module):
    """Global attention + residual + layer norm + feed-forward (128 hidden) + residual + norm."""

    drop_rate: float = 0.1
    eps: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        y = LayerNormalization(name="norm1")(x + SeqSelfAttention(eps=self.eps,
                                                                  name="attention")(x))
        h = nn.relu(nn.Dense(128, name="lin1")(y))
        h = nn.Dropout(self.drop_rate, deterministic=not train)(h)
        return LayerNormalization(name="norm2")(y + nn.Dense(x.shape[-1], name="lin2")(h))


class Encoder(nn.Module):
    """Seven conv + ReLU + max-pool(2) stages; odd lengths padded right with -1e10 (TF 'same')."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, (f, k) in enumerate(zip(FILTERS, KERNEL_SIZES, strict=True)):
            x = nn.relu(_conv(f, k, f"conv{i}")(x))
            if x.shape[1] % 2:
                x = jnp.pad(x, ((0, 0), (0, 1), (0, 0)), constant_values=-1e10)
            x = nn.max_pool(x, (2,), strides=(2,))
        return x


class Decoder(nn.Module):
    """Seven nearest ×2 up-samplings, each followed by conv + ReLU; crops restore odd lengths."""

    out_samples: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        crops, current = [], self.out_samples
        n = len(FILTERS)
        for i in range(n):
            pad = current % 2
            current = (current + pad) // 2
            if pad:
                crops.append(n - 1 - i)
        for i, (f, k) in enumerate(zip(FILTERS[::-1], KERNEL_SIZES[::-1], strict=True)):
            x = jnp.repeat(x, 2, axis=1)
            if i in crops:
                x = x[:, :-1]
            x = nn.relu(_conv(f, k, f"conv{i}")(x))
        return x


class ResCNNBlock(nn.Module):
    kernel: int
    drop_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        f = x.shape[-1]
        pad = [(1, 1)] if self.kernel == 3 else [(0, 1)]
        drop = nn.Dropout(self.drop_rate, broadcast_dims=(1,), deterministic=not train)
        y = drop(nn.relu(_bn("norm1")(x, use_running_average=not train)))
        y = _conv(f, self.kernel, "conv1", pad)(y)
        y = drop(nn.relu(_bn("norm2")(y, use_running_average=not train)))
        y = _conv(f, self.kernel, "conv2", pad)(y)
        return x + y


class BiLSTMBlock(nn.Module):
    drop_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        y = jnp.concatenate([TorchLSTM(LSTM_HIDDEN, name="lstm_fwd")(x),
                             TorchLSTM(LSTM_HIDDEN, reverse=True, name="lstm_bwd")(x)], axis=-1)
        y = nn.Dropout(self.drop_rate, deterministic=not train)(y)
        y = _conv(LSTM_HIDDEN, 1, "conv", [(0, 0)])(y)
        return _bn("norm")(y, use_running_average=not train)


class EQTransformerTrunk(nn.Module):
    """Shared part: encoder, ResCNN stack, BiLSTM stack, two transformers -> ``[B, T/128, 16]``."""

    lstm_blocks: int = 3
    drop_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = Encoder(name="encoder")(x)
        for i, k in enumerate(RES_CNN_KERNELS):
            x = ResCNNBlock(k, self.drop_rate, name=f"res_cnn{i}")(x, train)
        for i in range(self.lstm_blocks):
            x = BiLSTMBlock(self.drop_rate, name=f"bi_lstm{i}")(x, train)
        x = Transformer(self.drop_rate, name="transformer_d0")(x, train)
        return Transformer(self.drop_rate, name="transformer_d")(x, train)


class EQTransformer(nn.Module):
    """SeisBench EQTransformer. x ``[B, in_samples, in_channels]`` -> tuple of ``[B, in_samples]``.

    Outputs are (detection, phase 1, phase 2, ...). :meth:`encode` returns the shared
    ``[B, 47, 16]`` representation after the two transformers (6000 samples).
    """

    in_channels: int = 3
    in_samples: int = 6000
    classes: int = 2
    phases: str = "PS"
    lstm_blocks: int = 3
    drop_rate: float = 0.1
    sampling_rate: float = 100.0
    norm: str = "std"

    def setup(self):
        self.trunk = EQTransformerTrunk(self.lstm_blocks, self.drop_rate)
        self.decoder_d = Decoder(self.in_samples)
        self.conv_d = _conv(1, 11, None)
        self.pick_lstms = [TorchLSTM(LSTM_HIDDEN) for _ in range(self.classes)]
        self.pick_attentions = [SeqSelfAttention(attention_width=3) for _ in range(self.classes)]
        self.pick_decoders = [Decoder(self.in_samples) for _ in range(self.classes)]
        self.pick_convs = [_conv(1, 11, None) for _ in range(self.classes)]
        self.dropout = nn.Dropout(self.drop_rate)

    def preprocess(self, x: jax.Array) -> jax.Array:
        return normalize_waveforms(x, self.norm)

    def encode(self, x: jax.Array, train: bool = False) -> jax.Array:
        if x.ndim != 3 or x.shape[1:] != (self.in_samples, self.in_channels):
            raise ValueError(
                f"EQTransformer expects [batch, {self.in_samples}, {self.in_channels}] "
                f"(channels-last), got {tuple(x.shape)}"
            )
        return self.trunk(x, train)

    def __call__(self, x: jax.Array, train: bool = False, logits: bool = False):
        act = (lambda v: v) if logits else jax.nn.sigmoid
        z = self.encode(x, train)
        outputs = [act(self.conv_d(self.decoder_d(z))[..., 0])]
        for j in range(self.classes):
            p = self.dropout(self.pick_lstms[j](z), deterministic=not train)
            p = self.pick_decoders[j](self.pick_attentions[j](p))
            outputs.append(act(self.pick_convs[j](p)[..., 0]))
        return tuple(outputs)
