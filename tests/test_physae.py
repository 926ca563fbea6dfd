"""jaxgeo.physae: parameter spaces, conventions, models, losses, stages on the engine,
Gauss-Newton refinement. Small grids (N = 64) and a tiny network keep it fast."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgeo.spectra as sp
from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.parallel import make_mesh
from jaxgeo.core.train import fit
from jaxgeo.physae import data, losses, models, refine, stages
from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import PARAM_NAMES, ParameterError, build_space, to_internal

WINDOW = Path(__file__).resolve().parents[1] / "jaxgeo" / "physae" / "data" / \
    "physae_window_3085.yaml"
N = 64
# The reference window's ranges in the guide convention on N pixels: centre, width (cm^-1),
# P (atm), baseline on x in [0, 1] (same physical window as physae.py's 800 pixels).
GUIDE_RANGES = {"sig0": (3086.03, 3086.06), "dsig": (1.215, 1.23), "mf_CH4": (2e-6, 20e-6),
                "mf_H2O": (0.0059, 0.006), "baseline0": (0.99, 1.01),
                "baseline1": (-0.3, -0.2), "baseline2": (-0.02, 0.0), "P": (0.45, 0.55),
                "T": (305.15, 310.15)}
EXPAND = {"sig0": 2.0, "dsig": 1.5, "mf_CH4": 1.3, "P": 1.3, "T": 1.3}


@pytest.fixture(scope="module")
def window():
    return sp.load_physae_yaml(WINDOW)


def make_setup(window, fast=False):
    space = build_space(GUIDE_RANGES, convention="guide", n_points=N, expand_factors=EXPAND,
                        log_floors={"mf_CH4": 1e-7})
    k = window.constants
    obs = ObservationModel.from_lines(window.lines, space, N, path_length_cm=k["path_length_m"]
                                      * 100, p0_mbar=k["P0_mbar"], t0_k=k["T0_K"], l0=k["L0"],
                                      fast=fast)
    return space, obs


@pytest.fixture(scope="module")
def setup(window):
    return make_setup(window)


@pytest.fixture
def x64():
    """float64 inside one test only; restores the previous setting."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", old)


def test_normalise_round_trip_and_log_scale(setup):
    space, _ = setup
    lo, hi = space.bounds("train")
    x = lo + (hi - lo) * np.random.default_rng(0).random((5, 9))
    u = np.asarray(space.normalise(jnp.asarray(x, jnp.float32)), np.float64)
    # hand formula: linear (x - lo)/(hi - lo); log-scale mf_CH4 on log(x)
    j = PARAM_NAMES.index("mf_CH4")
    ref = (x - lo) / (hi - lo)
    ref[:, j] = (np.log(x[:, j]) - np.log(lo[j])) / (np.log(hi[j]) - np.log(lo[j]))
    # float32: storing x costs eps*|x|, i.e. eps*|x|/(hi-lo) in u (narrow dsig, mf_H2O
    # ranges: ~4e-6), plus a few eps of the O(1) arithmetic
    tol = 2 * 6e-8 * np.abs(x).max(0) / (hi - lo) + 1e-6
    assert np.all(np.abs(u - ref) <= tol), np.abs(u - ref) / tol
    back = np.asarray(space.denormalise(jnp.asarray(u, jnp.float32)), np.float64)
    np.testing.assert_allclose(back, x, rtol=2e-6, atol=1e-12)  # float32 rounding
    # the log floor is applied after expansion: 2e-6 - 1.3 * 9e-6 = -9.7e-6 -> 1e-7
    assert lo[j] == 1e-7


