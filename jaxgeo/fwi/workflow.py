"""FWI workflows: forward modelling (observed data) and (source-encoded) inversion.

Structure of an inversion (Seistorch's), run by the training engine
(:func:`jaxgeo.core.train.fit`, one call per band, each with a fresh optimizer state): the
engine's step counter is the global update index ``k = (band·epochs + epoch)·step_per_epoch
+ update``, so one checkpoint directory serves all bands and ``--resume`` restores the
band, the epoch, the optimizer state and the loss history (a frozen state part) exactly.
A progress bar per band shows the ETA; each epoch logs loss, model RMS error, relative
error and SSIM (:mod:`jaxgeo.fwi.metrics`) when the true model is known. For each band,
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
import itertools
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxgeo.core.checkpoint import Checkpointer
from jaxgeo.core.config import save_config
from jaxgeo.core.logging import MetricWriter, get_logger
from jaxgeo.core.parallel import gather, maybe_initialize_distributed
from jaxgeo.core.train import Part, TrainState, fit
from jaxgeo.fwi import encoding, filters, gradients, io, metrics, migration, optim
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
    source_illumination,
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
                                cg_beta=config.optim.cg_beta, eps=float(config.optim.eps))


def _make_update(config, problem: Problem, mesh, syn_sos, tx, weight=None):
    """Pure ``update(params, opt_state, fixed, batch) -> (params, opt_state, loss, grads)``
    for the configured optimizer (``grads``: processed gradients in model units).
    ``weight`` ``[nz, nx]``: the illumination preconditioner multiplied in first."""
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
        if weight is not None:
            grads = {p: v * weight.astype(v.dtype) for p, v in grads.items()}
        return {p: gradients.process(
            v, mask=mask,
            smooth_sigma=tuple(g.smooth_sigma) if g.smooth else None,
            smooth_radius=tuple(g.smooth_radius) if g.smooth else None,
            clipvalue=float(g.clipvalue) if g.clip else None) for p, v in grads.items()}

    def update(params, opt_state, fixed, batch):
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

    return update


def _make_train_step(update):
    """The engine step: parts ``model`` (inverted parameters and the band's optimizer),
    ``fixed`` (parameters not inverted; frozen) and ``record`` (frozen: the loss of every
    update ``[n_bands, epochs, step_per_epoch]``, written at the global step, and the last
    update's gradients)."""

    def train_step(state: TrainState, batch) -> tuple[TrainState, dict]:
        model, record = state.part("model"), state.part("record")
        new, opt_state, loss, grads = update(model.params, model.opt_state,
                                             state.part("fixed").params, batch)
        hist = record.params["loss"]
        hist = hist.reshape(-1).at[state.step].set(loss.astype(hist.dtype)).reshape(hist.shape)
        state = state.with_part("model", model.replace(params=new, opt_state=opt_state))
        state = state.with_part("record", record.replace(
            params={"loss": hist, "grad": grads}))
        return state, {"loss": loss}

    return train_step


def _init_opt_state(config, tx, params):
    if config.optim.name == "lbfgs":
        scales = {p: float(config.optim.lr[p]) for p in params}
        return tx.init(optim.to_scaled(params, scales))
    return tx.init(params)


def _minibatches(n_shots: int, num_batches: int, seed: int, band: int, epoch: int):
    rng = np.random.default_rng([seed, band, epoch])
    perm = rng.permutation(n_shots)
    return [b for b in np.array_split(perm, min(num_batches, n_shots))]


class _BandStream:
    """The batches of one band, by global update index ``k = (band·epochs + epoch)·steps +
    update`` (the engine's step counter runs on across bands). Per-shot: minibatch
    ``update % num_batches`` of the epoch's seeded shot split; coded: fresh super shots per
    update. Deterministic in ``k``, so a resumed run draws the same batches."""

    def __init__(self, make_batch, band: int, epochs: int, steps: int, seed: int):
        self.make_batch, self.band, self.epochs, self.steps = make_batch, band, epochs, steps
        self.seed = seed

    def batches_per_epoch(self) -> int:
        return self.steps

    def iterate(self, start: int = 0):
        for k in itertools.count(start):
            band, rest = divmod(k, self.epochs * self.steps)
            if band != self.band:
                return
            yield self.make_batch(*divmod(rest, self.steps))


def invert(config, *, coding: bool = False, observed: np.ndarray | None = None,
           problem: Problem | None = None, write: bool = True,
           stop_after_epochs: int | None = None, timings: bool = False,
           callback=None) -> InversionResult:
    """Run an inversion on the training engine (:func:`jaxgeo.core.train.fit`, one call per
    band). ``observed`` (``[n_shots, n_comp, n_rec, nt]``) overrides the HDF5 file.
    ``stop_after_epochs`` stops early (to simulate a killed run in tests).

    ``callback(event, info)`` (optional; host numpy values) is called with
    ``"band"`` at the start of each band (``band``, ``observed`` and ``amplitudes`` as
    used in that band, ``opt_state``), ``"update"`` after every update (``band``,
    ``epoch``, ``update``, ``before``/``after`` models, ``opt_state``, ``loss``) and
    ``"epoch"`` after an epoch's outputs are written, before its checkpoint (``band``,
    ``epoch``, ``model``). An exception raised by it ends the run as a crash would.

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
    per_band = epochs * steps

    # ------------------------------------------------------------ outputs (after checks)
    out = Path(config.save_path) if write else None
    writer = ckpt = None
    primary = jax.process_index() == 0
    if write:
        out.mkdir(parents=True, exist_ok=True)
        if primary:
            save_config(config, out)
        stale = out / "checkpoints"
        if not config.resume and stale.exists() and primary:
            log.info("fresh run (no --resume): removing old checkpoints in %s", stale)
            shutil.rmtree(stale)
        # training.epochs must match on resume: the global update index encodes the band
        ckpt = Checkpointer(out / "checkpoints", save_every=1, keep=2, config=config,
                            ignore_prefixes=("save_path", "resume", "devices", "log", "checkpoint",
                                             "data.observed"))
        if config.log.tensorboard and primary:
            writer = MetricWriter(out / "logs")

    rep = NamedSharding(mesh, PartitionSpec())
    params = {p: jnp.asarray(problem.init_model[p]) for p in problem.invert}
    fixed = {p: jnp.asarray(v) for p, v in problem.init_model.items()
             if p not in problem.invert}
    first = problem.invert[0]
    true = problem.true_model
    key = jax.random.key(int(config.seed))
    amps_all = problem.source_amplitudes()
    shot = problem.n_shots // 2
    shot_fn = None if writer is None else jax.jit(
        lambda m, a, s_, r_: simulate(m, a, s_, r_, problem.settings))

    latest = ckpt.latest_step() if (write and config.resume) else None
    start_band = 0 if not latest else min((latest - 1) // per_band, len(bands) - 1)
    resumed_from = None
    if latest:
        resumed_from = divmod(latest // steps - 1, epochs)
        log.info("resuming from band %d epoch %d", *resumed_from)

    errors: list[float] = []
    snapshots: list = []
    step_times: list = []
    epochs_run: list = []
    epochs_done = [0]
    stopped = False
    state = None
    try:
        for band in range(start_band, len(bands)):
            sos = sos_list[band]
            obs_band = observed if config.multiscale.obsnofilter or sos is None else np.asarray(
                jax.jit(lambda x, sos=sos: filters.sosfiltfilt(sos, x))(observed))
            if config.multiscale.filteratfirst and sos is not None:
                wavelet = np.asarray(filters.sosfiltfilt(sos, jnp.asarray(problem.wavelet)))
                amps_band, syn_sos = problem.source_amplitudes(wavelet), None
            else:
                amps_band, syn_sos = amps_all, sos
            tx = _make_tx(config, band)
            model_params = params if state is None else state.part("model").params
            # a copy of every leaf: optimizer states may alias buffers (optax's lbfgs
            # does), and the engine donates the state to the step
            model_part = Part(params=model_params, batch_stats={},
                              opt_state=jax.tree_util.tree_map(
                                  jnp.copy, _init_opt_state(config, tx, model_params)),
                              tx=tx)
            if state is None:
                record = {"loss": jnp.full((len(bands), epochs, steps), jnp.nan, jnp.float32),
                          "grad": jax.tree_util.tree_map(jnp.zeros_like, params)}
                state = TrainState.create(rng=jax.random.PRNGKey(int(config.seed)), parts={
                    "model": model_part,
                    "fixed": Part.create(fixed, optax.set_to_zero()),
                    "record": Part.create(record, optax.set_to_zero())})
                # the step of a resumed run starts from the checkpoint's
                state = state.replace(step=jnp.asarray(band * per_band, jnp.int32))
            else:
                state = state.with_part("model", model_part)
            # committed and replicated like the step's outputs, so the step compiles once
            state = jax.device_put(state, rep)
            if callback is not None:
                callback("band", dict(band=band, observed=obs_band, amplitudes=amps_band,
                                      opt_state=gather(state.part("model").opt_state)))
            batches = {}

            def make_batch(epoch, k, band=band, obs_band=obs_band, amps_band=amps_band,
                           batches=batches):
                if coding:
                    batch = _coded_batch(config, problem, amps_band, obs_band, key, band,
                                         epoch, k, n_dev)
                else:
                    if epoch not in batches:
                        batches.clear()
                        batches[epoch] = _minibatches(problem.n_shots,
                                                      int(config.training.num_batches),
                                                      int(config.seed), band, epoch)
                    split = batches[epoch]
                    idx, w = pad_batch(split[k % len(split)], n_dev)
                    batch = (amps_band[idx], problem.source_locations[idx],
                             problem.receiver_locations[idx], obs_band[idx], w)
                return tuple(put_sharded(x, mesh) for x in batch)

            stream = _BandStream(make_batch, band, epochs, steps, int(config.seed))
            weight = None
            if config.grad.illumination:
                # from the band's starting model and unfiltered-or-filtered wavelet
                energy = source_illumination({**problem.init_model, **gather(model_params)},
                                             amps_band, problem.source_locations, s)
                weight = gradients.illumination_weight(energy, float(config.grad.illum_sigma),
                                                       float(config.grad.illum_floor))
                log.info("band %d: illumination preconditioner, max/min weight %.3g",
                         band, float(jnp.max(weight) / jnp.min(weight)))
            step = _make_train_step(_make_update(config, problem, mesh, syn_sos, tx, weight))
            log.info("band %d/%d (%s): %d epochs x %d updates", band + 1, len(bands),
                     bands[band], epochs, steps)
            resume_here = bool(latest) and band == start_band
            before = None
            if callback is not None:
                # the model before the first update: the checkpoint's when fit resumes
                before = gather((ckpt.restore(state) if resume_here else state)
                                .part("model").params)
            last = {"t": time.perf_counter(), "model": before}

            def hook(k, st, scalars, last=last):
                now = time.perf_counter()
                if timings:
                    step_times.append(now - last["t"])
                last["t"] = now
                if callback is not None:
                    b, rest = divmod(k, per_band)
                    after = gather(st.part("model").params)
                    callback("update", dict(band=b, epoch=rest // steps, update=rest % steps,
                                            before=last["model"], after=after,
                                            opt_state=gather(st.part("model").opt_state),
                                            loss=scalars["loss"]))
                    last["model"] = after

            def evaluate(st, band=band, syn_sos=syn_sos, obs_band=obs_band,
                         amps_band=amps_band):
                epoch = (int(st.step) - band * per_band) // steps - 1
                host = gather(st.part("model").params)
                record = gather(st.part("record").params)
                history = record["loss"]
                scores = {}
                if true is not None:
                    scores = {"model_rms_error": metrics.rms_error(host[first], true[first]),
                              "relative_error": metrics.relative_error(host[first],
                                                                       true[first]),
                              "ssim": metrics.ssim(host[first], true[first])}
                err = scores.get("model_rms_error", float("nan"))
                errors.append(err)
                snapshots.append(host[first])
                epochs_run.append((band, epoch))
                log.info("band %d epoch %d: loss %.5g, %s RMS error %.2f, relative error "
                         "%.4f, SSIM %.4f", band, epoch, float(np.nanmean(history[band, epoch])),
                         first, err, scores.get("relative_error", float("nan")),
                         scores.get("ssim", float("nan")))
                if write:
                    gathers = None
                    if writer is not None and primary:
                        model = {**problem.init_model, **host}
                        syn = np.asarray(filters.sosfiltfilt(syn_sos, shot_fn(
                            model, amps_band[shot:shot + 1],
                            problem.source_locations[shot:shot + 1],
                            problem.receiver_locations[shot:shot + 1])))[0, 0]
                        gathers = (syn, syn - obs_band[shot, 0])
                    _write_epoch(out, writer, host, record["grad"], history, band, epoch,
                                 err, primary, gathers)
                if callback is not None:
                    callback("epoch", dict(band=band, epoch=epoch, model=host))
                return scores

            def on_epoch_end(_epoch, _record):
                epochs_done[0] += 1
                return stop_after_epochs is not None and epochs_done[0] >= stop_after_epochs

            state, _ = fit(state, step, stream, num_steps=(band + 1) * per_band,
                           steps_per_epoch=steps, evaluate=evaluate, checkpointer=ckpt,
                           resume=resume_here,
                           on_epoch_end=on_epoch_end, hooks=[hook], sync_hooks=True,
                           desc=f"band {band + 1}/{len(bands)}")
            if stop_after_epochs is not None and epochs_done[0] >= stop_after_epochs:
                stopped = int(state.step) < len(bands) * per_band
                break
    except BaseException:
        # a crashed run: close the event file and let the checkpointer finish, so that
        # --resume finds the last complete epoch
        if writer is not None:
            writer.close()
        if ckpt is not None:
            ckpt.close()
        raise
    history = np.asarray(gather(state.part("record").params["loss"]))
    result = _finish(config, problem, out, writer, ckpt, gather(state.part("model").params),
                     history, errors, observed, mesh, final=not stopped)
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


# ----------------------------------------------------------------------- migration


@dataclass
class MigrationResult:
    image: np.ndarray                # [nz, nx] RTM image (compensated if configured) or LSRTM
    reflectivity: np.ndarray         # [nz, nx] its depth derivative
    residual_norms: list[float]      # LSRTM: |J dm - d_s| per iteration (RTM: empty)
    save_path: Path | None


def run_migration(config, *, observed: np.ndarray | None = None,
                  write: bool = True) -> MigrationResult:
    """``--mode rtm`` / ``--mode lsrtm`` in the background ``config.model.init``
    (:mod:`jaxgeo.fwi.migration`). Writes ``{rtm,lsrtm}_image.npy``,
    ``{rtm,lsrtm}_reflectivity.npy``, ``lsrtm_residual.npy`` and PNGs under
    ``figures/`` in ``config.save_path``.

    Args:
      config: a validated FWI config with ``mode`` rtm or lsrtm.
      observed: optional ``[n_shots, 1, n_rec, nt]`` data (else ``config.data.observed``).
      write: write the outputs (False: return them only).
    """
    maybe_initialize_distributed()
    validate(config)
    method = str(config.mode)
    if method not in ("rtm", "lsrtm"):
        raise ValueError(f"run_migration needs --mode rtm or lsrtm, got {method!r}")
    with _precision(config):
        problem = build_problem(config)
        s = problem.settings
        n_rec = problem.receiver_locations.shape[1]
        if observed is None:
            observed = io.read_observed(config.data.observed, problem.n_shots, n_rec,
                                        problem.nt, 1, str(config.dtype))
        if not np.all(np.isfinite(observed)):
            raise ValueError("observed data contains NaN or inf")
        mesh = make_mesh(config.devices.num_devices)
        amps = problem.source_amplitudes()
        src, rec = problem.source_locations, problem.receiver_locations
        background = problem.init_model
        log.info("%s: %d shots on %d device(s), background from config.model.init",
                 method, problem.n_shots, mesh.devices.size)
        scattered = migration.scattered_data(observed, background, amps, src, rec, s, mesh)
        op = migration.born_operator(background, amps, src, rec, s, mesh)
        norms: list[float] = []
        if method == "rtm":
            illumination = None
            if config.migration.illumination:
                illumination = source_illumination(background, amps, src, s)
            image = migration.rtm(op, scattered, illumination,
                                  float(config.migration.illum_floor))
        else:
            result = migration.lsrtm(op, scattered, int(config.migration.iterations))
            image, norms = result.image, result.residual_norms
            log.info("lsrtm: data residual %.4g -> %.4g of the scattered data",
                     1.0, norms[-1] / norms[0])
    refl = migration.reflectivity(image, s.spacing[0])
    out = Path(config.save_path) if write else None
    if write and jax.process_index() == 0:
        from jaxgeo.fwi import plots  # matplotlib only when writing figures
        out.mkdir(parents=True, exist_ok=True)
        save_config(config, out)
        io.save_npy(out / f"{method}_image.npy", image)
        io.save_npy(out / f"{method}_reflectivity.npy", refl)
        if norms:
            io.save_npy(out / "lsrtm_residual.npy", np.asarray(norms))
        plots.migration_image(image, s.spacing, out / "figures" / f"{method}_image.png",
                              f"{method.upper()} image")
        plots.migration_image(refl, s.spacing, out / "figures" / f"{method}_reflectivity.png",
                              f"{method.upper()} reflectivity (d/dz of the image)")
        log.info("results: %s (%s_image.npy, %s_reflectivity.npy, figures/)",
                 out.resolve(), method, method)
    return MigrationResult(image=image, reflectivity=refl, residual_norms=norms, save_path=out)
