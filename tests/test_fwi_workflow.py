"""FWI entry points: Seistorch flags, outputs, resume, and clear errors without output."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest
import segyio

from jaxgeo.core.config import ConfigError, set_field
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import workflow

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "configs" / "fwi" / "demo.py")


def tiny_config(tmp: Path, **overrides):
    """A very small acoustic problem (24 x 40 cells, 4 shots, 120 steps)."""
    c = fwi_config.default_config()
    c.equation, c.dx, c.dt, c.nt, c.order = "acoustic", 20.0, 0.004, 120, 4
    c.model.source = "procedural"
    pc = c.model.procedural
    pc.nz, pc.nx, pc.v_top, pc.v_bottom = 24, 40, 1900.0, 2300.0
    pc.anomaly_dv, pc.anomaly_center, pc.anomaly_radius = -250.0, (12.0, 20.0), 5.0
    c.model.bounds.vp = (1400.0, 2800.0)
    g = c.geometry
    g.src_first, g.src_last, g.src_step, g.src_depth = 5, 40, 10, 1
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 0, 40, 2, 22
    c.wavelet.freq, c.wavelet.delay = 5.0, 0.2
    c.boundary.pml_width = 6
    c.training.epochs, c.training.step_per_epoch, c.training.num_batches = 3, 2, 2
    c.optim.lr = {"vp": 20.0}
    c.devices.num_devices = 1
    c.save_path = str(tmp / "run")
    c.data.observed = str(tmp / "observed.h5")
    for k, v in overrides.items():
        set_field(c, k, v)
    return c


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    """Forward modelling once: the HDF5 (and SEG-Y) file the other tests invert."""
    tmp = tmp_path_factory.mktemp("fwd")
    config = tiny_config(tmp, mode="forward", **{"data.segy": True})
    data = workflow.run_forward(config)
    return tmp, config, data


def test_legacy_flags_map_onto_config_fields():
    argv = ["--config", DEMO, "--opt", "cg", "--loss", "vp=0.5*l2+0.5*envelope",
            "--lr", "vp=10.0", "vs=5.78", "--grad-cut", "--grad-smooth", "--grad-clip",
            "--clipvalue", "0.05", "--step-per-epoch", "3", "--filteratfirst", "--obsnofilter",
            "--num-batches", "2", "--save-path", "/tmp/x", "--mode", "forward",
            "--num_threads", "2", "--batchsize", "4", "--use-cuda", "--gpuid", "1",
            "--config.training.epochs=7"]
    c = fwi_config.parse_args(argv)
    assert c.optim.name == "cg" and c.loss.vp == "0.5*l2+0.5*envelope"
    assert c.optim.lr.vp == 10.0 and c.optim.lr.vs == 5.78
    assert c.grad.cut and c.grad.smooth and c.grad.clip and c.grad.clipvalue == 0.05
    assert c.training.step_per_epoch == 3 and c.training.num_batches == 2
    assert c.multiscale.filteratfirst and c.multiscale.obsnofilter
    assert c.save_path == "/tmp/x" and c.mode == "forward" and c.devices.num_threads == 2
    assert c.encoding.batchsize == 4 and c.devices.use_cuda and c.devices.gpuid == 1
    assert c.training.epochs == 7


@pytest.mark.parametrize("argv,needle", [
    (["--optimizer", "adam"], "--grad-cut"),          # unknown: lists the valid flags
    (["--opt", "rmsprop"], "adam"),                   # bad choice: lists the choices
    (["--lr", "vp"], "name=value"),                   # malformed key=value
    (["--clipvalue", "abc"], "--clipvalue"),          # not a number
])
def test_unknown_or_malformed_flags_fail_clearly(argv, needle):
    with pytest.raises(ConfigError, match=needle):
        fwi_config.parse_args(["--config", DEMO] + argv)


def test_forward_writes_hdf5_and_segy(observed_run):
    tmp, config, data = observed_run
    with h5py.File(config.data.observed) as f:
        assert len([k for k in f if k.startswith("shot_")]) == 4
        shot = f["shot_2"][...]
    assert shot.shape == (120, 20, 1)  # (nt, nr, ncomponents)
    np.testing.assert_array_equal(shot[:, :, 0], data[2, 0].T)  # exact float32 round trip
    with segyio.open(Path(config.data.observed).with_suffix(".sgy"), ignore_geometry=True) as f:
        assert f.tracecount == 4 * 20
        assert segyio.tools.dt(f) == pytest.approx(4000.0)  # microseconds
        np.testing.assert_array_equal(f.trace[2 * 20 + 5], data[2, 0, 5])
        assert f.header[2 * 20 + 5][segyio.TraceField.SourceX] == 25 * 20


class SimulatedKill(Exception):
    """Raised from an inversion callback: the run dies as if the process were killed."""


def test_inversion_outputs_and_resume_matches_uninterrupted(observed_run, tmp_path):
    tmp, fwd_config, _ = observed_run
    obs = fwd_config.data.observed
    full = tiny_config(tmp_path / "a", **{"data.observed": obs, "log.tensorboard": True,
                                          "log.figures": True})
    full.save_path = str(tmp_path / "a")
    ref = workflow.invert(full)
    out = Path(full.save_path)
    for name in ("paravpF0E0.npy", "gradvpF0E2.npy", "loss.npy", "final_vp.npy",
                 "config.json", "figures/model_vp.png", "figures/loss.png",
                 "figures/residual.png"):
        assert (out / name).is_file(), name
    assert np.load(out / "loss.npy").shape == (1, 3, 2)
    assert ref.epochs_run == [(0, 0), (0, 1), (0, 2)] and ref.resumed_from is None

    # tensorboard: per epoch the loss scalar (the epoch's mean update loss, as in loss.npy)
    # and the model, gradient and shot-gather images
    from tbparse import SummaryReader
    reader = SummaryReader(str(out / "logs"))
    scalars = reader.scalars
    loss = scalars[scalars["tag"] == "loss"].sort_values("step")
    assert loss["step"].tolist() == [0, 1, 2]
    # float32 history -> float32 event value: exact up to the mean's rounding
    np.testing.assert_allclose(loss["value"], np.nanmean(ref.history[0], axis=1), rtol=1e-6)
    assert "model_rms_error" in set(scalars["tag"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(out / "logs"), size_guidance={"images": 0})
    events.Reload()
    # (height, width): models are [nz, nx], gathers [nt, n_rec] (time down)
    shapes = {"model/vp": (24, 40), "gradient/vp": (24, 40),
              "shot_gather/synthetic": (120, 20), "shot_gather/residual": (120, 20)}
    assert set(events.Tags()["images"]) == set(shapes)
    for tag, shape in shapes.items():
        imgs = events.Images(tag)
        assert [i.step for i in imgs] == [0, 1, 2], tag
        assert all((i.height, i.width) == shape for i in imgs), tag
    # the synthetic gather changes as the model is updated
    syn = events.Images("shot_gather/synthetic")
    assert syn[0].encoded_image_string != syn[-1].encoded_image_string

    # a run that dies in the middle of its third epoch (after epoch 1 was checkpointed)
    killed = tiny_config(tmp_path / "b", **{"data.observed": obs})
    killed.save_path = str(tmp_path / "b")

    def crash(event, info):
        if event == "update" and (info["band"], info["epoch"], info["update"]) == (0, 2, 0):
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        workflow.invert(killed, callback=crash)
    b_out = Path(killed.save_path)
    assert (b_out / "paravpF0E1.npy").is_file()
    assert not (b_out / "paravpF0E2.npy").exists() and not (b_out / "final_vp.npy").exists()

    killed.resume = True
    updates = []
    record = lambda event, info: updates.append(info) if event == "update" else None
    result = workflow.invert(killed, callback=record)
    # the checkpoint of epoch 1 was restored and only the remaining epoch ran
    assert result.resumed_from == (0, 1)
    assert result.epochs_run == [(0, 2)]
    assert [(u["band"], u["epoch"], u["update"]) for u in updates] == [(0, 2, 0), (0, 2, 1)]
    # its first update started from the model after epoch 1 (the uninterrupted run's
    # snapshot), not from the initial model a restart from scratch would use
    np.testing.assert_array_equal(updates[0]["before"]["vp"], np.load(out / "paravpF0E1.npy"))
    assert not np.array_equal(updates[0]["before"]["vp"],
                              workflow.build_problem(killed).init_model["vp"])
    np.testing.assert_array_equal(result.model["vp"], ref.model["vp"])  # deterministic CPU
    np.testing.assert_array_equal(result.history, ref.history)


def _assert_fails_without_output(config, exc, needle):
    with pytest.raises(exc, match=needle):
        workflow.invert(config)
    assert not Path(config.save_path).exists()


def test_bad_inputs_fail_clearly_and_write_nothing(observed_run, tmp_path):
    _, fwd_config, _ = observed_run
    obs = fwd_config.data.observed
    base = dict(**{"data.observed": obs})
    # unknown loss name
    _assert_fails_without_output(tiny_config(tmp_path, **base, loss={"vp": "l9"}),
                                 ConfigError, "unknown loss 'l9'")
    # missing observed file
    _assert_fails_without_output(
        tiny_config(tmp_path, **{"data.observed": str(tmp_path / "nope.h5")}),
        FileNotFoundError, "observed data file")
    # unstable dt
    _assert_fails_without_output(tiny_config(tmp_path, **base, dt=0.01), ValueError,
                                 "largest stable dt")
    # source outside the grid
    _assert_fails_without_output(tiny_config(tmp_path, **base, **{"geometry.src_depth": 30}),
                                 ValueError, "outside the 24 x 40 grid")
    # observed data of the wrong shape (another geometry)
    _assert_fails_without_output(tiny_config(tmp_path, **base, **{"geometry.rec_step": 4}),
                                 ValueError, "has shape")
    # model file of the wrong shape
    np.save(tmp_path / "vp_true.npy", np.full((24, 40), 2000.0, np.float32))
    np.save(tmp_path / "vp_bad.npy", np.full((20, 40), 2000.0, np.float32))
    c = tiny_config(tmp_path, **base, **{"model.source": "files"})
    c.model.true = {"vp": str(tmp_path / "vp_true.npy")}
    c.model.init = {"vp": str(tmp_path / "vp_bad.npy")}
    _assert_fails_without_output(c, ValueError, "shape")


def test_entry_script_help_and_unknown_flag(capsys):
    sys.path.insert(0, str(ROOT / "experiments"))
    import fwi as entry
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--config", DEMO, "--help"])
    assert exit_info.value.code == 0
    assert "--grad-clip" in capsys.readouterr().out
    assert entry.main(["--config", DEMO, "--bogus"]) == 2  # a user error: one line, code 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: unknown flag '--bogus'")
    assert "valid flags" in err[0]
    # As a user runs it: a fresh process, no traceback.
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    run = subprocess.run([sys.executable, str(ROOT / "experiments" / "codingfwi.py"),
                          "--config", DEMO, "--opt", "foo"], capture_output=True, text=True,
                         env={**env, "JAXGEO_TCMALLOC": "0"}, timeout=300)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("error: flag --opt: 'foo'")


def test_codingfwi_fresh_codes_and_lower_model_error(observed_run, tmp_path):
    tmp, fwd_config, observed = observed_run
    c = tiny_config(tmp_path, **{"data.observed": fwd_config.data.observed})
    c.optim.name, c.optim.lr = "sd", {"vp": 20.0}
    c.encoding.batchsize, c.training.num_batches = 2, 1
    problem = workflow.build_problem(c)
    amps = problem.source_amplitudes()
    key = jax.random.key(0)
    b1 = workflow._coded_batch(c, problem, amps, observed, key, 0, 0, 0, 1)
    b2 = workflow._coded_batch(c, problem, amps, observed, key, 0, 0, 1, 1)
    assert b1[0].shape == (1, 2, 120) and b1[3].shape == (1, 1, 20, 120)  # one super shot
    assert not np.array_equal(b1[0], b2[0])  # a fresh code (and shot pick) every update
    result = workflow.invert(c, coding=True, write=False)
    init_err = float(np.sqrt(np.mean((problem.init_model["vp"]
                                      - problem.true_model["vp"]) ** 2)))
    print(f"codingfwi: RMS error {init_err:.2f} -> {result.model_error[-1]:.2f} m/s")
    assert result.model_error[-1] < init_err


def test_codingfwi_refuses_a_moving_spread_and_writes_nothing(observed_run, tmp_path):
    """Encoded super shots need every shot recorded by the same receivers."""
    _, fwd_config, _ = observed_run
    c = tiny_config(tmp_path, **{"data.observed": fwd_config.data.observed,
                                 "geometry.spread": "moving", "geometry.rec_first": 0,
                                 "geometry.rec_last": 4, "geometry.rec_step": 1})
    c.encoding.batchsize = 2
    with pytest.raises(ValueError, match="codingfwi needs a fixed spread"):
        workflow.invert(c, coding=True)
    assert not Path(c.save_path).exists()


def test_filtering_the_wavelet_equals_filtering_the_data(tmp_path):
    """--filteratfirst (filter the wavelet) and the default (filter the synthetics) agree:
    modelling is linear and time-invariant, so they differ only where the zero-phase
    filter's response is cut off at t = 0 and t = nt·dt."""
    from jaxgeo.fwi import filters, simulate
    # a late wavelet (0.4 s) and a long record, so little of the response is cut off
    c = tiny_config(tmp_path, nt=350, **{"wavelet.delay": 0.4})
    problem = workflow.build_problem(c, need_true=True)
    sos = filters.design(6.0, problem.settings.dt, order=4)
    mesh = simulate.make_mesh(1)
    args = (problem.source_locations, problem.receiver_locations, problem.settings, mesh)
    raw = simulate.forward_all(problem.true_model, problem.source_amplitudes(), *args)
    filtered_data = np.asarray(filters.sosfiltfilt(sos, raw))
    wavelet = np.asarray(filters.sosfiltfilt(sos, problem.wavelet))
    filtered_wavelet = simulate.forward_all(problem.true_model,
                                            problem.source_amplitudes(wavelet), *args)
    scale = np.abs(filtered_data).max()
    # 5e-3 of the peak: the cut-off filter tails (measured 3e-3 here) plus float32
    np.testing.assert_allclose(filtered_wavelet, filtered_data, atol=5e-3 * scale)


