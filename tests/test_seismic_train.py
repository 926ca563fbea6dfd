"""train_phase / eval_phase through experiments/seismic.py on a small synthetic dataset."""

import json
from pathlib import Path

import numpy as np
import pytest

from jaxgeo.seismic.data import load_dataset  # noqa: E402
from jaxgeo.seismic.evaluate import evaluate
from jaxgeo.seismic.experiment import ModelFlagMismatchError
from jaxgeo.seismic.registry import build_model, phase_loss
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset  # noqa: E402
from jaxgeo.seismic.train import init_variables

ROOT = Path(__file__).resolve().parents[1]






@pytest.fixture(scope="module")
def entry(seismic_entry):
    return seismic_entry


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    cfg = SyntheticConfig(n_traces=700, seed=11, split_fractions=(0.8, 0.1, 0.1))
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "train_set", cfg)


def _common(dataset_path, model_path):
    return ["--dataset", str(dataset_path), "--model_path", str(model_path),
            "--batch_size", "16", "--config.train.max_eval_batches=2"]


@pytest.fixture(scope="module")
def trained(entry, dataset_path, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    history = entry.run(["--mode", "train_phase", "--model_type", "phasenet", "--epochs", "2",
                         "--lr", "0.005", "--config.train.steps_per_epoch=40", "--plot",
                         *_common(dataset_path, run_dir)])
    return run_dir, history


def test_phase_loss_is_the_original_formula():
    rng = np.random.default_rng(0)
    prob = rng.dirichlet(np.ones(3), size=(2, 5))
    y = rng.dirichlet(np.ones(3), size=(2, 5))
    expected = -np.mean(np.sum(y * np.log(prob + 1e-5), axis=-1))
    assert float(phase_loss(prob, y)) == pytest.approx(expected, rel=1e-5)  # float32 result


def test_training_beats_untrained_pick_f1(trained, entry, dataset_path):
    run_dir, history = trained
    assert [h["epoch"] for h in history] == [0, 1]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert json.loads((run_dir / "history.json").read_text())["epochs"] == history
    for h in history:  # the data wait is timed inside the training part of the epoch
        assert 0.0 <= h["data_wait_seconds"] <= h["train_seconds"] <= h["seconds"]
    assert (run_dir / "history.png").is_file() and (run_dir / "config.json").is_file()

    metrics = entry.run(["--mode", "eval_phase", "--model_type", "phasenet", "--plot",
                         *_common(dataset_path, run_dir)])
    assert json.loads((run_dir / "metrics.json").read_text())["task2_mcc"] == metrics["task2_mcc"]
    assert (run_dir / "examples.png").is_file()

    # Untrained reference on the same deterministic test windows.
    cfg = entry.parse(["--mode", "eval_phase", *_common(dataset_path, run_dir)])
    module = build_model(cfg)
    untrained, _ = evaluate(module, init_variables(module, 0), load_dataset(dataset_path), cfg)

    def pooled_f1(m):
        tp = m["picks_P"]["tp"] + m["picks_S"]["tp"]
        n_pred = m["picks_P"]["n_pred"] + m["picks_S"]["n_pred"]
        n_true = m["picks_P"]["n_true"] + m["picks_S"]["n_true"]
        return 2 * tp / (n_pred + n_true)

    f1_trained, f1_untrained = pooled_f1(metrics), pooled_f1(untrained)
    print(f"pooled pick F1: trained {f1_trained:.3f}, untrained {f1_untrained:.3f}; "
          f"task1 AUC {metrics['task1_auc']:.3f}, task2 MCC {metrics['task2_mcc']:.3f}")
    # "Wide margin": at least 0.2 absolute and ten times the untrained model's F1.
    assert f1_trained > max(0.2, 10 * f1_untrained)
    assert metrics["task1_auc"] > untrained["task1_auc"]

    entry.run(["--mode", "plot_history", "--model_path", str(run_dir)])
    assert (run_dir / "history.png").is_file()


def test_checkpoint_with_other_model_flags_is_named(trained, entry, dataset_path):
    run_dir, _ = trained
    with pytest.raises(ModelFlagMismatchError, match=r"--filter_factor \(checkpoint: 1, now: 2\)"):
        entry.run(["--mode", "eval_phase", "--model_type", "phasenet", "--filter_factor", "2",
                   *_common(dataset_path, run_dir)])
    with pytest.raises(ModelFlagMismatchError, match="--model_type.*--norm"):
        entry.run(["--mode", "eval_phase", "--model_type", "phasenet_lstm", "--norm", "peak",
                   *_common(dataset_path, run_dir)])


def test_empty_split_is_reported(trained, entry, tmp_path):
    run_dir, _ = trained
    no_test = write_synthetic_dataset(tmp_path / "no_test",
                                      SyntheticConfig(n_traces=40, split_fractions=(0.5, 0.5, 0)))
    with pytest.raises(ValueError, match="'test' split of the dataset is empty"):
        entry.run(["--mode", "eval_phase", *_common(no_test, run_dir)])


def test_tutorial_load_and_generator_mode(entry, dataset_path, capsys):
    batch = entry.run(["--mode", "tutorial_test_load_and_generator", "--dataset",
                       str(dataset_path)])
    assert batch["X"].shape == (4, 3001, 3) and batch["magnitude"].shape == (4, 3001)
    out = capsys.readouterr().out
    assert "700 traces" in out and "X: shape (4, 3001, 3)" in out


def test_entry_script_errors(entry, dataset_path, tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown dataset 'NotADataset'"):
        entry.run(["--mode", "train_phase", "--dataset", "NotADataset", "--model_path",
                   str(tmp_path / "a")])
    with pytest.raises(ValueError, match="unknown model type 'phasenet9'"):
        entry.run(["--mode", "train_phase", "--model_type", "phasenet9",
                   *_common(dataset_path, tmp_path / "b")])
    with pytest.raises(ValueError, match=r"config.eval.window = 'middle' is not allowed"):
        entry.run(["--mode", "eval_phase", "--config.eval.window=middle",
                   *_common(dataset_path, tmp_path / "c")])
    with pytest.raises(ValueError, match=r"config.data.waveform_cache = 'ram' is not allowed"):
        entry.run(["--mode", "train_phase", "--config.data.waveform_cache=ram",
                   *_common(dataset_path, tmp_path / "d")])
    assert not (tmp_path / "d").exists()  # refused before anything is written
    with pytest.raises(ValueError, match=r"config.data.pipeline = 'fast' is not allowed"):
        entry.run(["--mode", "train_phase", "--config.data.pipeline=fast",
                   *_common(dataset_path, tmp_path / "e")])
    assert not (tmp_path / "e").exists()
    with pytest.raises(FileNotFoundError, match="does not exist or holds no checkpoints"):
        entry.run(["--mode", "eval_phase", *_common(dataset_path, tmp_path / "missing")])
    # magnitude modes refuse a phase picker (the default --model_type phasenet) in one line
    with pytest.raises(ValueError, match="train_mag needs a magnitude model type"):
        entry.run(["--mode", "train_mag"])
    assert entry.main(["--mode", "eval_mag", "--model_path", str(tmp_path / "none")]) == 2
    assert "eval_mag needs a magnitude model type" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        entry.run(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for flag in ("--mode", "--model_type", "--dataset", "--model_path", "--epochs", "--plot",
                 "--filter_factor", "--lstm_hidden_size", "--lstm_num_layers",
                 "--lstm_bidirectional", "--convlstm_hidden", "--config", "train_mag",
                 "tutorial_test_load_and_generator", "plot_history"):
        assert flag in usage, flag


def test_tutorial_train_and_evaluate_modes(entry, dataset_path, tmp_path):
    # The tutorial modes always train/evaluate plain PhaseNet, whatever --model_type says.
    run_dir = tmp_path / "tutorial"
    common = ["--dataset", str(dataset_path), "--model_path", str(run_dir), "--batch_size", "8",
              "--model_type", "phasenet_lstm"]
    history = entry.run(["--mode", "tutorial_train_phasenet", "--epochs", "1",
                         "--config.train.steps_per_epoch=3", "--config.train.max_eval_batches=1",
                         *common])
    assert [h["epoch"] for h in history] == [0] and history[0]["steps"] == 3
    assert np.isfinite(history[0]["train_loss"]) and np.isfinite(history[0]["dev_loss"])
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["model_type"] == "phasenet" and stored["mode"] == "tutorial_train_phasenet"
    assert (run_dir / "checkpoints").is_dir()

    metrics = entry.run(["--mode", "tutorial_evaluate_phasenet", "--config.eval.max_batches=2",
                         *common])
    assert json.loads((run_dir / "metrics.json").read_text())["n_windows"] == metrics["n_windows"]
    # One evaluation window per test trace, in metadata order: 2 batches of 8 traces.
    assert metrics["n_windows"] == 16 and metrics["window"] == "onsets_inside"
    test_meta = load_dataset(dataset_path).test().metadata
    n_events = int(test_meta["trace_P_arrival_sample"].iloc[:16].notna().sum())
    # Every event window has its P onset inside (>= 0.5 s from the edges), so all are counted.
    assert metrics["picks_P"]["n_true"] == n_events
    assert 0 <= metrics["picks_P"]["f1"] <= 1 and metrics["task3_P"]["n"] == n_events
