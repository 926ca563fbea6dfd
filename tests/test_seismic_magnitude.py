"""Magnitude models, inputs, losses, metrics, train_mag/eval_mag through the CLI, exact resume
and --tune.

Speed: parameter counts and output shapes come from ``jax.eval_shape`` (no compile); the CLI
tests run small variants of the models (their flags) on a 60-trace dataset, and the runs of
one model shape share one compiled step (``train.make_step`` is cached per module), so the
resume and tuning tests reuse the round trip's compilation.
"""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.schedules import LrScale
from jaxgeo.core.train import EarlyStopping
from jaxgeo.seismic import registry
from jaxgeo.seismic.batches import magnitude_labels
from jaxgeo.seismic.data import load_dataset, phase_loader
from jaxgeo.seismic.experiment import apply_train_defaults, configured_dataset, default_config
from jaxgeo.seismic.magnitude import (
    magnitude_metrics,
    magnitude_traces,
    masked_window_mag_loss,
    window_mag_loss,
)
from jaxgeo.seismic.magnitude_models import TransformerEncoderLayer
from jaxgeo.seismic.synthetic import (
    SyntheticConfig,
    local_magnitude_amplitude,
    write_synthetic_dataset,
)
from jaxgeo.seismic.train import train_mag, use_magnitude_sampling_rate

KEYS = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}


def _config(model_type, **model):
    c = default_config()
    c.model_type = model_type
    c.model.update(model)
    return c


def _count(module) -> int:
    x = jnp.zeros((2, module.in_samples if hasattr(module, "in_samples") else 3000,
                   module.in_channels))
    shapes = jax.eval_shape(lambda: module.init(KEYS, x))
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(shapes["params"]))


def _out_shape(module, batch=2):
    x = jnp.zeros((batch, 3000, module.in_channels))
    return jax.eval_shape(lambda: module.apply(module.init(KEYS, x), x)).shape


def _conv(k, cin, cout, bias=True):
    return k * cin * cout + (cout if bias else 0)


def _unet_convs(f=1, cin0=3):
    """Hand count of the PhaseNet-style U-Net (inc, 5 encoder levels, 4 decoder levels, kernel 7,
    BatchNorm scale + bias), without the bottleneck and the output conv."""
    enc = [8 * 2**i * f for i in range(5)]
    n = _conv(7, cin0, 8 * f) + 2 * 8 * f
    cin = 8 * f
    for i, c in enumerate(enc):
        n += _conv(7, cin, c, False) + 2 * c
        if i < 4:
            n += _conv(7, c, c, False) + 2 * c
        cin = c
    for c in enc[3::-1]:
        n += _conv(7, cin, c, False) + 2 * c      # transposed conv + BN
        n += _conv(7, 2 * c, c, False) + 2 * c    # conv over [skip, up] + BN
        cin = c
    return n


def _torch_lstm(cin, h):
    return 4 * h * (cin + h) + 8 * h  # w_ih, w_hh, b_ih, b_hh


def _encoder_layer(d, ff):
    return 4 * (d * d + d) + 2 * 2 * d + (d * ff + ff) + (ff * d + d)


# ------------------------------------------------------------------ architectures at defaults
def test_phasenet_mag_count_and_shape():
    # the registry default: 3 waveform + 3 log-amplitude input channels
    module = registry.build_model(_config("phasenet_mag"))
    assert module.in_channels == 6
    assert _count(module) == _unet_convs(cin0=6) + 9 == 268_593
    # --no-log_amplitude: the original's input; 268,416 for the U-Net (SeisBench PhaseNet minus
    # its 27 output parameters) + the 8 -> 1 conv
    original = registry.build_model(_config("phasenet_mag", log_amplitude=False))
    assert _count(original) == _unet_convs() + 9 == 268_425
    assert _out_shape(module) == (2, 3000)