def test_float64_runs_in_float64_and_only_for_that_run(observed_run, tmp_path):
    """config.dtype = "float64": modelling runs in float64. Independent check: the wave
    equation is linear in the sources, so firing sources A and B together gives
    d(A) + d(B) to the working precision (~1e-16 relative in float64, ~1e-7 in float32).
    Shots: [A, A] (= 2 d(A)), [B, B] (= 2 d(B)), [A, B]; halving is exact."""
    import dataclasses
    assert not jax.config.jax_enable_x64
    errors = {}
    for dtype in ("float32", "float64"):
        c = tiny_config(tmp_path, mode="forward", dtype=dtype)
        problem = workflow.build_problem(c, need_true=True)
        a_loc, b_loc = [1, 8], [3, 27]
        src = np.array([[a_loc, a_loc], [b_loc, b_loc], [a_loc, b_loc]], np.int32)
        rec = np.repeat(problem.receiver_locations[:1], 3, axis=0)
        problem = dataclasses.replace(problem, source_locations=src, receiver_locations=rec)
        d = workflow.run_forward(c, problem, write=False)
        assert d.dtype == np.dtype(dtype)
        errors[dtype] = np.abs(d[2] - (d[0] + d[1]) / 2).max() / np.abs(d[2]).max()
        assert not jax.config.jax_enable_x64   # x64 was on for the float64 run only
    print(f"superposition error: {errors}")
    assert errors["float64"] < 1e-12   # float64 rounding over 120 steps (measured ~1e-16)
    assert errors["float32"] > 1e-9    # float32 cannot reach that: the check tells them apart

    # an inversion in float64 returns a float64 model that agrees with the float32 run
    _, fwd_config, observed = observed_run
    models = {}
    for dtype in ("float32", "float64"):
        c = tiny_config(tmp_path, dtype=dtype, **{"training.epochs": 1,
                                                  "training.step_per_epoch": 1})
        c.optim.name = "sd"
        models[dtype] = workflow.invert(c, observed=observed, write=False).model["vp"]
    assert models["float64"].dtype == np.float64 and models["float32"].dtype == np.float32
    # one sd step of 20 m/s: float32 rounding of gradient and model (~1e-4 m/s at 2000 m/s)
    np.testing.assert_allclose(models["float32"], models["float64"], atol=0.02)
    assert np.abs(models["float64"] - workflow.build_problem(c).init_model["vp"]).max() > 19


