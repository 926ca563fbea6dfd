"""Magnitude regressors in Flax: PhaseNetMag, EQTransformerMag and MagnitudeNet (AMAG v2).

All take channels-last windows ``x [batch, 3000, 3]`` (30 s at 100 Hz) and return a
per-sample magnitude ``[batch, 3000]`` with no output activation (a regression: a softmax over
one channel would be the constant 1.0).

* :class:`PhaseNetMag`: the PhaseNet encoder/decoder (:mod:`jaxgeo.seismic.phasenet`) with a
  1x1 convolution to one channel.
* :class:`EQTransformerMag`: the EQTransformer conv encoder, ``cnn_blocks`` ResCNN blocks and
  ``lstm_blocks`` BiLSTM blocks (:mod:`jaxgeo.seismic.eqtransformer`), then a stack of
  multi-head transformer encoder layers (:class:`TransformerEncoderLayer`, post-norm, ReLU
  feed-forward) of width ``d_model``, and the EQTransformer up-sampling decoder with a
  kernel-11 convolution to one channel.
* :class:`MagnitudeNet`: a PhaseNet-style U-Net with stride-2 down-sampling
  (3000 -> 1500 -> 750 -> 375 -> 188), a bottleneck of a 2-layer BiLSTM, 4-head self-attention
  over ``2 * lstm_hidden`` features, Linear -> dropout -> BatchNorm -> ReLU back to the
  bottleneck width, and a transposed-convolution decoder (kernel 7, stride 2) centre-cropped
  to the skip lengths, ending in a 1x1 convolution 8 -> 1.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgeo.seismic.eqtransformer import (
    LSTM_HIDDEN,
    RES_CNN_KERNELS,
    BiLSTMBlock,
    Decoder,
    Encoder,
    ResCNNBlock,
    TorchLSTM,
)
from jaxgeo.seismic.phasenet import (
    BN_EPS,
    BN_MOMENTUM,
    DEPTH,
    FILTERS_ROOT,
    KERNEL_SIZE,
    PhaseNetDecoder,
    PhaseNetEncoder,
    StridedConv1d,
    TransposedConv1d,
    decoder_filters,
    encoder_filters,
    normalize_waveforms,
)

__all__ = ["MAG_WINDOW", "PhaseNetMag", "TransformerEncoderLayer", "EQTransformerMag",
           "MagnitudeNet"]

MAG_WINDOW = 3000  # 30 s at 100 Hz


def _check(x: jax.Array, name: str, samples: int = MAG_WINDOW, channels: int = 3) -> None:
    if x.ndim != 3 or x.shape[1:] != (samples, channels):
        raise ValueError(f"{name} expects [batch, {samples}, {channels}] (channels-last), got "
                         f"{tuple(x.shape)}")


class PhaseNetMag(nn.Module):
    """PhaseNet encoder/decoder + 1x1 conv to one channel. ``[B, 3000, 3]`` -> ``[B, 3000]``."""

    in_channels: int = 3
    filter_factor: int = 1
    norm: str = "std"

    def preprocess(self, x: jax.Array) -> jax.Array:
        return normalize_waveforms(x, self.norm)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        _check(x, "PhaseNetMag", channels=self.in_channels)
        z, skips = PhaseNetEncoder(self.filter_factor, name="encoder")(x, train)
        h = PhaseNetDecoder(self.filter_factor, name="decoder")(z, skips, train)
        return nn.Conv(1, (1,), name="out")(h)[..., 0]


class TransformerEncoderLayer(nn.Module):
    """Multi-head self-attention + residual + LayerNorm, ReLU feed-forward + residual +
    LayerNorm (post-norm, as ``torch.nn.TransformerEncoderLayer``). ``[B, T, d]`` -> same.

    The attention weights ``[B, nhead, T, T]`` are sown into ``intermediates/attention``.
    """

    d_model: int
    nhead: int
    dim_feedforward: int
    dropout: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.d_model % self.nhead:
            raise ValueError(f"transformer d_model {self.d_model} must be divisible by nhead "
                             f"{self.nhead}")
        head = self.d_model // self.nhead
        b, t, _ = x.shape
        qkv = nn.Dense(3 * self.d_model, name="in_proj")(x).reshape(b, t, 3, self.nhead, head)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # [B, T, H, head]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(head).astype(x.dtype)
        weights = jax.nn.softmax(logits, axis=-1)
        self.sow("intermediates", "attention", weights)
        weights = nn.Dropout(self.dropout, deterministic=not train)(weights)
        att = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, self.d_model)
        drop = nn.Dropout(self.dropout, deterministic=not train)
        y = nn.LayerNorm(epsilon=1e-5, name="norm1")(
            x + drop(nn.Dense(self.d_model, name="out_proj")(att)))
        h = drop(nn.relu(nn.Dense(self.dim_feedforward, name="linear1")(y)))
        return nn.LayerNorm(epsilon=1e-5, name="norm2")(
            y + drop(nn.Dense(self.d_model, name="linear2")(h)))


class EQTransformerMag(nn.Module):
    """EQTransformer encoder + multi-head transformer + magnitude decoder.

    ``[B, in_samples, 3]`` -> ``[B, in_samples]``. ``cnn_blocks`` ResCNN blocks (kernels of
    EQTransformer's ResCNN stack, cycled), ``lstm_blocks`` BiLSTM blocks (16 features), then
    ``transformer_num_encoder_layers`` layers of width ``transformer_d_model`` (a Dense 16 ->
    d_model before and d_model -> 16 after when d_model is not 16). One output channel; the
    ``--phases`` and ``--sampling_rate`` flags act on the labels and the data
    (:func:`jaxgeo.seismic.registry.magnitude_inputs`), not on the network.
    """

    in_channels: int = 3
    in_samples: int = MAG_WINDOW
    cnn_blocks: int = 7
    lstm_blocks: int = 3
    transformer_d_model: int = 16
    transformer_nhead: int = 4
    transformer_num_encoder_layers: int = 2
    transformer_dim_feedforward: int = 128
    drop_rate: float = 0.1
    norm: str = "std"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        _check(x, "EQTransformerMag", self.in_samples, self.in_channels)
        z = Encoder(name="encoder")(x)
        for i in range(self.cnn_blocks):
            z = ResCNNBlock(RES_CNN_KERNELS[i % len(RES_CNN_KERNELS)], self.drop_rate,
                            name=f"res_cnn{i}")(z, train)
        for i in range(self.lstm_blocks):
            z = BiLSTMBlock(self.drop_rate, name=f"bi_lstm{i}")(z, train)
        d = self.transformer_d_model
        if d != LSTM_HIDDEN:
            z = nn.Dense(d, name="to_d_model")(z)
        for i in range(self.transformer_num_encoder_layers):
            z = TransformerEncoderLayer(d, self.transformer_nhead,
                                        self.transformer_dim_feedforward, self.drop_rate,
                                        name=f"transformer{i}")(z, train)
        if d != LSTM_HIDDEN:
            z = nn.Dense(LSTM_HIDDEN, name="from_d_model")(z)
        h = Decoder(self.in_samples, name="decoder")(z)
        return nn.Conv(1, (11,), padding=[(5, 5)], name="out")(h)[..., 0]


def _bn(name: str) -> nn.BatchNorm:
    return nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPS, name=name)


class MagnitudeNet(nn.Module):
    """AMAG v2: stride-2 U-Net with a BiLSTM + attention bottleneck. ``[B, 3000, 3]`` ->
    ``[B, 3000]``. Dropout (``dropout``) needs a ``"dropout"`` rng with ``train=True``."""

    in_channels: int = 3
    filter_factor: int = 1
    lstm_hidden: int = 128
    lstm_layers: int = 2
    dropout: float = 0.2
    attention_heads: int = 4
    norm: str = "std"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        _check(x, "MagnitudeNet", channels=self.in_channels)
        ra, half = not train, KERNEL_SIZE // 2
        f = self.filter_factor
        x = nn.Conv(FILTERS_ROOT * f, (KERNEL_SIZE,), padding=[(half, half)], name="inc")(x)
        x = nn.relu(_bn("in_bn")(x, use_running_average=ra))
        skips = []
        for i, filters in enumerate(encoder_filters(f)):
            x = nn.Conv(filters, (KERNEL_SIZE,), padding=[(half, half)], use_bias=False,
                        name=f"down{i}_conv_same")(x)
            x = nn.relu(_bn(f"down{i}_bn1")(x, use_running_average=ra))
            if i < DEPTH - 1:
                skips.append(x)
                x = StridedConv1d(filters, stride=2, padding=(half, half),
                                  name=f"down{i}_conv_down")(x)
                x = nn.relu(_bn(f"down{i}_bn2")(x, use_running_average=ra))
        width = x.shape[-1]
        drop = nn.Dropout(self.dropout, deterministic=not train)
        for layer in range(self.lstm_layers):
            if layer:
                x = drop(x)  # between stacked LSTM layers, as torch's LSTM(dropout=...)
            x = jnp.concatenate([
                TorchLSTM(self.lstm_hidden, name=f"lstm{layer}_fwd")(x),
                TorchLSTM(self.lstm_hidden, reverse=True, name=f"lstm{layer}_bwd")(x)], -1)
        x = nn.MultiHeadDotProductAttention(num_heads=self.attention_heads,
                                            dropout_rate=self.dropout, deterministic=ra,
                                            name="attention")(x, x)
        x = drop(nn.Dense(width, name="bottleneck_proj")(x))
        x = nn.relu(_bn("bottleneck_bn")(x, use_running_average=ra))
        for i, (filters, skip) in enumerate(zip(decoder_filters(f), skips[::-1], strict=True)):
            x = TransposedConv1d(filters, stride=2, name=f"up{i}_conv_up")(x)
            x = nn.relu(_bn(f"up{i}_bn1")(x, use_running_average=ra))
            offset = (x.shape[1] - skip.shape[1]) // 2
            x = jnp.concatenate([skip, x[:, offset:offset + skip.shape[1]]], axis=-1)
            x = nn.Conv(filters, (KERNEL_SIZE,), padding=[(half, half)], use_bias=False,
                        name=f"up{i}_conv_same")(x)
            x = nn.relu(_bn(f"up{i}_bn2")(x, use_running_average=ra))
        return nn.Conv(1, (1,), name="out")(x)[..., 0]
