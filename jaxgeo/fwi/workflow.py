"""FWI workflows: forward modelling (observed data) and (source-encoded) inversion.

Structure of an inversion (Seistorch's): for each multiscale band (optimizer reset), for
each epoch, ``step_per_epoch`` updates; update ``k`` uses shot minibatch
``k % num_batches`` of a random split of the shots (seeded by band and epoch), or, for
codingfwi, ``super_shots`` random super shots of ``batchsize`` encoded shots each (a fresh
code per update). Per epoch: model/gradient snapshots ``para{name}F{band}E{epoch}.npy`` /
``grad{name}F{band}E{epoch}.npy``, tensorboard scalars and images, an Orbax checkpoint
(``--resume`` continues after the last complete epoch). At the end: ``loss.npy``
``[n_bands, epochs, step_per_epoch]``, ``final_{name}.npy`` and PNG figures.

Tensorboard (``logs/``), per epoch: scalars ``loss`` (mean over the epoch's updates) and
``model_rms_error``; images ``model/{name}``, ``gradient/{name}`` and
``shot_gather/synthetic`` / ``shot_gather/residual`` (the middle shot modelled in the
current model, time down, against the band's observed data).

Precision: ``config.dtype = "float64"`` runs modelling, misfit, gradients and updates in
float64 by entering ``jax.enable_x64(True)`` for the duration of ``run_forward`` /
``invert`` only (x64 is not switched on globally; float32 runs are unaffected).
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxgeo.core.config import save_config
from jaxgeo.core.logging import get_logger, progress
from jaxgeo.core.parallel import gather, maybe_initialize_distributed
from jaxgeo.core.train import NonFiniteLossError
from jaxgeo.fwi import encoding, filters, gradients, io, optim
from jaxgeo.fwi.config import validate
from jaxgeo.fwi.losses import make_loss
from jaxgeo.fwi.setup import Problem, build_problem, with_dtype
from jaxgeo.fwi.simulate import (
    forward_all,
    make_mesh,
    make_objective,
    pad_batch,
    put_sharded,
    simulate,
)

log = get_logger("jaxgeo.fwi")


@dataclass
class InversionResult:
    model: dict[str, np.ndarray]
    history: np.ndarray          # [n_bands, epochs, step_per_epoch] loss per update
    model_error: list[float]     # RMS error of the first inverted parameter after each epoch
    save_path: Path | None
    snapshots: list = dataclasses.field(default_factory=list)   # first parameter per epoch
    step_times: list = dataclasses.field(default_factory=list)  # wall s per update
    epochs_run: list = dataclasses.field(default_factory=list)  # (band, epoch) run by this call
    resumed_from: tuple[int, int] | None = None   # (band, epoch) of the restored checkpoint


def _precision(config):
    """``jax.enable_x64(True)`` for ``dtype = "float64"``; nothing for float32."""
    if str(config.dtype) == "float64":
        return jax.enable_x64(True)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------- forward


def run_forward(config, problem: Problem | None = None, *, write: bool = True) -> np.ndarray:
    """Observed data from the true model ``[n_shots, n_comp, n_rec, nt]``; written as HDF5
    (``config.data.observed``) and optionally SEG-Y beside it."""
    maybe_initialize_distributed()
    validate(config)
    with _precision(config):
        return _run_forward(config, problem, write)


def _run_forward(config, problem, write):
    problem = with_dtype(problem or build_problem(config, need_true=True), str(config.dtype))
    if problem.true_model is None:
        raise ValueError("forward modelling needs the true model (config.model.true)")
    mesh = make_mesh(config.devices.num_devices)
    log.info("forward: %d shots on %d device(s)", problem.n_shots, mesh.devices.size)
    data = forward_all(problem.true_model, problem.source_amplitudes(),
                       problem.source_locations, problem.receiver_locations,
                       problem.settings, mesh)
    if not np.all(np.isfinite(data)):
        raise FloatingPointError("forward modelling produced NaN/inf; reduce dt")
    if write and jax.process_index() == 0:
        path = Path(config.data.observed)
        io.write_observed(path, data, problem.settings.components, problem.settings.dt)
        log.info("observed data: %s", path)
        if config.data.segy:
            segy = path.with_suffix(".sgy")
            io.export_segy(segy, data, problem.settings.dt, problem.receiver_locations[..., 1],
                           problem.source_locations[:, 0, 1], problem.settings.spacing[1])
            log.info("SEG-Y: %s", segy)
        if config.log.figures:
            from jaxgeo.fwi import plots
            fig_dir = Path(config.save_path) / "figures"
            plots.shot_gather(data[problem.n_shots // 2, 0], problem.settings.dt,
                              fig_dir / "observed_shot.png")
            log.info("figure: %s", fig_dir / "observed_shot.png")
    return data


# ----------------------------------------------------------------------- inversion


def _loss_groups(config, invert) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for p in invert:
        groups.setdefault(str(config.loss[p]), []).append(p)
    return groups


def _rms(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)))


def _band_schedules(config, band: int) -> dict:
    steps = int(config.training.step_per_epoch)
    scale = float(config.optim.band_decay) ** band
    return {p: optim.exponential_decay(float(config.optim.lr[p]), steps,
                                       float(config.optim.epoch_decay), scale)
            for p in config.model.invert}


def _make_tx(config, band: int) -> optax.GradientTransformation:
    return optim.make_optimizer(config.optim.name, _band_schedules(config, band),
                                cg_beta=config.optim.cg_beta)


def _make_step(config, problem: Problem, mesh, syn_sos, tx):
    """Jitted ``step(params, opt_state, fixed, amps, src, rec, obs, w) ->
    (params, opt_state, loss, grads)`` for the configured optimizer."""
    settings, dt = problem.settings, problem.settings.dt
    groups = _loss_groups(config, problem.invert)
    objectives = {spec: make_objective(settings, make_loss(spec, dt), mesh, syn_sos)
                  for spec in groups}
    g = config.grad
    mask = None if not g.cut else jnp.asarray(problem.seabed)
    bounds = problem.bounds
    lbfgs = config.optim.name == "lbfgs"
    scales = {p: float(config.optim.lr[p]) for p in problem.invert}

    def value_and_grad(params, fixed, batch):
        total, grads = 0.0, {}
        for spec, names in groups.items():
            v, gr = jax.value_and_grad(objectives[spec])(params, fixed, *batch)
            total = total + v
            grads.update({n: gr[n] for n in names})
        return total, grads

    def process(grads):
        return {p: gradients.process(
            v, mask=mask,
            smooth_sigma=tuple(g.smooth_sigma) if g.smooth else None,
            smooth_radius=tuple(g.smooth_radius) if g.smooth else None,
            clipvalue=float(g.clipvalue) if g.clip else None) for p, v in grads.items()}

    @jax.jit
    def step(params, opt_state, fixed, *batch):
        if lbfgs:
            (spec,) = groups
            fn = lambda z: objectives[spec](optim.from_scaled(z, scales), fixed, *batch)
            z = optim.to_scaled(params, scales)
            loss, gz = jax.value_and_grad(fn)(z)
            updates, opt_state = tx.update(gz, opt_state, z, value=loss, grad=gz, value_fn=fn)
            new = optim.from_scaled(optax.apply_updates(z, updates), scales)
            grads = optim.from_scaled(gz, {p: 1.0 / s for p, s in scales.items()})
        else:
            loss, grads = value_and_grad(params, fixed, batch)
            grads = process(grads)
            updates, opt_state = tx.update(grads, opt_state, params)
            new = optax.apply_updates(params, updates)
        return optim.project(new, bounds), opt_state, loss, grads

    return step


def _init_opt_state(config, tx, params):
    if config.optim.name == "lbfgs":
        scales = {p: float(config.optim.lr[p]) for p in params}
        return tx.init(optim.to_scaled(params, scales))
    return tx.init(params)


def _minibatches(n_shots: int, num_batches: int, seed: int, band: int, epoch: int):
    rng = np.random.default_rng([seed, band, epoch])
    perm = rng.permutation(n_shots)
    return [b for b in np.array_split(perm, min(num_batches, n_shots))]


def invert(config, *, coding: bool = False, observed: np.ndarray | None = None,
           problem: Problem | None = None, write: bool = True,
           stop_after_epochs: int | None = None, timings: bool = False,
           callback=None) -> InversionResult:
    """Run an inversion. ``observed`` (``[n_shots, n_comp, n_rec, nt]``) overrides the
    HDF5 file. ``stop_after_epochs`` stops early (to simulate a killed run in tests).

    ``callback(event, info)`` (optional; host numpy values) is called with
    ``"band"`` at the start of each band (``band``, ``observed`` and ``amplitudes`` as
    used in that band, ``opt_state``), ``"update"`` after every update (``band``,
    ``epoch``, ``update``, ``before``/``after`` models, ``opt_state``, ``loss``) and
    ``"epoch"`` after an epoch's outputs and checkpoint are written (``band``, ``epoch``,
    ``model``). An exception raised by it ends the run as a crash would.

    All inputs are checked (config, files, shapes, CFL, geometry) before any output is
    written or any propagation starts.
    """
    maybe_initialize_distributed()
    validate(config)
    with _precision(config):
        return _invert(config, coding, observed, problem, write, stop_after_epochs, timings,
                       callback)


def _invert(config, coding, observed, problem, write, stop_after_epochs, timings, callback):
    dtype = np.dtype(str(config.dtype))
    problem = with_dtype(problem or build_problem(config), dtype.name)
    s = problem.settings
    if coding:
        rec0 = problem.receiver_locations[0]
        if not np.all(problem.receiver_locations == rec0[None]):
            raise ValueError("codingfwi needs a fixed spread (the same receivers for every "
                             "shot); set config.geometry.spread='fixed'")
        b = int(config.encoding.batchsize)
        if b > problem.n_shots:
            raise ValueError(f"--batchsize {b} exceeds the {problem.n_shots} shots")
    n_comp, n_rec = len(s.components), problem.receiver_locations.shape[1]
    if observed is None:
        observed = io.read_observed(config.data.observed, problem.n_shots, n_rec,
                                    problem.nt, n_comp, dtype.name)
    elif observed.shape != (problem.n_shots, n_comp, n_rec, problem.nt):
        raise ValueError(f"observed data has shape {observed.shape}; expected "
                         f"{(problem.n_shots, n_comp, n_rec, problem.nt)}")
    if not np.all(np.isfinite(observed)):
        raise ValueError("observed data contains NaN or inf")
    # Misfits are evaluated on data scaled to unit RMS: the wave equation is linear in the
    # source, so dividing the wavelet and the observed data by the same number is exact and
    # keeps loss and gradient magnitudes O(1) (Adam's eps and lbfgs's first step assume it).
    data_scale = float(np.sqrt(np.mean(np.square(observed, dtype=np.float64))))
    if data_scale == 0.0:
        raise ValueError("observed data is all zeros; check config.data.observed")
    observed = (observed / data_scale).astype(dtype)
    problem = dataclasses.replace(problem, wavelet=problem.wavelet / data_scale)
    bands = list(config.multiscale.bands)
    sos_list = [filters.design(b if isinstance(b, str | float | int) else list(b), s.dt,
                               int(config.multiscale.filter_order)) for b in bands]
    mesh = make_mesh(config.devices.num_devices)
    n_dev = mesh.devices.size
    epochs, steps = int(config.training.epochs), int(config.training.step_per_epoch)

    # ------------------------------------------------------------ outputs (after checks)
    out = Path(config.save_path) if write else None
    writer = ckpt = None
    primary = jax.process_index() == 0
    if write:
        out.mkdir(parents=True, exist_ok=True)
        if primary:
            save_config(config, out)
        from jaxgeo.core.checkpoint import Checkpointer
        stale = out / "checkpoints"
        if not config.resume and stale.exists() and primary:
            log.info("fresh run (no --resume): removing old checkpoints in %s", stale)
            shutil.rmtree(stale)
        ckpt = Checkpointer(out / "checkpoints", save_every=1, keep=2, config=config,
                            ignore_prefixes=("save_path", "resume", "training.epochs",
                                             "devices", "log", "data.observed"))
        if config.log.tensorboard and primary:
            from jaxgeo.core.logging import MetricWriter
            writer = MetricWriter(out / "logs")

    rep = NamedSharding(mesh, PartitionSpec())
    params = {p: jnp.asarray(problem.init_model[p]) for p in problem.invert}
    fixed = jax.device_put({p: jnp.asarray(v) for p, v in problem.init_model.items()
                            if p not in problem.invert}, rep)
    history = np.full((len(bands), epochs, steps), np.nan, np.float32)
    errors: list[float] = []
    first = problem.invert[0]
    true = problem.true_model
    tx0 = _make_tx(config, 0)
    state = {"params": params, "opt_state": _init_opt_state(config, tx0, params),
             "history": history, "position": np.array([0, -1], np.int32)}
    resumed_from = None
    if write and config.resume and ckpt.latest_step() is not None:
        state = ckpt.restore(state)
        resumed_from = tuple(int(v) for v in np.asarray(state["position"]))
        log.info("resumed from band %d epoch %d", *resumed_from)
    band0, last_epoch = (int(v) for v in np.asarray(state["position"]))
    start = (band0, last_epoch + 1)
    if start[1] >= epochs:
        start = (band0 + 1, 0)
    params = jax.device_put(state["params"], rep)
    # a resumed run may have more epochs than the killed one: keep the stored losses
    stored = np.asarray(state["history"])
    history = np.full((len(bands), epochs, steps), np.nan, np.float32)
    common = tuple(slice(0, min(a, b)) for a, b in zip(stored.shape, history.shape,
                                                        strict=True))
    history[common] = stored[common]
    key = jax.random.key(int(config.seed))
    amps_all = problem.source_amplitudes()
    epochs_done, stopped = 0, False
    snapshots: list = []
    step_times: list = []
    epochs_run: list = []
    # tensorboard shot gather: the middle shot, modelled on one local device from host
    # arrays (works unchanged under multi-host, where only process 0 writes)
    shot = problem.n_shots // 2
    shot_fn = None if writer is None else jax.jit(
        lambda m, a, s_, r_: simulate(m, a, s_, r_, problem.settings))

    try:
        for band in range(start[0], len(bands)):
            sos = sos_list[band]
            obs_band = observed if config.multiscale.obsnofilter or sos is None else np.asarray(
                jax.jit(lambda x, sos=sos: filters.sosfiltfilt(sos, x))(observed))
            if config.multiscale.filteratfirst and sos is not None:
                wavelet = np.asarray(filters.sosfiltfilt(sos, jnp.asarray(problem.wavelet)))
                amps_band, syn_sos = problem.source_amplitudes(wavelet), None
            else:
                amps_band, syn_sos = amps_all, sos
            tx = _make_tx(config, band)
            if band == start[0] and start[1] > 0:
                opt_state = jax.device_put(state["opt_state"], rep)
            else:
                # committed and replicated like the step's outputs, so the step compiles once
                opt_state = jax.device_put(_init_opt_state(config, tx, params), rep)
            if callback is not None:
                callback("band", dict(band=band, observed=obs_band, amplitudes=amps_band,
                                      opt_state=gather(opt_state)))
            step = _make_step(config, problem, mesh, syn_sos, tx)
            log.info("band %d/%d (%s): %d epochs x %d updates", band + 1, len(bands),
                     bands[band], epochs, steps)
            first_epoch = start[1] if band == start[0] else 0
            for epoch in range(first_epoch, epochs):
                batches = _minibatches(problem.n_shots, int(config.training.num_batches),
                                       int(config.seed), band, epoch)
                bar = progress(range(steps), desc=f"F{band}E{epoch}")
                for k in bar:
                    t_start = time.perf_counter()
                    if coding:
                        batch = _coded_batch(config, problem, amps_band, obs_band, key, band,
                                             epoch, k, n_dev)
                    else:
                        idx, w = pad_batch(batches[k % len(batches)], n_dev)
                        batch = (amps_band[idx], problem.source_locations[idx],
                                 problem.receiver_locations[idx], obs_band[idx], w)
                    batch = tuple(put_sharded(x, mesh) for x in batch)
                    before = gather(params) if callback is not None else None
                    params, opt_state, loss, grads = step(params, opt_state, fixed, *batch)
                    loss = float(loss)
                    if not np.isfinite(loss):
                        raise NonFiniteLossError(f"loss is {loss} at band {band} epoch "
                                                 f"{epoch} update {k}; lower the learning "
                                                 "rate or dt")
                    history[band, epoch, k] = loss
                    if timings:
                        step_times.append(time.perf_counter() - t_start)
                    if hasattr(bar, "set_postfix"):
                        bar.set_postfix(loss=f"{loss:.4g}")
                    if callback is not None:
                        callback("update", dict(band=band, epoch=epoch, update=k,
                                                before=before, after=gather(params),
                                                opt_state=gather(opt_state), loss=loss))
                host = gather(params)
                err = _rms(host[first], true[first]) if true is not None else float("nan")
                errors.append(err)
                snapshots.append(host[first])
                epochs_run.append((band, epoch))
                log.info("band %d epoch %d: loss %.5g, %s RMS error %.2f", band, epoch,
                         history[band, epoch, -1], first, err)
                if write:
                    gathers = None
                    if writer is not None and primary:
                        model = {**problem.init_model, **host}
                        syn = np.asarray(filters.sosfiltfilt(syn_sos, shot_fn(
                            model, amps_band[shot:shot + 1],
                            problem.source_locations[shot:shot + 1],
                            problem.receiver_locations[shot:shot + 1])))[0, 0]
                        gathers = (syn, syn - obs_band[shot, 0])
                    _write_epoch(out, writer, host, gather(grads), history, band, epoch,
                                 err, primary, gathers)
                    ckpt.save(band * epochs + epoch, {"params": params, "opt_state": opt_state,
                                                      "history": history,
                                                      "position": np.array([band, epoch],
                                                                           np.int32)},
                              force=True)
                    ckpt.wait()
                if callback is not None:
                    callback("epoch", dict(band=band, epoch=epoch, model=host))
                epochs_done += 1
                if stop_after_epochs is not None and epochs_done >= stop_after_epochs:
                    stopped = True
                    break
            else:
                continue
            break
    except BaseException:
        # a crashed run: close the event file and let the checkpointer finish, so that
        # --resume finds the last complete epoch
        if writer is not None:
            writer.close()
        if ckpt is not None:
            ckpt.close()
        raise
    final = not stopped
    result = _finish(config, problem, out, writer, ckpt, gather(params), history, errors,
                     observed, mesh, final=final)
    result.snapshots, result.step_times = snapshots, step_times
    result.epochs_run, result.resumed_from = epochs_run, resumed_from
    return result


def _coded_batch(config, problem, amps, obs, key, band, epoch, k, n_dev):
    """Super-shot batch for one codingfwi update (fresh random shots and code)."""
    b = int(config.encoding.batchsize)
    n_super = int(config.encoding.super_shots)
    n_pad = int(np.ceil(n_super / n_dev) * n_dev)
    it_key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(key, band), epoch), k)
    k_shots, k_code = jax.random.split(it_key)
    chosen = np.asarray(jax.random.choice(k_shots, problem.n_shots, (n_super * b,),
                                          replace=False)).reshape(n_super, b)
    amp_l, src_l, obs_l = [], [], []
    for j in range(n_super):
        pol, delay = encoding.draw_code(jax.random.fold_in(k_code, j), b, problem.nt)
        a, s = encoding.encode_sources(jnp.asarray(amps[chosen[j]]),
                                       jnp.asarray(problem.source_locations[chosen[j]]),
                                       pol, delay)
        o = jax.vmap(encoding.encode_data, in_axes=(1, None, None), out_axes=1)(
            jnp.asarray(obs[chosen[j]]), pol, delay)
        amp_l.append(np.asarray(a))
        src_l.append(np.asarray(s))
        obs_l.append(np.asarray(o))
    rec = problem.receiver_locations[:1]
    amp, src = np.concatenate(amp_l), np.concatenate(src_l)
    ob = np.concatenate(obs_l)
    recs = np.repeat(rec, n_super, axis=0)
    w = np.full(n_super, 1.0 / n_super, np.float32)
    pad = n_pad - n_super
    if pad:
        amp = np.concatenate([amp, np.zeros((pad,) + amp.shape[1:], amp.dtype)])
        src = np.concatenate([src, np.repeat(src[:1], pad, axis=0)])
        recs = np.concatenate([recs, np.repeat(rec, pad, axis=0)])
        ob = np.concatenate([ob, np.zeros((pad,) + ob.shape[1:], ob.dtype)])
        w = np.concatenate([w, np.zeros(pad, np.float32)])
    return amp, src, recs, ob, w


def _write_epoch(out, writer, params, grads, history, band, epoch, err, primary,
                 gathers=None):
    if not primary:
        return
    for name, value in params.items():
        io.save_npy(out / f"para{name}F{band}E{epoch}.npy", value)
        io.save_npy(out / f"grad{name}F{band}E{epoch}.npy", grads[name])
    io.save_npy(out / "loss.npy", history)
    if writer is not None:
        step = band * history.shape[1] + epoch
        writer.scalar("loss", float(np.nanmean(history[band, epoch])), step)
        if np.isfinite(err):
            writer.scalar("model_rms_error", err, step)
        from jaxgeo.fwi import plots
        for name, value in params.items():
            writer.image(f"model/{name}", plots.to_image(value), step)
            writer.image(f"gradient/{name}", plots.to_image(grads[name], symmetric=True), step)
        if gathers is not None:
            # [n_rec, nt] -> image [nt, n_rec] (time down), one colour scale for both
            syn, res = (np.asarray(g, np.float64).T for g in gathers)
            scale = np.max(np.abs(syn)) or 1.0
            for tag, g in (("synthetic", syn), ("residual", res)):
                writer.image(f"shot_gather/{tag}", plots.to_image(
                    np.clip(g / scale, -1.0, 1.0), symmetric=True, vmax=1.0), step)
        writer.flush()


def _finish(config, problem, out, writer, ckpt, params, history, errors, observed, mesh,
            final: bool) -> InversionResult:
    if out is not None and jax.process_index() == 0:
        for name, value in params.items():
            io.save_npy(out / f"final_{name}.npy", value)
        io.save_npy(out / "loss.npy", history)
        if final and config.log.figures:
            from jaxgeo.fwi import plots
            model = {**problem.init_model, **params}
            syn = forward_all(model, problem.source_amplitudes(),
                              problem.source_locations[:1], problem.receiver_locations[:1],
                              problem.settings, make_mesh(1))
            paths = plots.final_figures(out / "figures", problem, params, history,
                                        observed[0, 0], syn[0, 0], errors)
            if writer is not None:
                writer.scalar("final/loss", float(history[np.isfinite(history)][-1]),
                              int(np.sum(np.isfinite(history))))
            for p in paths:
                log.info("figure: %s", p)
    if writer is not None:
        writer.close()
    if ckpt is not None:
        ckpt.close()
    return InversionResult(model=params, history=history, model_error=errors, save_path=out)
