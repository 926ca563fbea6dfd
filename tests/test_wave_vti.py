"""jaxgeo.wave.vti: isotropic limit vs the staggered acoustic path, qP traveltimes vs the
exact group velocity of the acoustic VTI approximation, the elliptical source zone against
the qSV ("diamond") artefact, gradients and input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import hankel1
from test_wave_gradients import assert_derivatives_match_fd

import jaxgeo.wave as wave

VP, FREQ, DX, DT = 1500.0, 25.0, 5.0, 5e-4


def rel_l2(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@pytest.mark.parametrize("free_surface", [False, True])
def test_isotropic_vti_equals_staggered_acoustic(free_surface):
    """epsilon = delta = 0: p_H = p_V = p of wave.acoustic's staggered path (rho = 1)."""
    rng = np.random.default_rng(1)
    vp = jnp.asarray(VP + 200 * rng.random((20, 30)), jnp.float32)
    wavelet = np.asarray(wave.ricker(FREQ, 400, 2.5e-4))[None, None]
    src, rec = np.array([[[4, 5]]]), np.array([[[3, 25], [15, 12]]])
    zero = jnp.zeros_like(vp)
    kw = dict(order=8, pml_width=10, free_surface=free_surface)
    ours = wave.vti(vp, zero, zero, DX, 2.5e-4, wavelet, src, rec, **kw)
    acoustic = wave.acoustic(vp, DX, 2.5e-4, wavelet, src, rec, rho=jnp.ones_like(vp), **kw)
    # float32 rounding of differently ordered products (measured 2.5e-7)
    assert rel_l2(ours, np.asarray(acoustic)) <= 2e-6


def group_velocity(eps: float, delta: float, vp: float):
    """Exact qP group velocity of the acoustic VTI approximation (Alkhalifah 1998, 2000) as
    ``(group angle from vertical, group velocity)`` on a fine grid of phase angles:
    ``V = sqrt(v^2 + (dv/dtheta)^2)``, ``phi = theta + arctan(v' / v)``."""
    theta = np.linspace(0.0, np.pi / 2, 20001)
    s2, c2 = np.sin(theta) ** 2, np.cos(theta) ** 2
    a = 1 + 2 * eps * s2
    v = vp * np.sqrt(0.5 * (a + np.sqrt(a * a - 8 * (eps - delta) * s2 * c2)))
    dv = np.gradient(v, theta)
    return theta + np.arctan2(dv, v), np.hypot(v, dv)


def peak_time(trace: np.ndarray, dt: float) -> float:
    """Time of the trace maximum, refined by a parabola through the three top samples."""
    i = int(np.argmax(trace))
    y0, y1, y2 = trace[i - 1:i + 2]
    return (i + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)) * dt


def wavelet_delay(traveltime: float, dt: float) -> float:
    """Peak time minus traveltime of the analytic 2-D Green's function (i/4) H0^(1) convolved
    with the Ricker wavelet (isotropic, same traveltime; the near-wavefront shape of a
    homogeneous anisotropic medium's Green's function is the same)."""
    nt = int(0.3 / dt)
    wavelet = np.asarray(wave.ricker(FREQ, nt, dt), np.float64)
    omega = 2 * np.pi * np.fft.rfftfreq(8 * nt, dt)
    g = np.zeros(omega.shape, complex)
    g[1:] = np.conj(0.25j * hankel1(0, omega[1:] * traveltime))  # r / c = traveltime
    trace = np.fft.irfft(np.fft.rfft(wavelet, 8 * nt) * g, 8 * nt)[:nt]
    return peak_time(trace, dt) - traveltime


