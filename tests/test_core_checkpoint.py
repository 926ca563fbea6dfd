"""Orbax checkpoints: kill and resume, half-written checkpoints, config compatibility."""

import shutil
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

from jaxgeo.core import checkpoint
from jaxgeo.core.checkpoint import SCHEMA_VERSION, Checkpointer, CheckpointError

JOB = textwrap.dedent("""
    import os, signal, sys
    import flax.linen as nn, jax, jax.numpy as jnp, numpy as np, optax
    from jaxgeo.core.checkpoint import Checkpointer
    from jaxgeo.core.train import TrainState, fit, make_train_step

    out, total, crash_at, resume = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    model = nn.Sequential([nn.Dense(16), nn.tanh, nn.Dense(1)])
    w_true = jnp.arange(1.0, 5.0)

    def batch(step):
        x = jax.random.normal(jax.random.fold_in(jax.random.key(1), step), (32, 4))
        return {"x": x, "y": jnp.sin(x @ w_true)[:, None]}

    def loss_fn(params, b, rng):
        noise = 1e-3 * jax.random.normal(rng, b["y"].shape)  # uses the per-step key
        return jnp.mean((model.apply(params, b["x"]) - b["y"] - noise) ** 2), {}

    state = TrainState.create(tx=optax.adam(1e-2), rng=jax.random.key(2),
                              params=model.init(jax.random.key(0), jnp.zeros((1, 4))))
    ckpt = Checkpointer(out + "/ckpt", save_every=2, keep=2, config={"lr": 1e-2, "width": 16})

    def crash(step, state, metrics):
        if step == crash_at:
            os.kill(os.getpid(), signal.SIGKILL)

    state, _ = fit(state, make_train_step(loss_fn), batch, num_steps=total, hooks=[crash],
                   checkpointer=ckpt, checkpoint_every=2, resume=resume == "resume")
    ckpt.close()
    flat = jax.tree_util.tree_leaves(state.params)
    np.savez(out + "/params.npz", *[np.asarray(a) for a in flat])
""")


def _run(tmp_path, name, *args):
    out = tmp_path / name
    out.mkdir(exist_ok=True)
    script = tmp_path / "job.py"
    script.write_text(JOB)
    return subprocess.run([sys.executable, str(script), str(out), *map(str, args)],
                          capture_output=True, text=True, timeout=300), out


def _params(out):
    with np.load(out / "params.npz") as z:
        return [z[k] for k in sorted(z.files, key=lambda s: int(s.split("_")[1]))]


def test_kill_and_resume_is_bit_identical(tmp_path):
    full, full_out = _run(tmp_path, "full", 12, -1, "fresh")
    assert full.returncode == 0, full.stderr
    killed, run_out = _run(tmp_path, "run", 12, 7, "fresh")
    assert killed.returncode == -9, killed.stderr  # SIGKILL mid-run
    assert not (run_out / "params.npz").exists()
    assert Checkpointer(run_out / "ckpt").latest_step() in (4, 6)
    resumed, _ = _run(tmp_path, "run", 12, -1, "resume")
    assert resumed.returncode == 0, resumed.stderr
    for a, b in zip(_params(full_out), _params(run_out), strict=True):
        np.testing.assert_array_equal(a, b)  # bit-identical, not merely close


