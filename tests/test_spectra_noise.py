"""Noise models: statistics against analytic expectations (variances, 1/f slope, drift
autocorrelation, spike areas, step heights), determinism and jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgeo.spectra as sp

N = 4096
KEY = jax.random.PRNGKey(0)
# Sample-variance tolerance: relative standard error sqrt(2/n); 5 standard errors.
N_SAMPLES = 64 * N
VAR_TOL = 5 * np.sqrt(2 / N_SAMPLES)


def _keys(n):
    return jax.random.split(KEY, n)


def test_additive_and_multiplicative_variance():
    y = jnp.full((64, N), 0.8)
    add = jax.vmap(sp.additive_gaussian, (0, 0, None))(_keys(64), y, 0.01) - y
    assert abs(float(jnp.var(add)) / 0.01**2 - 1) < VAR_TOL
    assert abs(float(jnp.mean(add))) < 5 * 0.01 / np.sqrt(N_SAMPLES)  # mean zero, 5 SE
    mult = jax.vmap(sp.multiplicative_gaussian, (0, 0, None))(_keys(64), y, 0.02) / y - 1
    assert abs(float(jnp.var(mult)) / 0.02**2 - 1) < VAR_TOL


def test_shot_noise_variance_scales_with_signal():
    y = jnp.tile(jnp.linspace(0.2, 1.0, N), (64, 1))
    noisy = jax.vmap(sp.shot, (0, 0, None))(_keys(64), y, 0.01)
    normalised = (noisy - y) / jnp.sqrt(y)  # Var = scale^2 for every signal level
    assert abs(float(jnp.var(normalised)) / 0.01**2 - 1) < VAR_TOL
    low, high = (noisy - y)[:, : N // 4], (noisy - y)[:, -N // 4:]
    ratio = float(jnp.var(high) / jnp.var(low))
    expect = float(jnp.mean(y[:, -N // 4:]) / jnp.mean(y[:, : N // 4]))
    assert abs(ratio / expect - 1) < 5 * np.sqrt(2 / (N_SAMPLES / 4)) * 2  # ratio of 2 vars


@pytest.mark.parametrize("exponent", [1.0, 2.0])
def test_flicker_spectral_slope(exponent):
    x = jax.vmap(lambda k: sp.flicker(k, N, 0.005, exponent))(_keys(256))
    assert abs(float(jnp.std(x, axis=1).mean()) - 0.005) < 1e-6  # normalised per realisation
    power = np.mean(np.abs(np.fft.rfft(np.asarray(x, np.float64), axis=1)) ** 2, axis=0)
    f = np.fft.rfftfreq(N)
    sel = (f > 2 / N) & (f < 0.25)
    slope = np.polyfit(np.log(f[sel]), np.log(power[sel]), 1)[0]
    # averaged periodogram of 256 realisations: log-power scatter ~ 1/sqrt(256) per bin
    assert abs(slope + exponent) < 0.03, slope


def test_baseline_drift_autocorrelation():
    sigma = 20.0
    d = np.asarray(jax.vmap(lambda k: sp.baseline_drift(k, N, sigma, 0.01))(_keys(128)),
                   np.float64)
    np.testing.assert_allclose(d.std(axis=1), 0.01, rtol=1e-5)  # normalised per realisation
    for lag in (10, 20, 40):
        corr = np.mean(d[:, :-lag] * d[:, lag:]) / np.mean(d * d)
        # Gaussian-filtered white noise: rho(k) = exp(-k^2 / (4 sigma^2)); each realisation
        # holds ~N/(2 sigma) independent samples -> standard error ~ 0.01 over 128 of them.
        assert abs(corr - np.exp(-lag**2 / (4 * sigma**2))) < 0.03, (lag, corr)


def test_etalon_mean_square_and_frequency():
    # one mode of fixed amplitude and frequency: E[mean square over the window] = a^2/2 (+
    # an O(1/(f N)) edge term), and the periodogram peaks at f cycles per window.
    a, f = 0.004, 7.0
    x = jax.vmap(lambda k: sp.etalon(k, N, n_modes=1, freq_range=(f, f), amp_range=(a, a)))(
        _keys(512))
    ms = float(jnp.mean(x**2))
    assert abs(ms / (a * a / 2) - 1) < 0.03  # phase average; 512 realisations, 1/f edge term
    peak = np.argmax(np.abs(np.fft.rfft(np.asarray(x[0]) * np.hanning(N))))
    assert abs(peak * (N - 1) / N - f) <= 1.0  # t spans N-1 samples; bin resolution 1


def test_spikes_area_and_count():
    a, w, count = 0.02, 2.0, 3
    s = jax.vmap(lambda k: sp.spikes(k, N, max_count=4, amp_range=(a, a), width_range=(w, w),
                                     count=count))(_keys(256))
    area = np.abs(np.asarray(s, np.float64)).sum(axis=1)
    # each Gaussian spike has area a w sqrt(2 pi); overlaps of opposite signs and spikes at
    # the edges (within 3w of 0 or N-1: probability ~ 6w/N each) reduce a few areas
    expect = count * a * w * np.sqrt(2 * np.pi)
    assert np.median(area) == pytest.approx(expect, rel=1e-3)
    assert np.all(area <= expect * (1 + 1e-5))
    peaks = np.abs(np.asarray(s)).max(axis=1)
    assert np.all(peaks <= count * a * (1 + 1e-6))


def test_glitch_step_heights():
    a = 0.01
    g = np.asarray(jax.vmap(lambda k: sp.glitches(k, N, max_count=2, amp_range=(a, a),
                                                  rise_range=(2.0, 2.0), count=2))(_keys(128)))
    jump = g[:, -1] - g[:, 0]
    # two +-a steps located in [0.1N, 0.9N]: the net step is -2a, 0 or 2a (sigmoid tails at
    # 0.1N/rise = 200 rise times are below float32 resolution)
    assert np.all(np.min(np.abs(jump[:, None] - np.array([-2 * a, 0.0, 2 * a])), axis=1) < 1e-6)
    frac_zero = np.mean(np.abs(jump) < 1e-6)
    assert abs(frac_zero - 0.5) < 5 * np.sqrt(0.25 / 128)  # P(opposite signs) = 1/2, 5 SE


def test_clip():
    y = jnp.array([-0.2, 0.0, 0.5, 1.29, 1.4])
    expect = np.array([0.0, 0.0, 0.5, 1.29, 1.3], np.float32)
    np.testing.assert_array_equal(np.asarray(sp.clip(y)), expect)


def test_apply_noise_mixture():
    profile = sp.NoiseProfile(p_shot=0.5, p_flicker=0.5, p_glitches=0.5)
    n_spec = 1000
    y = jnp.tile(0.9 - 0.3 * jnp.exp(-((jnp.arange(800) - 400) / 30.0) ** 2), (n_spec, 1))
    run = jax.jit(jax.vmap(lambda k, s: sp.apply_noise(k, s, profile)))
    noisy, flags = run(jax.random.split(KEY, n_spec), y)
    again, _ = run(jax.random.split(KEY, n_spec), y)
    np.testing.assert_array_equal(np.asarray(noisy), np.asarray(again))  # pure in the key
    assert np.all(np.isfinite(np.asarray(noisy)))
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.3  # clipping bounds
    for name, p in [("drift", 0.7), ("fringes", 0.6), ("spikes", 0.4), ("shot", 0.5)]:
        frac = float(np.mean(np.asarray(flags[name])))
        assert abs(frac - p) < 5 * np.sqrt(p * (1 - p) / n_spec), (name, frac)  # binomial, 5 SE
    # residual std lies inside what the drawn ranges allow
    resid_std = np.asarray(jnp.std(noisy - y, axis=1))
    assert np.all(resid_std >= 0.001 * 0.5) and np.median(resid_std) < 0.05
    with pytest.raises(ValueError, match="p_drift"):
        sp.NoiseProfile(p_drift=1.5)


def test_apply_noise_components_draw_independent_keys():
    """Each component's keys come from fold_in(key, its id): switching spikes on does not
    change the drift draw (the old sequential split reshuffled every later component)."""
    y = jnp.full((400,), 0.8)
    base = dict(std_add_range=(0.0, 0.0), std_mult_range=(0.0, 0.0), p_fringes=0.0,
                p_drift=1.0, clip=None)
    drift_only, _ = sp.apply_noise(KEY, y, sp.NoiseProfile(**base, p_spikes=0.0))
    with_spikes, _ = sp.apply_noise(KEY, y, sp.NoiseProfile(**base, p_spikes=1.0))
    spikes_alone, _ = sp.apply_noise(KEY, y, sp.NoiseProfile(**dict(base, p_drift=0.0),
                                                             p_spikes=1.0))
    # additive components: (drift + spikes) - drift = spikes, up to float32 rounding of 0.8
    np.testing.assert_allclose(np.asarray(with_spikes - drift_only),
                               np.asarray(spikes_alone - y), atol=1e-6)
    assert float(jnp.abs(spikes_alone - y).max()) > 1e-3  # spikes were really drawn
