"""BlueDisc: discriminator size, losses against hand values, the two-part GAN step on the
engine (gradient isolation, both networks trained, determinism, exact resume)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_entry_script
from scipy import signal

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.train import FunctionStream, fit
from jaxgeo.seismic import bluedisc as bd
from jaxgeo.seismic import bluedisc_data as bdd
from jaxgeo.seismic import bluedisc_eval as bde
from jaxgeo.seismic import bluedisc_run as bdr
from jaxgeo.seismic.data import load_dataset
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset

T = 3001
RNG = np.random.default_rng(15)


def _conv_out(n, k, s=2, p=1):
    return (n + 2 * p - k) // s + 1


def _count(tree):
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(tree))


def test_discriminator_parameter_count_and_output_shape():
    x = jnp.zeros((2, T, 3))
    variables = bd.BlueDisc().init(jax.random.PRNGKey(0), x, x)
    # By hand: convolutions without bias, BatchNorm scale + bias, Linear weight + bias.
    t = _conv_out(_conv_out(_conv_out(T, 11), 11), 5)
    assert t == 372
    hand = (6 * 64 * 11 + 2 * 64) + (64 * 64 * 11 + 2 * 64) + (64 * 128 * 5 + 2 * 128) \
        + (128 * t + 1)
    assert hand == 138_369
    assert _count(variables["params"]) == hand
    assert variables["params"]["fc"]["kernel"].shape == (128 * 372, 1)
    assert bd.BlueDisc().apply(variables, x, x).shape == (2, 1)


def test_generator_is_peak_normalised_phasenet_with_the_label_channel_last():
    assert bd.make_generator("D").phases == "PSD" and bd.make_generator("N").phases == "PSN"
    assert bd.make_generator("N").norm == "peak"
    with pytest.raises(ValueError, match="label"):
        bd.make_generator("X")


class _Probe(bd.BlueDisc):
    """BlueDisc's layers (same names, so the same variables) up to the flatten."""

    @nn.compact
    def __call__(self, label, wave, train=False):
        h = jnp.concatenate([label, wave], -1)
        for i, (f, k) in enumerate(((64, 11), (64, 11), (128, 5))):
            h = nn.Conv(f, (k,), strides=(2,), padding=((1, 1),), use_bias=False,
                        name=f"conv{i}")(h)
            h = nn.BatchNorm(use_running_average=True, name=f"bn{i}")(h)
            h = nn.leaky_relu(h, 0.1)
        return h


def test_discriminator_flattens_channel_major():
    """The fc input is [B, 128 * 372] in PyTorch's order: feature c * 372 + t. A weight that is
    1 only at (channel 5, time 7) must read that activation."""
    x = jnp.asarray(RNG.normal(size=(1, T, 3)), jnp.float32)
    module = bd.BlueDisc()
    variables = module.init(jax.random.PRNGKey(1), x, x)
    kernel = np.zeros((128 * 372, 1), np.float32)
    kernel[5 * 372 + 7, 0] = 1.0
    params = {**variables["params"], "fc": {"kernel": jnp.asarray(kernel),
                                            "bias": jnp.zeros(1)}}
    out = module.apply({**variables, "params": params}, x, x)

    h = _Probe().apply(variables, x, x)  # the pre-flatten activations [1, 372, 128]
    # one product with weight 1 plus a zero bias: exact up to the float32 conv reordering
    np.testing.assert_allclose(np.asarray(out)[0, 0], np.asarray(h)[0, 7, 5], rtol=1e-6)


def _np_bce(z, t):
    """Mean BCE of sigmoid(z) against t, float64, from log(sigmoid) directly."""
    z, t = np.asarray(z, np.float64), np.asarray(t, np.float64)
    s = 1.0 / (1.0 + np.exp(-z))
    return float(np.mean(-(t * np.log(s) + (1 - t) * np.log(1 - s))))


