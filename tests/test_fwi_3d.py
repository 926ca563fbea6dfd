"""3-D acoustic FWI: the workflow's forward data against a direct jaxgeo.wave.acoustic call,
3-D gradient smoothing against scipy, 3-D illumination against a numpy sum of p^2, a short
3-D inversion from the entry script in a fresh process, and one-line errors for what is
2-D only."""

import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import ndimage

import jaxgeo.wave as wave
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import gradients, workflow
from jaxgeo.fwi.simulate import source_illumination

ROOT = Path(__file__).resolve().parents[1]
DEMO3D = str(ROOT / "configs" / "fwi" / "demo3d.py")
N = 12          # cells per axis of the tiny test volume


def tiny_config(tmp: Path):
    """A 12^3-cell layered volume with an anomaly, 2 shots, 3 x 3 receivers, 140 steps."""
    c = fwi_config.default_config()
    c.equation, c.dx, c.dt, c.nt, c.order = "acoustic", 20.0, 0.002, 140, 4
    c.model.source = "procedural"
    pc = c.model.procedural
    pc.nz = pc.ny = pc.nx = N
    pc.v_top, pc.v_bottom, pc.layer_depth, pc.layer_dv = 1800.0, 2200.0, 8, 150.0
    pc.anomaly_dv, pc.anomaly_center, pc.anomaly_radius = -250.0, (5.0, 6.0, 6.0), 2.0
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 3, 12, 6, 1     # x = 3, 9
    g.src_y_first, g.src_y_last, g.src_y_step = 6, 7, 1                # y = 6
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 2, 12, 4, 2     # x = 2, 6, 10
    g.rec_y_first, g.rec_y_last, g.rec_y_step = 2, 12, 4
    c.wavelet.freq, c.wavelet.delay = 10.0, 0.1
    c.boundary.pml_width = 5
    c.model.bounds.vp = (1400.0, 3000.0)
    c.devices.num_devices = 1
    c.log.figures = False
    c.save_path = str(tmp / "run")
    c.data.observed = str(tmp / "observed.h5")
    return c


def numpy_model() -> tuple[np.ndarray, np.ndarray]:
    """(true, initial) vp of tiny_config, built here from its definition."""
    z, y, x = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")
    init = 1800.0 + 400.0 * z / (N - 1) + 150.0 * (z >= 8)
    r2 = (z - 5.0) ** 2 + (y - 6.0) ** 2 + (x - 6.0) ** 2
    return init - 250.0 * np.exp(-r2 / 8.0), init


@pytest.fixture(scope="module")
def tmp_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fwi3d")


@pytest.fixture(scope="module")
def observed(tmp_dir):
    c = tiny_config(tmp_dir)
    return c, workflow.run_forward(c, write=False)


def test_3d_forward_equals_direct_wave_call(observed):
    c, data = observed
    true, _ = numpy_model()
    src = np.array([[[1, 6, 3]], [[1, 6, 9]]])
    gy, gx = np.meshgrid([2, 6, 10], [2, 6, 10], indexing="ij")
    rec_one = np.stack([np.full(9, 2), gy.ravel(), gx.ravel()], -1)
    rec = np.stack([rec_one, rec_one])
    w = np.asarray(wave.ricker(10.0, 140, 0.002, peak_time=0.1), np.float32)
    amps = np.broadcast_to(w, (2, 1, 140))
    direct = np.asarray(wave.acoustic(jnp.asarray(true, jnp.float32), 20.0, 0.002, amps, src,
                                      rec, order=4, pml_width=5, pml_freq=10.0))
    assert data.shape == (2, 1, 9, 140)
    # both float32 runs of the same stencils: the only difference is the model's rounding
    # (built in float64 here, float32 in jaxgeo) -> agreement to float32 rounding
    err = np.linalg.norm(data[:, 0] - direct) / np.linalg.norm(direct)
    assert err < 1e-5, err


def test_3d_smoothing_equals_scipy():
    g = np.random.default_rng(0).normal(size=(9, 11, 13))
    sigma, radius = (1.0, 2.0, 1.5), (3, 5, 4)
    ours = np.asarray(gradients.smooth(jnp.asarray(g), sigma, radius))
    ref = ndimage.gaussian_filter(g, sigma, mode="reflect", radius=radius)
    # float32 accumulation of a normalised kernel of unit-variance noise
    np.testing.assert_allclose(ours, ref, atol=2e-6)
    # a (z, x) pair on a 3-D gradient uses x's value for y
    pair = np.asarray(gradients.smooth(jnp.asarray(g), (1.0, 1.5), (3, 4)))
    ref2 = ndimage.gaussian_filter(g, (1.0, 1.5, 1.5), mode="reflect", radius=(3, 4, 4))
    np.testing.assert_allclose(pair, ref2, atol=2e-6)