def test_dtype_float16_is_rejected_and_forward_initialises_multihost(tmp_path, monkeypatch):
    """The forward path calls jax.distributed.initialize() when cluster variables are set
    (before anything else), like the inversion path."""
    from jaxgeo.core import parallel
    calls = []
    for var, value in (("JAX_COORDINATOR_ADDRESS", "127.0.0.1:9999"),
                       ("JAX_NUM_PROCESSES", "2"), ("JAX_PROCESS_ID", "0")):
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    monkeypatch.setitem(parallel._initialized, "done", False)
    c = tiny_config(tmp_path, mode="forward", dtype="float16")
    with pytest.raises(ConfigError, match="dtype.*float64"):
        workflow.run_forward(c)
    assert calls == [{"coordinator_address": "127.0.0.1:9999", "num_processes": 2,
                      "process_id": 0}]


def test_num_threads_limits_xla_to_n_cores(tmp_path):
    """--num_threads 1 (and --config.devices.num_threads=1) cut the process CPU affinity
    before jax starts: every thread, XLA's CPU pool included, may run on one core only."""
    import subprocess
    import textwrap
    sys.path.insert(0, str(ROOT / "experiments"))
    import fwi as entry
    assert entry._flag_value(["--num_threads", "3"], "--num_threads") == "3"
    assert entry._flag_value(["--config.devices.num_threads=2"], "--num_threads",
                             "--config.devices.num_threads") == "2"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT / "experiments")!r})
        import fwi
        applied = fwi._early_device_setup(sys.argv[1:])
        import jax, jax.numpy as jnp
        x = jnp.ones((300, 300))
        (x @ x).block_until_ready()          # the CPU backend and its threads exist now
        masks = set()
        for t in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{{t}}/status") as f:
                masks |= {{line.split()[1] for line in f
                           if line.startswith("Cpus_allowed_list")}}
        print(applied, len(os.sched_getaffinity(0)), ";".join(sorted(masks)),
              os.environ.get("XLA_FLAGS", ""))
        """)
    for flag in (["--num_threads", "1"], ["--config.devices.num_threads=1"]):
        out = subprocess.run([sys.executable, "-c", script, "--config", DEMO, *flag],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        applied, n_cpus, masks, xla_flags = out.split(" ", 3)
        assert applied == "1" and n_cpus == "1", out
        assert ";" not in masks and "-" not in masks and "," not in masks, out  # one CPU
        assert "--xla_cpu_multi_thread_eigen=false" in xla_flags, out
    # devices.num_threads from a config file: applied after parsing, before jax starts
    cfg = tmp_path / "threads.py"
    cfg.write_text("from jaxgeo.fwi.config import default_config\n\n\ndef get_config():\n"
                   "    c = default_config()\n    c.devices.num_threads = 1\n    return c\n")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT / "experiments")!r})
        import fwi
        from jaxgeo.core.logging import get_logger
        from jaxgeo.fwi import config
        c = config.parse_args(["--config", {str(cfg)!r}])
        assert fwi._early_device_setup(["--config", {str(cfg)!r}]) is None
        fwi._late_thread_setup(c.devices.num_threads, get_logger("test"))
        import jax.numpy as jnp
        jnp.ones(3).block_until_ready()
        print(len(os.sched_getaffinity(0)))
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "1", out


class _StopRun(Exception):
    pass


def _band_inputs(config, observed):
    """Observed data handed to each band (stops the run when the second band starts)."""
    seen = []

    def callback(event, info):
        if event == "band":
            seen.append(info["observed"])
            if info["band"] == 1:
                raise _StopRun

    with pytest.raises(_StopRun):
        workflow.invert(config, observed=observed, write=False, callback=callback)
    return seen


def test_multiscale_obsnofilter_leaves_observed_data_unfiltered(observed_run, tmp_path):
    from scipy import signal
    _, _, observed = observed_run
    base = {"multiscale.bands": [6.0, "all"], "multiscale.filter_order": 4,
            "training.epochs": 1, "training.step_per_epoch": 1}
    low, full = _band_inputs(tiny_config(tmp_path, **base), observed)
    sos = signal.butter(4, 6.0, btype="lowpass", fs=1 / 0.004, output="sos")
    # scipy is the reference; float32 data, recursive filter: 1e-5 of the peak
    np.testing.assert_allclose(low, signal.sosfiltfilt(sos, full, axis=-1),
                               atol=1e-5 * np.abs(full).max())
    assert np.abs(low - full).max() > 0.1 * np.abs(full).max()   # the band filter acts
    low_nf, full_nf = _band_inputs(
        tiny_config(tmp_path, **base, **{"multiscale.obsnofilter": True}), observed)
    np.testing.assert_array_equal(low_nf, full_nf)    # --obsnofilter: no filter at all
    np.testing.assert_array_equal(full_nf, full)


def test_multiscale_resets_optimizer_and_decays_lr_per_band(observed_run, tmp_path):
    """sd moves the model by exactly lr_eff at its largest change, so the applied learning
    rate is visible: lr · band_decay^band · epoch_decay^epoch, the epoch count restarting in
    each band because the optimizer state is reset there."""
    _, _, observed = observed_run
    c = tiny_config(tmp_path, **{"multiscale.bands": [6.0, "all"],
                                 "multiscale.filter_order": 4, "training.epochs": 2,
                                 "training.step_per_epoch": 1, "training.num_batches": 1,
                                 "optim.epoch_decay": 0.5, "optim.band_decay": 0.25})
    c.optim.name, c.optim.lr = "sd", {"vp": 20.0}
    events = []
    workflow.invert(c, observed=observed, write=False,
                    callback=lambda e, i: events.append((e, i)))
    starts = [i["opt_state"]["vp"] for e, i in events if e == "band"]
    assert len(starts) == 2
    for st in starts:   # a fresh state at each band start: count 0, no CG/sd memory
        assert int(st.count) == 0 and not np.any(st.prev_grad) and not np.any(st.prev_dir)
    updates = [i for e, i in events if e == "update"]
    assert [(u["band"], u["epoch"]) for u in updates] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [int(u["opt_state"]["vp"].count) for u in updates] == [1, 2, 1, 2]
    assert np.any(updates[1]["opt_state"]["vp"].prev_grad)   # memory exists before reset
    for u in updates:
        lo, hi = c.model.bounds.vp   # the projection did not clip (it would shrink the step)
        assert lo < u["after"]["vp"].min() and u["after"]["vp"].max() < hi
        change = np.abs(u["after"]["vp"].astype(np.float64) - u["before"]["vp"]).max()
        expected = 20.0 * 0.25 ** u["band"] * 0.5 ** u["epoch"]
        # float32 models near 2000 m/s are spaced 1.2e-4 m/s: two roundings
        assert change == pytest.approx(expected, abs=3e-4), (u["band"], u["epoch"])


def test_resume_after_a_band_boundary_matches_uninterrupted(observed_run, tmp_path):
    """Killed in the first update of band 1 (the last checkpoint closes band 0): the resumed
    run starts band 1 with a fresh optimizer and ends with the uninterrupted model."""
    tmp, fwd_config, _ = observed_run
    base = {"data.observed": fwd_config.data.observed, "multiscale.bands": [6.0, "all"],
            "multiscale.filter_order": 4, "training.epochs": 1,
            "training.step_per_epoch": 2, "training.num_batches": 2,
            "log.tensorboard": False, "log.figures": False}
    ref = workflow.invert(tiny_config(tmp_path / "a", **base, save_path=str(tmp_path / "a")))
    killed = tiny_config(tmp_path / "b", **base, save_path=str(tmp_path / "b"))

    def crash(event, info):
        if event == "update" and info["band"] == 1:
            raise SimulatedKill

    with pytest.raises(SimulatedKill):
        workflow.invert(killed, callback=crash)
    killed.resume = True
    result = workflow.invert(killed)
    assert result.resumed_from == (0, 0) and result.epochs_run == [(1, 0)]
    np.testing.assert_array_equal(result.model["vp"], ref.model["vp"])  # deterministic CPU
    np.testing.assert_array_equal(result.history, ref.history)
