"""Illumination preconditioning: sum u^2 over time and shots, smoothed and floored."""

import numpy as np
from scipy import ndimage

from jaxgeo.fwi import gradients, setup, simulate
from jaxgeo.fwi.config import default_config


def tiny_problem():
    c = default_config()
    c.dx, c.dt, c.nt, c.order = 20.0, 0.004, 60, 4
    c.model.source = "procedural"
    p = c.model.procedural
    p.nz, p.nx, p.v_top, p.v_bottom = 12, 18, 1900.0, 2300.0
    p.anomaly_center, p.anomaly_radius = (6.0, 9.0), 3.0
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 3, 18, 10, 1       # 2 shots
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 0, 18, 3, 2
    c.boundary.pml_width = 4
    c.model.bounds.vp = (1400.0, 2800.0)
    c.wavelet.freq, c.wavelet.delay = 8.0, 0.1
    return setup.build_problem(c, need_true=True)


def test_illumination_equals_a_direct_sum_of_squares_and_the_weight_scipy():
    problem = tiny_problem()
    nz, nx = problem.shape
    model, amps, src = problem.true_model, problem.source_amplitudes(), problem.source_locations
    energy = simulate.source_illumination(model, amps, src, problem.settings, rows_per_call=6)
    # direct: every cell a receiver in one run per shot, squared and summed in numpy
    cells = np.stack(np.meshgrid(np.arange(nz), np.arange(nx), indexing="ij"), -1)
    cells = cells.reshape(-1, 2).astype(np.int32)
    direct = np.zeros((nz, nx))
    for s in range(src.shape[0]):
        u = np.asarray(simulate.simulate(model, amps[s:s + 1], src[s:s + 1], cells[None],
                                         problem.settings), np.float64)[0, 0]   # [cells, nt]
        direct += np.sum(u ** 2, axis=1).reshape(nz, nx)
    assert direct.max() > 0
    # float32 wavefields, float64 sums: the two runs differ only by float32 rounding
    np.testing.assert_allclose(energy, direct, rtol=1e-5, atol=1e-6 * direct.max())

    sigma, floor = 1.5, 1e-2
    h = ndimage.gaussian_filter(direct, sigma, mode="reflect", radius=int(np.ceil(3 * sigma)))
    w = 1.0 / (h / h.max() + floor)
    w /= w.max()
    got = np.asarray(gradients.illumination_weight(energy.astype(np.float32), sigma, floor))
    # float32 smoothing of a float64 reference: 1e-5 relative
    np.testing.assert_allclose(got, w, rtol=1e-5)
    assert got.min() < 0.5   # the weight varies: the best-lit cells get the smallest