def test_magnitude_net_count_and_shape():
    lstm = 2 * _torch_lstm(128, 128) + 2 * _torch_lstm(256, 128)   # 2 bidirectional layers
    attention = 4 * (256 * 256 + 256)                                # q, k, v, out
    bottleneck = (256 * 128 + 128) + 2 * 128                         # Linear + BatchNorm
    module = registry.build_model(_config("amag_v2"))
    expected = _unet_convs(cin0=6) + lstm + attention + bottleneck + 9
    assert _count(module) == expected == 1_224_369
    original = registry.build_model(_config("amag_v2", log_amplitude=False))
    assert _count(original) == expected - 7 * 3 * 8 == 1_224_201
    assert _count(registry.build_model(_config("amag_v2", filter_factor=2,
                                               lstm_hidden=64))) != expected
    assert _out_shape(module) == (2, 3000)


def _eqt_mag_count(cnn=7, lstm=3, d=16, layers=2, ff=128, cin0=6):
    filters, kernels = (8, 16, 16, 32, 32, 64, 64), (11, 9, 7, 7, 5, 5, 3)
    res_kernels = (3, 3, 3, 3, 2, 3, 2)
    n = sum(_conv(k, a, b) for k, a, b in zip(kernels, (cin0,) + filters[:-1], filters,
                                              strict=True))
    n += sum(2 * (2 * 64) + 2 * _conv(res_kernels[i % 7], 64, 64) for i in range(cnn))
    cin = 64
    for _ in range(lstm):
        n += 2 * _torch_lstm(cin, 16) + _conv(1, 32, 16) + 2 * 16
        cin = 16
    if d != 16:
        n += (16 * d + d) + (d * 16 + 16)
    n += layers * _encoder_layer(d, ff)
    n += sum(_conv(k, a, b) for k, a, b in zip(kernels[::-1], (16,) + filters[::-1][:-1],
                                                  filters[::-1], strict=True))
    return n + _conv(11, 8, 1)


def test_eqtransformer_mag_counts_and_transformer_flags():
    assert _count(registry.build_model(_config("eqtransformer_mag"))) == _eqt_mag_count()
    flags = dict(transformer_d_model=32, transformer_nhead=8, transformer_num_encoder_layers=3,
                 transformer_dim_feedforward=64)
    big = registry.build_model(_config("eqtransformer_mag", **flags))
    assert _count(big) == _eqt_mag_count(d=32, layers=3, ff=64)
    small = registry.build_model(_config("eqtransformer_mag", cnn_blocks=3, lstm_blocks=1))
    assert _count(small) == _eqt_mag_count(3, 1)
    x = jnp.zeros((1, 3000, 6))
    out, inter = jax.eval_shape(lambda: big.apply(big.init(KEYS, x), x,
                                                  mutable=["intermediates"]))
    assert out.shape == (1, 3000)
    # 3000 samples after seven max-pools (odd lengths padded): 24 steps; 8 heads
    assert inter["intermediates"]["transformer2"]["attention"][0].shape == (1, 8, 24, 24)
    # the weights are a softmax over the keys (one layer of that width on 24 random steps)
    layer = TransformerEncoderLayer(d_model=32, nhead=8, dim_feedforward=64)
    z = jax.random.normal(jax.random.PRNGKey(2), (1, 24, 32))
    _, inter = layer.apply(layer.init(KEYS, z), z, mutable=["intermediates"])
    att = inter["intermediates"]["attention"][0]
    assert att.shape == (1, 8, 24, 24)
    np.testing.assert_allclose(np.asarray(att).sum(-1), 1.0, rtol=1e-5)  # float32 sums


# ------------------------------------------------------------------ schedules, losses, metrics
def test_warmup_plateau_and_early_stopping_on_a_scripted_sequence():
    scale = LrScale(warmup_epochs=5, warmup_start=0.1, plateau_factor=0.5, plateau_patience=2)
    assert [scale.value(e) for e in range(6)] == pytest.approx([0.1, 0.28, 0.46, 0.64, 0.82,
                                                                1.0])
    stop = EarlyStopping("dev_loss", patience=3)
    losses = [5, 4, 3, 2, 1, 1.0, 1.0, 1.0, 1.0]  # epochs 0-8; flat after epoch 4
    stopped = []
    for epoch, loss in enumerate(losses):
        scale.observe({"dev_loss": loss}, epoch + 1)
        stopped.append(stop.update({"dev_loss": loss}))
    # plateau counting starts after the warmup (epochs 5..): best 1.0 at epoch 5, then
    # 3 non-improving evaluations > patience 2 -> one halving
    assert scale.value(9) == pytest.approx(0.5)
    assert stopped.index(True) == 7  # best at epoch 4, three bad epochs 5, 6, 7