def test_3d_illumination_equals_numpy_sum_of_p_squared():
    _, init = numpy_model()
    vp = init[:8, :6, :7].astype(np.float32)
    src = np.array([[[1, 2, 3]], [[1, 4, 2]]], np.int32)
    w = np.asarray(wave.ricker(10.0, 80, 0.002, peak_time=0.1), np.float32)
    amps = np.broadcast_to(w, (2, 1, 80)).copy()
    settings = workflow.build_problem(_small_settings_config(vp.shape)).settings
    ours = source_illumination({"vp": vp}, amps, src, settings)
    cells = np.argwhere(np.ones(vp.shape, bool))
    p = np.asarray(wave.acoustic(jnp.asarray(vp), 20.0, 0.002, amps, src,
                                 np.stack([cells, cells]), order=4, pml_width=5,
                                 pml_freq=10.0), np.float64)
    ref = np.sum(p ** 2, axis=(0, 2)).reshape(vp.shape)
    # both sums of the same float32 traces (float64 accumulation)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    w8 = np.asarray(gradients.illumination_weight(ours, 1.0, 1e-3))
    h = ndimage.gaussian_filter(ours, 1.0, mode="reflect", radius=3)
    ref_w = 1.0 / (h / h.max() + 1e-3)
    np.testing.assert_allclose(w8, ref_w / ref_w.max(), rtol=1e-4)   # float32 smoothing


def _small_settings_config(shape):
    c = fwi_config.default_config()
    c.dx, c.dt, c.nt, c.order = 20.0, 0.002, 80, 4
    c.model.source = "procedural"
    c.model.procedural.nz, c.model.procedural.ny, c.model.procedural.nx = shape
    c.model.procedural.anomaly_center = (1.0, 1.0, 1.0)
    c.wavelet.freq, c.boundary.pml_width = 10.0, 5
    c.model.bounds.vp = (1400.0, 3000.0)
    c.data.observed = "unused.h5"
    return c


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAXGEO_TCMALLOC": "0"}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "fwi.py"), *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_3d_inversion_from_entry_script_reduces_model_error(tmp_path):
    """configs/fwi/demo3d.py shrunk to the 12^3 volume: forward, then 4 Adam updates."""
    common = ["--config", DEMO3D, f"--config.save_path={tmp_path / 'run'}",
              f"--config.data.observed={tmp_path / 'obs.h5'}", "--config.nt=140",
              "--config.model.procedural.nz=12", "--config.model.procedural.ny=12",
              "--config.model.procedural.nx=12", "--config.model.procedural.layer_depth=8",
              "--config.model.procedural.layer_dv=150.0",
              "--config.model.procedural.v_top=1800.0",
              "--config.model.procedural.v_bottom=2200.0",
              "--config.model.procedural.anomaly_dv=-250.0",
              "--config.model.procedural.anomaly_center=(5.0, 6.0, 6.0)",
              "--config.model.procedural.anomaly_radius=2.0",
              "--config.geometry.src_first=3", "--config.geometry.src_last=12",
              "--config.geometry.src_step=6", "--config.geometry.src_y_first=6",
              "--config.geometry.src_y_last=7", "--config.geometry.rec_first=2",
              "--config.geometry.rec_last=12", "--config.geometry.rec_step=4",
              "--config.geometry.rec_y_first=2", "--config.geometry.rec_y_last=12",
              "--config.geometry.rec_y_step=4", "--config.geometry.rec_depth=2",
              "--config.wavelet.freq=10.0", "--config.wavelet.delay=0.1",
              "--config.boundary.pml_width=5", "--config.log.figures=False",
              "--config.grad.smooth_sigma=(1.0, 1.0, 1.0)",
              "--config.grad.smooth_radius=(3, 3, 3)"]
    fwd = _run([*common, "--mode", "forward"], tmp_path)
    assert fwd.returncode == 0, fwd.stderr[-2000:]
    inv = _run([*common, "--mode", "inversion", "--config.training.epochs=2",
                "--config.training.step_per_epoch=2"], tmp_path)
    assert inv.returncode == 0, inv.stderr[-2000:]
    true, init = numpy_model()
    final = np.load(tmp_path / "run" / "final_vp.npy")
    start = np.sqrt(np.mean((init - true) ** 2))
    end = np.sqrt(np.mean((final - true) ** 2))
    # 4 updates of 30 m/s in a 250 m/s anomaly: a clear but partial reduction
    assert end < 0.97 * start, (start, end)


@pytest.mark.parametrize("flag, message", [
    ("--config.equation=vti", "error: config.equation = 'vti' is 2-D only"),
    ("--mode=rtm", "error: --mode rtm is 2-D only"),
])
def test_3d_unsupported_is_one_error_line(tmp_path, flag, message):
    run = _run(["--config", DEMO3D, flag, f"--config.save_path={tmp_path / 'run'}"],
               tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith(message), run.stderr
    assert not (tmp_path / "run").exists()
