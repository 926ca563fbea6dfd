"""eval_phase on local SeisBench weight pairs through experiments/seismic.py.

The reference is SeisBench's own PyTorch model: a PhaseNet / EQTransformer with random weights
is saved with ``SeisBenchModel.save`` (``<name>.pt.v1`` + ``<name>.json.v1``), evaluated by the
entry script on a tiny synthetic dataset, and the predictions jaxgeo saved are compared with
``model(model.annotate_batch_pre(X))`` in PyTorch on the very windows jaxgeo evaluated.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import seisbench.models as sbm  # noqa: E402
import torch  # noqa: E402
from torch_models import randomise as _randomise  # noqa: E402

from jaxgeo.seismic.convert import WeightPairError  # noqa: E402
from jaxgeo.seismic.evaluate import _onsets  # noqa: E402
from jaxgeo.seismic.experiment import ModelFlagMismatchError  # noqa: E402
from jaxgeo.seismic.metrics import phase_metrics  # noqa: E402
from jaxgeo.seismic.synthetic import SyntheticConfig, write_synthetic_dataset  # noqa: E402

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[1]
# float32 on both sides with different summation orders (XLA vs oneDNN/ATen): the bound.
ATOL = 1e-5
# A dataset path that does not exist: any error below must come before the data is touched
# (otherwise the message would be "unknown dataset").
NO_DATA = "/nonexistent/never_read"




@pytest.fixture(scope="module")
def entry(seismic_entry):
    return seismic_entry


@pytest.fixture(scope="module")
def dataset_path(tmp_path_factory):
    # 40 traces, 24 in the test split (a few noise-only ones among them: task 1 has negatives).
    cfg = SyntheticConfig(n_traces=40, seed=3, split_fractions=(0.2, 0.2, 0.6))
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "tiny", cfg)


def _torch_outputs(model, windows: np.ndarray):
    """SeisBench's own prediction on jaxgeo's evaluation windows (channels-last numpy)."""
    x = torch.from_numpy(np.ascontiguousarray(windows.transpose(0, 2, 1)))
    with torch.no_grad():
        out = model(model.annotate_batch_pre(x, {}))
    if isinstance(out, tuple):
        return [o.numpy() for o in out]
    return out.numpy().transpose(0, 2, 1)


def _eval(entry, dataset_path, model_path, out_dir, *extra):
    return entry.run(["--mode", "eval_phase", "--dataset", str(dataset_path), "--model_path",
                      str(model_path), "--batch_size", "8", "--save_predictions",
                      "--output_dir", str(out_dir), *extra])


def _same_metrics(saved: dict, recomputed: dict) -> None:
    # Predictions agree to ~1e-7, far from the 0.3 threshold and from ties between windows, so
    # every count and score is identical (not merely close).
    assert saved["task1_auc"] == pytest.approx(recomputed["task1_auc"], abs=1e-12)
    assert saved["task2_mcc"] == pytest.approx(recomputed["task2_mcc"], abs=1e-12)
    for phase in "PS":
        for key in ("tp", "n_pred", "n_true"):
            assert saved[f"picks_{phase}"][key] == recomputed[f"picks_{phase}"][key]
        assert saved[f"task3_{phase}"]["n"] == recomputed[f"task3_{phase}"]["n"]


def test_phasenet_weight_pair_equals_seisbench(entry, dataset_path, tmp_path):
    torch.manual_seed(0)
    # phases "PSN": SeisBench's channel order differs from jaxgeo's (N, P, S) and must be mapped.
    ref = _randomise(sbm.PhaseNet(phases="PSN", norm="peak"), seed=1, weight_gain=2.0)
    ref.save(tmp_path / "picker", version_str="1")
    # The stem is accepted as well as the .pt.v1 file; --model_type is detected from the json.
    metrics = _eval(entry, dataset_path, tmp_path / "picker", tmp_path / "out")
    saved = np.load(tmp_path / "out" / "predictions.npz")
    assert saved["X"].shape == (24, 3001, 3) and metrics["n_windows"] == 24
    assert metrics["model_type"] == "phasenet" and metrics["task1_score"] == "max P/S probability"
    assert json.loads((tmp_path / "out" / "metrics.json").read_text()) == json.loads(
        json.dumps(metrics, default=float))

    want = _torch_outputs(ref, saved["X"])[..., [2, 0, 1]]  # P, S, N -> N, P, S
    err = np.abs(saved["prob"] - want).max()
    print(f"PhaseNet weight pair: max |jaxgeo - SeisBench| = {err:.2e} over 24 windows")
    assert err <= ATOL
    assert want[..., 1:].std(axis=0).mean() > 1e-3  # the outputs depend on the window

    y = saved["y"]
    again = phase_metrics(want, _onsets(y[:, :, 1]), _onsets(y[:, :, 2]))
    _same_metrics(metrics, again)


def test_eqtransformer_weight_pair_equals_seisbench(entry, dataset_path, tmp_path):
    torch.manual_seed(2)
    ref = _randomise(sbm.EQTransformer(), seed=3, weight_gain=2.2)
    ref.save(tmp_path / "eqt", version_str="2")
    metrics = _eval(entry, dataset_path, tmp_path / "eqt.pt.v2", tmp_path / "out",
                    "--model_type", "eqtransformer")
    saved = np.load(tmp_path / "out" / "predictions.npz")
    # 40 s synthetic traces in 60 s EQTransformer windows (zero-padded, as SeisBench pads).
    assert saved["X"].shape == (24, 6000, 3) and saved["detection"].shape == (24, 6000)
    assert metrics["model_type"] == "eqtransformer" and metrics["task1_score"] == "max detection"

    det, p, s = _torch_outputs(ref, saved["X"])
    errs = {name: float(np.abs(got - want).max()) for name, got, want in (
        ("detection", saved["detection"], det), ("P", saved["prob"][..., 1], p),
        ("S", saved["prob"][..., 2], s))}
    print("EQTransformer weight pair: max |jaxgeo - SeisBench| =", errs)
    assert max(errs.values()) <= ATOL
    # The outputs depend on the window, and so does the task 1 score (window maxima).
    # (spreads >= 10x the tolerance: a wrong conversion could not hide inside ATOL).
    assert min(o.std(axis=0).mean() for o in (det, p, s)) > 10 * ATOL
    assert det.max(axis=1).std() > 1e-3

    y = saved["y"]
    prob = np.stack([1 - np.maximum(p, s), p, s], axis=-1)
    again = phase_metrics(prob, _onsets(y[:, :, 1]), _onsets(y[:, :, 2]), detection=det)
    _same_metrics(metrics, again)
    # Task 1 uses the detection branch, not the pick curves.
    pick_score = phase_metrics(prob, _onsets(y[:, :, 1]), _onsets(y[:, :, 2]))
    assert pick_score["task1_score"] != metrics["task1_score"]


@pytest.fixture(scope="module")
def phasenet_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    sbm.PhaseNet(filter_factor=2).save(folder / "pn", version_str="1")
    return folder / "pn.pt.v1"


def test_missing_half_of_the_pair(entry, tmp_path):
    sbm.PhaseNet().save(tmp_path / "half", version_str="4")
    (tmp_path / "half.json.v4").unlink()
    for path in ("half.pt.v4", "half"):
        with pytest.raises(FileNotFoundError, match=r"half.pt.v4 exists but half.json.v4 is "
                           r"missing.*Put half.json.v4"):
            entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                       str(tmp_path / path)])
    (tmp_path / "other.json.v1").write_text("{}")
    assert entry.main(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                       str(tmp_path / "other.json.v1")]) == 2
    with pytest.raises(FileNotFoundError, match="other.pt.v1 is missing"):
        entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                   str(tmp_path / "other.json.v1")])


def test_unknown_model_in_the_json(entry, tmp_path):
    sbm.GPD().save(tmp_path / "gpd", version_str="1")  # a SeisBench picker jaxgeo cannot convert
    with pytest.raises(WeightPairError, match=r"other than \['EQTransformer', 'PhaseNet'\]"):
        entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                   str(tmp_path / "gpd.pt.v1")])
    # A json naming its class explicitly.
    sbm.PhaseNet().save(tmp_path / "named", version_str="1")
    meta = json.loads((tmp_path / "named.json.v1").read_text())
    (tmp_path / "named.json.v1").write_text(json.dumps({**meta, "model_name": "PickBlue"}))
    with pytest.raises(WeightPairError, match="'PickBlue' model; jaxgeo converts only"):
        entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                   str(tmp_path / "named.pt.v1")])
    # PhaseNetLight saves PhaseNet's arguments: its .pt file gives it away.
    sbm.PhaseNetLight().save(tmp_path / "light", version_str="1")
    with pytest.raises(WeightPairError, match="neither a SeisBench PhaseNet nor an EQTransformer"):
        entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                   str(tmp_path / "light.pt.v1")])


def test_model_type_mismatch(entry, phasenet_pair, capsys):
    common = ["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path", str(phasenet_pair)]
    with pytest.raises(WeightPairError, match=r"--model_type eqtransformer does not match the "
                       r"weights: pn.json.v1 describes a SeisBench PhaseNet. Pass --model_type "
                       r"phasenet"):
        entry.run([*common, "--model_type", "eqtransformer"])
    with pytest.raises(WeightPairError, match="--model_type phasenet_lstm cannot load SeisBench "
                       "weights"):
        entry.run([*common, "--model_type", "phasenet_lstm"])
    with pytest.raises(ModelFlagMismatchError, match=r"--filter_factor 1 \(weights: 2\)"):
        entry.run([*common, "--filter_factor", "1"])
    assert entry.main([*common, "--model_type", "eqtransformer"]) == 2
    assert "Pass --model_type phasenet" in capsys.readouterr().err


def test_ambiguous_stem_and_eqtransformer_training(entry, phasenet_pair, tmp_path):
    sbm.PhaseNet().save(tmp_path / "two", version_str="1")
    sbm.PhaseNet().save(tmp_path / "two", version_str="2")
    with pytest.raises(WeightPairError, match=r"several SeisBench weight versions \(two.pt.v1, "
                       r"two.pt.v2\); pass"):
        entry.run(["--mode", "eval_phase", "--dataset", NO_DATA, "--model_path",
                   str(tmp_path / "two")])
    with pytest.raises(ValueError, match="--model_type eqtransformer evaluates SeisBench weights"):
        entry.run(["--mode", "train_phase", "--model_type", "eqtransformer", "--dataset", NO_DATA,
                   "--model_path", str(tmp_path / "run")])


def test_help_lists_weight_pair_options(entry, capsys):
    with pytest.raises(SystemExit) as exit_info:
        entry.run(["--help"])
    assert exit_info.value.code == 0
    usage = capsys.readouterr().out
    for text in ("--output_dir", "--save_predictions", "eqtransformer", "NAME.pt.vN",
                 "NAME.json.vN"):
        assert text in usage, text
