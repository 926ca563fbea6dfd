"""Train loop, sharding, NaN detection, early stopping and LR schedules."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxgeo.core import parallel
from jaxgeo.core.schedules import (
    ReduceOnPlateau,
    cosine_warm_restarts,
    set_learning_rate,
    warmup_constant,
)
from jaxgeo.core.train import (
    EarlyStopping,
    NonFiniteLossError,
    TrainState,
    fit,
    make_train_step,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 3)).astype(np.float32)
Y = (X @ np.array([1.5, -2.0, 0.5]) + 0.3 + 0.05 * RNG.normal(size=64)).astype(np.float32)


def linear_loss(params, batch, rng):
    pred = batch["x"] @ params["w"] + params["b"]
    return jnp.mean((pred - batch["y"]) ** 2), {"mse": jnp.mean((pred - batch["y"]) ** 2)}


def linear_state(lr=0.1):
    params = {"w": jnp.zeros(3), "b": jnp.zeros(())}
    return TrainState.create(params=params, tx=optax.adam(lr),
                             rng=jax.random.key(0))


def closed_form():
    design = np.c_[X, np.ones(len(X))].astype(np.float64)
    return np.linalg.lstsq(design, Y.astype(np.float64), rcond=None)[0]


def test_linear_regression_converges_to_closed_form():
    batch = {"x": X, "y": Y}
    state, history = fit(linear_state(), make_train_step(linear_loss), lambda s: batch,
                         num_steps=1500)
    got = np.r_[np.asarray(state.params["w"]), float(state.params["b"])]
    np.testing.assert_allclose(got, closed_form(), atol=1e-3)  # the bound
    assert history["loss"][-1] < history["loss"][0]
    assert int(state.step) == 1500


def test_fit_donates_the_state_it_is_given():
    """Documented in `fit`: the input state is consumed; a copy made before survives."""
    batch = {"x": X, "y": Y}
    state = linear_state()
    kept = jax.tree_util.tree_map(jnp.copy, state)
    final, _ = fit(state, make_train_step(linear_loss), lambda s: batch, num_steps=3)
    assert state.params["w"].is_deleted()
    assert not kept.params["w"].is_deleted() and float(jnp.abs(kept.params["w"]).max()) == 0.0
    assert int(final.step) == 3


def test_sharded_loop_matches_one_device():
    assert jax.device_count() == 4, "conftest must set 4 virtual CPU devices"
    batches = lambda s: {"x": X, "y": Y}  # noqa: E731
    step = make_train_step(linear_loss)
    single, _ = fit(linear_state(0.05), step, batches, num_steps=200,
                    mesh=parallel.make_mesh(num_devices=1))
    sharded, _ = fit(linear_state(0.05), step, batches, num_steps=200,
                     mesh=parallel.make_mesh())
    assert len(sharded.params["w"].sharding.device_set) == 4
    for a, b in zip(jax.tree_util.tree_leaves(single.params),
                    jax.tree_util.tree_leaves(sharded.params), strict=True):
        # Same math; only the order of the 4-way reduction differs (float32 rounding).
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6)


def test_nan_stops_with_step_and_term():
    def loss(params, batch, rng):
        bad = jnp.where(batch["step"] >= 3, jnp.nan, 0.0)
        base = jnp.mean((batch["x"] @ params["w"] - batch["y"]) ** 2)
        return base + bad, {"data_term": base, "physics_term": bad}

    with pytest.raises(NonFiniteLossError, match=r"step 3.*physics_term"):
        fit(linear_state(), make_train_step(loss),
            lambda s: {"x": X, "y": Y, "step": jnp.asarray(s)}, num_steps=10)


def test_early_stopping_on_eval_metric():
    scores = iter([5.0, 4.0, 4.5, 4.2, 4.1, 3.0])
    stopper = EarlyStopping("val", patience=3)
    state, history = fit(linear_state(), make_train_step(linear_loss),
                         lambda s: {"x": X, "y": Y}, num_steps=100,
                         evaluate=lambda st: {"val": next(scores)}, eval_every=2,
                         early_stopping=stopper)
    assert history["eval/val"] == [5.0, 4.0, 4.5, 4.2, 4.1]
    assert int(state.step) == 10


def test_shard_batch_and_gather_round_trip():
    mesh = parallel.make_mesh("shots")
    x = np.arange(24.0).reshape(8, 3)
    sharded = parallel.shard_batch(x, mesh)
    assert len(sharded.sharding.device_set) == 4
    np.testing.assert_array_equal(parallel.gather(sharded), x)
    with pytest.raises(ValueError, match="multiple of 4"):
        parallel.shard_batch(np.zeros((6, 2)), mesh)
    padded, n = parallel.pad_to_multiple(np.ones((6, 2)), 4)
    assert padded.shape == (8, 2) and n == 6 and padded[6:].sum() == 0


# ------------------------------------------------------------------ schedules vs PyTorch


def _torch_lrs(make_scheduler, steps, base_lr=1.0):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    sched = make_scheduler(opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


@pytest.mark.parametrize("t_0, t_mult, eta", [(10, 1, 0.0), (5, 2, 0.1)])
def test_cosine_warm_restarts_matches_torch(t_0, t_mult, eta):
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=t_0, T_mult=t_mult, eta_min=eta), 60)
    ours = np.array([cosine_warm_restarts(1.0, t_0, t_mult, eta)(s) for s in range(60)])
    np.testing.assert_allclose(ours, ref, atol=1e-6)  # float32 cosine vs float64


def _sgdr_with_warmup(step, base_lr, t_0, t_mult, eta_ratio, warmup, start_fraction=0.1):
    """Closed form, cycle by cycle: linear warmup, then SGDR restarting after t_0, t_0*t_mult..."""
    if step < warmup:
        return base_lr * (start_fraction + (1 - start_fraction) * step / warmup)
    t, t_i = step - warmup, t_0
    while t >= t_i:
        t, t_i = t - t_i, t_i * t_mult
    eta_min = eta_ratio * base_lr
    return eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * t / t_i)) / 2


@pytest.mark.parametrize("t_0, t_mult, eta, warmup", [(10, 1, 0.0, 5), (5, 2, 0.1, 8)])
def test_cosine_warm_restarts_with_warmup_matches_torch(t_0, t_mult, eta, warmup):
    base_lr = 0.5
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
        torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0,
                                          total_iters=warmup),
        torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=t_0, T_mult=t_mult,
                                                             eta_min=eta * base_lr)],
        milestones=[warmup]), 80, base_lr=base_lr)
    closed = np.array([_sgdr_with_warmup(s, base_lr, t_0, t_mult, eta, warmup)
                       for s in range(80)])
    np.testing.assert_allclose(closed, ref, rtol=0, atol=1e-12)  # both float64
    sched = jax.jit(cosine_warm_restarts(base_lr, t_0, t_mult, eta, warmup_steps=warmup))
    ours = np.array([sched(s) for s in range(80)])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)  # float32 schedule vs float64
    assert ours[0] == pytest.approx(0.1 * base_lr) and ours[warmup] == pytest.approx(base_lr)


def test_warmup_matches_torch_linear_lr():
    ref = _torch_lrs(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=0.1, end_factor=1.0, total_iters=20), 40, base_lr=0.5)
    ours = np.array([warmup_constant(0.5, 20)(s) for s in range(40)])
    np.testing.assert_allclose(ours, ref, rtol=1e-6)  # float32 arithmetic


def test_reduce_on_plateau_matches_torch():
    losses = [1.0, 0.9, 0.91, 0.92, 0.93, 0.89, 0.95, 0.96, 0.97, 0.98, 0.99, 0.5, 0.6, 0.7]
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    ours = ReduceOnPlateau(factor=0.5, patience=2)
    for value in losses:
        sched.step(value)
        assert ours.update(value) == pytest.approx(opt.param_groups[0]["lr"])


def test_set_learning_rate_on_injected_optimizer():
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1.0)
    state = set_learning_rate(tx.init({"w": jnp.ones(2)}), 0.25)
    updates, _ = tx.update({"w": jnp.ones(2)}, state, {"w": jnp.ones(2)})
    np.testing.assert_allclose(updates["w"], -0.25, rtol=1e-5)  # adam's first step is -lr*sign


# ------------------------------------------------------------------ batch statistics (BatchNorm)


class _BNNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool):
        h = nn.Dense(4)(x)
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(h)
        return nn.Dense(1)(nn.relu(h))[:, 0]


def test_batch_stats_train_step_matches_torch_and_hand_statistics():
    model, lr, steps, eps = _BNNet(), 0.1, 6, 1e-5
    rng = np.random.default_rng(1)
    xs = rng.normal(1.0, 2.0, size=(steps, 16, 3)).astype(np.float32)  # off-centre inputs
    ys = np.tanh(xs @ np.array([1.0, -1.0, 0.5], np.float32)).astype(np.float32)
    x_eval = rng.normal(1.0, 2.0, size=(8, 3)).astype(np.float32)
    y_eval = np.tanh(x_eval @ np.array([1.0, -1.0, 0.5], np.float32)).astype(np.float32)

    variables = model.init(jax.random.key(0), jnp.zeros((2, 3)), train=False)
    p0 = jax.tree_util.tree_map(np.array, variables["params"])  # host copy: fit donates

    def loss_fn(params, batch_stats, batch, rng):
        pred, updates = model.apply({"params": params, "batch_stats": batch_stats},
                                    batch["x"], train=True, mutable=["batch_stats"])
        return jnp.mean((pred - batch["y"]) ** 2), ({}, updates["batch_stats"])

    def eval_fn(state):
        pred = model.apply({"params": state.params, "batch_stats": state.batch_stats},
                           x_eval, train=False)
        return {"loss": jnp.mean((pred - y_eval) ** 2)}

    state = TrainState.create(params=variables["params"],
                              batch_stats=variables["batch_stats"], tx=optax.sgd(lr),
                              rng=jax.random.key(1))
    state, history = fit(state, make_train_step(loss_fn, uses_batch_stats=True),
                         lambda s: {"x": xs[s], "y": ys[s]}, num_steps=steps,
                         evaluate=eval_fn, eval_every=steps)

    # Reference 1: the same network in PyTorch, same initial weights, same SGD steps.
    lin1, bn, lin2 = torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4, eps=eps, momentum=0.1), \
        torch.nn.Linear(4, 1)
    with torch.no_grad():
        lin1.weight.copy_(torch.from_numpy(p0["Dense_0"]["kernel"].T))
        lin1.bias.copy_(torch.from_numpy(p0["Dense_0"]["bias"]))
        bn.weight.copy_(torch.from_numpy(p0["BatchNorm_0"]["scale"]))
        bn.bias.copy_(torch.from_numpy(p0["BatchNorm_0"]["bias"]))
        lin2.weight.copy_(torch.from_numpy(p0["Dense_1"]["kernel"].T))
        lin2.bias.copy_(torch.from_numpy(p0["Dense_1"]["bias"]))
    net = torch.nn.Sequential(lin1, bn, torch.nn.ReLU(), lin2)
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    # Reference 2 (hand): flax's running statistics, m <- 0.9 m + 0.1 mean_b and
    # v <- 0.9 v + 0.1 var_b with the biased batch variance (torch's running_var uses the
    # unbiased one, so only the mean is compared with torch).
    mean_ref, var_ref = np.zeros(4), np.ones(4)
    for s in range(steps):
        with torch.no_grad():
            h = lin1(torch.from_numpy(xs[s])).double().numpy()
        mean_ref = 0.9 * mean_ref + 0.1 * h.mean(0)
        var_ref = 0.9 * var_ref + 0.1 * h.var(0)  # ddof=0: biased
        opt.zero_grad()
        loss = torch.mean((net(torch.from_numpy(xs[s]))[:, 0] - torch.from_numpy(ys[s])) ** 2)
        loss.backward()
        opt.step()
        # float32 in both frameworks; the losses differ only by summation order.
        assert history["loss"][s] == pytest.approx(loss.item(), rel=1e-5)

    got = jax.tree_util.tree_map(np.asarray, state.params)
    # Six float32 SGD steps with identical math; 1e-5 covers reduction-order rounding.
    np.testing.assert_allclose(got["Dense_0"]["kernel"], lin1.weight.detach().numpy().T,
                               atol=1e-5)
    np.testing.assert_allclose(got["BatchNorm_0"]["scale"], bn.weight.detach().numpy(),
                               atol=1e-5)
    np.testing.assert_allclose(got["Dense_1"]["kernel"], lin2.weight.detach().numpy().T,
                               atol=1e-5)
    stats = jax.tree_util.tree_map(np.asarray, state.batch_stats["BatchNorm_0"])
    np.testing.assert_allclose(stats["mean"], bn.running_mean.numpy(), atol=1e-5)  # float32
    np.testing.assert_allclose(stats["mean"], mean_ref, atol=1e-5)  # float32 vs float64 hand
    np.testing.assert_allclose(stats["var"], var_ref, rtol=1e-5)  # float32 vs float64 hand
    assert not np.allclose(stats["var"], 1.0)  # the statistics really moved off their init

    # Evaluation normalises with the stored running statistics (hand formula, float64).
    h = x_eval @ got["Dense_0"]["kernel"] + got["Dense_0"]["bias"]
    h = (h - mean_ref) / np.sqrt(var_ref + eps) * got["BatchNorm_0"]["scale"] \
        + got["BatchNorm_0"]["bias"]
    pred = np.maximum(h, 0.0) @ got["Dense_1"]["kernel"][:, 0] + got["Dense_1"]["bias"][0]
    # float32 forward vs float64 hand evaluation of an O(1) loss.
    assert history["eval/loss"] == [pytest.approx(np.mean((pred - y_eval) ** 2), rel=1e-5)]