def test_masked_and_unmasked_losses_on_a_hand_label():
    label = np.array([[0, 0, 2.0, 2.0]], np.float32)  # pick at sample 2, magnitude 2
    pred = np.array([[1, 0, 1.0, 3.0]], np.float32)
    # all samples: (1 + 0 + 1 + 1) / 4; after the pick: (1 + 1) / 2
    assert float(window_mag_loss(pred, label)[0]) == pytest.approx(0.75)
    assert float(masked_window_mag_loss(pred, label)[0]) == pytest.approx(1.0)


def test_per_trace_metrics_by_hand():
    label = np.array([[0, 1.0, 1.0], [0, 0, 3.0]])
    pred = np.array([[5, 1.5, 2.5], [0, 0, 2.0]])
    m = magnitude_metrics(pred, label)
    # estimates: 2.0 and 2.0; true 1 and 3; residuals +1, -1
    assert m["mae"] == pytest.approx(1.0) and m["bias"] == pytest.approx(0.0)
    assert m["rmse"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 2 / 2)  # SS_res 2, SS_tot 2
    assert m["per_sample_mse"] == pytest.approx((25 + 0.25 + 2.25 + 1) / 6)


def test_label_onset_from_the_chosen_phases_by_hand():
    onsets = np.array([[3.0, 5.0], [np.nan, 2.0], [4.0, np.nan]])  # columns: P, S
    mags = np.array([1.5, 2.0, 3.0])
    both = magnitude_labels(onsets, mags, 8)
    s_only = magnitude_labels(onsets, mags, 8, use=np.array([False, True]))
    np.testing.assert_array_equal((both > 0).argmax(1), [3, 2, 4])     # earliest of P, S
    np.testing.assert_array_equal((s_only > 0).argmax(1), [5, 2, 0])
    assert not s_only[2].any()  # no S pick: no label (and no trace, see magnitude_traces)
    assert s_only[0, 5] == np.float32(1.5)


# ------------------------------------------------------------------ data: amplitude and phases
@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    cfg = SyntheticConfig(n_traces=60, seed=3, split_fractions=(0.6, 0.2, 0.2))
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "mag", cfg)


@pytest.fixture(scope="module")
def dataset(dataset_path):
    return magnitude_traces(load_dataset(dataset_path))


def _test_batch(dataset, pipeline, **kw):
    loader = phase_loader(dataset, "test", batch_size=64, norm="peak", mode="onsets_inside",
                          window=3000, magnitude=True, amplitude=True, prefetch=0,
                          shuffle=False, drop_last=False, pipeline=pipeline, **kw)
    return next(iter(loader))


def test_log_amplitude_channels_carry_the_local_magnitude(dataset):
    batch = _test_batch(dataset, "batched")
    x = batch["X"]
    assert x.shape[2] == 6
    np.testing.assert_array_equal(x[:, :1, 3:], x[:, -1:, 3:])  # constant in time
    # peak normalisation: the waveform channels peak at 1 (to float32 rounding)
    np.testing.assert_allclose(np.abs(x[:, :, :3]).max(1), 1.0, rtol=1e-6)
    # independent reference: the Hutton & Boore (1987) amplitude of the catalogue ML at the
    # hypocentral distance, which the generator gives the S peak (largest on a horizontal
    # component). The window's largest log peak amplitude matches it to 0.15: the P wave
    # (2-5x smaller) and the noise add to the S peak, demeaning shifts it a little.
    meta = dataset.test().metadata
    hypo = np.hypot(meta["path_ep_distance_km"], meta["source_depth_km"]).to_numpy()
    expected = np.log10(local_magnitude_amplitude(meta["source_magnitude"].to_numpy(), hypo))
    np.testing.assert_allclose(x[:, 0, 3:].max(1), expected, atol=0.15)