@pytest.mark.parametrize("eps, delta", [(0.2, 0.1), (0.15, -0.05)])
def test_vti_traveltimes_match_group_velocity(eps, delta):
    """Peak times on a circle of 200 m (every 7.5 degrees from vertical to horizontal),
    minus the analytic wavelet delay, vs r / V(phi) with the exact group velocity."""
    radius, n = 40, 101
    c0 = n // 2
    angles = np.deg2rad(np.arange(0.0, 90.1, 7.5))
    cells = np.array([[c0 + round(radius * np.cos(a)), c0 + round(radius * np.sin(a))]
                      for a in angles])
    offsets = cells - c0
    r = DX * np.hypot(offsets[:, 0], offsets[:, 1])
    phi_grid, v_grid = group_velocity(eps, delta, VP)
    expected = r / np.interp(np.arctan2(offsets[:, 1], offsets[:, 0]), phi_grid, v_grid)
    nt = 460  # 0.23 s: the slowest (vertical) arrival at 0.133 s plus the 0.06 s delay
    vp = jnp.full((n, n), VP, jnp.float32)
    data = np.asarray(wave.vti(vp, jnp.full_like(vp, eps), jnp.full_like(vp, delta), DX, DT,
                               np.asarray(wave.ricker(FREQ, nt, DT))[None, None],
                               np.array([[[c0, c0]]]), cells[None], order=8, pml_width=15))[0]
    picked = np.array([peak_time(tr, DT) - wavelet_delay(t, DT / 4)
                       for tr, t in zip(data, expected, strict=True)])
    errors = np.abs(picked / expected - 1)
    # issue 19's bound; measured max 0.31% for (0.2, 0.1) and 0.63% for (0.15, -0.05),
    # mostly the elliptical source zone ((eps - delta) / 4 slower over ~4.5 of 40 cells at
    # oblique angles; without the zone (0.2, 0.1) is within 0.08%)
    assert np.max(errors) <= 0.01
    # the anisotropy is resolved: an isotropic medium would be 6-18% off at the horizontal
    assert abs(picked[-1] / (r[-1] / VP) - 1) > 0.05


def test_elliptical_zone_suppresses_qsv_artefact():
    """epsilon - delta = 0.25: late energy (after the qP wave) at 15 cells, 30-60 degrees.
    Without the zone the slow qSV root is excited at the source (late/direct energy measured
    5e-4..3e-3); with the default 3-cell zone it drops to ~1e-4 (the 2-D Green's tail and
    weak conversion at the zone edge)."""
    n, c0, nt, ring = 61, 30, 800, 15
    cells = np.array([[c0 + round(ring * np.cos(a)), c0 + round(ring * np.sin(a))]
                      for a in np.deg2rad([30.0, 45.0, 60.0])])
    vp = jnp.full((n, n), VP, jnp.float32)
    wavelet = np.asarray(wave.ricker(FREQ, nt, DT))[None, None]
    late = np.arange(nt) * DT > ring * DX / VP + 0.16  # qP arrival + wavelet + 0.1 s

    def late_energy(radius):
        data = np.asarray(wave.vti(vp, jnp.full_like(vp, 0.25), jnp.zeros_like(vp), DX, DT,
                                   wavelet, np.array([[[c0, c0]]]), cells[None], order=8,
                                   pml_width=15, elliptic_radius=radius))[0]
        return (data[:, late] ** 2).sum(1) / (data[:, ~late] ** 2).sum(1)

    without, with_zone = late_energy(0), late_energy(3)
    assert np.max(with_zone) <= 3e-4  # measured 1.7e-4
    assert without[-1] >= 10 * with_zone[-1]  # measured 26x at 60 degrees