def test_conventions_agree(setup, window):
    space, obs = setup
    guide = {"sig0": 3086.045, "dsig": 1.22, "mf_CH4": 1e-5, "mf_H2O": 0.00595,
             "baseline0": 1.0, "baseline1": -0.25, "baseline2": -0.01, "P": 0.5, "T": 307.0}
    m = N - 1  # hand conversion to physae.py's convention
    physae = dict(guide, sig0=3086.045 - 0.61, dsig=1.22 / m, baseline1=-0.25 / m,
                  baseline2=-0.01 / m ** 2, P=0.5 * 1013.25)
    a = to_internal(guide, "guide", N, space.sig0_ref)
    b = to_internal(physae, "physae", N, space.sig0_ref)
    ya, yb = np.asarray(obs(jnp.asarray(a, jnp.float32))), np.asarray(obs(jnp.asarray(b,
                                                                                      jnp.float32)))
    np.testing.assert_allclose(ya, yb, rtol=1e-6)  # float32 of values that agree to 1e-12
    # and the spectrum's grid / baseline are the guide's: nu(i) = c - w/2 + w i/(N-1)
    nu = np.asarray(obs.offsets(jnp.asarray(a, jnp.float32)), np.float64) + space.sig0_ref
    x = np.arange(N) / m
    np.testing.assert_allclose(nu, 3086.045 - 0.61 + 1.22 * x, atol=5e-6)  # float32 offsets
    base = 1.0 - 0.25 * x - 0.01 * x ** 2
    i_far = np.argmax(ya / base)  # away from lines the transmission is ~1
    assert abs(ya[i_far] / base[i_far] - 1.0) < 0.02


@pytest.mark.parametrize("bad, field", [
    ({"P": (0.6, 0.5)}, "ranges_val.P: min 0.6 > max 0.5"),
    ({"pressure": (1, 2)}, "ranges_val.pressure: unknown parameter"),
])
def test_bad_ranges_name_the_field(bad, field):
    with pytest.raises(ParameterError, match=field.replace(".", r"\.", 1)):
        build_space({**GUIDE_RANGES, **bad}, convention="guide", n_points=N)


def test_log_range_touching_zero_and_uncovered_window(window):
    with pytest.raises(ParameterError, match=r"ranges_val\.mf_CH4: log-scale.*<= 0"):
        build_space(GUIDE_RANGES, convention="guide", n_points=N, expand_factors=EXPAND)
    with pytest.raises(ParameterError, match=r"convention='hitran'"):
        build_space(GUIDE_RANGES, convention="hitran", n_points=N)
    far = dict(GUIDE_RANGES, sig0=(3095.0, 3095.1))
    space = build_space(far, convention="guide", n_points=N, log_floors={"mf_CH4": 1e-7})
    with pytest.raises(ParameterError, match=r"^lines: the line list does not cover"):
        ObservationModel.from_lines(window.lines, space, N, path_length_cm=1512.0)


# EfficientNetV2 S/M/L stage tables (Tan & Le 2021, Table 4; kernel 3, SE ratio 0.25 of the
# block's input channels in MBConv): (kind, expansion, stride, channels, repeats).
EFFNETV2 = {
    "s": (24, [("fused", 1, 1, 24, 2), ("fused", 4, 2, 48, 4), ("fused", 4, 2, 64, 4),
               ("mb", 4, 2, 128, 6), ("mb", 6, 1, 160, 9), ("mb", 6, 2, 256, 15)], 1280),
    "m": (24, [("fused", 1, 1, 24, 3), ("fused", 4, 2, 48, 5), ("fused", 4, 2, 80, 5),
               ("mb", 4, 2, 160, 7), ("mb", 6, 1, 176, 14), ("mb", 6, 2, 304, 18),
               ("mb", 6, 1, 512, 5)], 1280),
    "l": (32, [("fused", 1, 1, 32, 4), ("fused", 4, 2, 64, 7), ("fused", 4, 2, 96, 7),
               ("mb", 4, 2, 192, 10), ("mb", 6, 1, 224, 19), ("mb", 6, 2, 384, 25),
               ("mb", 6, 1, 640, 7)], 1280),
}


