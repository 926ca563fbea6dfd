"""experiments/evaluate_physae.py: train a tiny model a few steps, evaluate it (4-way
comparison), in one fresh process without XLA_FLAGS; and a bad checkpoint is one error line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# Both entry scripts' main(argv) in one fresh interpreter: the validation set and the
# simulator compile once for the two (two interpreters would compile everything twice).
DRIVER = """
import sys
sys.path.insert(0, {experiments!r})
import train_physae, evaluate_physae
out = sys.argv[1]
rc = train_physae.main(["--stage", "A", "--train_samples", "16", "--val_samples", "16",
                        "--epochs", "1", "--batch_size", "8", "--num_refiners", "1",
                        "--out_dir", out, "--config.encoder_variant=tiny",
                        "--config.num_points=64", "--config.head_hidden=32",
                        "--config.refiner_width=8"])
assert rc == 0, rc
raise SystemExit(evaluate_physae.main(["--checkpoint", out + "/stage_A/best",
                                       "--gn_steps", "3", "--batch_size", "16"]))
"""


# A guide range set on the synthetic line list with LOWESS normalisation: every output says
# synthetic, baseline0 is not predicted (not in the tables).
DRIVER_SYNTHETIC = """
import sys
sys.path.insert(0, {experiments!r})
import train_stage_a, evaluate_physae
out = sys.argv[1]
rc = train_stage_a.main(["--config", {config!r}, "--train_samples", "16", "--val_samples",
                         "16", "--epochs", "1", "--batch_size", "8", "--num_refiners", "1",
                         "--out_dir", out, "--config.encoder_variant=tiny",
                         "--config.num_points=64", "--config.head_hidden=32",
                         "--config.refiner_width=8", "--config.lowess_normalise=True"])
assert rc == 0, rc
raise SystemExit(evaluate_physae.main(["--checkpoint", out + "/stage_A/best",
                                       "--gn_steps", "2", "--batch_size", "16"]))
"""


def _env():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_train_then_evaluate_round_trip(tmp_path):
    code = DRIVER.format(experiments=str(ROOT / "experiments"))
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "run" / "stage_A" / "eval"
    assert sorted(p.name for p in out.iterdir()) == [
        "errors_hist.png", "metrics.json", "pred_vs_true.png", "summary.md"]  # no .tmp left
    for png in ("errors_hist.png", "pred_vs_true.png"):
        assert Image.open(out / png).size[0] > 100
    m = json.loads((out / "metrics.json").read_text())
    assert m["n"] == 16 and list(m["methods"]) == ["network", "refiners", "network+GN",
                                                    "GN alone"]
    net, ref, gn = (m["methods"][k] for k in ("network", "refiners", "network+GN"))
    # a stage-A checkpoint's refiner is untrained: its last Dense is zero-initialised, so its
    # correction is exactly 0 and the refined estimate equals the network's
    assert ref["errors"] == net["errors"]
    # LM accepts only steps that lower |r|^2, started from the network's estimate, so every
    # spectrum's residual can only fall (1e-4: float32 re-simulation of the same estimate)
    assert gn["rms_median"] <= net["rms_median"] * (1 + 1e-4)
    for row in net["errors"].values():
        assert np.isfinite(row["median"]) and row["p90"] >= row["median"] >= 0
    assert "| mf_CH4 | ppm |" in run.stdout  # the printed table


def test_missing_checkpoint_is_one_error_line(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "evaluate_physae.py"),
                          "--checkpoint", str(tmp_path / "nope")], env=_env(),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --checkpoint")


def test_synthetic_range_set_is_labelled_and_lowess_drops_baseline0(tmp_path):
    code = DRIVER_SYNTHETIC.format(experiments=str(ROOT / "experiments"),
                                   config=str(ROOT / "configs" / "physae" / "ch4_6000.py"))
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run")], env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    stage = tmp_path / "run" / "stage_A"
    lines = json.loads((stage / "lines.json").read_text())
    assert lines["synthetic"] is True and lines["lines"].startswith("synthetic line list")
    m = json.loads((stage / "eval" / "metrics.json").read_text())
    assert m["synthetic_lines"] is True and "synthetic" in m["lines"]
    assert "synthetic" in (stage / "eval" / "summary.md").read_text()
    for method in m["methods"].values():
        assert "baseline0" not in method["errors"] and "baseline1" in method["errors"]
    assert "| baseline0 |" not in run.stdout and "| baseline1 |" in run.stdout
