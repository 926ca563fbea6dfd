"""RTM and LSRTM (jaxgeo.fwi.migration): a single reflector imaged at its depth, CGLS
against scipy's conjugate gradients, the sharded Born operator against one device, and
``experiments/fwi.py --mode rtm|lsrtm`` from the command line."""

import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import scipy.sparse.linalg as spla

import jaxgeo.wave as wave
from jaxgeo.fwi import migration
from jaxgeo.fwi.setup import SimSettings
from jaxgeo.fwi.simulate import forward_all, make_mesh, source_illumination

ROOT = Path(__file__).resolve().parents[1]
REFLECTOR = 30  # first cell of the faster layer


@pytest.fixture(scope="module")
def reflector_survey():
    """2000 m/s over 2400 m/s from row 30 (10 m cells), 7 surface shots, 15 Hz, 0.7 s."""
    nz, nx, nt, dt = 50, 70, 700, 1e-3
    true = np.full((nz, nx), 2000.0, np.float32)
    true[REFLECTOR:] = 2400.0
    background = {"vp": np.full((nz, nx), 2000.0, np.float32)}
    settings = SimSettings(equation="acoustic", spacing=(10.0, 10.0), dt=dt, order=4,
                           pml_width=10, free_surface=False, pml_freq=15.0,
                           components=("p",))
    xs = np.arange(5, nx, 10)
    src = np.array([[[2, x]] for x in xs], np.int32)
    rec = np.broadcast_to(np.array([[2, x] for x in range(nx)], np.int32),
                          (len(xs), nx, 2)).copy()
    amps = np.broadcast_to(np.asarray(wave.ricker(15.0, nt, dt), np.float32),
                           (len(xs), 1, nt)).copy()
    mesh = make_mesh(0)
    observed = forward_all({"vp": true}, amps, src, rec, settings, mesh)
    scattered = migration.scattered_data(observed, background, amps, src, rec, settings, mesh)
    op = migration.born_operator(background, amps, src, rec, settings, mesh)
    illumination = source_illumination(background, amps, src, settings)
    return op, scattered, illumination


def test_rtm_images_a_single_reflector_at_its_depth(reflector_survey):
    """Averaged over the central traces, the image of a velocity increase is negative just
    above the interface and positive just below it (the band-limited step, so its polarity
    says the velocity increases), and its depth derivative peaks at the interface (between
    rows 29 and 30, so the peak row is 29 or 30: +-1 cell of the reflector)."""
    op, scattered, illumination = reflector_survey
    for image in (migration.rtm(op, scattered),
                  migration.rtm(op, scattered, illumination, eps=1e-3)):
        profile = image[:, 15:55].mean(axis=1)
        above = profile[REFLECTOR - 3:REFLECTOR].min()
        below = profile[REFLECTOR:REFLECTOR + 3].max()
        assert above < 0 < below
        refl = migration.reflectivity(image)[:, 15:55].mean(axis=1)
        peak = int(np.argmax(np.abs(refl[5:]))) + 5  # rows 0-4: the source/receiver row
        assert abs(peak - REFLECTOR) <= 1
        assert refl[peak] > 0


def test_lsrtm_fits_the_data_better_than_scaled_rtm(reflector_survey):
    """CGLS's first iterate is the RTM image times its optimal scale (steepest descent with
    an exact line search), and its residual never increases; three iterations fit better."""
    op, scattered, _ = reflector_survey
    result = migration.lsrtm(op, scattered, 3)
    norms = np.asarray(result.residual_norms)
    assert len(norms) == 4 and np.all(np.diff(norms) <= 1e-6 * norms[0])
    image = migration.rtm(op, scattered)
    predicted = op.forward(image).astype(np.float64)
    alpha = np.vdot(predicted, scattered) / np.vdot(predicted, predicted)
    best_scaled = np.linalg.norm(scattered - alpha * predicted)
    assert norms[1] == pytest.approx(best_scaled, rel=1e-3)  # float32 data and images
    assert norms[3] < 0.95 * norms[1]
    refl = migration.reflectivity(result.image)[:, 15:55].mean(axis=1)
    assert abs(int(np.argmax(np.abs(refl[5:]))) + 5 - REFLECTOR) <= 1


