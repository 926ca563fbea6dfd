"""LOWESS normalisation (physae.py's lowess_value(kind="start")) against a numpy reference
(weighted least squares by numpy.linalg.lstsq, tricube and bisquare weights by hand), and
its use in the PhysAE data stream: baseline0 cancels and is not predicted."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgeo.spectra as sp
from jaxgeo.core.config import load_config
from jaxgeo.physae import data
from jaxgeo.physae.lowess import lowess_normalise, lowess_start
from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import PARAM_NAMES, build_space

ROOT = Path(__file__).resolve().parents[1]
WINDOW = ROOT / "jaxgeo" / "physae" / "data" / "physae_window_3085.yaml"


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def reference_lowess(y, window, iterations, floor=1e-6):
    """numpy: local linear fit at x0 = 0 over the k nearest pixels, tricube weights, then
    bisquare robustness passes with s = lower median of |residuals| (torch.median)."""
    y = np.asarray(y, np.float64)
    k = max(5, min(window, y.size))
    x = np.arange(y.size, dtype=np.float64)
    idx = np.argsort(np.abs(x - 0.0), kind="stable")[:k]  # the k nearest neighbours of 0
    xs, ys = x[idx], y[idx]
    d = np.abs(xs)
    w = np.clip(1 - (d / d.max()) ** 3, 0, None) ** 3
    design = np.stack([np.ones(k), xs], axis=1)

    def wls(weights):
        sq = np.sqrt(weights)
        return np.linalg.lstsq(design * sq[:, None], ys * sq, rcond=None)[0]

    beta = wls(w)
    for _ in range(iterations - 1):
        r = ys - design @ beta
        a = np.sort(np.abs(r))
        s = a[(a.size - 1) // 2] + 1e-12  # lower median
        u = np.clip(r / (6 * s), -1, 1)
        beta = wls(w * (1 - u ** 2) ** 2 + 1e-12)
    return max(beta[0], floor)


def spectra(n_spec=6, n=120, seed=0):
    """Baseline x absorption lines + noise + a few spikes (robustness matters)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    out = []
    for _ in range(n_spec):
        base = rng.uniform(0.8, 1.2) + rng.uniform(-2e-3, 2e-3) * i
        lines = sum(rng.uniform(0.05, 0.4) / (1 + ((i - rng.uniform(0, n)) / 3.0) ** 2)
                    for _ in range(4))
        y = base * (1 - lines) + rng.normal(0, 1e-3, n)
        y[rng.integers(0, 30, 2)] += rng.uniform(-0.3, 0.3, 2)  # spikes inside the window
        out.append(y)
    return np.array(out)


@pytest.mark.parametrize("window, iterations", [(30, 2), (31, 2), (30, 1), (20, 3), (500, 2),
                                                (3, 2)])
def test_matches_numpy_reference(x64, window, iterations):
    y = spectra()
    got = np.asarray(lowess_start(jnp.asarray(y), window, iterations))
    ref = np.array([reference_lowess(s, window, iterations) for s in y])
    # float64 both ways; the closed-form centred fit vs lstsq differ by rounding only
    np.testing.assert_allclose(got, ref, rtol=1e-10)


def test_float32_matches_reference_and_line_is_exact():
    y = spectra(seed=3).astype(np.float32)
    got = np.asarray(jax.jit(lambda v: lowess_start(v, 30, 2))(jnp.asarray(y)))
    ref = np.array([reference_lowess(s, 30, 2) for s in y.astype(np.float64)])
    # float32 sums of 30 O(1) terms: a few 1e-7 relative
    np.testing.assert_allclose(got, ref, rtol=2e-6)
    # a straight line a + b i is reproduced: the scale is a (hand)
    line = 1.07 - 3e-4 * np.arange(80)
    assert abs(float(lowess_start(jnp.asarray(line, jnp.float32))) - 1.07) < 1e-6
    # floor: a zero spectrum gives physae.py's 1e-6, not 0
    assert float(lowess_start(jnp.zeros(50))) == pytest.approx(1e-6)
    # normalise divides each spectrum by its own scale; c * y has the same normalised form
    yn = np.asarray(lowess_normalise(jnp.asarray(y)))
    np.testing.assert_allclose(yn, y / got[:, None], rtol=1e-6)  # float32 division
    np.testing.assert_allclose(np.asarray(lowess_normalise(jnp.asarray(2.5 * y))), yn,
                               rtol=2e-6)  # float32: scale-invariant up to rounding
    # differentiable
    g = jax.grad(lambda v: jnp.sum(lowess_normalise(v)))(jnp.asarray(y))
    assert np.all(np.isfinite(np.asarray(g)))


@pytest.fixture(scope="module")
def lowess_setup():
    window = sp.load_physae_yaml(WINDOW)
    ranges = {k: tuple(v) for k, v in window.ranges_val.items()}
    n = 96
    predicted = tuple(p for p in PARAM_NAMES if p != "baseline0")
    space = build_space(ranges, n_points=n, expand_factors=window.expand_factors,
                        log_floors={"mf_CH4": 1e-7}, predicted=predicted)
    obs = ObservationModel.from_window(window, space, n, fast=False, lowess_window=30)
    return space, obs


def test_stream_normalises_input_and_target_and_baseline0_cancels(lowess_setup):
    space, obs = lowess_setup
    b = data.make_batch(jax.random.PRNGKey(0), obs=obs, space=space, n=4, which="val",
                        noise=data.noise_val())
    raw = np.asarray(jax.vmap(obs.raw)(space.denormalise(b["u"])), np.float64)
    ref = np.array([reference_lowess(r, 30, 2) for r in raw])
    # the target is the raw spectrum over its own LOWESS scale (float32 simulation)
    np.testing.assert_allclose(np.asarray(b["clean"]), raw / ref[:, None], rtol=3e-6)
    # the input over its own: its scale is 1 (reference on the normalised input)
    x = np.asarray(b["x"], np.float64)
    np.testing.assert_allclose([reference_lowess(r, 30, 2) for r in x], 1.0, rtol=3e-6)
    # the overall baseline level cancels: scaling (b0, b1, b2) together leaves the output
    # unchanged (b0 alone still sets the relative slope b1/b0; physae.py, too, only
    # re-simulates with b0 at a fixed value, here the centre of its range)
    p = np.asarray(space.denormalise(b["u"][0]))
    q = p.copy()
    for name in ("baseline0", "baseline1", "baseline2"):
        q[PARAM_NAMES.index(name)] *= 1.02
    np.testing.assert_allclose(np.asarray(obs(jnp.asarray(q))), np.asarray(obs(jnp.asarray(p))),
                               rtol=1e-5)  # float32 simulation and division
    assert "baseline0" not in space.predicted


def test_config_flag_drops_baseline0():
    from jaxgeo.physae.run import build

    c = load_config(ROOT / "configs" / "physae" / "reference.py")
    c.num_points, c.encoder_variant = 96, "tiny"
    space, obs, _ = build(c)
    assert space.predicted == PARAM_NAMES and obs.lowess_window == 0
    c.lowess_normalise = True
    space, obs, _ = build(c)
    assert "baseline0" not in space.predicted and len(space.predicted) == 8
    assert obs.lowess_window == 30
