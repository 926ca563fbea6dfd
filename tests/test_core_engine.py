"""The training engine's task features: several parts, frozen parts, per-step keys, resume,
the host LR scale, early stopping and the epoch callback (references computed by hand)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.schedules import LrScale, get_lr_scale, with_lr_scale
from jaxgeo.core.train import (
    EarlyStopping,
    FunctionStream,
    Part,
    TrainState,
    fit,
    make_train_step,
)

RNG = np.random.default_rng(3)
XS = RNG.normal(size=(8, 16, 2)).astype(np.float32)
YS = (XS @ np.array([2.0, -1.0], np.float32)).astype(np.float32)


def _grad_linear(w, x, y):
    """d/dw mean((x w - y)^2), by hand in float64."""
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    return 2.0 * x.T @ (x @ w - y) / len(y)


def two_part_state():
    parts = {
        "a": Part.create({"w": jnp.zeros(2)}, optax.sgd(0.1)),
        "b": Part.create({"w": jnp.ones(2)}, optax.sgd(0.02, momentum=0.5)),
        "frozen": Part.create({"w": jnp.full(2, 3.0)}, optax.sgd(1.0)),
    }
    return TrainState.create(parts=parts, rng=jax.random.PRNGKey(0))


def two_part_step(state, batch):
    def mse(w):
        return jnp.mean((batch["x"] @ w - batch["y"]) ** 2)

    metrics = {}
    for name in ("a", "b"):
        loss, grads = jax.value_and_grad(lambda p: mse(p["w"]))(state.part(name).params)
        state = state.apply_gradients(grads, part=name)
        metrics[f"loss_{name}"] = loss
    metrics["loss_frozen"] = mse(state.part("frozen").params["w"])
    return state, metrics


def test_each_part_uses_its_own_optimizer_and_a_frozen_part_is_untouched():
    state, history = fit(two_part_state(), two_part_step, lambda k: {"x": XS[k], "y": YS[k]},
                         num_steps=8)
    # Hand: plain SGD for a; heavy-ball SGD (v <- 0.5 v + g, w <- w - 0.02 v) for b.
    wa, wb, vb = np.zeros(2), np.ones(2), np.zeros(2)
    for k in range(8):
        wa = wa - 0.1 * _grad_linear(wa, XS[k], YS[k])
        vb = 0.5 * vb + _grad_linear(wb, XS[k], YS[k])
        wb = wb - 0.02 * vb
    # float32 training vs a float64 hand recursion over 8 steps.
    np.testing.assert_allclose(state.part("a").params["w"], wa, rtol=1e-5)
    np.testing.assert_allclose(state.part("b").params["w"], wb, rtol=1e-5)
    np.testing.assert_array_equal(state.part("frozen").params["w"], np.full(2, 3.0,
                                                                            np.float32))
    assert int(state.step) == 8 and len(history["loss_a"]) == 8


def _key_step(state, batch):
    """Records the first uniform draw of this step's key (a dropout mask would use it)."""
    draw = jax.random.uniform(state.step_key())
    return state, {"draw": draw, "loss": jnp.asarray(0.0)}


def _key_state():
    return TrainState.create(params={"w": jnp.zeros(1)}, tx=optax.sgd(0.0),
                             rng=jax.random.PRNGKey(7))


def test_step_keys_differ_per_step_and_repeat_after_resume(tmp_path):
    stream = FunctionStream(lambda k: {"k": jnp.asarray(k)}, length=3, seed=5)
    _, straight = fit(_key_state(), _key_step, stream, epochs=4)
    expected = [float(jax.random.uniform(jax.random.fold_in(jax.random.PRNGKey(7), s)))
                for s in range(12)]  # the documented rule, fold_in(rng, step)
    np.testing.assert_array_equal(straight["draw"], np.float32(expected))
    assert len(set(straight["draw"])) == 12

    ckpt = Checkpointer(tmp_path / "ck", keep=5)
    fit(_key_state(), _key_step, stream, epochs=2, checkpointer=ckpt)
    state, resumed = fit(_key_state(), _key_step, stream, epochs=4, checkpointer=ckpt,
                         resume=True)
    ckpt.close()
    assert int(state.step) == 12
    assert resumed["draw"] == straight["draw"]  # the history is continued, not restarted
    assert [e["epoch"] for e in resumed.epochs] == [0, 1, 2, 3]


