"""PhaseNet family in Flax, layer-for-layer compatible with SeisBench's PyTorch PhaseNet.

Layout is channels-last: inputs ``[batch, samples, channels]`` (3001 samples at 100 Hz), outputs
``[batch, samples, classes]``. The architecture follows SeisBench ``seisbench.models.PhaseNet``
(Zhu & Beroza 2019): kernel 7, stride-4 down-sampling with asymmetric zero padding at levels
1-3, transposed-convolution up-sampling cropped by one sample on the left and two on the right,
centre-cropped skip connections, BatchNorm with eps 1e-3 and ``filter_factor`` times the
original 8-16-32-64-128 filters.

``PhaseNetLSTM`` and ``PhaseNetConvLSTM`` add a recurrent block at the bottleneck (the 12-sample
deepest level) and otherwise share the encoder and decoder, so pretrained PhaseNet weights for
the convolutional parts can be reused.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = [
    "IN_SAMPLES",
    "KERNEL_SIZE",
    "STRIDE",
    "DEPTH",
    "FILTERS_ROOT",
    "BN_EPS",
    "BN_MOMENTUM",
    "DOWN_PADDING",
    "encoder_filters",
    "decoder_filters",
    "normalize_waveforms",
    "TransposedConv1d",
    "StridedConv1d",
    "PhaseNetEncoder",
    "PhaseNetDecoder",
    "BottleneckLSTM",
    "ConvLSTMCell",
    "BottleneckConvLSTM",
    "PhaseNet",
    "PhaseNetLSTM",
    "PhaseNetConvLSTM",
]

IN_SAMPLES = 3001
KERNEL_SIZE = 7
STRIDE = 4
DEPTH = 5
FILTERS_ROOT = 8
BN_EPS = 1e-3
# torch BatchNorm momentum 0.1 updates running = 0.9 running + 0.1 batch; Flax uses the complement.
BN_MOMENTUM = 0.9
# Manual (left, right) zero padding before the stride-4 convolution of each encoder level.
# Level 0 uses the symmetric kernel_size // 2 padding of its torch Conv1d; level 4 has no down-step.
DOWN_PADDING = ((3, 3), (2, 3), (1, 3), (2, 3))


def encoder_filters(filter_factor: int) -> list[int]:
    """Channel counts of the five encoder levels: 8·2^i·filter_factor."""
    return [int(2**i * FILTERS_ROOT) * filter_factor for i in range(DEPTH)]


def decoder_filters(filter_factor: int) -> list[int]:
    """Channel counts of the four decoder levels (deepest first): 64, 32, 16, 8 (× factor)."""
    return [int(2 ** (3 - i) * FILTERS_ROOT) * filter_factor for i in range(DEPTH - 1)]


def normalize_waveforms(x: jax.Array, norm: str = "std", eps: float = 1e-10) -> jax.Array:
    """SeisBench PhaseNet pre-processing: demean per channel, divide by std (ddof 1) or peak.

    x: ``[..., samples, channels]``; returns the same shape. Matches
    ``PhaseNet.annotate_batch_pre`` (with the default ``norm_amp_per_comp=False``).
    """
    if norm not in ("std", "peak"):
        raise ValueError(f"norm must be 'std' or 'peak', got {norm!r}")
    x = x - jnp.mean(x, axis=-2, keepdims=True)
    if norm == "std":
        scale = jnp.std(x, axis=-2, keepdims=True, ddof=1)
    else:
        scale = jnp.max(jnp.abs(x), axis=-2, keepdims=True)
    return x / (scale + eps)


def _batch_norm(name: str) -> nn.BatchNorm:
    return nn.BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPS, name=name)


class _PolyphaseConv(nn.Module):
    """Shared fields of the stride-``stride`` convolutions evaluated in polyphase form."""

    features: int
    kernel_size: int = KERNEL_SIZE
    stride: int = STRIDE

    def kernel_and_taps(self, x: jax.Array) -> tuple[jax.Array, int]:
        """The ``kernel`` parameter ``[kernel_size, in, features]`` in ``x``'s dtype, and the
        number of taps per phase, ``ceil(kernel_size / stride)``."""
        shape = (self.kernel_size, x.shape[-1], self.features)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), shape).astype(x.dtype)
        return kernel, -(-self.kernel_size // self.stride)


class TransposedConv1d(_PolyphaseConv):
    """PyTorch ``ConvTranspose1d`` (no padding, no bias): length ``(L - 1) * stride + kernel``.

    The kernel is stored as ``[kernel, in, out]`` in the orientation of a forward convolution
    over the zero-stuffed input, i.e. torch's ``weight[in, out, k]`` flipped along ``k``.
    It is evaluated in polyphase form: output sample ``m * stride + r`` only sees the taps
    ``k = r + q * stride`` of torch's kernel, so one stride-1 convolution with ``stride``
    times the output channels, followed by an interleave, replaces the convolution over the
    zero-stuffed input (which does ``stride`` times the work and, on CPU, differentiates into
    slow dilated convolutions).
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, taps = self.kernel_and_taps(x)
        k, s = self.kernel_size, self.stride
        torch_kernel = kernel[::-1]  # torch's weight[:, :, k] as [k, in, out]
        zeros = jnp.zeros_like(torch_kernel[0])
        # polyphase kernel [taps, in, stride * out]: tap j multiplies x[m - (taps - 1 - j)]
        phases = []
        for r in range(s):
            phases.append(jnp.stack([
                torch_kernel[r + q * s] if r + q * s < k else zeros
                for q in range(taps - 1, -1, -1)]))
        poly = jnp.concatenate(phases, axis=-1)
        length = x.shape[1]
        # a few taps: matrix products over the channels (their gradients are products too;
        # XLA's CPU weight-gradient convolutions for this shape were ~3x slower)
        x_pad = jnp.pad(x, ((0, 0), (taps - 1, taps - 1), (0, 0)))
        n = length + taps - 1
        y = sum(x_pad[:, j:j + n] @ poly[j] for j in range(taps))  # [B, n, stride * out]
        y = y.reshape(y.shape[0], n * s, self.features)
        return y[:, : (length - 1) * s + k]