def tiny_operator(num_devices):
    rng = np.random.default_rng(0)
    vp = (1800.0 + 200.0 * rng.random((14, 18))).astype(np.float64)
    settings = SimSettings(equation="acoustic", spacing=(10.0, 10.0), dt=1e-3, order=4,
                           pml_width=4, free_surface=False, pml_freq=20.0, components=("p",))
    nt = 120
    src = np.array([[[2, 3]], [[2, 9]], [[2, 14]]], np.int32)  # 3 shots: padded on 4 devices
    rec = np.broadcast_to(np.array([[2, x] for x in range(0, 18, 2)], np.int32), (3, 9, 2))
    amps = np.broadcast_to(np.asarray(wave.ricker(20.0, nt, 1e-3), np.float64), (3, 1, nt))
    return migration.born_operator({"vp": vp}, np.ascontiguousarray(amps), src,
                                   np.ascontiguousarray(rec), settings, make_mesh(num_devices))


def test_lsrtm_iterates_equal_scipy_cg_on_the_normal_equations():
    """CGLS and scipy's CG on J^T J x = J^T d (same operator, independent CG code) give the
    same iterate after 4 steps in float64 (rounding only: 1e-8 relative)."""
    with jax.enable_x64(True):
        op = tiny_operator(0)
        rng = np.random.default_rng(1)
        d = rng.standard_normal((3, 1, 9, 120))
        ours = migration.lsrtm(op, d, 4).image
        n = int(np.prod(op.shape))
        normal = spla.LinearOperator(
            (n, n), matvec=lambda v: op.adjoint(op.forward(v.reshape(op.shape))).ravel(),
            dtype=np.float64)
        rhs = op.adjoint(d).ravel()
        theirs, _ = spla.cg(normal, rhs, x0=np.zeros(n), rtol=0.0, atol=0.0, maxiter=4)
        np.testing.assert_allclose(ours.ravel(), theirs, rtol=0, atol=1e-8 * np.abs(theirs).max())


def test_sharded_born_operator_matches_one_device_and_passes_the_dot_product_test():
    """4 virtual devices (3 shots padded with a zero-weight one) against 1 device, float64:
    equal to rounding; <J x, y> = <x, J^T y> to 1e-9 (rounding ~1e-13)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(3)
        x = rng.standard_normal((14, 18))
        y = rng.standard_normal((3, 1, 9, 120))
        one, four = tiny_operator(1), tiny_operator(4)
        np.testing.assert_allclose(four.forward(x), one.forward(x), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(four.adjoint(y), one.adjoint(y), rtol=1e-10, atol=1e-14)
        lhs, rhs = np.vdot(four.forward(x), y), np.vdot(x, four.adjoint(y))
        assert abs(lhs - rhs) <= 1e-9 * abs(lhs)


def test_migration_refuses_elastic():
    settings = SimSettings(equation="elastic", spacing=(10.0, 10.0), dt=1e-3, order=4,
                           pml_width=4, free_surface=False, pml_freq=20.0, components=("vz",))
    with pytest.raises(ValueError, match="acoustic equation"):
        migration.born_operator({"vp": np.ones((4, 4))}, np.zeros((1, 1, 5)),
                                np.zeros((1, 1, 2), np.int32), np.zeros((1, 1, 2), np.int32),
                                settings, make_mesh(1))


def _fwi(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "fwi.py"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_fwi_entry_script_rtm_and_lsrtm(tmp_path):
    """A user's commands in a fresh process: forward, then --mode rtm and --mode lsrtm in the
    linear background of configs/fwi/demo.py; a bad combination is one error line."""
    demo = str(ROOT / "configs" / "fwi" / "demo.py")
    common = ["--config", demo, f"--config.save_path={tmp_path / 'run'}",
              f"--config.data.observed={tmp_path / 'obs.h5'}", "--config.nt=300",
              "--config.model.procedural.nz=30", "--config.model.procedural.nx=40",
              "--config.model.procedural.anomaly_center=(15.0, 20.0)",
              "--config.geometry.src_last=40", "--config.geometry.rec_last=40"]
    run = _fwi(*common, "--mode", "forward", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    run = _fwi(*common, "--mode", "rtm", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    run = _fwi(*common, "--mode", "lsrtm", "--config.migration.iterations=2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    out = tmp_path / "run"
    for name in ("rtm_image.npy", "rtm_reflectivity.npy", "lsrtm_image.npy",
                 "lsrtm_residual.npy", "figures/rtm_image.png", "figures/lsrtm_image.png"):
        assert (out / name).is_file(), name
    residual = np.load(out / "lsrtm_residual.npy")
    assert residual.shape == (3,) and residual[2] < residual[0]
    bad = _fwi(*common, "--mode", "rtm", "--config.equation=elastic", cwd=tmp_path)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert lines[-1].startswith("error:") and "acoustic" in lines[-1]
