"""FWI workflows on a small transmission problem (40 x 80 cells, Gaussian anomaly)."""

import jax
import numpy as np
import pytest

from jaxgeo.core.config import set_field
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import encoding, setup, simulate, workflow
from jaxgeo.fwi.losses import make_loss


def small_config(**overrides):
    """Sources on top, receivers at the bottom, so the anomaly is crossed by direct waves."""
    c = fwi_config.default_config()
    c.equation, c.dx, c.dt, c.nt, c.order = "acoustic", 20.0, 0.004, 200, 4
    c.model.source = "procedural"
    pc = c.model.procedural
    pc.nz, pc.nx, pc.v_top, pc.v_bottom = 40, 80, 1900.0, 2400.0
    pc.anomaly_dv, pc.anomaly_center, pc.anomaly_radius = -300.0, (20.0, 40.0), 10.0
    c.model.bounds.vp = (1400.0, 2800.0)
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 10, 80, 20, 1
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 0, 80, 2, 38
    c.wavelet.freq, c.wavelet.delay = 4.0, 0.25
    c.boundary.pml_width = 8
    c.multiscale.bands = ["all"]
    c.training.epochs, c.training.step_per_epoch, c.training.num_batches = 4, 5, 1
    c.devices.num_devices = 1
    c.data.observed = "unused.h5"
    c.log.tensorboard = False
    c.log.figures = False
    for k, v in overrides.items():
        set_field(c, k, v)
    return c


@pytest.fixture(scope="module")
def problem_and_data():
    config = small_config()
    problem = setup.build_problem(config, need_true=True)
    mesh = simulate.make_mesh(1)
    observed = simulate.forward_all(problem.true_model, problem.source_amplitudes(),
                                    problem.source_locations, problem.receiver_locations,
                                    problem.settings, mesh)
    return problem, observed


def initial_error(problem):
    return float(np.sqrt(np.mean((problem.init_model["vp"] - problem.true_model["vp"]) ** 2)))


# lr: m/s per update (adam), largest change per update (sd, cg), variable scale (lbfgs);
# decay: lr factor per epoch of 5 updates.
@pytest.mark.parametrize("name,lr,decay", [("adam", 30.0, 0.6), ("sd", 60.0, 1.0),
                                           ("cg", 60.0, 0.7), ("lbfgs", 100.0, 1.0)])
def test_each_optimizer_reduces_model_error(problem_and_data, name, lr, decay):
    problem, observed = problem_and_data
    config = small_config()
    config.optim.name = name
    config.optim.lr = {"vp": lr}
    config.optim.epoch_decay = decay
    result = workflow.invert(config, observed=observed, problem=problem, write=False)
    e0, e1 = initial_error(problem), result.model_error[-1]
    print(f"{name}: model RMS error {e0:.2f} -> {e1:.2f} m/s ({1 - e1 / e0:.0%} lower)")
    assert result.history.size == 20 and np.all(np.isfinite(result.history))
    assert e1 <= 0.7 * e0  # the acceptance: >= 30% lower in 20 iterations


def test_four_devices_give_the_same_gradient_as_one(problem_and_data):
    problem, observed = problem_and_data
    assert len(jax.devices()) >= 4
    loss = make_loss("l2", problem.settings.dt)
    params = {"vp": jax.numpy.asarray(problem.init_model["vp"])}
    idx, w = simulate.pad_batch(np.arange(problem.n_shots), 4)
    batch = (problem.source_amplitudes()[idx], problem.source_locations[idx],
             problem.receiver_locations[idx], observed[idx], w)
    out = {}
    for n in (1, 4):
        mesh = simulate.make_mesh(n)
        obj = simulate.make_objective(problem.settings, loss, mesh)
        dev_batch = tuple(simulate.put_sharded(x, mesh) for x in batch)
        v, g = jax.jit(jax.value_and_grad(obj))(params, {}, *dev_batch)
        out[n] = (float(v), np.asarray(g["vp"]))
    assert out[4][0] == pytest.approx(out[1][0], rel=1e-6)  # float32 sum order over shots
    scale = np.abs(out[1][1]).max()
    # 1e-5 of max|g|: float32 per-shot contributions are summed in a different order.
    np.testing.assert_allclose(out[4][1], out[1][1], rtol=0, atol=1e-5 * scale)


def test_adjoint_gradient_setting_equals_autodiff(problem_and_data):
    """``config.gradient = "adjoint"`` (the hand-written adjoint-state loop) gives the
    autodiff objective gradient on 2 devices to float32 summation order."""
    problem, observed = problem_and_data
    settings = setup.build_problem(small_config(gradient="adjoint"), need_true=False).settings
    assert settings.adjoint and not problem.settings.adjoint
    loss = make_loss("l2", problem.settings.dt)
    params = {"vp": jax.numpy.asarray(problem.init_model["vp"])}
    mesh = simulate.make_mesh(2)
    idx, w = simulate.pad_batch(np.arange(problem.n_shots), 2)
    batch = tuple(simulate.put_sharded(x, mesh) for x in (
        problem.source_amplitudes()[idx], problem.source_locations[idx],
        problem.receiver_locations[idx], observed[idx], w))
    grads = [np.asarray(jax.jit(jax.grad(simulate.make_objective(s, loss, mesh)))(
        params, {}, *batch)["vp"], np.float64) for s in (problem.settings, settings)]
    # float32: the two backward passes sum the same terms in a different order (~1e-7)
    assert np.linalg.norm(grads[1] - grads[0]) <= 1e-5 * np.linalg.norm(grads[0])
    with pytest.raises(fwi_config.ConfigError, match="gradient"):
        fwi_config.validate(small_config(gradient="manual"))


def test_encoding_identities(problem_and_data):
    problem, _ = problem_and_data
    s, mesh = problem.settings, simulate.make_mesh(1)
    amps = problem.source_amplitudes()
    src, rec = problem.source_locations, problem.receiver_locations
    model = problem.true_model
    plain = simulate.forward_all(model, amps, src, rec, s, mesh)
    # one shot, polarity +1, zero delay == the plain shot
    a1, s1 = encoding.encode_sources(amps[:1], src[:1], jax.numpy.ones(1),
                                     jax.numpy.zeros(1, int))
    one = simulate.forward_all(model, np.asarray(a1), np.asarray(s1), rec[:1], s, mesh)
    np.testing.assert_array_equal(one, plain[:1])  # identical inputs, identical program
    # linearity: super shot == sum of the encoded single shots
    pol, delay = encoding.draw_code(jax.random.key(3), problem.n_shots, problem.nt)
    sup_a, sup_s = encoding.encode_sources(amps, src, pol, delay)
    rec_fixed = rec[:1]
    sup = simulate.forward_all(model, np.asarray(sup_a), np.asarray(sup_s), rec_fixed, s, mesh)
    enc_single = jax.vmap(encoding.delay_traces)(amps, delay) * pol[:, None, None]
    singles = simulate.forward_all(model, np.asarray(enc_single), src, rec, s, mesh)
    scale = np.abs(sup).max()
    np.testing.assert_allclose(sup[0], singles.sum(0), atol=1e-5 * scale)  # float32 linearity
    # and the encoded observed gather (delayed recorded data) matches too
    enc_obs = encoding.encode_data(plain[:, 0], pol, delay)
    np.testing.assert_allclose(sup[0, 0], np.asarray(enc_obs)[0], atol=1e-5 * scale)