def test_losses_equal_hand_values():
    d_real = np.array([[2.0], [-0.5], [0.1]], np.float32)
    d_fake = np.array([[-1.0], [0.3], [1.5]], np.float32)
    g = RNG.normal(size=(2, 5, 3)).astype(np.float32)
    y = RNG.uniform(size=(2, 5, 3)).astype(np.float32)
    # float32 losses vs float64 hand values: 1e-6 relative is float32 rounding of a few terms.
    hand_d = 0.5 * (_np_bce(d_real, 1) + _np_bce(d_fake, 0))
    np.testing.assert_allclose(bd.discriminator_loss(d_real, d_fake), hand_d, rtol=1e-6)
    lam = 4000.0
    total, terms = bd.generator_loss(d_fake, g, y, lam)
    hand_gan, hand_data = _np_bce(d_fake, 1), _np_bce(g, y)
    np.testing.assert_allclose(terms["g_SGAN_loss"], hand_gan, rtol=1e-6)
    np.testing.assert_allclose(terms["g_data_loss"], hand_data, rtol=1e-6)
    np.testing.assert_allclose(total, (hand_gan + lam * hand_data) / (1 + lam), rtol=1e-6)
    np.testing.assert_allclose(bd.generator_loss(d_fake, g, y, 0.0)[0], hand_gan, rtol=1e-6)
    data_only, terms = bd.generator_loss(None, g, y, None)
    np.testing.assert_allclose(data_only, hand_data, rtol=1e-6)
    assert "g_SGAN_loss" not in terms


class _TinyGenerator(nn.Module):
    """A stand-in for PhaseNet with its interface (train-mode BatchNorm, logits), so that the
    GAN step's tests compile in seconds; the step does not depend on the generator's body."""

    @nn.compact
    def __call__(self, x, train=False, logits=False):
        h = nn.Conv(4, (5,), name="conv")(x)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(h))
        out = nn.Conv(3, (1,), name="out")(h)
        return out if logits else jax.nn.softmax(out, -1)


GEN = _TinyGenerator()
TS = 301  # window of the step tests (BlueDisc's flatten adapts to it)


def _batch(k, b=2):
    rng = np.random.default_rng(1000 + k)
    x = rng.normal(size=(b, TS, 3)).astype(np.float32)
    x /= np.abs(x).max(axis=1, keepdims=True)
    y = rng.uniform(size=(b, TS, 3)).astype(np.float32)
    return {"X": jnp.asarray(x), "y": jnp.asarray(y)}


@pytest.fixture(scope="module")
def state0():
    return bd.init_state(GEN, samples=TS, g_lr=1e-3, d_lr=1e-3, seed=42)


def _equal(a, b):
    return all(np.array_equal(u, v) for u, v in zip(jax.tree_util.tree_leaves(a),
                                                     jax.tree_util.tree_leaves(b), strict=True))


def test_d_step_gradient_does_not_reach_g_and_g_step_leaves_d_weights(state0):
    batch = _batch(0)

    def d_loss_of_g(g_params):
        s = state0.with_part("generator", state0.part("generator").replace(params=g_params))
        return bd.discriminator_step(GEN, s, batch)[1]["d_loss"]

    grads = jax.jit(jax.grad(d_loss_of_g))(state0.part("generator").params)
    assert all(not np.any(np.asarray(g)) for g in jax.tree_util.tree_leaves(grads))
    after_d, _ = jax.jit(lambda s: bd.discriminator_step(GEN, s, batch))(state0)
    assert _equal(after_d.part("generator").params, state0.part("generator").params)
    assert not _equal(after_d.part("discriminator").params, state0.part("discriminator").params)
    after_g, _ = jax.jit(lambda s: bd.generator_step(GEN, s, batch, 4000.0))(after_d)
    d_before, d_after = after_d.part("discriminator"), after_g.part("discriminator")
    assert _equal(d_after.params, d_before.params)
    assert _equal(d_after.opt_state, d_before.opt_state)
    assert not _equal(after_g.part("generator").params, after_d.part("generator").params)


def test_hybrid_run_trains_both_deterministic_and_resumes_exactly(state0, tmp_path):
    step = bd.make_gan_step(GEN, 4000.0)
    stream = FunctionStream(_batch, length=4, seed=42)
    copy = jax.tree_util.tree_map(jnp.copy, state0)
    full, hist = fit(jax.tree_util.tree_map(jnp.copy, state0), step, stream, num_steps=4)
    for name in ("generator", "discriminator"):
        assert not _equal(full.part(name).params, copy.part(name).params)
    ckpt = Checkpointer(tmp_path / "ck", keep=2)
    _, first = fit(jax.tree_util.tree_map(jnp.copy, state0), step, stream, num_steps=2,
                   checkpointer=ckpt, checkpoint_every=1)
    # the same seed and batches: the same losses (bit for bit, on CPU)
    assert first["d_loss"] == hist["d_loss"][:2] and first["g_loss"] == hist["g_loss"][:2]
    resumed, rest = fit(jax.tree_util.tree_map(jnp.copy, state0), step, stream, num_steps=4,
                        checkpointer=ckpt, resume=True)
    ckpt.close()
    for key in ("d_loss", "g_loss", "g_data_loss", "g_SGAN_loss"):
        assert rest[key] == hist[key], key
    assert _equal(resumed.parts, full.parts)


