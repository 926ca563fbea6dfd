"""jaxgeo.wave.models: builders place the values they are asked to; loaders round-trip
numpy-written files and name the problem when a file does not fit."""

import numpy as np
import pytest

from jaxgeo.wave import models


def test_layered_and_gradient():
    m = np.asarray(models.layered((10, 4), [3, 7], [1500.0, 2000.0, 2500.0]))
    assert (m[:3] == 1500).all() and (m[3:7] == 2000).all() and (m[7:] == 2500).all()
    g = np.asarray(models.smooth_gradient((11, 3), 2000.0, 3000.0, start_row=1,
                                          top_value=1500.0))
    np.testing.assert_allclose(g[:, 0], [1500.0] + list(np.linspace(2000, 3000, 10)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="interfaces"):
        models.layered((10, 4), [7, 3], [1.0, 2.0, 3.0])


def test_gaussian_anomaly_peak_and_width():
    m = np.asarray(models.gaussian_anomaly(np.zeros((21, 21)), (10, 10), 3.0, 100.0))
    assert m[10, 10] == pytest.approx(100.0)
    assert m[10, 13] == pytest.approx(100.0 * np.exp(-0.5), rel=1e-5)  # one sigma away


def test_marmousi_like_is_deterministic_and_bounded():
    a = np.asarray(models.marmousi_like((60, 120), seed=3))
    b = np.asarray(models.marmousi_like((60, 120), seed=3))
    np.testing.assert_array_equal(a, b)
    assert (a[:10] == 1500.0).all()
    assert a[10:].min() >= 1700.0 - 1e-3 and a.max() <= 4500.0 + 1e-3
    assert len(np.unique(np.round(a[:, 60]))) > 5  # several layers in a column


def test_load_model_npy_and_raw(tmp_path):
    truth = np.arange(12, dtype=np.float32).reshape(3, 4) + 1500
    np.save(tmp_path / "m.npy", truth)
    np.testing.assert_array_equal(models.load_model(tmp_path / "m.npy", shape=(3, 4)), truth)
    truth.T.tofile(tmp_path / "m.bin")  # x-major, as Marmousi's binary files
    np.testing.assert_array_equal(models.load_model(tmp_path / "m.bin", shape=(3, 4),
                                                    transpose=True), truth)
    with pytest.raises(ValueError, match="needs 15"):
        models.load_model(tmp_path / "m.bin", shape=(3, 5))
    with pytest.raises(ValueError, match="pass shape"):
        models.load_model(tmp_path / "m.bin")
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing.npy")


def test_load_shared_marmousi(shared_data):
    vp = np.asarray(models.load_model(shared_data / "marmousi" / "true_vp.npy"))
    assert vp.shape == (173, 561)  # documented in shared/data/README.md
    assert vp[0].max() <= 1600.0  # water layer on top
