"""FWI entry points: Seistorch flags, outputs, resume, and clear errors without output."""

import sys
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest
import segyio

from jaxgeo.core.config import ConfigError, set_field
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import workflow

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "configs" / "fwi" / "demo.py")


def tiny_config(tmp: Path, **overrides):
    """A very small acoustic problem (24 x 40 cells, 4 shots, 120 steps)."""
    c = fwi_config.default_config()
    c.equation, c.dx, c.dt, c.nt, c.order = "acoustic", 20.0, 0.004, 120, 4
    c.model.source = "procedural"
    pc = c.model.procedural
    pc.nz, pc.nx, pc.v_top, pc.v_bottom = 24, 40, 1900.0, 2300.0
    pc.anomaly_dv, pc.anomaly_center, pc.anomaly_radius = -250.0, (12.0, 20.0), 5.0
    c.model.bounds.vp = (1400.0, 2800.0)
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 5, 40, 10, 1
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 0, 40, 2, 22
    c.wavelet.freq, c.wavelet.delay = 5.0, 0.2
    c.boundary.pml_width = 6
    c.training.epochs, c.training.step_per_epoch, c.training.num_batches = 3, 2, 2
    c.optim.lr = {"vp": 20.0}
    c.devices.num_devices = 1
    c.save_path = str(tmp / "run")
    c.data.observed = str(tmp / "observed.h5")
    for k, v in overrides.items():
        set_field(c, k, v)
    return c


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    """Forward modelling once: the HDF5 (and SEG-Y) file the other tests invert."""
    tmp = tmp_path_factory.mktemp("fwd")
    config = tiny_config(tmp, mode="forward", **{"data.segy": True})
    data = workflow.run_forward(config)
    return tmp, config, data


def test_legacy_flags_map_onto_config_fields():
    argv = ["--config", DEMO, "--opt", "cg", "--loss", "vp=0.5*l2+0.5*envelope",
            "--lr", "vp=10.0", "vs=5.78", "--grad-cut", "--grad-smooth", "--grad-clip",
            "--clipvalue", "0.05", "--step-per-epoch", "3", "--filteratfirst", "--obsnofilter",
            "--num-batches", "2", "--save-path", "/tmp/x", "--mode", "forward",
            "--num_threads", "2", "--batchsize", "4", "--use-cuda", "--gpuid", "1",
            "--config.training.epochs=7"]
    c = fwi_config.parse_args(argv)
    assert c.optim.name == "cg" and c.loss.vp == "0.5*l2+0.5*envelope"
    assert c.optim.lr.vp == 10.0 and c.optim.lr.vs == 5.78
    assert c.grad.cut and c.grad.smooth and c.grad.clip and c.grad.clipvalue == 0.05
    assert c.training.step_per_epoch == 3 and c.training.num_batches == 2
    assert c.multiscale.filteratfirst and c.multiscale.obsnofilter
    assert c.save_path == "/tmp/x" and c.mode == "forward" and c.devices.num_threads == 2
    assert c.encoding.batchsize == 4 and c.devices.use_cuda and c.devices.gpuid == 1
    assert c.training.epochs == 7


@pytest.mark.parametrize("argv,needle", [
    (["--optimizer", "adam"], "--grad-cut"),          # unknown: lists the valid flags
    (["--opt", "rmsprop"], "adam"),                   # bad choice: lists the choices
    (["--lr", "vp"], "name=value"),                   # malformed key=value
    (["--clipvalue", "abc"], "--clipvalue"),          # not a number
])
def test_unknown_or_malformed_flags_fail_clearly(argv, needle):
    with pytest.raises(ConfigError, match=needle):
        fwi_config.parse_args(["--config", DEMO] + argv)


def test_forward_writes_hdf5_and_segy(observed_run):
    tmp, config, data = observed_run
    with h5py.File(config.data.observed) as f:
        assert len([k for k in f if k.startswith("shot_")]) == 4
        shot = f["shot_2"][...]
    assert shot.shape == (120, 20, 1)  # (nt, nr, ncomponents)
    np.testing.assert_array_equal(shot[:, :, 0], data[2, 0].T)  # exact float32 round trip
    with segyio.open(Path(config.data.observed).with_suffix(".sgy"), ignore_geometry=True) as f:
        assert f.tracecount == 4 * 20
        assert segyio.tools.dt(f) == pytest.approx(4000.0)  # microseconds
        np.testing.assert_array_equal(f.trace[2 * 20 + 5], data[2, 0, 5])
        assert f.header[2 * 20 + 5][segyio.TraceField.SourceX] == 25 * 20


def test_inversion_outputs_and_resume_matches_uninterrupted(observed_run, tmp_path):
    tmp, fwd_config, _ = observed_run
    obs = fwd_config.data.observed
    full = tiny_config(tmp_path / "a", **{"data.observed": obs, "log.tensorboard": True,
                                          "log.figures": True})
    full.save_path = str(tmp_path / "a")
    ref = workflow.invert(full)
    out = Path(full.save_path)
    for name in ("paravpF0E0.npy", "gradvpF0E2.npy", "loss.npy", "final_vp.npy",
                 "config.json", "figures/model_vp.png", "figures/loss.png",
                 "figures/residual.png"):
        assert (out / name).is_file(), name
    assert np.load(out / "loss.npy").shape == (1, 3, 2)
    from tbparse import SummaryReader
    scalars = SummaryReader(str(out / "logs")).scalars
    assert set(scalars["tag"]) >= {"loss", "model_rms_error"}

    killed = tiny_config(tmp_path / "b", **{"data.observed": obs})
    killed.save_path = str(tmp_path / "b")
    workflow.invert(killed, stop_after_epochs=2)   # a run killed after its second epoch
    killed.resume = True
    result = workflow.invert(killed)
    np.testing.assert_array_equal(result.model["vp"], ref.model["vp"])  # deterministic CPU
    np.testing.assert_array_equal(result.history, ref.history)