# --------------------------------------------------------------------------- data pipeline
def _hand_tapered(p, s, n, sigma=20.0, factor=1.4):
    """The tapered detection written out sample by sample (float64)."""
    out = np.zeros(n)
    a, e = max(int(p), 0), max(int(s + factor * (s - p)), 0)
    for t in range(n):
        if t < a:
            out[t] = np.exp(-((t - a) ** 2) / (2 * sigma**2))
        elif t < e:
            out[t] = 1.0
        else:
            out[t] = np.exp(-((t - e) ** 2) / (2 * sigma**2))
    return out


def test_tapered_detection_label_by_hand():
    onsets = np.array([[100.0, 300.0], [-50.0, 10.5], [np.nan, 200.0], [400.0, 300.0],
                       [2000.0, 2900.0]])
    got = bdd.tapered_detection_labels(onsets, T, np.array([0, 1]))
    assert got.dtype == np.float32 and got.shape == (5, T)
    for b, (p, s) in enumerate(onsets):
        hand = (np.zeros(T) if not (np.isfinite(p) and s >= p)
                else _hand_tapered(p, s, T)).astype(np.float32)
        # float32 of exp: identical rounding (the same float64 values rounded once)
        np.testing.assert_allclose(got[b], hand, rtol=1e-7, atol=0)
    assert got[0, 100] == 1 and got[0, 579] == 1 and got[0, 580] == 1  # 300 + 1.4*200 = 580
    np.testing.assert_allclose(got[0, 80], np.exp(-400 / 800), rtol=1e-7)


@pytest.fixture(scope="module")
def synthetic_sets(tmp_path_factory):
    """40 s traces (longer than the 6000-sample pre-window) and 25 s ones (shorter: padded)."""
    root = tmp_path_factory.mktemp("bluedisc")
    out = {}
    for name, seconds, seed in (("long", 40.0, 5), ("short", 25.0, 6)):
        path = write_synthetic_dataset(root / name, SyntheticConfig(
            n_traces=40, seed=seed, noise_fraction=0.2, trace_seconds=seconds,
            split_fractions=(0.6, 0.2, 0.2)))
        out[name] = load_dataset(path)
    return out


