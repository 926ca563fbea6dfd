"""jaxgeo.wave.viscoacoustic: the analytic constant-Q Green's function, the fit of the
generalised standard linear solid against Kjartansson's constant-Q law, Q -> inf against
the staggered acoustic path, gradients and input checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import hankel1
from test_wave_acoustic import rel_l2
from test_wave_gradients import assert_derivatives_match_fd

import jaxgeo.wave as wave
from jaxgeo.wave.viscoacoustic import relaxation_times, sls_strength, source_band

C, FREQ, DX, DT = 1500.0, 25.0, 5.0, 2.5e-4
NT = 1000  # 0.25 s: the direct wave at 235 m (0.157 s) plus the wavelet (0.06 s delay)
OFFSET_CELLS = 47


def sls_modulus(freqs, tau_sigma, strengths):
    """M(omega) / M_R of the SLS model, exp(-i omega t) convention, in numpy float64."""
    z = -2j * np.pi * np.asarray(freqs)[..., None] * np.asarray(tau_sigma, np.float64)
    return 1.0 + np.sum(np.asarray(strengths, np.float64) * z / (1.0 + z), axis=-1)


def fitted_model(q: float, band, n_mechanisms: int = 3):
    """Relaxation times and strengths the propagator uses (the fit is what is under test)."""
    tau_sigma = np.asarray(relaxation_times(jnp.asarray(band), n_mechanisms), np.float64)
    strengths = np.asarray(sls_strength(jnp.float32(q), jnp.asarray(tau_sigma, jnp.float32)))
    return tau_sigma, strengths


def green_q(wavelet, r, vp, f_ref, tau_sigma, strengths, dt):
    """(G * s)(i dt), G = (i/4) H0^(1)(omega r / c(omega)), c = sqrt(M(omega)) with
    M_R set so that the phase velocity at f_ref is vp (numpy FFT: exp(+i omega t), hence
    the conjugate); zero-padded 8x so the circular convolution does not wrap."""
    nt = wavelet.shape[-1]
    n = 8 * nt
    f = np.fft.rfftfreq(n, dt)
    m_r = (vp * np.real(sls_modulus(f_ref, tau_sigma, strengths) ** -0.5)) ** 2
    c = np.sqrt(m_r * sls_modulus(f[1:], tau_sigma, strengths))
    g = np.zeros(f.shape, complex)
    g[1:] = np.conj(0.25j * hankel1(0, 2 * np.pi * f[1:] * r / c))
    return np.fft.irfft(np.fft.rfft(wavelet, n) * g, n)[..., :nt]


@pytest.fixture(scope="module")
def direct():
    wavelet = np.asarray(wave.ricker(FREQ, NT, DT))
    vp = jnp.full((21, 60), C, jnp.float32)
    src, rec = np.array([[[10, 5]]]), np.array([[[10, 5 + OFFSET_CELLS]]])
    band = np.asarray(source_band(wavelet[None, None], DT))
    return wavelet, vp, src, rec, band


@pytest.mark.parametrize("q", [10.0, 30.0, 100.0])
def test_sls_fit_matches_kjartansson_constant_q(direct, q):
    """Over the source band, the fitted model's Q and phase velocity vs Kjartansson's
    constant-Q law ``v(f) = v_r (f / f_r)^gamma``, ``gamma = arctan(1/q) / pi``."""
    *_, band = direct
    tau_sigma, strengths = fitted_model(q, band)
    f = np.geomspace(band[0], band[1], 200)
    m = sls_modulus(f, tau_sigma, strengths)
    q_model = m.real / -m.imag
    # 3 mechanisms over the 14.5x band of the Ricker wavelet: the least-squares fit ripples
    # by -1.8%/+4.7% at q = 10, -1.3%/+3.4% at q = 100 (it overshoots at the band edges,
    # where only one mechanism contributes)
    assert np.all(q_model > 0.97 * q) and np.all(q_model < 1.06 * q)
    m_r = np.real(sls_modulus(FREQ, tau_sigma, strengths) ** -0.5) ** 2
    phase_velocity = 1.0 / np.real((m_r * m) ** -0.5)  # for vp = 1 at FREQ
    gamma = np.arctan(1.0 / q) / np.pi
    kjartansson = (f / FREQ) ** gamma
    # the Q ripple integrates into a phase-velocity error of ~0.1 gamma ln(band) at most
    # (measured 0.61%, 0.19%, 0.056% of a bound 0.86%, 0.29%, 0.095% for q = 10, 30, 100)
    assert np.max(np.abs(phase_velocity / kjartansson - 1)) <= 0.1 * gamma * np.log(14.5) + 1e-4


@pytest.fixture(scope="module")
def q20_trace(direct):
    wavelet, vp, src, rec, _ = direct
    q = jnp.full_like(vp, 20.0)
    return np.asarray(wave.viscoacoustic(vp, q, DX, DT, wavelet[None, None], src, rec,
                                         order=8, reference_freq=FREQ))[0, 0]


def test_viscoacoustic_matches_analytic_constant_q_green_function(direct, q20_trace):
    wavelet, *_, band = direct
    tau_sigma, strengths = fitted_model(20.0, band)
    r = OFFSET_CELLS * DX
    expected = green_q(wavelet, r, C, FREQ, tau_sigma, strengths, DT)
    err = rel_l2(q20_trace, expected)
    # issue 19's bound; measured 0.18% (order-8 space and dt = 0.25 ms time dispersion;
    # the lossless Green's function is 46% away, so a wrong Q or dispersion misses by far)
    assert err <= 0.02
    lossless = green_q(wavelet, r, C, FREQ, tau_sigma, 0.0 * strengths, DT)
    assert rel_l2(q20_trace, lossless) > 0.3
    kjartansson = np.fft.rfftfreq(8 * NT, DT)[1:]
    gamma = np.arctan(1.0 / 20.0) / np.pi
    c_k = C * np.cos(np.pi * gamma / 2) * (-1j * kjartansson / FREQ) ** gamma  # v(FREQ) = C
    g = np.zeros(kjartansson.size + 1, complex)
    g[1:] = np.conj(0.25j * hankel1(0, 2 * np.pi * kjartansson * r / c_k))
    exact_q = np.fft.irfft(np.fft.rfft(wavelet, 8 * NT) * g, 8 * NT)[:NT]
    # against the exact constant-Q medium the fit's -1.5%/+4% Q ripple adds ~1% (measured
    # 1.35%; 0.76% at Q = 50)
    assert rel_l2(q20_trace, exact_q) <= 0.02


def test_viscoacoustic_clock_and_reference_frequency(direct, q20_trace):
    """One sample of shift, or vp read at 20 instead of 25 Hz, is far worse than the fit."""
    wavelet, *_, band = direct
    tau_sigma, strengths = fitted_model(20.0, band)
    r = OFFSET_CELLS * DX
    expected = green_q(wavelet, r, C, FREQ, tau_sigma, strengths, DT)
    err = rel_l2(q20_trace, expected)
    for shift in (-1, 1):
        assert rel_l2(np.roll(q20_trace, shift), expected) > 5 * err
    other_ref = green_q(wavelet, r, C, 20.0, tau_sigma, strengths, DT)
    assert rel_l2(q20_trace, other_ref) > 5 * err


@pytest.mark.parametrize("free_surface", [False, True])
def test_q_to_infinity_equals_staggered_acoustic(free_surface):
    """q = 1e10 in float64: the model differs from lossless by O(1/q) ~ 1e-10, so the trace
    equals wave.acoustic's staggered (rho given) path to rounding."""
    with jax.enable_x64(True):
        wavelet = np.asarray(wave.ricker(FREQ, 400, DT), np.float64)
        vp = jnp.asarray(C + 200 * np.random.default_rng(1).random((20, 30)))
        src, rec = np.array([[[4, 5]]]), np.array([[[3, 25], [15, 12]]])
        kw = dict(order=4, pml_width=10, free_surface=free_surface)
        ours = wave.viscoacoustic(vp, jnp.full_like(vp, 1e10), DX, DT, wavelet[None, None],
                                  src, rec, **kw)
        acoustic = wave.acoustic(vp, DX, DT, wavelet[None, None], src, rec,
                                 rho=jnp.ones_like(vp), **kw)
        # O(1/q) model difference plus float64 rounding over 400 steps (measured 2.8e-10)
        assert rel_l2(ours, np.asarray(acoustic)) <= 1e-8