def test_resume_refuses_a_stream_with_another_seed(tmp_path):
    with Checkpointer(tmp_path / "ck") as ckpt:
        fit(_key_state(), _key_step, FunctionStream(lambda k: {}, 2, seed=1), epochs=1,
            checkpointer=ckpt)
        with pytest.raises(ValueError, match="seeded with 1, this run.s with 2"):
            fit(_key_state(), _key_step, FunctionStream(lambda k: {}, 2, seed=2), epochs=2,
                checkpointer=ckpt, resume=True)


def _scale_step(state, batch):
    # Loss w: gradient 1, so SGD(lr=1) moves w by exactly -lr_scale each step.
    grads = {"w": jnp.ones(())}
    return state.apply_gradients(grads), {"loss": state.params["w"]}


def test_warmup_and_plateau_scale_at_chosen_epochs():
    evals = iter([5.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0])
    state = TrainState.create(params={"w": jnp.zeros(())}, tx=with_lr_scale(optax.sgd(1.0)),
                              rng=jax.random.PRNGKey(0))
    sched = LrScale(warmup_epochs=2, warmup_start=0.1, plateau_patience=1, plateau_factor=0.5)
    state, history = fit(state, _scale_step, FunctionStream(lambda k: {}, length=2), epochs=8,
                         evaluate=lambda s: {"dev_loss": next(evals)}, lr_scale=sched)
    # Hand: warmup epochs 0, 1 -> 0.1, 0.55; then 1.0. Evaluations after epochs 1 and 2 fall
    # in the warmup (not counted). Counted: after epochs 3.. with values 3, 3, 3, 3, 3, 3:
    # the first sets best = 3; PyTorch-style patience 1 halves after 2 non-improving ones
    # (after epochs 4 and 6), so epochs 5, 6 run at 0.5 and epoch 7 at 0.25.
    scales = [0.1, 0.55, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    steps = -np.diff(np.r_[0.0, np.asarray(history["loss"][1:]), float(state.params["w"])])
    np.testing.assert_allclose(steps, np.repeat(scales, 2), rtol=1e-6)  # float32 sums
    assert [e["lr_scale"] for e in history.epochs] == pytest.approx(scales)
    assert get_lr_scale(state.opt_state) == pytest.approx(0.25)


def test_early_stopping_and_epoch_callback_stop_where_scripted():
    evals = iter([3.0, 2.0, 2.5, 2.4, 2.6, 1.0])
    stream = FunctionStream(lambda k: {}, length=4)
    state, history = fit(_key_state(), _key_step, stream, epochs=10,
                         evaluate=lambda s: {"dev_loss": next(evals)},
                         early_stopping=EarlyStopping("dev_loss", patience=3))
    # best 2.0 after epoch 1; epochs 2, 3, 4 do not improve -> stop after epoch 4.
    assert len(history.epochs) == 5 and int(state.step) == 20

    seen = []

    def prune(epoch, record):
        seen.append(epoch)
        return epoch == 2  # e.g. an Optuna pruner deciding after the third epoch

    state, history = fit(_key_state(), _key_step, stream, epochs=10, on_epoch_end=prune)
    assert seen == [0, 1, 2] and int(state.step) == 12


def test_the_same_step_compiles_once_across_fit_calls():
    traces = []

    def step(state, batch):
        traces.append(1)  # runs only while jax traces the step
        return state, {"loss": jnp.asarray(0.0)}

    state, _ = fit(_key_state(), step, lambda k: {}, num_steps=2)
    state, _ = fit(state, step, lambda k: {}, num_steps=5)  # e.g. the next FWI band
    assert len(traces) == 1


def test_sync_hooks_see_the_state_after_their_own_step():
    """With sync_hooks each hook gets the state right after its step: sgd with lr 0.5 on
    0.5 w^2 halves w every step, so after step s (0-based) w = 8 * 0.5^(s + 1) (by hand)."""
    seen = []
    state = TrainState.create(params={"w": jnp.asarray(8.0)}, tx=optax.sgd(0.5),
                              rng=jax.random.PRNGKey(0))
    step = make_train_step(lambda p, b, key: (0.5 * p["w"] ** 2, {}))
    hook = lambda s, st, m: seen.append((s, float(st.params["w"]), int(st.step)))
    fit(state, step, None, num_steps=4, steps_per_epoch=2, hooks=[hook], sync_hooks=True)
    # exact: halving is exact in float32
    assert seen == [(s, 8.0 * 0.5 ** (s + 1), s + 1) for s in range(4)]