def test_half_written_checkpoint_is_never_latest(tmp_path):
    ckpt_dir = tmp_path / "ck"
    crashed = ckpt_dir / "1.orbax-checkpoint-tmp"  # Orbax's temporary name for step 1
    # A real crash: a 256 MB save of step 1 runs in the background; the process dies as soon
    # as Orbax has created the step's temporary directory, long before the final rename.
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(f"""
        import os, time, jax.numpy as jnp
        from pathlib import Path
        from jaxgeo.core.checkpoint import Checkpointer
        c = Checkpointer({str(ckpt_dir)!r})
        c.save(0, {{"w": jnp.ones(3)}}); c.wait()
        c.save(1, {{"w": jnp.ones((8192, 8192))}})
        tmp, deadline = Path({str(crashed)!r}), time.time() + 120
        while not tmp.exists() and time.time() < deadline:
            time.sleep(0.001)
        os._exit(0 if tmp.exists() and not (tmp.parent / "1").exists() else 3)
    """))
    run = subprocess.run([sys.executable, str(script)], timeout=300, capture_output=True,
                         text=True)
    # The precondition, checked rather than assumed: the crash left step 1 half-written.
    assert run.returncode == 0, run.stderr
    assert crashed.is_dir() and not (ckpt_dir / "1").exists()
    shutil.copytree(crashed, tmp_path / "crashed-step-1")

    # Opening a Checkpointer deletes the leftover before it lists anything (synchronously).
    ckpt = Checkpointer(ckpt_dir)
    assert not crashed.exists()
    assert ckpt.latest_step() == 0

    # Now present half-written steps to the open manager, which cleans nothing any more: the
    # crashed step put back, and a full copy of step 0 under step 9's temporary name (every
    # file written, only the rename missing).
    shutil.copytree(tmp_path / "crashed-step-1", crashed)
    shutil.copytree(ckpt_dir / "0", ckpt_dir / "9.orbax-checkpoint-tmp")
    assert ckpt.latest_step() == 0
    assert ckpt.all_steps() == [0]
    np.testing.assert_array_equal(ckpt.restore({"w": jnp.zeros(3)})["w"], np.ones(3))
    with pytest.raises(CheckpointError, match="no checkpoint for step 9"):
        ckpt.restore({"w": jnp.zeros(3)}, step=9)
    # They were really there while the manager listed the steps: ignored, not cleaned away.
    assert crashed.is_dir() and (ckpt_dir / "9.orbax-checkpoint-tmp").is_dir()
    ckpt.close()

    # The next run's Checkpointer removes both; saving the next step works as usual.
    with Checkpointer(ckpt_dir) as again:
        assert sorted(p.name for p in ckpt_dir.iterdir()) == ["0"]
        again.save(1, {"w": jnp.full(3, 2.0)})
        again.wait()
        assert again.all_steps() == [0, 1]


def test_schema_version_mismatch_is_refused(tmp_path, monkeypatch):
    state, config = {"w": jnp.arange(3.0)}, {"model": {"width": 16}}
    for written in (SCHEMA_VERSION - 1, SCHEMA_VERSION + 1):  # an older and a newer jaxgeo
        directory = tmp_path / f"v{written}"
        monkeypatch.setattr(checkpoint, "SCHEMA_VERSION", written)
        with Checkpointer(directory, config=config) as c:
            c.save(0, state)
        monkeypatch.undo()
        with Checkpointer(directory, config=config) as c:
            assert c.stored_meta()["schema_version"] == written
            with pytest.raises(CheckpointError,
                               match=rf"schema version {written} in .* is not {SCHEMA_VERSION}"
                                     rf".*new output directory"):
                c.restore(state)
    # The same config under the current version restores (the refusal is the version alone).
    with Checkpointer(tmp_path / "now", config=config) as c:
        c.save(0, state)
        np.testing.assert_array_equal(c.restore(state)["w"], np.arange(3.0))


def test_incompatible_config_is_refused_with_field_names(tmp_path):
    state = {"w": jnp.arange(4.0)}
    with Checkpointer(tmp_path, config={"model": {"width": 16, "depth": 2}, "epochs": 3}) as c:
        c.save(0, state)
    # Changing only run-management fields (epochs) is allowed: resuming for more epochs.
    with Checkpointer(tmp_path, config={"model": {"width": 16, "depth": 2}, "epochs": 9}) as c:
        np.testing.assert_array_equal(c.restore(state)["w"], np.arange(4.0))
    with Checkpointer(tmp_path, config={"model": {"width": 32, "depth": 2}}) as c:
        with pytest.raises(CheckpointError, match=r"model\.width: checkpoint 16 vs now 32"):
            c.restore(state)


def test_keep_last_k_and_interval(tmp_path):
    with Checkpointer(tmp_path, save_every=3, keep=2) as c:
        saved = [s for s in range(10) if c.save(s, {"s": jnp.asarray(s)})]
        c.wait()
        assert saved == [0, 3, 6, 9]
        assert c.all_steps() == [6, 9]
        assert int(c.restore({"s": jnp.asarray(0)})["s"]) == 9


def test_restore_without_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        Checkpointer(tmp_path / "empty").restore({"w": jnp.zeros(1)})