def test_viscoacoustic_grad_matches_finite_differences():
    """d/dvp and d/dq; q is passed as 50 q (~1000) so eps = 0.5 is a 5e-4 relative step
    like the vp step (the helper's tolerance argument assumes that)."""
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        vp = jnp.asarray(1500.0 + 300.0 * rng.random((12, 14)))
        q50 = jnp.asarray(50.0 * (15.0 + 20.0 * rng.random((12, 14))))
        amps = np.asarray(wave.ricker(15.0, 90, 1e-3), np.float64)[None, None]
        src, rec = np.array([[[3, 3]]]), np.array([[[9, 10], [4, 11]]])

        def forward(v, q50):
            return wave.viscoacoustic(v, q50 / 50.0, 10.0, 1e-3, amps, src, rec, order=4,
                                      pml_width=4, q_band=(3.0, 40.0), reference_freq=15.0)

        assert_derivatives_match_fd(forward, (vp, q50))


def test_viscoacoustic_input_checks(direct):
    wavelet, vp, src, rec, _ = direct
    amps = wavelet[None, None]
    q = jnp.full_like(vp, 30.0)
    with pytest.raises(ValueError, match="q has shape"):
        wave.viscoacoustic(vp, q[:, :10], DX, DT, amps, src, rec)
    with pytest.raises(ValueError, match=r"q must be positive everywhere; q\[2, 3\]"):
        wave.viscoacoustic(vp, q.at[2, 3].set(0.0), DX, DT, amps, src, rec)
    with pytest.raises(ValueError, match="q_band must be"):
        wave.viscoacoustic(vp, q, DX, DT, amps, src, rec, q_band=(30.0, 10.0))
    with pytest.raises(ValueError, match="n_mechanisms"):
        wave.viscoacoustic(vp, q, DX, DT, amps, src, rec, n_mechanisms=0)
    # staggered order-8 limit for the lossless 1500 m/s is 1.91 ms; q = 5 raises the
    # unrelaxed velocity by ~9%, so 1.8 ms passes lossless and fails here
    lossless = 2 / (C * np.sqrt(2 * (2 * (1225 / 1024 + 245 / 3072 + 49 / 5120 + 5 / 7168))
                                ** 2 / DX**2))
    assert 1.8e-3 < lossless
    with pytest.raises(ValueError, match="unrelaxed velocity"):
        wave.viscoacoustic(vp, jnp.full_like(vp, 5.0), DX, 1.8e-3, amps, src, rec)