@pytest.mark.parametrize("phases", ["P", "S", "PS"])
def test_phases_choose_the_label_onset_in_both_pipelines(dataset, phases):
    got = _test_batch(dataset, "batched", magnitude_phases=phases)
    ref = _test_batch(dataset, "seisbench", magnitude_phases=phases)
    for key in ref:  # the batched pipeline equals SeisBench's augmentation chain exactly
        np.testing.assert_array_equal(got[key], ref[key], err_msg=key)
    # independent reference: SeisBench's ProbabilisticLabeller puts the peak of the P (S)
    # Gaussian at the P (S) onset; the label starts at the earliest chosen onset (the
    # labeller rounds onsets down, the Gaussian peak to the nearest sample: 1 sample apart)
    peaks = {p: got["y"][:, :, 1 + "PS".index(p)].argmax(1) for p in "PS"}
    first = np.min([peaks[p] for p in phases], axis=0)
    start = (got["magnitude"] > 0).argmax(1)
    np.testing.assert_allclose(start, first, atol=1)


def test_sampling_rate_resamples_the_dataset(dataset_path):
    config = _config("eqtransformer_mag", sampling_rate=50.0)
    config.data.dataset = str(dataset_path)
    use_magnitude_sampling_rate(config)
    x, _ = configured_dataset(config).get_sample(0)
    assert config.data.sampling_rate == 50.0 and x.shape == (3, 2000)  # 40 s at 50 Hz
    other = _config("phasenet_mag", sampling_rate=50.0)  # not a phasenet_mag flag
    use_magnitude_sampling_rate(other)
    assert other.data.sampling_rate == 100.0
    assert registry.magnitude_inputs(_config("phasenet_mag", phases="S"))["magnitude_phases"] \
        == "PS"
    assert registry.magnitude_inputs(_config("eqtransformer_mag", phases="S")) == {
        "amplitude": True, "magnitude_phases": "S"}