def _hand_count(stem, table, head):
    """Encoder scalars by hand: a conv k x (c_in/groups) x c_out without bias plus GroupNorm
    scale and bias (2 c_out); SE = two Dense layers with biases."""
    def conv_gn(c_in, c_out, k=1, groups=1):
        return k * (c_in // groups) * c_out + 2 * c_out

    n, c = conv_gn(1, stem, 3), stem  # stem: 1 input channel, kernel 3
    for kind, e, _stride, ch, reps in table:
        for _ in range(reps):
            h = c * e
            if kind == "fused":
                n += conv_gn(c, ch, 3) if e == 1 else conv_gn(c, h, 3) + conv_gn(h, ch)
            else:
                r = max(1, c // 4)
                n += (conv_gn(c, h) + conv_gn(h, h, 3, groups=h) + (h * r + r) + (r * h + h)
                      + conv_gn(h, ch))
            c = ch
    return n + conv_gn(c, head)


def test_parameter_counts(setup):
    space, obs = setup
    x = jnp.zeros((2, N))

    def count(variant):
        m = models.PhysAE(obs, space, variant=variant, num_refiners=1)
        p = jax.eval_shape(lambda: m.init(jax.random.PRNGKey(0), x,
                                          method=models.PhysAE.init_all))["params"]
        return models.count_params(p["encoder"])

    # tiny, counted by hand: stem 1*3*8 + GN 16 = 40; fused e1 8->8: 8*3*8 + 16 = 208;
    # fused e2 8->16: 8*3*16 + 32 + 16*16 + 32 = 704; MBConv e2 16->16: 16*32 + 64, dw 3*32
    # + 64, SE 32*4 + 4 + 4*32 + 32, 32*16 + 32 = 1572; head 16*32 + 64 = 576.
    assert count("tiny") == 40 + 208 + 704 + 1572 + 576
    counts = {v: count(v) for v in ("s", "m", "l")}
    print("encoder parameters:", counts)
    for v, (stem, table, head) in EFFNETV2.items():
        assert models.VARIANTS[v] == (stem, tuple(models.Block(*b) for b in table), head), v
        assert counts[v] == _hand_count(stem, table, head), v
    # the figures our docs give (the guide's ~3M/6M/12M is wrong for these widths)
    assert [round(counts[v] / 1e6, 1) for v in ("s", "m", "l")] == [19.4, 51.6, 114.5]
    m = models.PhysAE(obs, space, variant="tiny", num_refiners=2)
    shapes = jax.eval_shape(lambda: m.init(jax.random.PRNGKey(0), x,
                                           method=models.PhysAE.init_all))
    outs, den = jax.eval_shape(lambda v: m.apply(v, x + 1.0, method=models.PhysAE.init_all),
                               shapes)
    assert len(outs) == 3 and all(o.shape == (2, 9) for o in outs)  # head + 2 refiners
    assert den.shape == (2, N)


def test_relobralo_three_steps_by_hand():
    seq = [np.array([1.0, 4.0]), np.array([0.5, 3.0]), np.array([0.4, 1.0])]
    alpha, temp = 0.9, 0.5

    def soft(z):
        e = np.exp(z - z.max())
        return e / e.sum()

    for rho_mean, rho in ((1.0, 1.0), (0.0, 0.0)):  # Bernoulli(1) = 1, Bernoulli(0) = 0
        state = losses.relobralo_init(2)
        lam_ref, l0, prev = np.ones(2), None, None
        for t, l in enumerate(seq):
            lam, state = losses.relobralo_update(state, jnp.asarray(l), jax.random.PRNGKey(t),
                                                 alpha=alpha, temperature=temp,
                                                 rho_mean=rho_mean, eps=0.0)
            if t == 0:
                l0, expect = l, np.ones(2)
            else:
                hist = rho * lam_ref + (1 - rho) * 2 * soft(l / (temp * l0))
                expect = alpha * hist + (1 - alpha) * 2 * soft(l / (temp * prev))
            prev, lam_ref = l, expect
            np.testing.assert_allclose(np.asarray(lam), expect, rtol=1e-6)  # float32


def _tiny(obs, space, refiners=1):
    return models.PhysAE(obs, space, variant="tiny", num_refiners=refiners, head_hidden=32,
                         refiner_width=8, mlp_dropout=0.0, refiner_dropout=0.0, drop_path=0.0)


# One tiny model, one initialisation, one optimizer and one step per (stage, loss) for the
# whole module: fit caches the compiled step per step object, and the state's static parts
# (the optax transformation) must be the same objects for that cache to hit. Every batch is
# (8, N), so each (stage, loss) step compiles once (and once more on the 4-device mesh).
BATCH = 8
LR = 3e-3
RELOBRALO = stages.LossConfig(use_relobralo=True)  # all four terms: the simulator in the loss


@pytest.fixture(scope="module")
def fixed_batch(setup):
    space, obs = setup
    return data.make_batch(jax.random.PRNGKey(3), obs=obs, space=space, n=BATCH,
                           noise=data.noise_train())


@pytest.fixture(scope="module")
def tiny(setup, fixed_batch):
    """The module's model, its initial parameters (host copies) and a step/tx cache."""
    space, obs = setup
    model = _tiny(obs, space)
    params = stages.init_params(model, jax.random.PRNGKey(0), fixed_batch["x"])
    cache = {}

    def parts(stage, loss=None):
        key = (stage, loss)
        if key not in cache:
            cache[key] = (stages.make_step(model, stage, loss),
                          stages.make_optimizer(params, stage, lr=LR))
        return cache[key]

    def state(stage, loss=None):
        """A fresh TrainState (own copies of the initial parameters: fit donates it)."""
        _, tx = parts(stage, loss)
        st = stages.create_state(model, stage, jax.random.PRNGKey(0), fixed_batch["x"],
                                 params=jax.tree.map(jnp.array, params), losses=loss,
                                 tx_factory=lambda _p: tx)
        # committed to device 0 like a state restored from a checkpoint, so the resumed run
        # of the resume test hits the same compiled step instead of compiling it again
        return jax.device_put(st, jax.devices()[0])

    return {"model": model, "params": jax.tree.map(np.asarray, params), "parts": parts,
            "state": state}


def test_stage_masks_freeze_documented_subtrees(tiny, fixed_batch):
    for stage, trained in (("A", {"encoder", "head"}), ("B1", {"refiner_0"}),
                           ("DEN", {"denoiser"})):
        st = tiny["state"](stage)
        before = jax.tree.map(np.asarray, st.params)
        st, _ = fit(st, tiny["parts"](stage)[0], fixed_batch, num_steps=1)
        for name, sub in before.items():
            same = jax.tree.leaves(jax.tree.map(lambda a, b: bool(np.array_equal(a, b)),
                                                sub, jax.tree.map(np.asarray,
                                                                  st.params[name])))
            if name in trained:
                assert not all(same), (stage, name)
            else:
                assert all(same), (stage, name)  # exactly unchanged (set_to_zero)


def test_tiny_model_overfits_fixed_batch(tiny, fixed_batch):
    # Stage A (refiners inactive), parameter MSE on one fixed batch of 8 noisy spectra.
    st, hist = fit(tiny["state"]("A"), tiny["parts"]("A")[0], fixed_batch, num_steps=400)
    first, last = hist["loss"][0], min(hist["loss"][-10:])
    print(f"overfit: loss {first:.3e} -> {last:.3e} ({first / last:.0f}x) in 400 steps")
    assert last <= first / 100  # the criterion


def test_kill_and_resume_equals_uninterrupted(setup, tiny, tmp_path):
    # Stage A with ReLoBRaLo: its state (batch_stats) and the Bernoulli look-back's RNG are
    # part of what a resume must restore, besides params, optimizer state and stream position.
    space, obs = setup
    stream = data.SyntheticStream(obs, space, batch_size=BATCH, train_samples=2 * BATCH,
                                  noise=data.noise_train(), seed=5)
    step = tiny["parts"]("A", RELOBRALO)[0]

    def run(steps, directory, resume=False):
        ck = Checkpointer(directory, keep=2)
        st, _ = fit(tiny["state"]("A", RELOBRALO), step, stream, num_steps=steps,
                    checkpointer=ck, checkpoint_every=2, resume=resume)
        ck.close()
        return jax.tree.map(np.asarray, (st.params, st.opt_state, st.batch_stats, st.step))

    full = run(4, tmp_path / "full")
    run(2, tmp_path / "cut")  # "killed" after the checkpoint of step 2 (an epoch boundary)
    resumed = run(4, tmp_path / "cut", resume=True)
    assert int(resumed[3]) == 4
    for a, b in zip(jax.tree.leaves(full), jax.tree.leaves(resumed), strict=True):
        np.testing.assert_array_equal(a, b)  # bit-identical
    # and the run did move: the ReLoBRaLo weights and the parameters changed from the start
    assert not np.array_equal(full[2]["relobralo"]["lam"], np.ones(4))


def test_four_devices_equal_one(setup, tiny, fixed_batch):
    # The same step as the resume test (ReLoBRaLo over all four terms, so the gradient runs
    # through the simulator), on one device and split over 4 virtual devices.
    space, obs = setup
    assert jax.device_count() >= 4  # tests/conftest.py sets 4 virtual CPU devices
    stream = data.SyntheticStream(obs, space, batch_size=BATCH, train_samples=2 * BATCH,
                                  seed=0, noise=data.noise_train())
    step = tiny["parts"]("A", RELOBRALO)[0]
    # SGD, whose update is linear in the gradient: Adam's g / (|g| + eps) turns the rounding
    # of a near-zero gradient element (~1e-7 of the gradient's scale, from the cross-device
    # reduction order) into a parameter change of up to ~lr / 4 (seen: 1.1e-6 on one
    # element of 512 on some CPUs), which is not a difference between the two runs' steps
    results = []
    for mesh in (None, make_mesh(devices=jax.devices()[:4])):
        st = stages.create_state(tiny["model"], "A", jax.random.PRNGKey(0), fixed_batch["x"],
                                 params=jax.tree.map(jnp.array, tiny["params"]),
                                 losses=RELOBRALO, tx_factory=lambda _p: optax.sgd(LR))
        st, _ = fit(jax.device_put(st, jax.devices()[0]), step, stream, num_steps=2,
                    mesh=mesh)
        results.append(jax.tree.map(np.asarray, (st.params, st.batch_stats)))
    moved = [not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(tiny["params"]), jax.tree.leaves(results[0][0]), strict=True)]
    assert any(moved)
    # same arithmetic, different reduction order across devices: float32 rounding only
    for a, b in zip(jax.tree.leaves(results[0]), jax.tree.leaves(results[1]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_gauss_newton_recovers_parameters_float64(x64, window):
    space, obs = make_setup(sp.load_physae_yaml(WINDOW))  # float64 line arrays
    lo, hi = space.unit_bounds("val")
    rng = np.random.default_rng(0)
    u_true = jnp.asarray(lo + (hi - lo) * rng.random((3, 9)))
    y = jax.vmap(obs)(space.denormalise(u_true))
    u0 = u_true + 0.03 * jnp.asarray(rng.standard_normal((3, 9)))
    out = refine.refine_batch(obs, space, y, u0, steps=20)
    err = np.abs(np.asarray(out["u"]) - np.asarray(u_true)).max()
    print(f"Gauss-Newton max |u - u_true| = {err:.1e}")
    assert err <= 1e-6  # issue bound (normalised units), noise-free, float64
    assert np.asarray(out["rms"]).max() < 1e-10


def test_cosine_warmup_schedule_and_bad_fields():
    import ml_collections
    import torch

    from jaxgeo.core.config import ConfigError, load_config
    from jaxgeo.physae.run import make_schedule, validate

    root = Path(__file__).resolve().parents[1]
    c = load_config(root / "configs" / "physae" / "reference.py")
    c.update(dict(scheduler="cosine_warmup", lr=1e-3, warmup_epochs=1, t_0=2, t_mult=2,
                  eta_min_ratio=0.1))
    validate(c)
    per_epoch = 4
    sched = make_schedule(c, per_epoch)
    ours = np.array([float(sched(s)) for s in range(4 + 24)])
    # warmup by hand: 0.1 lr -> lr linearly over 4 steps
    np.testing.assert_allclose(ours[:4], 1e-3 * (0.1 + 0.9 * np.arange(4) / 4), rtol=1e-6)
    # then torch's SGDR (CosineAnnealingWarmRestarts, T_0 = 8 steps, T_mult = 2)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    ref_sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=8, T_mult=2,
                                                                     eta_min=1e-4)
    ref = []
    for _ in range(24):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        ref_sched.step()
    np.testing.assert_allclose(ours[4:], ref, rtol=1e-5)  # float32 cosine
    assert make_schedule(ml_collections.ConfigDict(dict(lr=2e-3)), 4) == 2e-3  # constant
    for field, value in (("t_0", 0), ("scheduler", "cosine")):
        bad = load_config(root / "configs" / "physae" / "reference.py")
        bad.update({"scheduler": "cosine_warmup", field: value})
        with pytest.raises(ConfigError, match=field):
            validate(bad)
