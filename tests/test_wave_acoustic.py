"""jaxgeo.wave.acoustic against analytic Green's functions and Deepwave; input checks."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import hankel1

import jaxgeo.wave as wave

C, FREQ, DX, DT = 1500.0, 25.0, 5.0, 1e-4
NT = 2500  # 0.25 s: the direct wave at 235 m (0.157 s) plus the wavelet (0.06 s delay)
OFFSET_CELLS = 47  # 235 m


def green_2d(wavelet: np.ndarray, r: float, c: float, dt: float) -> np.ndarray:
    """(G * s)(i dt) with G = (i/4) H0^(1)(omega r / c) (exp(-i omega t) convention).

    numpy's FFT has exp(+i omega t) time dependence, hence the complex conjugate.
    Zero-padded 8x so the circular convolution does not wrap.
    """
    nt = wavelet.shape[-1]
    n = 8 * nt
    omega = 2 * np.pi * np.fft.rfftfreq(n, dt)
    g = np.zeros(omega.shape, complex)
    g[1:] = np.conj(0.25j * hankel1(0, omega[1:] * r / c))
    return np.fft.irfft(np.fft.rfft(wavelet, n) * g, n)[..., :nt]


def rel_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def direct_setup():
    wavelet = np.asarray(wave.ricker(FREQ, NT, DT))
    vp = jnp.full((21, 60), C, jnp.float32)
    src = np.array([[[10, 5]]])
    rec = np.array([[[10, 5 + OFFSET_CELLS]]])
    expected = green_2d(wavelet, OFFSET_CELLS * DX, C, DT)
    return vp, wavelet, src, rec, expected


@pytest.fixture(scope="module")
def direct_traces(direct_setup):
    vp, wavelet, src, rec, _ = direct_setup
    return {order: np.asarray(wave.acoustic(vp, DX, DT, wavelet[None, None], src, rec,
                                            order=order))[0, 0]
            for order in (4, 6, 8)}


# Deepwave's own bounds for its 2-D direct-wave test (issue 3), as relative L2 errors.
@pytest.mark.parametrize("order, bound", [(6, 0.0067), (8, 0.0015)])
def test_acoustic_matches_analytic_green_function(direct_setup, direct_traces, order, bound):
    *_, expected = direct_setup
    assert rel_l2(direct_traces[order], expected) <= bound


def test_acoustic_order4_matches_analytic_and_deepwave(direct_setup, direct_traces):
    """Order 4 is limited by the stencil's dispersion along a grid axis.

    Deepwave's scalar propagator in this exact geometry measures 4.589% relative L2 (the
    issue's 4.5% comes from Deepwave's multi-receiver test, whose paths are mostly
    oblique), so the analytic bound here is 4.6%, and the trace must equal Deepwave's.
    """
    vp, wavelet, src, rec, expected = direct_setup
    ours = direct_traces[4]
    assert rel_l2(ours, expected) <= 0.046  # dispersion limit of the 4th-order stencil
    import deepwave
    import torch
    out = deepwave.scalar(torch.tensor(np.asarray(vp), dtype=torch.float64), DX, DT,
                          source_amplitudes=torch.tensor(wavelet, dtype=torch.float64)[None, None],
                          source_locations=torch.tensor(src), receiver_locations=torch.tensor(rec),
                          accuracy=4, pml_freq=FREQ)
    theirs = out[-1] if isinstance(out, tuple) else out.receiver_amplitudes
    # Deepwave adds -v^2 dt^2 * amplitude to one cell (no 1/(dz dx)); same clock.
    theirs = -theirs[0, 0].numpy() / (DX * DX)
    # float32 vs float64 and slightly different CPML profiles
    assert rel_l2(ours, theirs) <= 2e-3


def test_acoustic_clock_convention(direct_setup, direct_traces):
    """Shifting the data by one sample either way must make the order-8 error much worse."""
    *_, expected = direct_setup
    err = rel_l2(direct_traces[8], expected)
    for shift in (-1, 1):
        assert rel_l2(np.roll(direct_traces[8], shift), expected) > 5 * err


def test_acoustic_free_surface_matches_image_source():
    """Pressure-release surface: trace = G(direct) - G(image) (odd image above row 0)."""
    nt = 2000
    wavelet = np.asarray(wave.ricker(FREQ, nt, DT))
    vp = jnp.full((30, 60), C, jnp.float32)
    zs, zr, xs, xr = 6, 10, 5, 45
    data = wave.acoustic(vp, DX, DT, wavelet[None, None], np.array([[[zs, xs]]]),
                         np.array([[[zr, xr]]]), order=8, free_surface=True)
    r_direct = DX * np.hypot(zr - zs, xr - xs)
    r_image = DX * np.hypot(zr + zs, xr - xs)
    expected = green_2d(wavelet, r_direct, C, DT) - green_2d(wavelet, r_image, C, DT)
    # order-8 dispersion (0.15% level) plus the image boundary's small discretisation error
    assert rel_l2(np.asarray(data)[0, 0], expected) <= 0.01


def test_pml_absorbs_energy():
    """After the wave has left a homogeneous grid, energy < 1e-4 of its peak."""
    nz = nx = 24
    nt = 1400  # wave crosses the 120 m grid in 0.08 s; run 0.14 s
    wavelet = np.asarray(wave.ricker(FREQ, nt, DT, peak_time=0.03))
    vp = jnp.full((nz, nx), C, jnp.float32)
    zz, xx = np.meshgrid(np.arange(nz), np.arange(nx), indexing="ij")
    everywhere = np.stack([zz.ravel(), xx.ravel()], -1)[None]
    data = np.asarray(wave.acoustic(vp, DX, DT, wavelet[None, None], np.array([[[12, 12]]]),
                                    everywhere, order=8, pml_width=20))
    energy = (data[0] ** 2).sum(axis=0)
    assert energy[-1] < 1e-4 * energy.max()


# ------------------------------------------------------------------------------ checks


def _args(nz=20, nx=30, nt=50, dt=1e-3):
    vp = jnp.full((nz, nx), 2000.0)
    amps = jnp.asarray(wave.ricker(10.0, nt, dt))[None, None]
    return vp, 10.0, dt, amps, np.array([[[5, 5]]]), np.array([[[5, 20], [6, 21]]])


def test_cfl_error_gives_largest_stable_dt():
    vp, dx, _, amps, src, rec = _args()
    with pytest.raises(ValueError, match=r"largest stable dt is 0.00\d+") as info:
        wave.acoustic(vp, dx, 0.01, amps, src, rec)
    limit = float(str(info.value).split("largest stable dt is ")[1].split(" ")[0])
    # 2 / (c sqrt(2 * 4.5511 / dx^2)) for order 8 (sum of |weights| of the 2nd derivative)
    lam = 205 / 72 + 2 * (8 / 5 + 1 / 5 + 8 / 315 + 1 / 560)
    assert limit == pytest.approx(2 / (2000.0 * np.sqrt(2 * lam / dx**2)), rel=1e-5)
    wave.acoustic(vp, dx, limit * 0.99, amps, src, rec)  # just below the limit is accepted


def test_locations_outside_model_raise():
    vp, dx, dt, amps, src, rec = _args()
    with pytest.raises(ValueError, match="outside the model"):
        wave.acoustic(vp, dx, dt, amps, np.array([[[20, 5]]]), rec)
    with pytest.raises(ValueError, match=r"receiver_locations\[0, 1\]"):
        wave.acoustic(vp, dx, dt, amps, src, np.array([[[5, 20], [-1, 3]]]))


def test_shape_mismatches_raise():
    vp, dx, dt, amps, src, rec = _args()
    with pytest.raises(ValueError, match="n_shots, n_sources, nt"):
        wave.acoustic(vp, dx, dt, amps[0], src, rec)
    with pytest.raises(ValueError, match="n_shots=1"):
        wave.acoustic(vp, dx, dt, amps, src, np.concatenate([rec, rec]))
    with pytest.raises(ValueError, match="must match"):
        wave.acoustic(vp, dx, dt, jnp.concatenate([amps, amps], 1), src, rec)
    with pytest.raises(ValueError, match="rho has shape"):
        wave.acoustic(vp, dx, dt, amps, src, rec, rho=jnp.ones((3, 3)))
    with pytest.raises(ValueError, match="order=5"):
        wave.acoustic(vp, dx, dt, amps, src, rec, order=5)


def test_non_positive_values_raise():
    vp, dx, dt, amps, src, rec = _args()
    with pytest.raises(ValueError, match=r"vp must be positive everywhere; vp\[3, 4\]"):
        wave.acoustic(vp.at[3, 4].set(0.0), dx, dt, amps, src, rec)
    with pytest.raises(ValueError, match="rho must be positive"):
        wave.acoustic(vp, dx, dt, amps, src, rec, rho=-jnp.ones_like(vp))
    with pytest.raises(ValueError, match="dx must be"):
        wave.acoustic(vp, -1.0, dt, amps, src, rec)


def test_points_per_wavelength_warning():
    vp, dx, dt, amps, src, rec = _args()
    coarse = jnp.asarray(wave.ricker(60.0, 50, dt))[None, None]  # 2000/60/10 = 3.3 points
    with pytest.warns(UserWarning, match="points per minimum wavelength"):
        wave.acoustic(vp, dx, dt, coarse, src, rec, order=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wave.acoustic(vp, dx, dt, amps, src, rec, order=8)  # 20 points: no warning