def test_vti_grad_matches_finite_differences():
    """d/dvp, d/depsilon, d/ddelta; epsilon and delta are passed as 1e4 x (~1000) so that
    eps = 0.5 is a small relative step like the vp step (the helper's tolerance argument)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        vp = jnp.asarray(1500.0 + 300.0 * rng.random((12, 14)))
        eps4 = jnp.asarray(1e4 * (0.1 + 0.1 * rng.random((12, 14))))
        delta4 = eps4 - 1e4 * (0.05 + 0.1 * rng.random((12, 14)))
        amps = np.asarray(wave.ricker(15.0, 90, 1e-3), np.float64)[None, None]
        src, rec = np.array([[[3, 3]]]), np.array([[[9, 10], [4, 11]]])

        def forward(v, e4, d4):
            return wave.vti(v, e4 / 1e4, d4 / 1e4, 10.0, 1e-3, amps, src, rec, order=4,
                            pml_width=4, elliptic_radius=1)

        assert_derivatives_match_fd(forward, (vp, eps4, delta4))


def test_vti_input_checks():
    vp = jnp.full((20, 30), 2000.0)
    amps = jnp.asarray(wave.ricker(10.0, 50, 1e-3))[None, None]
    src, rec = np.array([[[5, 5]]]), np.array([[[5, 20]]])
    eps, delta = jnp.full_like(vp, 0.2), jnp.full_like(vp, 0.1)
    with pytest.raises(ValueError, match=r"epsilon must be >= delta everywhere.*"
                                         r"epsilon\[4, 6\] = 0.05 < delta = 0.1"):
        wave.vti(vp, eps.at[4, 6].set(0.05), delta, 10.0, 1e-3, amps, src, rec)
    with pytest.raises(ValueError, match="delta has shape"):
        wave.vti(vp, eps, delta[:5], 10.0, 1e-3, amps, src, rec)
    with pytest.raises(ValueError, match="epsilon contains NaN"):
        wave.vti(vp, eps.at[0, 0].set(jnp.nan), delta, 10.0, 1e-3, amps, src, rec)
    with pytest.raises(ValueError, match=r"delta must be > -0.5"):
        wave.vti(vp, eps, delta.at[1, 1].set(-0.6), 10.0, 1e-3, amps, src, rec)
    # staggered order-8 limit: 2 / (c sqrt(2 (2 sum|c_k|)^2) / dx) with c the horizontal
    # velocity 2000 sqrt(1.4); 2.7 ms passes for vp alone (3.2 ms) but not here (2.7 ms)
    lam = (2 * (1225 / 1024 + 245 / 3072 + 49 / 5120 + 5 / 7168)) ** 2
    limit = 2 / (2000.0 * np.sqrt(1.4) * np.sqrt(2 * lam) / 10.0)
    with pytest.raises(ValueError, match=f"largest stable dt is {limit:.6g}") as info:
        wave.vti(vp, eps, delta, 10.0, 1.01 * limit, amps, src, rec)
    assert "horizontal velocity" in str(info.value)


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (virtual) devices; see conftest")
def test_vti_sharded_equals_single_device():
    """3 shots (padded to 4) on 4 devices; each shot has its own elliptical zone."""
    from jaxgeo.core.parallel import make_mesh
    rng = np.random.default_rng(0)
    vp = jnp.asarray(1800.0 + 400.0 * rng.random((16, 24)), jnp.float32)
    eps = jnp.asarray(0.1 + 0.1 * rng.random((16, 24)), jnp.float32)
    delta = eps - 0.1
    amps = np.asarray(wave.ricker(15.0, 120, 1e-3))[None, None] * np.arange(1.0, 4.0)[:, None,
                                                                                         None]
    src = np.array([[[2, 3]], [[5, 12]], [[8, 20]]])
    rec = np.tile(np.array([[[12, 3], [12, 12], [10, 20]]]), (3, 1, 1))
    kw = dict(order=4, pml_width=5)
    single = wave.vti(vp, eps, delta, 10.0, 1e-3, amps, src, rec, **kw)
    sharded = wave.vti(vp, eps, delta, 10.0, 1e-3, amps, src, rec,
                       mesh=make_mesh("shots", num_devices=4), **kw)
    # same arithmetic per shot on every device; issue 3's 1e-6 bound
    assert float(jnp.linalg.norm(sharded - single) / jnp.linalg.norm(single)) <= 1e-6
