"""The seismic trainer on the engine: exact resume (1 and 4 devices) and the original
framework's README commands, run through experiments/seismic.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("seconds", "train_seconds", "data_wait_seconds")






@pytest.fixture(scope="module")
def entry(seismic_entry):
    return seismic_entry


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    cfg = SyntheticConfig(n_traces=120, seed=21, split_fractions=(0.7, 0.15, 0.15))
    return write_synthetic_dataset(tmp_path_factory.mktemp("eng") / "ds", cfg)


def _params(run_dir):
    with Checkpointer(run_dir / "checkpoints") as ckpt:
        part = ckpt.restore_raw()["parts"]["model"]
    leaves = []

    def walk(tree, prefix=""):
        for k in sorted(tree):
            v = tree[k]
            walk(v, f"{prefix}{k}/") if isinstance(v, dict) else leaves.append((prefix + k, v))

    walk({"params": part["params"], "batch_stats": part["batch_stats"]})
    return leaves


def _without_timing(history):
    return [{k: v for k, v in h.items() if k not in TIMING} for h in history]


@pytest.mark.parametrize("devices", [1, 4])
def test_resume_after_an_epoch_equals_the_uninterrupted_run(entry, small_set, tmp_path,
                                                            devices):
    common = ["--mode", "train_phase", "--model_type", "phasenet", "--dataset", str(small_set),
              "--batch_size", "8", "--lr", "0.003", "--config.train.steps_per_epoch=5",
              "--config.train.max_eval_batches=1", f"--num_devices={devices}",
              "--config.data.prefetch=2"]
    full = entry.run([*common, "--epochs", "3", "--model_path", str(tmp_path / "full")])
    # The run that stops after epoch 1 leaves exactly the checkpoint a run killed after that
    # epoch leaves (checkpoints are written at epoch ends; a SIGKILL between them is tested
    # in test_core_checkpoint); it is resumed for the remaining epochs.
    entry.run([*common, "--epochs", "1", "--model_path", str(tmp_path / "cut")])
    resumed = entry.run([*common, "--epochs", "3", "--model_path", str(tmp_path / "cut"),
                         "--resume"])
    assert [h["epoch"] for h in resumed] == [0, 1, 2]
    assert _without_timing(resumed) == _without_timing(full)  # losses equal to the last bit
    stored = json.loads((tmp_path / "cut" / "history.json").read_text())["epochs"]
    assert _without_timing(stored) == _without_timing(full)
    a, b = _params(tmp_path / "full"), _params(tmp_path / "cut")
    assert [k for k, _ in a] == [k for k, _ in b]
    for (name, x), (_, y) in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y, err_msg=name)  # bit-identical


def test_readme_phase_commands(entry, small_set, tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    small = ["--dataset", str(small_set), "--epochs", "1", "--batch_size", "8",
             "--config.train.steps_per_epoch=2", "--config.train.max_eval_batches=1"]
    # "uv run python -m src.my_project.main --mode train_phase --model_type phasenet_conv_lstm
    #  --dataset ETHZ" (no --model_path: a default run directory named after model and data)
    history = entry.run(["--mode", "train_phase", "--model_type", "phasenet_conv_lstm",
                         *small])
    run_dir = tmp_path / "runs" / "phasenet_convlstm_ds"
    assert len(history) == 1 and (run_dir / "checkpoints").is_dir()
    stored = json.loads((run_dir / "config.json").read_text())
    assert stored["model_type"] == "phasenet_convlstm" and stored["model"]["convlstm_hidden"] == 64
    # "--model_type phasenet_lstm --dataset ETHZ --lstm_hidden_size 64 --lstm_num_layers 1",
    # with the bare --lstm_bidirectional flag and its --no- form.
    for flag, expected in (("--lstm_bidirectional", True), ("--no-lstm_bidirectional", False)):
        out = tmp_path / f"lstm{expected}"
        entry.run(["--mode", "train_phase", "--model_type", "phasenet_lstm", "--lstm_hidden_size",
                   "64", "--lstm_num_layers", "1", flag, "--model_path", str(out), *small])
        assert json.loads((out / "config.json").read_text())["model"]["lstm_bidirectional"] \
            is expected
    # "--mode eval_phase --model_type phasenet_conv_lstm --model_path ..." with the training's
    # flags: evaluation restores only the variables
    metrics = entry.run(["--mode", "eval_phase", "--model_type", "phasenet_conv_lstm",
                         "--model_path", str(run_dir), "--dataset", str(small_set),
                         "--config.eval.max_batches=1"])
    assert 0.0 <= metrics["task1_auc"] <= 1.0
    # A PhaseNet checkpoint is compared on PhaseNet's flags only: a changed ConvLSTM default
    # does not refuse it.
    pn = tmp_path / "pn"
    entry.run(["--mode", "train_phase", "--model_type", "phasenet", "--model_path", str(pn),
               *small])
    entry.run(["--mode", "eval_phase", "--model_type", "phasenet", "--model_path", str(pn),
               "--dataset", str(small_set), "--convlstm_hidden", "16",
               "--config.eval.max_batches=1"])
    # "--mode tutorial": deprecated alias, says so
    caplog.clear()
    batch = entry.run(["--mode", "tutorial", "--dataset", str(small_set)])
    assert batch["X"].shape == (4, 3001, 3)
    assert "--mode tutorial is deprecated" in caplog.text


def test_blocked_download_is_one_line(tmp_path):
    # A user's plain command, in a fresh process whose SeisBench cache is empty: the download
    # of ETHZ is attempted (and fails: no network here) and reported in one line.
    cache = tmp_path / "sbcache"
    env = {**os.environ, "SEISBENCH_CACHE_ROOT": str(cache)}
    env.pop("XLA_FLAGS", None)
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "seismic.py"), "--mode",
                          "train_phase", "--dataset", "ETHZ", "--model_path",
                          str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 2, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in run.stderr
    assert "ETHZ" in lines[0] and str(cache / "datasets" / "ethz") in lines[0]
    assert "--dataset PATH" in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written