@pytest.mark.skipif(jax.device_count() < 4, reason="needs 4 (virtual) devices; see conftest")
def test_viscoacoustic_sharded_equals_single_device():
    """3 shots (padded to 4) on 4 devices give the single-device data."""
    from jaxgeo.core.parallel import make_mesh
    rng = np.random.default_rng(0)
    vp = jnp.asarray(1800.0 + 400.0 * rng.random((16, 24)), jnp.float32)
    q = jnp.asarray(20.0 + 30.0 * rng.random((16, 24)), jnp.float32)
    amps = np.asarray(wave.ricker(15.0, 120, 1e-3))[None, None] * np.arange(1.0, 4.0)[:, None,
                                                                                         None]
    src = np.array([[[2, 3]], [[5, 12]], [[8, 20]]])
    rec = np.tile(np.array([[[12, 3], [12, 12], [10, 20]]]), (3, 1, 1))
    kw = dict(order=4, pml_width=5)
    single = wave.viscoacoustic(vp, q, 10.0, 1e-3, amps, src, rec, **kw)
    sharded = wave.viscoacoustic(vp, q, 10.0, 1e-3, amps, src, rec,
                                 mesh=make_mesh("shots", num_devices=4), **kw)
    # same arithmetic per shot on every device; issue 3's 1e-6 bound
    assert float(jnp.linalg.norm(sharded - single) / jnp.linalg.norm(single)) <= 1e-6
