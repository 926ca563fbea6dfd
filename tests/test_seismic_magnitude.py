"""Magnitude models, losses, metrics, train_mag/eval_mag through the CLI, resume and --tune."""

import csv
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.core.schedules import LrScale
from jaxgeo.core.train import EarlyStopping
from jaxgeo.seismic.experiment import apply_train_defaults
from jaxgeo.seismic.magnitude import (
    magnitude_metrics,
    masked_window_mag_loss,
    window_mag_loss,
)
from jaxgeo.seismic.magnitude_models import EQTransformerMag, MagnitudeNet, PhaseNetMag
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset

X = jax.ShapeDtypeStruct((2, 3000, 3), jnp.float32)
KEYS = {"params": jax.random.PRNGKey(0), "dropout": jax.random.PRNGKey(1)}


def _count(module) -> int:
    shapes = jax.eval_shape(lambda: module.init(KEYS, jnp.zeros(X.shape)))
    return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(shapes["params"]))


def _conv(k, cin, cout, bias=True):
    return k * cin * cout + (cout if bias else 0)


def _unet_convs(f=1):
    """Hand count of the PhaseNet-style U-Net (inc, 5 encoder levels, 4 decoder levels, kernel 7,
    BatchNorm scale + bias), without the bottleneck and the output conv."""
    enc = [8 * 2**i * f for i in range(5)]
    n = _conv(7, 3, 8 * f) + 2 * 8 * f
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


def test_phasenet_mag_count_and_shape():
    # 268,416 for the U-Net (SeisBench PhaseNet minus its 27 output parameters) + 8 -> 1 conv
    assert _count(PhaseNetMag()) == _unet_convs() + 9 == 268_425
    out = jax.eval_shape(lambda: PhaseNetMag().apply(
        PhaseNetMag().init(KEYS, jnp.zeros(X.shape)), jnp.zeros(X.shape)))
    assert out.shape == (2, 3000)


def test_magnitude_net_count_and_shape():
    lstm = 2 * _torch_lstm(128, 128) + 2 * _torch_lstm(256, 128)   # 2 bidirectional layers
    attention = 4 * (256 * 256 + 256)                                # q, k, v, out
    bottleneck = (256 * 128 + 128) + 2 * 128                         # Linear + BatchNorm
    expected = _unet_convs() + lstm + attention + bottleneck + 9
    assert _count(MagnitudeNet()) == expected == 1_224_201
    assert _count(MagnitudeNet(filter_factor=2, lstm_hidden=64)) != expected
    m = MagnitudeNet()
    out = jax.eval_shape(lambda: m.apply(m.init(KEYS, jnp.zeros(X.shape)), jnp.zeros(X.shape)))
    assert out.shape == (2, 3000)


def _eqt_mag_count(cnn=7, lstm=3, d=16, layers=2, ff=128):
    filters, kernels = (8, 16, 16, 32, 32, 64, 64), (11, 9, 7, 7, 5, 5, 3)
    res_kernels = (3, 3, 3, 3, 2, 3, 2)
    n = sum(_conv(k, a, b) for k, a, b in zip(kernels, (3,) + filters[:-1], filters, strict=True))
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
    assert _count(EQTransformerMag()) == _eqt_mag_count()
    big = EQTransformerMag(transformer_d_model=32, transformer_nhead=8,
                           transformer_num_encoder_layers=3, transformer_dim_feedforward=64)
    assert _count(big) == _eqt_mag_count(d=32, layers=3, ff=64)
    assert _count(EQTransformerMag(cnn_blocks=3, lstm_blocks=1)) == _eqt_mag_count(3, 1)
    x = jnp.zeros((1, 3000, 3))
    variables = big.init(KEYS, x)
    out, inter = big.apply(variables, x, mutable=["intermediates"])
    assert out.shape == (1, 3000)
    # 3000 samples after seven max-pools (odd lengths padded): 24 steps; 8 heads
    att = inter["intermediates"]["transformer2"]["attention"][0]
    assert att.shape == (1, 8, 24, 24)
    np.testing.assert_allclose(np.asarray(att).sum(-1), 1.0, rtol=1e-5)  # softmax rows


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


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    cfg = SyntheticConfig(n_traces=120, seed=3, split_fractions=(0.6, 0.2, 0.2))
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "mag", cfg)


def _args(dataset_path, run):
    return ["--dataset", str(dataset_path), "--model_path", str(run), "--batch_size", "4",
            "--config.train.steps_per_epoch=2", "--config.train.max_eval_batches=1",
            "--config.eval.max_batches=2", "--warmup_epochs", "1"]


@pytest.mark.parametrize("model", ["phasenet_mag", "eqtransformer_mag", "amag_v2"])
def test_train_mag_eval_mag_round_trip(seismic_entry, dataset_path, tmp_path, model):
    run = tmp_path / model
    extra = (["--transformer_d_model", "8", "--transformer_nhead", "2"]
             if model == "eqtransformer_mag" else [])
    history = seismic_entry.run(["--mode", "train_mag", "--model_type", model, "--epochs", "1",
                                 *extra, *_args(dataset_path, run)])
    assert len(history) == 1 and np.isfinite(history[0]["dev_loss"])
    assert history[0]["lr_scale"] == pytest.approx(0.1)  # first warmup epoch
    stored = json.loads((run / "config.json").read_text())
    assert stored["train"]["batch_size"] == 4  # the explicit flag beat the model default
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


def test_resume_equals_uninterrupted(seismic_entry, dataset_path, tmp_path):
    common = ["--mode", "train_mag", "--model_type", "phasenet_mag"]
    full = seismic_entry.run([*common, "--epochs", "2", *_args(dataset_path, tmp_path / "a")])
    seismic_entry.run([*common, "--epochs", "1", *_args(dataset_path, tmp_path / "b")])
    resumed = seismic_entry.run([*common, "--epochs", "2", "--resume",
                                 *_args(dataset_path, tmp_path / "b")])
    for a, b in zip(full, resumed, strict=True):
        assert a["dev_loss"] == b["dev_loss"] and a["train_loss"] == b["train_loss"]


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
