"""PhaseNetLSTM / PhaseNetConvLSTM: recurrent blocks against torch.nn.LSTM and the ConvLSTM
equations (Shi et al. 2015) evaluated with scipy correlations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch  # noqa: E402
from scipy import signal

from jaxgeo.seismic.phasenet import (
    BottleneckConvLSTM,
    BottleneckLSTM,
    PhaseNet,
    PhaseNetConvLSTM,
    PhaseNetLSTM,
)

torch.set_num_threads(2)

ATOL = 1e-5  # float32, different summation order between XLA and torch/scipy


def test_bottleneck_lstm_equals_torch_bidirectional_lstm():
    channels, hidden, steps = 16, 8, 12
    block = BottleneckLSTM(hidden_size=hidden, num_layers=1, bidirectional=True)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, steps, channels))
    params = block.init(jax.random.PRNGKey(1), x)["params"]

    ref = torch.nn.LSTM(channels, hidden, bidirectional=True, batch_first=True)
    cells = sorted(k for k in params if k.startswith("OptimizedLSTMCell"))
    assert len(cells) == 2  # forward, backward (creation order)
    with torch.no_grad():
        for suffix, cell in zip(("", "_reverse"), cells, strict=True):
            p = params[cell]
            w_ih = np.concatenate([np.asarray(p[g]["kernel"]).T for g in ("ii", "if", "ig", "io")])
            w_hh = np.concatenate([np.asarray(p[g]["kernel"]).T for g in ("hi", "hf", "hg", "ho")])
            b_hh = np.concatenate([np.asarray(p[g]["bias"]) for g in ("hi", "hf", "hg", "ho")])
            getattr(ref, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(w_ih))
            getattr(ref, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(w_hh))
            getattr(ref, f"bias_ih_l0{suffix}").zero_()
            getattr(ref, f"bias_hh_l0{suffix}").copy_(torch.from_numpy(b_hh))
        seq = ref(torch.from_numpy(np.array(x)))[0].numpy()
    proj = params["lstm_proj"]
    expected = np.asarray(x) + seq @ np.asarray(proj["kernel"]) + np.asarray(proj["bias"])
    got = np.asarray(block.apply({"params": params}, x))
    assert np.abs(got - expected).max() < ATOL


def _convlstm_reference(frames, p, hidden, kernel):
    """ConvLSTM over frames [T, L, C] with scipy 'same' cross-correlations."""
    def conv(x, k, b=None):  # x [L, Cin], k [K, Cin, Cout] -> [L, Cout]
        pad = kernel // 2
        xp = np.pad(x, ((pad, kernel - 1 - pad), (0, 0)))
        out = np.stack([sum(signal.correlate(xp[:, ci], k[:, ci, co], mode="valid")
                            for ci in range(x.shape[1])) for co in range(k.shape[2])], axis=1)
        return out if b is None else out + b

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    length = frames.shape[1]
    c = np.zeros((length, hidden))
    h = np.zeros((length, hidden))
    hs = []
    for x_t in frames:
        z = conv(x_t, p["input_conv"]["kernel"], p["input_conv"]["bias"]) + conv(
            h, p["hidden_conv"]["kernel"])
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        hs.append(h)
    return np.stack(hs)


def test_convlstm_follows_shi_equations_both_directions():
    hidden, kernel, frame = 4, 3, 3
    block = BottleneckConvLSTM(hidden=hidden, kernel_size=kernel, frame_length=frame)
    x = jax.random.normal(jax.random.PRNGKey(2), (2, 12, 6))
    params = block.init(jax.random.PRNGKey(3), x)["params"]
    np_params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    got = np.asarray(block.apply({"params": params}, x))
    for b in range(2):
        frames = np.asarray(x[b], np.float64).reshape(4, frame, 6)
        fwd = _convlstm_reference(frames, np_params["cell_fwd"], hidden, kernel)
        bwd = _convlstm_reference(frames[::-1], np_params["cell_bwd"], hidden, kernel)[::-1]
        y = np.concatenate([fwd, bwd], axis=-1).reshape(12, 2 * hidden)
        proj = np_params["convlstm_proj"]
        expected = np.asarray(x[b]) + y @ proj["kernel"] + proj["bias"]
        assert np.abs(got[b] - expected).max() < ATOL
    with pytest.raises(ValueError, match="frame_length=5 must divide"):
        BottleneckConvLSTM(frame_length=5).init(jax.random.PRNGKey(0), x)


def test_stacked_unidirectional_lstm_shapes_and_auto_hidden_size():
    x = jnp.ones((2, 12, 32))
    two = BottleneckLSTM(num_layers=2, bidirectional=True)
    params = two.init(jax.random.PRNGKey(0), x)["params"]
    # auto hidden size: C // 2 per direction; two layers x two directions = four cells
    cells = [k for k in params if k.startswith("OptimizedLSTMCell")]
    assert len(cells) == 4 and params[cells[0]]["hi"]["kernel"].shape == (16, 16)
    one_way = BottleneckLSTM(bidirectional=False)
    params = one_way.init(jax.random.PRNGKey(0), x)["params"]
    assert params["OptimizedLSTMCell_0"]["hi"]["kernel"].shape == (32, 32)
    assert one_way.apply({"params": params}, x).shape == x.shape


@pytest.mark.parametrize("module", [
    PhaseNetLSTM(lstm_bidirectional=False, lstm_hidden_size=24),
    PhaseNetConvLSTM(convlstm_hidden=8),
])
def test_variants_share_phasenet_encoder_decoder_and_expose_features(module):
    x = jax.random.normal(jax.random.PRNGKey(4), (1, 3001, 3))
    variables = module.init(jax.random.PRNGKey(5), x)
    prob = module.apply(variables, x)
    assert prob.shape == (1, 3001, 3)
    np.testing.assert_allclose(np.asarray(prob.sum(-1)), 1.0, atol=1e-5)  # softmax over N,P,S
    z, skips = module.apply(variables, x, method=module.encode)
    assert z.shape == (1, 12, 128) and [s.shape[1] for s in skips] == [3001, 751, 188, 47]
    feats = module.apply(variables, x, method=module.features)
    assert feats.shape == (1, 3001, 8)
    # The convolutional parts have exactly PhaseNet's parameter tree: weights transfer.
    plain = PhaseNet().init(jax.random.PRNGKey(0), x)
    for part in ("encoder", "decoder", "out"):
        assert (jax.tree_util.tree_structure(plain["params"][part])
                == jax.tree_util.tree_structure(variables["params"][part]))