class StridedConv1d(_PolyphaseConv):
    """``nn.Conv(features, (kernel,), strides=(stride,), padding=[padding], use_bias=False)``
    evaluated in polyphase form (same ``kernel`` parameter ``[kernel, in, out]``).

    The padded input is folded into blocks of ``stride`` samples, so output ``m`` is a sum of
    ``ceil(kernel / stride)`` matrix products of consecutive blocks with slices of the kernel:
    no strided convolution, whose input gradient XLA's CPU backend runs as a slow dilated one.
    """

    padding: tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, taps = self.kernel_and_taps(x)
        k, s = self.kernel_size, self.stride
        padded = x.shape[1] + sum(self.padding)
        n_out = (padded - k) // s + 1
        n_blocks = n_out + taps - 1
        right = n_blocks * s - x.shape[1] - self.padding[0]
        x = jnp.pad(x, ((0, 0), (self.padding[0], max(right, 0)), (0, 0)))[:, : n_blocks * s]
        blocks = x.reshape(x.shape[0], n_blocks, s * x.shape[-1])  # [B, blocks, s * in]
        full = jnp.concatenate(
            [kernel, jnp.zeros((taps * s - k,) + kernel.shape[1:], kernel.dtype)])
        weights = full.reshape(taps, s * kernel.shape[1], self.features)
        return sum(blocks[:, q:q + n_out] @ weights[q] for q in range(taps))


class PhaseNetEncoder(nn.Module):
    """Input convolution plus the five encoder levels.

    Returns ``(bottleneck [B, 12, 128·f], skips)`` where ``skips`` are the four pre-down-sampling
    activations ``[B, 3001|751|188|47, 8·2^i·f]`` (shallowest first).
    """

    filter_factor: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, list[jax.Array]]:
        ra = not train
        half = KERNEL_SIZE // 2
        x = nn.Conv(FILTERS_ROOT * self.filter_factor, (KERNEL_SIZE,), padding=[(half, half)],
                    name="inc")(x)
        x = nn.relu(_batch_norm("in_bn")(x, use_running_average=ra))
        skips = []
        for i, filters in enumerate(encoder_filters(self.filter_factor)):
            x = nn.Conv(filters, (KERNEL_SIZE,), padding=[(half, half)], use_bias=False,
                        name=f"down{i}_conv_same")(x)
            x = nn.relu(_batch_norm(f"down{i}_bn1")(x, use_running_average=ra))
            if i < DEPTH - 1:
                skips.append(x)
                x = StridedConv1d(filters, padding=DOWN_PADDING[i], name=f"down{i}_conv_down")(x)
                x = nn.relu(_batch_norm(f"down{i}_bn2")(x, use_running_average=ra))
        return x, skips