@pytest.mark.parametrize("name", ["long", "short"])
def test_bluedisc_pipelines_are_bit_identical(synthetic_sets, name):
    # Reference: SeisBench's OneOf / NullAugmentation / WindowAroundSample / RandomWindow /
    # ProbabilisticLabeller / Normalize chain run by GenericGenerator, sample by sample.
    kw = dict(batch_size=8, seed=3, epochs=2, prefetch=0)
    ref = bdd.bluedisc_loader(synthetic_sets[name], "train", pipeline="seisbench", **kw)
    got = bdd.bluedisc_loader(synthetic_sets[name], "train", pipeline="batched", **kw)
    assert isinstance(got.source, bdd.BlueDiscBatches)
    n = 0
    for a, b in zip(ref, got, strict=True):
        assert sorted(a) == sorted(b) == ["X", "detection", "y"]
        for key in a:
            assert a[key].dtype == b[key].dtype == np.float32
            # exact: the same draws and the same float operations in the same order
            np.testing.assert_array_equal(b[key], a[key], err_msg=f"{name} {key}")
        assert a["X"].shape == (8, T, 3) and a["y"].shape == (8, T, 3)
        # peak normalisation: every non-empty channel peaks at 1 in absolute value
        peaks = np.abs(b["X"]).max(axis=1)
        np.testing.assert_allclose(peaks[peaks > 0], 1.0, rtol=1e-6)
        n += len(a["X"])
    assert n == 2 * (len(synthetic_sets[name].train()) // 8) * 8


def test_oneof_draw_comes_first_and_keeps_two_thirds():
    """OneOf's np.random.choice(p=[2/3, 1/3]) is the first draw from the sample's seed."""
    picks = []
    for seed in range(600):
        np.random.seed(seed)
        first = np.random.choice(2, p=bdd.ONE_OF)
        np.random.seed(seed)
        u = np.random.random_sample()
        picks.append(first)
        assert first == int(u >= 2 / 3)
    # binomial(600, 2/3): sd = 11.5 samples; 4 sd
    assert abs(picks.count(0) - 400) < 46


def test_generator_targets_put_the_label_channel_last():
    batch = {"X": np.zeros((1, 4, 3), np.float32),
             "y": np.arange(12, dtype=np.float32).reshape(1, 4, 3),
             "detection": np.full((1, 4), 7.0, np.float32)}
    np.testing.assert_array_equal(bdd.generator_targets(batch, "N")["y"], batch["y"])
    d = bdd.generator_targets(batch, "D")["y"]
    np.testing.assert_array_equal(d[..., :2], batch["y"][..., :2])
    np.testing.assert_array_equal(d[..., 2], 7.0)


# --------------------------------------------------------------------------- evaluation
def test_peak_detection_equals_scipy_find_peaks():
    rng = np.random.default_rng(7)
    for trial in range(20):
        x = np.convolve(rng.uniform(size=3001), np.ones(15) / 15, mode="same")
        if trial % 2:
            x = np.round(x * 20) / 20  # plateaus: flat tops
        ref, _ = signal.find_peaks(x, height=0.1, distance=100)
        got, heights = bde.find_peaks(x)
        np.testing.assert_array_equal(got, ref)
        np.testing.assert_array_equal(heights, x[ref])


def _gauss(center, amp, n=3001, sigma=20):
    return amp * np.exp(-((np.arange(n) - center) ** 2) / (2 * sigma**2))


def test_metrics_on_hand_made_pairs():
    # trace 0: P peak 0.9 at +3 samples (effective); S peak 0.5 at -5 (suppression band)
    # trace 1: P peak 0.8 at +30 (matched, not effective); S peak 0.95 at 0 (effective)
    # trace 2: P label with no peak above 0.1 (missed); S peak 0.65 at +12 (neither)
    p = np.stack([_gauss(1003, 0.9), _gauss(530, 0.8), _gauss(700, 0.05)])
    s = np.stack([_gauss(1495, 0.5), _gauss(900, 0.95), _gauss(2012, 0.65)])
    pred = np.stack([p, s, np.zeros_like(p)], axis=-1)  # channels "PSD"
    onsets = {"P": np.array([1000.0, 500.0, 700.0]), "S": np.array([1500.0, 900.0, 2000.0])}
    scores = bde.evaluate(pred, onsets, "PSD")
    sp, ss = scores["P"], scores["S"]
    assert (sp.labels, sp.matched, sp.effective, sp.band) == (3, 2, 1, 0)
    assert (ss.labels, ss.matched, ss.effective, ss.band) == (3, 3, 1, 1)
    np.testing.assert_array_equal(sp.dts, [3, 30])
    np.testing.assert_array_equal(ss.dts, [-5, 0, 12])
    assert ss.band_fraction == pytest.approx(1 / 3)
    # channels by name: the same predictions in another order give the same scores
    again = bde.evaluate(pred[..., [2, 1, 0]], onsets, "DSP")
    assert again["S"].effective == 1 and again["P"].effective == 1
    table = bde.comparison_table({"PN_D": scores})
    assert "| PN_D | S | 3 | 3 | 1 | 33.3 | 33.3 |" in table


def test_greedy_matching_uses_each_pick_once():
    # labels at 100 and 130, peaks at 120 and 400: 130-120 (10) is matched first, then 100-400
    matches, missed = bde.match_greedy([100.0, 130.0, np.nan], np.array([120, 400]),
                                       np.array([0.9, 0.3]))
    assert [(m.label, m.pick) for m in matches] == [(130.0, 120), (100.0, 400)]
    assert missed == []
    matches, missed = bde.match_greedy([100.0, 130.0], np.array([120]), np.array([0.9]))
    assert [(m.label, m.pick) for m in matches] == [(130.0, 120)] and missed == [100.0]


# --------------------------------------------------------------------------- entry script
def test_experiment_names_are_the_originals():
    assert bdr.experiment_name("D", None) == "PN_D"
    assert bdr.experiment_name("N", None) == "PN_N"
    assert bdr.experiment_name("D", 1.0) == "PN_D_GAN_Data1.0"
    assert bdr.experiment_name("D", 0.0) == "PN_D_GAN_Data0"


def test_entry_script_help_and_one_line_errors(capsys):
    script = load_entry_script("bluedisc")
    with pytest.raises(SystemExit):
        script.main(["--help"])
    help_text = capsys.readouterr().out
    assert "4000" in help_text and "--data-weight" in help_text and "--label" in help_text
    for argv, needle in ((["--dataset", "synthetic"], "--label is required"),
                         (["--label", "D"], "--dataset"),
                         (["--label", "X", "--dataset", "synthetic"], "not allowed"),
                         (["--label", "D", "--dataset", "synthetic", "--data-weight", "-1"],
                          "data_weight"),
                         (["--label", "D", "--dataset", "synthetic", "--device", "npu"],
                          "not allowed")):
        assert script.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err



def test_real_phasenet_generator_through_the_hybrid_gan_step_on_the_engine():
    """The shipped generator (PhaseNet P, S, D; 3001 samples, its only window), one hybrid step
    through ``fit``: the step's logged losses equal numpy BCEs of the networks' train-mode
    outputs, and Adam with b1 = 0 moves each weight by lr on its first step."""
    gen = bd.make_generator("D")
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, T, 3)).astype(np.float32)
    x /= np.abs(x).max(axis=1, keepdims=True)
    y = rng.uniform(size=(2, T, 3)).astype(np.float32)
    batch = {"X": jnp.asarray(x), "y": jnp.asarray(y)}
    state0 = bd.init_state(gen, samples=T, g_lr=1e-3, d_lr=1e-3, seed=42)
    g0 = jax.tree_util.tree_map(np.asarray, state0.part("generator").variables)
    d0 = jax.tree_util.tree_map(np.asarray, state0.part("discriminator").variables)
    stream = FunctionStream(lambda k: batch, length=1, seed=0)
    state1, hist = fit(state0, bd.make_gan_step(gen, 4000.0), stream, num_steps=1)

    # Train-mode outputs depend on the weights only (batch statistics of the batch itself).
    logits = jax.jit(lambda v: gen.apply(v, batch["X"], train=True, logits=True,
                                         mutable=["batch_stats"])[0])(g0)
    disc = jax.jit(lambda v, label: bd.BlueDisc().apply(v, label, batch["X"], train=True,
                                                        mutable=["batch_stats"])[0])
    d1 = {**d0, "params": state1.part("discriminator").params}
    real, fake0 = disc(d0, batch["y"]), disc(d0, jax.nn.sigmoid(logits))
    fake1 = disc(d1, jax.nn.sigmoid(logits))
    # float32 network outputs, float64 BCE means; 1e-5 relative covers the float32 means of
    # 18,006 terms (and the jit vs eager reordering of PhaseNet's float32 convolutions)
    np.testing.assert_allclose(hist["d_loss"][0], 0.5 * (_np_bce(real, 1) + _np_bce(fake0, 0)),
                               rtol=1e-5)
    data = _np_bce(logits, y)
    gan = _np_bce(fake1, 1)
    np.testing.assert_allclose(hist["g_data_loss"][0], data, rtol=1e-5)
    np.testing.assert_allclose(hist["g_SGAN_loss"][0], gan, rtol=1e-5)
    np.testing.assert_allclose(hist["g_loss"][0], (gan + 4000 * data) / 4001, rtol=1e-5)
    # Adam, b1 = 0, first step: m = g, v = (1 - b2) g^2, bias-corrected update
    # -lr g / (|g| + eps): every weight with |g| >> eps = 1e-8 moves by lr = 1e-3.
    for name, before in (("generator", g0["params"]), ("discriminator", d0["params"])):
        after = state1.part(name).params
        delta = np.concatenate([np.abs(np.asarray(a) - b).ravel() for a, b in zip(
            jax.tree_util.tree_leaves(after), jax.tree_util.tree_leaves(before), strict=True)])
        # float32 weights of magnitude <= ~1: the difference is exact to ~1e-7 absolute
        assert delta.max() <= 1e-3 + 2e-7, name
        assert np.median(delta) == pytest.approx(1e-3, abs=2e-7), name
