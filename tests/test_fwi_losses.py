"""Misfits of jaxgeo.fwi.losses: minima, positivity, gradients, analytic references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import signal

from jaxgeo.fwi import losses

DT = 0.002
NT = 400


def ricker(t, f0, t0):
    """Analytic Ricker wavelet (1 - 2 π² f² τ²) exp(-π² f² τ²), τ = t - t0."""
    a = (np.pi * f0 * (t - t0)) ** 2
    return (1 - 2 * a) * np.exp(-a)


@pytest.fixture(scope="module")
def traces():
    """[2 shots, 3 receivers, NT] Ricker traces and a shifted, rescaled, noisy version."""
    t = np.arange(NT) * DT
    rng = np.random.default_rng(0)
    t0 = np.array([[0.25, 0.3, 0.35], [0.4, 0.45, 0.5]])[..., None]
    obs = ricker(t, 10.0, t0)
    syn = 0.8 * ricker(t, 10.0, t0 + 0.012) + 0.02 * rng.standard_normal((2, 3, NT))
    return jnp.asarray(syn, jnp.float32), jnp.asarray(obs, jnp.float32)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_minimum_on_identical_data_positive_otherwise_finite_gradient(name, traces):
    syn, obs = traces
    fn = losses.make_loss(name, dt=DT)
    at_min = float(fn(obs, obs))
    other = float(fn(syn, obs))
    # 1e-6 absolute: float32 rounding of FFT-based and normalised misfits near their minimum.
    assert at_min == pytest.approx(losses.MINIMUM[name], abs=1e-6)
    assert other > at_min + 1e-6
    grad = jax.grad(fn)(syn, obs)
    assert grad.shape == syn.shape
    assert bool(jnp.all(jnp.isfinite(grad)))
    assert float(jnp.max(jnp.abs(grad))) > 0


def test_envelope_matches_scipy_hilbert(traces):
    syn, obs = traces
    env = lambda x: np.abs(signal.hilbert(np.asarray(x, np.float64), axis=-1))
    expected = np.mean((env(syn) - env(obs)) ** 2)
    # 1e-4 relative: float32 FFT vs scipy's float64 FFT.
    assert float(losses.envelope(syn, obs)) == pytest.approx(expected, rel=1e-4)


def test_cs_is_one_minus_cosine(traces):
    syn, obs = np.asarray(traces[0], np.float64), np.asarray(traces[1], np.float64)
    cos = np.sum(syn * obs, -1) / np.linalg.norm(syn, axis=-1) / np.linalg.norm(obs, axis=-1)
    # 1e-5 absolute: float32 sums over 400 samples.
    assert float(losses.cs(*traces)) == pytest.approx(np.mean(1 - cos), abs=1e-5)


@pytest.mark.parametrize("shift_samples", [-23, 7, 31])
def test_traveltime_recovers_known_shift_of_ricker(shift_samples):
    t = np.arange(NT) * DT
    obs = ricker(t, 15.0, 0.4)
    syn = ricker(t, 15.0, 0.4 + shift_samples * DT)
    est = float(losses.traveltime_shift(jnp.asarray(syn), jnp.asarray(obs), DT))
    # 0.05 sample: soft-argmax bias of a symmetric correlation peak is far below a sample.
    assert est == pytest.approx(shift_samples * DT, abs=0.05 * DT)
    loss = float(losses.traveltime(jnp.asarray(syn), jnp.asarray(obs), DT))
    assert loss == pytest.approx((shift_samples * DT) ** 2, rel=1e-2)  # 1%: (1±0.5%)² of est


def test_wd_equals_analytic_w2_between_gaussians():
    # Gaussian densities in time: W2² = (μ1-μ2)² + (σ1-σ2)², independent of the formula used.
    t = np.arange(NT) * DT
    g = lambda mu, s: np.exp(-0.5 * ((t - mu) / s) ** 2)
    syn = jnp.asarray(g(0.30, 0.030))
    obs = jnp.asarray(g(0.42, 0.045))
    expected = (0.30 - 0.42) ** 2 + (0.030 - 0.045) ** 2
    got = float(losses.wd(syn, obs, dt=DT, transform="abs"))
    # 2% relative: piecewise-linear quantile function on a 2 ms grid vs continuous densities.
    assert got == pytest.approx(expected, rel=2e-2)


def test_weighted_sum_parsing(traces):
    syn, obs = traces
    combined = losses.make_loss("0.5*l2+0.25*envelope", dt=DT)(syn, obs)
    expected = 0.5 * losses.l2(syn, obs) + 0.25 * losses.envelope(syn, obs)
    assert float(combined) == pytest.approx(float(expected), rel=1e-6)  # same float32 ops
    as_list = losses.make_loss([("l2", 0.5), ("envelope", 0.25)], dt=DT)(syn, obs)
    assert float(as_list) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize("spec", ["l3", "0.5*l2+foo", "0.5**l2", ""])
def test_unknown_or_malformed_loss_names_valid_ones(spec):
    with pytest.raises(ValueError, match="l2"):
        losses.make_loss(spec)