class PhaseNetDecoder(nn.Module):
    """Four up-sampling levels with skip concatenation; returns ``[B, 3001, 8·f]`` features."""

    filter_factor: int = 1

    @nn.compact
    def __call__(self, x: jax.Array, skips: Sequence[jax.Array], train: bool = False) -> jax.Array:
        ra = not train
        half = KERNEL_SIZE // 2
        for i, (filters, skip) in enumerate(
            zip(decoder_filters(self.filter_factor), list(skips)[::-1], strict=True)
        ):
            x = TransposedConv1d(filters, name=f"up{i}_conv_up")(x)
            x = nn.relu(_batch_norm(f"up{i}_bn1")(x, use_running_average=ra))
            x = x[:, 1:-2]
            offset = (x.shape[1] - skip.shape[1]) // 2
            x = jnp.concatenate([skip, x[:, offset : offset + skip.shape[1]]], axis=-1)
            x = nn.Conv(filters, (KERNEL_SIZE,), padding=[(half, half)], use_bias=False,
                        name=f"up{i}_conv_same")(x)
            x = nn.relu(_batch_norm(f"up{i}_bn2")(x, use_running_average=ra))
        return x


class BottleneckLSTM(nn.Module):
    """(Bi)LSTM over the bottleneck time axis, projected back to its width and added residually.

    x: ``[B, T, C]`` -> ``[B, T, C]``. ``hidden_size`` None means C // 2 when bidirectional
    (so the concatenated directions have width C) and C otherwise.
    """

    hidden_size: int | None = None
    num_layers: int = 1
    bidirectional: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        hidden = self.hidden_size or (channels // 2 if self.bidirectional else channels)
        y = x
        for layer in range(self.num_layers):
            forward = nn.RNN(nn.OptimizedLSTMCell(hidden), name=f"lstm{layer}_fwd")
            if self.bidirectional:
                backward = nn.RNN(nn.OptimizedLSTMCell(hidden), name=f"lstm{layer}_bwd")
                y = nn.Bidirectional(forward, backward, name=f"lstm{layer}")(y)
            else:
                y = forward(y)
        return x + nn.Dense(channels, name="lstm_proj")(y)


class ConvLSTMCell(nn.Module):
    """Convolutional LSTM cell (Shi et al. 2015) over 1-D frames.

    Gates ``[i, f, g, o] = conv_k(x_t) + conv_k(h_{t-1})`` (same padding, one bias),
    ``c_t = σ(f) c_{t-1} + σ(i) tanh(g)``, ``h_t = σ(o) tanh(c_t)``.
    carry ``(c, h)`` each ``[B, L, hidden]``; x_t ``[B, L, C_in]``.
    """

    hidden: int
    kernel_size: int = 3

    @nn.compact
    def __call__(self, carry, x_t):
        c, h = carry
        pad = self.kernel_size // 2
        pad_cfg = [(pad, self.kernel_size - 1 - pad)]
        gates = nn.Conv(4 * self.hidden, (self.kernel_size,), padding=pad_cfg, name="input_conv")(
            x_t
        ) + nn.Conv(4 * self.hidden, (self.kernel_size,), padding=pad_cfg, use_bias=False,
                    name="hidden_conv")(h)
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        h = nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h


class BottleneckConvLSTM(nn.Module):
    """Convolutional LSTM at the bottleneck.

    The bottleneck ``[B, T, C]`` is cut into ``T // frame_length`` consecutive frames of
    ``frame_length`` samples; a ConvLSTM runs over the frame sequence (forward and, when
    ``bidirectional``, backward), convolving within each frame. Its hidden maps are reassembled
    to ``[B, T, hidden·dirs]``, projected to C and added residually.
    """

    hidden: int = 32
    kernel_size: int = 3
    frame_length: int = 3
    bidirectional: bool = True

    def _run(self, cell: ConvLSTMCell, frames: jax.Array, reverse: bool) -> jax.Array:
        batch, n_frames, length, _ = frames.shape
        zeros = jnp.zeros((batch, length, self.hidden), frames.dtype)
        seq = jnp.swapaxes(frames, 0, 1)  # [n_frames, B, L, C]
        if reverse:
            seq = seq[::-1]
        carry = (zeros, zeros)
        outputs = []
        for t in range(n_frames):  # bottleneck has few frames: unrolled is fastest
            carry, h = cell(carry, seq[t])
            outputs.append(h)
        out = jnp.stack(outputs[::-1] if reverse else outputs, axis=1)
        return out  # [B, n_frames, L, hidden]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, time, channels = x.shape
        if time % self.frame_length:
            raise ValueError(
                f"convlstm frame_length={self.frame_length} must divide the bottleneck length "
                f"{time}; choose one of {[d for d in range(1, time + 1) if time % d == 0]}"
            )
        frames = x.reshape(batch, time // self.frame_length, self.frame_length, channels)
        outs = [self._run(ConvLSTMCell(self.hidden, self.kernel_size, name="cell_fwd"), frames,
                          reverse=False)]
        if self.bidirectional:
            outs.append(self._run(ConvLSTMCell(self.hidden, self.kernel_size, name="cell_bwd"),
                                  frames, reverse=True))
        y = jnp.concatenate(outs, axis=-1).reshape(batch, time, -1)
        return x + nn.Dense(channels, name="convlstm_proj")(y)


class PhaseNet(nn.Module):
    """SeisBench-compatible PhaseNet. ``x [B, 3001, in_channels]`` -> ``[B, 3001, classes]``.

    Softmax over classes (order ``phases``, default N, P, S) unless ``logits=True``. ``norm`` is
    the pre-processing applied by :meth:`preprocess` (not inside ``__call__``, as in SeisBench).
    Use :meth:`features` for the decoder output and :meth:`encode` for the bottleneck.
    """

    in_channels: int = 3
    classes: int = 3
    phases: str = "NPS"
    sampling_rate: float = 100.0
    norm: str = "std"
    filter_factor: int = 1

    def setup(self):
        self.encoder = PhaseNetEncoder(self.filter_factor)
        self.decoder = PhaseNetDecoder(self.filter_factor)
        self.out = nn.Conv(self.classes, (1,))
        self.bottleneck = self.make_bottleneck()

    def make_bottleneck(self) -> nn.Module | None:
        """Recurrent block at the bottleneck; none for plain PhaseNet."""
        return None

    def preprocess(self, x: jax.Array) -> jax.Array:
        return normalize_waveforms(x, self.norm)

    def encode(self, x: jax.Array, train: bool = False) -> tuple[jax.Array, list[jax.Array]]:
        """Bottleneck ``[B, 12, 128·f]`` (after the recurrent block, if any) and skips."""
        self._check_input(x)
        z, skips = self.encoder(x, train)
        if self.bottleneck is not None:
            z = self.bottleneck(z)
        return z, skips

    def features(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Decoder output ``[B, 3001, 8·f]`` before the 1×1 output convolution."""
        z, skips = self.encode(x, train)
        return self.decoder(z, skips, train)

    def __call__(self, x: jax.Array, train: bool = False, logits: bool = False) -> jax.Array:
        y = self.out(self.features(x, train))
        return y if logits else jax.nn.softmax(y, axis=-1)

    def _check_input(self, x: jax.Array) -> None:
        if x.ndim != 3 or x.shape[1] != IN_SAMPLES or x.shape[2] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects [batch, {IN_SAMPLES}, {self.in_channels}] "
                f"(channels-last), got {tuple(x.shape)}; transpose SeisBench [B, C, T] input "
                "with x.transpose(0, 2, 1)"
            )


class PhaseNetLSTM(PhaseNet):
    """PhaseNet with a (bi)directional LSTM at the bottleneck."""

    lstm_hidden_size: int | None = None
    lstm_num_layers: int = 1
    lstm_bidirectional: bool = True

    def make_bottleneck(self) -> nn.Module:
        return BottleneckLSTM(self.lstm_hidden_size, self.lstm_num_layers,
                              self.lstm_bidirectional)


class PhaseNetConvLSTM(PhaseNet):
    """PhaseNet with a convolutional LSTM (:class:`BottleneckConvLSTM`) at the bottleneck."""

    convlstm_hidden: int = 32
    convlstm_kernel: int = 3
    convlstm_frame: int = 3
    convlstm_bidirectional: bool = True

    def make_bottleneck(self) -> nn.Module:
        return BottleneckConvLSTM(self.convlstm_hidden, self.convlstm_kernel,
                                  self.convlstm_frame, self.convlstm_bidirectional)
