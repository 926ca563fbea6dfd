"""The obvious ``absorption_coefficient`` call takes the windowed path on uniform grids."""

import contextlib
import io
import json
import shutil
import warnings

import jax
import numpy as np
import pytest

import jaxgeo.spectra as sp
from jaxgeo.spectra.autogrid import as_uniform_grid

with contextlib.redirect_stdout(io.StringIO()):
    import hapi

CASES = {"hitran_CH4_4975_5050.par": (4975.0, 5050.0), "hitran_H2O_2000_2100.par": (2000.0, 2100.0)}
STEP = 0.002
CONDITIONS = [(250.0, 0.1), (296.0, 1.0), (320.0, 0.5)]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def rel_l2(a, b):
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(np.asarray(b)))


@pytest.fixture(scope="module")
def hapi_grid(shared_data, tmp_path_factory):
    """HAPI's own 0.002 cm^-1 grid on the CH4 file's range (returned by HAPI itself)."""
    folder = tmp_path_factory.mktemp("hapi_db_auto")
    name = "hitran_CH4_4975_5050"
    shutil.copy(shared_data / "spectra" / f"{name}.par", folder / f"{name}.data")
    (folder / f"{name}.header").write_text(json.dumps(dict(hapi.HITRAN_DEFAULT_HEADER,
                                                          table_name=name)))
    with contextlib.redirect_stdout(io.StringIO()):
        hapi.db_begin(str(folder))
        nu, _ = hapi.absorptionCoefficient_Lorentz(
            SourceTables=name, WavenumberRange=[5000.0, 5001.0], WavenumberStep=STEP,
            HITRAN_units=False)
    return np.asarray(nu)


def test_detection_accepts_hapi_grid_refuses_perturbed(hapi_grid):
    grid = as_uniform_grid(hapi_grid, sp.UniformGrid)
    assert grid is not None and grid.n == hapi_grid.size
    assert abs(grid.step - STEP) < 1e-12 and grid.start == hapi_grid[0]
    bad = hapi_grid.copy()
    bad[bad.size // 2] += 1e-4 * STEP  # 100x the tolerance (1e-6 step + 4 ulp)
    assert as_uniform_grid(bad, sp.UniformGrid) is None
    assert as_uniform_grid(np.geomspace(1.0, 2.0, 100), sp.UniformGrid) is None


@pytest.mark.parametrize("name", list(CASES))
def test_obvious_call_equals_expert_call(x64, shared_data, name):
    lo, hi = CASES[name]
    nu = np.arange(lo, hi, STEP)
    lines = sp.read_hitran_par(shared_data / "spectra" / name)
    grid = sp.UniformGrid(lo, STEP, nu.size)
    sizes = sp.window_sizes(lines, grid, t_min=250.0, t_max=320.0, p_max_atm=1.0)
    expert = jax.jit(lambda t, p: sp.absorption_coefficient_uniform(lines, grid, t, p, sizes))
    rng = dict(t_min=250.0, t_max=320.0, p_min_atm=0.1, p_max_atm=1.0)
    obvious_jit = jax.jit(lambda t, p: sp.absorption_coefficient(lines, nu, t, p,
                                                                 conditions=rng))
    for t, p in CONDITIONS:
        ref = expert(t, p)
        # 1e-6: issue bound; both are within the Faddeeva kernels' 1e-12 of the exact sum
        assert rel_l2(sp.absorption_coefficient(lines, nu, t, p), ref) <= 1e-6, (t, p)
        assert rel_l2(obvious_jit(t, p), ref) <= 1e-6, (t, p)
    assert np.all(np.isnan(np.asarray(obvious_jit(400.0, 0.5))))  # outside declared range


def test_traced_without_ranges_warns_and_stays_exact(x64, shared_data):
    lines = sp.read_hitran_par(shared_data / "spectra" / "hitran_CH4_4975_5050.par")
    nu = np.arange(4975.0, 5050.0, STEP)  # full grid
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        k = jax.jit(lambda t, p: sp.absorption_coefficient(lines, nu, t, p))(296.0, 1.0)
    assert any("conditions=dict(t_min" in str(w.message) for w in caught)
    grid = sp.UniformGrid(4975.0, STEP, nu.size)
    sizes = sp.window_sizes(lines, grid, t_min=296.0, t_max=296.0, p_max_atm=1.0)
    ref = sp.absorption_coefficient_uniform(lines, grid, 296.0, 1.0, sizes)
    assert rel_l2(k, ref) <= 1e-6  # dense exact path vs windowed: issue bound