def _assert_fails_without_output(config, exc, needle):
    with pytest.raises(exc, match=needle):
        workflow.invert(config)
    assert not Path(config.save_path).exists()


def test_bad_inputs_fail_clearly_and_write_nothing(observed_run, tmp_path):
    _, fwd_config, _ = observed_run
    obs = fwd_config.data.observed
    base = dict(**{"data.observed": obs})
    # unknown loss name
    _assert_fails_without_output(tiny_config(tmp_path, **base, loss={"vp": "l9"}),
                                 ConfigError, "unknown loss 'l9'")
    # missing observed file
    _assert_fails_without_output(
        tiny_config(tmp_path, **{"data.observed": str(tmp_path / "nope.h5")}),
        FileNotFoundError, "observed data file")
    # unstable dt
    _assert_fails_without_output(tiny_config(tmp_path, **base, dt=0.01), ValueError,
                                 "largest stable dt")
    # source outside the grid
    _assert_fails_without_output(tiny_config(tmp_path, **base, **{"geometry.src_depth": 30}),
                                 ValueError, "outside the 24 x 40 grid")
    # observed data of the wrong shape (another geometry)
    _assert_fails_without_output(tiny_config(tmp_path, **base, **{"geometry.rec_step": 4}),
                                 ValueError, "has shape")
    # model file of the wrong shape
    np.save(tmp_path / "vp_true.npy", np.full((24, 40), 2000.0, np.float32))
    np.save(tmp_path / "vp_bad.npy", np.full((20, 40), 2000.0, np.float32))
    c = tiny_config(tmp_path, **base, **{"model.source": "files"})
    c.model.true = {"vp": str(tmp_path / "vp_true.npy")}
    c.model.init = {"vp": str(tmp_path / "vp_bad.npy")}
    _assert_fails_without_output(c, ValueError, "shape")


def test_entry_script_help_and_unknown_flag(capsys):
    sys.path.insert(0, str(ROOT / "experiments"))
    import fwi as entry
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--config", DEMO, "--help"])
    assert exit_info.value.code == 0
    assert "--grad-clip" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="valid flags"):
        entry.main(["--config", DEMO, "--bogus"])


def test_codingfwi_fresh_codes_and_lower_model_error(observed_run, tmp_path):
    tmp, fwd_config, observed = observed_run
    c = tiny_config(tmp_path, **{"data.observed": fwd_config.data.observed})
    c.optim.name, c.optim.lr = "sd", {"vp": 20.0}
    c.encoding.batchsize, c.training.num_batches = 2, 1
    problem = workflow.build_problem(c)
    amps = problem.source_amplitudes()
    key = jax.random.key(0)
    b1 = workflow._coded_batch(c, problem, amps, observed, key, 0, 0, 0, 1)
    b2 = workflow._coded_batch(c, problem, amps, observed, key, 0, 0, 1, 1)
    assert b1[0].shape == (1, 2, 120) and b1[3].shape == (1, 1, 20, 120)  # one super shot
    assert not np.array_equal(b1[0], b2[0])  # a fresh code (and shot pick) every update
    result = workflow.invert(c, coding=True, write=False)
    init_err = float(np.sqrt(np.mean((problem.init_model["vp"]
                                      - problem.true_model["vp"]) ** 2)))
    print(f"codingfwi: RMS error {init_err:.2f} -> {result.model_error[-1]:.2f} m/s")
    assert result.model_error[-1] < init_err


def test_filtering_the_wavelet_equals_filtering_the_data(tmp_path):
    """--filteratfirst (filter the wavelet) and the default (filter the synthetics) agree:
    modelling is linear and time-invariant, so they differ only where the zero-phase
    filter's response is cut off at t = 0 and t = nt·dt."""
    from jaxgeo.fwi import filters, simulate
    # a late wavelet (0.4 s) and a long record, so little of the response is cut off
    c = tiny_config(tmp_path, nt=350, **{"wavelet.delay": 0.4})
    problem = workflow.build_problem(c, need_true=True)
    sos = filters.design(6.0, problem.settings.dt, order=4)
    mesh = simulate.make_mesh(1)
    args = (problem.source_locations, problem.receiver_locations, problem.settings, mesh)
    raw = simulate.forward_all(problem.true_model, problem.source_amplitudes(), *args)
    filtered_data = np.asarray(filters.sosfiltfilt(sos, raw))
    wavelet = np.asarray(filters.sosfiltfilt(sos, problem.wavelet))
    filtered_wavelet = simulate.forward_all(problem.true_model,
                                            problem.source_amplitudes(wavelet), *args)
    scale = np.abs(filtered_data).max()
    # 5e-3 of the peak: the cut-off filter tails (measured 3e-3 here) plus float32
    np.testing.assert_allclose(filtered_wavelet, filtered_data, atol=5e-3 * scale)