@pytest.mark.parametrize("flag, value, words", [
    ("--n_class", "2", "--n_class must be 1"),
    ("--phases", "PX", "use P, S or PS"),
    ("--sampling_rate", "0", "positive rate"),
])
def test_eqtransformer_mag_flags_refuse_bad_values(seismic_entry, dataset_path, tmp_path,
                                                   capsys, flag, value, words):
    code = seismic_entry.main(["--mode", "train_mag", "--model_type", "eqtransformer_mag",
                               "--dataset", str(dataset_path), "--model_path",
                               str(tmp_path / "r"), flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and words in err[0]
    assert not (tmp_path / "r").exists()  # refused before anything is written


# ------------------------------------------------------------------ CLI: train, eval, resume
# Small variants where the test is about plumbing (the default architectures are counted above)
SMALL = {"phasenet_mag": [],
         "eqtransformer_mag": ["--cnn_blocks", "1", "--lstm_blocks", "1",
                               "--transformer_num_encoder_layers", "1",
                               "--transformer_d_model", "8", "--transformer_nhead", "2",
                               "--phases", "S", "--sampling_rate", "50"],
         "amag_v2": ["--lstm_hidden", "16", "--lstm_layers", "1"]}


def _args(dataset_path, run):
    return ["--dataset", str(dataset_path), "--model_path", str(run), "--batch_size", "4",
            "--config.train.steps_per_epoch=2", "--config.train.max_eval_batches=1",
            "--config.eval.max_batches=2", "--warmup_epochs", "1"]


@pytest.mark.parametrize("model", ["phasenet_mag", "eqtransformer_mag", "amag_v2"])
def test_train_mag_eval_mag_round_trip(seismic_entry, dataset_path, tmp_path, model):
    run = tmp_path / model
    history = seismic_entry.run(["--mode", "train_mag", "--model_type", model, "--epochs", "1",
                                 *SMALL[model], *_args(dataset_path, run)])
    assert len(history) == 1 and np.isfinite(history[0]["dev_loss"])
    assert history[0]["lr_scale"] == pytest.approx(0.1)  # first warmup epoch
    stored = json.loads((run / "config.json").read_text())
    assert stored["train"]["batch_size"] == 4  # the explicit flag beat the model default
    rate = 50.0 if model == "eqtransformer_mag" else 100.0  # --sampling_rate resamples
    assert stored["data"]["sampling_rate"] == rate
    assert (run / "best").is_dir()
    # eval_mag without repeating the model flags (read from the checkpoint)
    metrics = seismic_entry.run(["--mode", "eval_mag", "--model_path", str(run),
                                 "--dataset", str(dataset_path), "--batch_size", "4",
                                 "--config.eval.max_batches=2", "--plot"])
    assert metrics["n_traces"] == 8 and metrics["model_type"] == model
    est = json.loads((run / "metrics.json").read_text())
    assert est["mae"] == pytest.approx(metrics["mae"]) and (run / "magnitude.png").is_file()
    if model == "eqtransformer_mag":  # a conflicting flag fails naming it
        assert seismic_entry.main(["--mode", "eval_mag", "--model_path", str(run),
                                   "--dataset", str(dataset_path),
                                   "--transformer_nhead", "4"]) == 2


def test_model_defaults_apply_unless_given(seismic_entry):
    config = seismic_entry.parse(["--mode", "train_mag", "--model_type", "amag_v2",
                                  "--lr", "0.5"])
    apply_train_defaults(config, {"train.lr"})
    assert (config.train.lr, config.train.batch_size, config.train.warmup_epochs) == (0.5, 64, 5)


def _stored_state(run):
    """Every leaf of the run's latest checkpoint (step, rng, params, batch statistics,
    optimizer state incl. the injected learning rate and the LR scale), by path."""
    with Checkpointer(run / "checkpoints") as ckpt:
        step = ckpt.latest_step()
        flat = jax.tree_util.tree_flatten_with_path(ckpt.restore_raw())[0]
    return step, {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in flat}


def test_kill_and_resume_equals_uninterrupted(seismic_entry, dataset_path, tmp_path):
    common = ["--mode", "train_mag", "--model_type", "phasenet_mag", "--epochs", "3",
              "--save_every", "2", "--optimizer", "AdamW"]
    full = seismic_entry.run([*common, *_args(dataset_path, tmp_path / "full")])

    # The same run dies at the end of its third epoch, after the checkpoint of epoch 2 and
    # before its final one (checkpoints every 2 epochs): epoch 3 is lost and redone.
    class Killed(Exception):
        pass

    def kill(epoch, record):
        if epoch == 2:
            raise Killed
        return False

    config = seismic_entry.parse([*common, *_args(dataset_path, tmp_path / "cut")])
    apply_train_defaults(config, seismic_entry._argv_fields(
        [*common, *_args(dataset_path, tmp_path / "cut")]))
    with pytest.raises(Killed):
        train_mag(config, on_epoch_end=kill)
    assert _stored_state(tmp_path / "cut")[0] == 4  # 2 epochs x 2 steps
    resumed = seismic_entry.run([*common, "--resume", *_args(dataset_path, tmp_path / "cut")])
    timing = ("seconds", "train_seconds", "data_wait_seconds")
    assert [{k: v for k, v in h.items() if k not in timing} for h in resumed] == \
        [{k: v for k, v in h.items() if k not in timing} for h in full]
    (step_a, a), (step_b, b) = _stored_state(tmp_path / "full"), _stored_state(tmp_path / "cut")
    assert step_a == step_b == 6 and list(a) == list(b)
    assert any("opt_state" in k for k in a) and any("batch_stats" in k for k in a)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # bit-identical


def test_tune_three_trials_then_a_fourth(seismic_entry, dataset_path, tmp_path):
    args = ["--mode", "train_mag", "--model_type", "phasenet_mag", "--tune",
            "--study_name", "s", "--max_epochs_per_trial", "1",
            "--config.tune.directory=" + str(tmp_path / "studies"),
            "--config.tune.batch_sizes=(4,)", "--config.tune.filter_factors=(1,)",
            *_args(dataset_path, tmp_path / "runs")]
    study = seismic_entry.run([*args, "--n_trials", "3"])
    assert len(study.trials) == 3
    for suffix in ("_results.csv", "_best_params.csv", "_analysis.png"):
        assert (tmp_path / "studies" / f"s{suffix}").is_file()
    study = seismic_entry.run([*args, "--n_trials", "1"])
    assert len(study.trials) == 4
    with open(tmp_path / "studies" / "s_results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["trial"]) for r in rows] == [0, 1, 2, 3]
