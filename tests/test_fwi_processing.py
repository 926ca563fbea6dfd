"""Gradient processing, zero-phase filters, optimizer step rules, encoding codes."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import ndimage, signal

from jaxgeo.fwi import encoding, filters, gradients, optim


@pytest.fixture(scope="module")
def grad():
    return np.random.default_rng(1).standard_normal((30, 50)).astype(np.float32)


def test_cut_multiplies_by_mask(grad):
    mask = np.ones_like(grad)
    mask[:7] = 0.0
    out = np.asarray(gradients.cut(jnp.asarray(grad), jnp.asarray(mask)))
    assert np.all(out[:7] == 0.0)
    np.testing.assert_array_equal(out[7:], grad[7:])  # exact: multiplication by one


@pytest.mark.parametrize("sigma,radius", [(2.0, 6), ((1.5, 3.0), (4, 9))])
def test_smooth_equals_scipy_gaussian_filter(grad, sigma, radius):
    out = np.asarray(gradients.smooth(jnp.asarray(grad), sigma, radius))
    ref = ndimage.gaussian_filter(grad.astype(np.float64), sigma, mode="reflect", radius=radius)
    np.testing.assert_allclose(out, ref, atol=1e-5)  # float32 accumulation of ~20 taps


def test_process_cuts_again_after_smoothing_scipy(grad):
    # the water (mask 0) must get no update even though smoothing spreads the gradient
    mask = np.ones_like(grad)
    mask[:7] = 0.0
    out = np.asarray(gradients.process(jnp.asarray(grad), mask=jnp.asarray(mask),
                                       smooth_sigma=(2.0, 3.0), smooth_radius=(6, 9)))
    ref = ndimage.gaussian_filter(grad.astype(np.float64) * mask, (2.0, 3.0), mode="reflect",
                                  radius=(6, 9)) * mask
    assert np.all(out[:7] == 0.0)
    np.testing.assert_allclose(out, ref, atol=1e-5)  # float32 accumulation of ~20 taps


def test_clip_at_quantile(grad):
    out = np.asarray(gradients.clip(jnp.asarray(grad), 0.02))
    t = np.quantile(np.abs(grad.astype(np.float64)), 0.98)
    np.testing.assert_allclose(out, np.clip(grad, -t, t), atol=1e-6)  # float32 quantile
    # exactly the top 2% of magnitudes are changed
    changed = np.mean(np.abs(out - grad) > 1e-6)
    assert changed == pytest.approx(0.02, abs=1.0 / grad.size)


@pytest.mark.parametrize("band", [8.0, [5.0, 15.0]])
def test_zero_phase_filter_equals_scipy_sosfiltfilt(band):
    dt = 0.004
    x = np.random.default_rng(2).standard_normal((3, 4, 300))
    sos = filters.design(band, dt, order=4)
    ref = signal.sosfiltfilt(sos, x, axis=-1)
    jax.config.update("jax_enable_x64", True)
    try:
        got = np.asarray(filters.sosfiltfilt(sos, jnp.asarray(x)))
    finally:
        jax.config.update("jax_enable_x64", False)
    np.testing.assert_allclose(got, ref, atol=1e-10)  # same recursion in float64
    # float32 (the production dtype) agrees to single-precision accuracy
    got32 = np.asarray(filters.sosfiltfilt(sos, jnp.asarray(x, jnp.float32)))
    np.testing.assert_allclose(got32, ref, atol=2e-4)  # float32 recursion, 600 steps


def test_filter_all_band_is_identity_and_bad_band_raises():
    assert filters.design("all", 0.001) is None
    with pytest.raises(ValueError, match="Nyquist"):
        filters.design(800.0, 0.001)


def test_sd_step_rule_clamps_quantiles_and_scales_to_lr(grad):
    lr = 7.5
    tx = optim.make_optimizer("sd", {"vp": lr})
    params = {"vp": jnp.zeros_like(grad)}
    updates, _ = tx.update({"vp": jnp.asarray(grad)}, tx.init(params), params)
    lo, hi = np.quantile(grad.astype(np.float64), [0.02, 0.98])
    d = -np.clip(grad, lo, hi)
    expected = lr * d / np.abs(d).max()
    np.testing.assert_allclose(np.asarray(updates["vp"]), expected, atol=1e-5)  # float32
    assert np.abs(np.asarray(updates["vp"])).max() == pytest.approx(lr, rel=1e-6)


@pytest.mark.parametrize("beta", ["pr", "fr"])
def test_cg_direction_matches_formula(beta, grad):
    rng = np.random.default_rng(3)
    g1 = grad.astype(np.float64)
    g2 = g1 + 0.5 * rng.standard_normal(g1.shape)
    tx = optim.make_optimizer("cg", {"m": 1.0}, cg_beta=beta)
    params = {"m": jnp.zeros(g1.shape)}
    state = tx.init(params)
    _, state = tx.update({"m": jnp.asarray(g1, jnp.float32)}, state, params)
    u2, _ = tx.update({"m": jnp.asarray(g2, jnp.float32)}, state, params)
    c = lambda g: np.clip(g, *np.quantile(g, [0.02, 0.98]))
    c1, c2 = c(g1), c(g2)
    d1 = -c1
    if beta == "pr":
        b = max(0.0, np.sum(c2 * (c2 - c1)) / np.sum(c1 * c1))
    else:
        b = np.sum(c2 * c2) / np.sum(c1 * c1)
    d2 = -c2 + b * d1
    np.testing.assert_allclose(np.asarray(u2["m"]), d2 / np.abs(d2).max(), atol=1e-4)  # float32


def test_per_parameter_learning_rates_and_bounds():
    tx = optim.make_optimizer("adam", {"vp": 10.0, "vs": 2.0})
    params = {"vp": jnp.full((4, 4), 2000.0), "vs": jnp.full((4, 4), 1000.0)}
    grads = {"vp": jnp.ones((4, 4)), "vs": -jnp.ones((4, 4))}
    updates, _ = tx.update(grads, tx.init(params), params)
    # Adam's first step is -lr·sign(g) (bias-corrected moments); 1e-5 relative covers the
    # float32 rounding of the bias correction 1 - 0.999.
    np.testing.assert_allclose(np.asarray(updates["vp"]), -10.0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(updates["vs"]), 2.0, rtol=1e-5)
    new = optim.project(optax.apply_updates(params, updates), {"vp": (1995.0, None)})
    assert float(new["vp"].min()) == 1995.0  # projected exactly onto the bound
    assert float(new["vs"].max()) == pytest.approx(1002.0, rel=1e-5)  # unbounded: moved by lr


def test_encoding_codes_and_delay():
    pol, delay = encoding.draw_code(jax.random.key(0), 64, nt=500)
    assert set(np.unique(np.asarray(pol))) == {-1.0, 1.0}
    assert int(delay.min()) >= 0 and int(delay.max()) < 100
    pol2, delay2 = encoding.draw_code(jax.random.key(1), 64, nt=500)
    assert not np.array_equal(np.asarray(delay), np.asarray(delay2))  # fresh code per key
    x = np.arange(10.0)
    np.testing.assert_array_equal(np.asarray(encoding.delay_traces(jnp.asarray(x), 3)),
                                  np.r_[0, 0, 0, x[:7]])
