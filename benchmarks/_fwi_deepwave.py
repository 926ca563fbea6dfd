"""Deepwave + torch twin of jaxgeo's per-shot FWI workflow (``jaxgeo.fwi.workflow.invert``).

Used by ``benchmarks/fwi_marmousi.py --vs-deepwave``. Everything is taken from the jaxgeo
``Problem`` and config the benchmark builds (nothing retyped): grid spacing, dt, nt, source
and receiver cells, wavelet, PML width and frequency, stencil order, seabed mask, vp
bounds, bands, minibatches, learning-rate schedule and Adam's epsilon. What the jaxgeo
workflow does and this module repeats with torch:

* data scaled to unit RMS: observed data and wavelet divided by the RMS of the observed
  data (exact: the wave equation is linear in the source);
* per band, the zero-phase Butterworth low-pass (``config.multiscale.filter_order``) of the
  observed data and of the synthetics (jaxgeo's default: the wavelet stays unfiltered,
  ``filteratfirst = False``). The filter is applied as the ``[nt, nt]`` matrix of
  ``scipy.signal.sosfiltfilt`` (odd extension, steady-state initial conditions), which
  is linear in the trace and which ``jaxgeo.fwi.filters.sosfiltfilt`` reproduces;
* the misfit ``cc``: minus the mean over traces of the zero-lag normalised correlation
  ``<s, o> / (sqrt(|s|^2 |o|^2 + eps^2) + eps)``, ``eps = 1e-12`` (jaxgeo.fwi.losses);
* per band a fresh Adam (``torch.optim.Adam``, betas (0.9, 0.999), ``config.optim.eps``:
  the same update ``lr * m_hat / (sqrt(v_hat) + eps)`` as ``optax.adam``), learning rate
  ``lr * band_decay^band * epoch_decay^epoch`` in m/s per update;
* update ``u`` of epoch ``e`` uses minibatch ``u % num_batches`` of jaxgeo's seeded shot
  split (``workflow._minibatches``); the gradient is multiplied by the seabed mask
  (``grad.cut``), the model clipped to the vp bounds after every step.

Deepwave conventions: locations ``[shot, point, 2]`` with dim 0 the first model dimension
(z), as jaxgeo's; ``accuracy`` = jaxgeo's ``order``; the PML of ``pml_width`` cells is
added outside the model by both. Deepwave adds ``-v^2 dt^2 f`` to one cell where jaxgeo
adds ``v^2 dt^2 f / (dz dx)``, so the Deepwave source amplitude is ``-f / (dz dx)`` and the
records are then directly comparable. Deepwave resamples in time when ``dt`` exceeds its
CFL limit (Courant number 0.6); :func:`forward` checks ``info.step_ratio`` and reports it.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time

import deepwave
import numpy as np
import torch
from scipy import signal

from jaxgeo.fwi import filters, workflow
from jaxgeo.fwi.metrics import relative_error, ssim
from jaxgeo.fwi.setup import Problem

EPS = 1e-12     # jaxgeo.fwi.losses._EPS: guards the trace-norm division


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def filter_matrix(sos: np.ndarray | None, nt: int) -> np.ndarray | None:
    """``M [nt, nt]`` with ``x @ M = scipy.signal.sosfiltfilt(sos, x)`` for traces ``x [..., nt]``.

    Args:
      sos: second-order sections (``jaxgeo.fwi.filters.design``), or None (no filter).
      nt: trace length (samples).
    Returns:
      float64 matrix, or None for ``sos is None``. Row ``i`` is the filtered unit impulse
      at sample ``i`` (sosfiltfilt is linear: the padding and the initial conditions
      scale with the samples).
    """
    if sos is None:
        return None
    return np.ascontiguousarray(signal.sosfiltfilt(sos, np.eye(nt), axis=-1))


def cc_loss(syn: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    """jaxgeo's ``cc`` misfit in torch: ``-mean_traces <s,o> / (sqrt(|s|²|o|² + eps²) + eps)``.

    Args:
      syn, obs: ``[..., nt]`` (leading axes are traces).
    Returns:
      scalar in [-1, 1] (dimensionless).
    """
    num = torch.sum(syn * obs, dim=-1)
    den = torch.sqrt(torch.sum(syn ** 2, dim=-1) * torch.sum(obs ** 2, dim=-1) + EPS ** 2)
    return -torch.mean(num / (den + EPS))


class DeepwaveModelling:
    """Deepwave scalar modelling with the geometry, wavelet and boundary of a jaxgeo problem.

    Args:
      problem: the jaxgeo :class:`~jaxgeo.fwi.setup.Problem` (acoustic, constant density,
        no free surface); its ``wavelet`` ``[nt]`` is used as given (scale it first).
      dtype: torch dtype of models and data.
    """

    def __init__(self, problem: Problem, dtype=torch.float32):
        s = problem.settings
        if s.equation != "acoustic" or s.free_surface:
            raise ValueError("the Deepwave twin covers the acoustic equation without a free "
                             "surface only")
        self.dtype, self.nt = dtype, problem.nt
        self.spacing = tuple(float(h) for h in s.spacing)         # (dz, dx) m
        self.dt, self.accuracy = float(s.dt), int(s.order)
        self.pml_width, self.pml_freq = int(s.pml_width), float(s.pml_freq)
        self.src = torch.as_tensor(np.asarray(problem.source_locations), dtype=torch.long)
        self.rec = torch.as_tensor(np.asarray(problem.receiver_locations), dtype=torch.long)
        # jaxgeo injects v² dt² f / (dz dx); Deepwave -v² dt² f
        amp = -np.asarray(problem.source_amplitudes(), np.float64) / np.prod(self.spacing)
        self.amplitudes = torch.as_tensor(amp, dtype=dtype)       # [n_shots, n_src, nt]
        self.step_ratio = None

    def forward(self, vp: torch.Tensor, shots) -> torch.Tensor:
        """Pressure records ``[len(shots), n_rec, nt]`` (jaxgeo's units) in ``vp [nz, nx]``
        (m/s); differentiable in ``vp``.

        Args:
          vp: ``[nz, nx]`` velocity (m/s), may require grad.
          shots: shot indices (into the problem's geometry).
        """
        idx = torch.as_tensor(np.asarray(shots), dtype=torch.long)
        out = deepwave.scalar(vp, self.spacing, self.dt,
                              source_amplitudes=self.amplitudes[idx],
                              source_locations=self.src[idx],
                              receiver_locations=self.rec[idx], accuracy=self.accuracy,
                              pml_width=self.pml_width, pml_freq=self.pml_freq)
        self.step_ratio = int(out.info.step_ratio)
        return out.receiver_amplitudes


def invert(config, problem: Problem, observed: np.ndarray, *, callback=None) -> dict:
    """The jaxgeo workflow's per-shot inversion with Deepwave and torch Adam (module doc).

    Args:
      config: the jaxgeo FWI config (``optim.name`` adam, ``loss.vp`` cc, per-shot).
      problem: its jaxgeo problem (unscaled wavelet, as ``build_problem`` returns it).
      observed: ``[n_shots, 1, n_rec, nt]`` observed data (any amplitude scale).
      callback: optional ``callback(event, info)``: ``"update"`` after every update
        (``band``, ``epoch``, ``update``, ``loss``), ``"epoch"`` after every epoch
        (``band``, ``epoch``, ``model`` ``{"vp": [nz, nx]}`` numpy).
    Returns:
      ``{"model": [nz, nx] numpy vp, "history": [n_bands, epochs, steps] losses,
      "step_ratio": Deepwave's internal time steps per dt}``.
    """
    if config.optim.name != "adam" or dict(config.loss) != {"vp": "cc"}:
        raise ValueError("the Deepwave twin implements Adam with the cc loss only")
    if tuple(problem.invert) != ("vp",) or config.grad.smooth or config.grad.clip \
            or config.grad.illumination or config.multiscale.filteratfirst \
            or config.multiscale.obsnofilter:
        raise ValueError("the Deepwave twin covers vp, grad.cut only, filtered synthetics")
    dtype = torch.float32
    scale = float(np.sqrt(np.mean(np.square(observed, dtype=np.float64))))
    obs_all = torch.as_tensor(np.asarray(observed, np.float64)[:, 0] / scale, dtype=dtype)
    scaled = dataclasses.replace(problem, wavelet=problem.wavelet / scale)
    modelling = DeepwaveModelling(scaled, dtype)
    mask = torch.as_tensor(np.asarray(problem.seabed), dtype=dtype) if config.grad.cut \
        else None
    lo, hi = problem.bounds["vp"]
    bands = list(config.multiscale.bands)
    epochs, steps = int(config.training.epochs), int(config.training.step_per_epoch)
    history = np.full((len(bands), epochs, steps), np.nan)
    vp = torch.tensor(np.asarray(problem.init_model["vp"]), dtype=dtype, requires_grad=True)
    lr0 = float(config.optim.lr["vp"])
    for band, b in enumerate(bands):
        sos = filters.design(b, problem.settings.dt, int(config.multiscale.filter_order))
        m = filter_matrix(sos, problem.nt)
        m_t = None if m is None else torch.as_tensor(m, dtype=dtype)
        obs_band = obs_all if m_t is None else obs_all @ m_t
        opt = torch.optim.Adam([vp], lr=lr0, betas=(0.9, 0.999), eps=float(config.optim.eps))
        for epoch in range(epochs):
            split = workflow._minibatches(problem.n_shots, int(config.training.num_batches),
                                          int(config.seed), band, epoch)
            lr = lr0 * float(config.optim.band_decay) ** band \
                * float(config.optim.epoch_decay) ** epoch
            for group in opt.param_groups:
                group["lr"] = lr
            for update in range(steps):
                shots = split[update % len(split)]
                opt.zero_grad()
                syn = modelling.forward(vp, shots)
                if m_t is not None:
                    syn = syn @ m_t
                loss = cc_loss(syn, obs_band[torch.as_tensor(shots, dtype=torch.long)])
                loss.backward()
                if mask is not None:
                    vp.grad.mul_(mask)
                opt.step()
                with torch.no_grad():
                    vp.clamp_(lo, hi)
                history[band, epoch, update] = loss.item()
                if callback is not None:
                    callback("update", dict(band=band, epoch=epoch, update=update,
                                            loss=history[band, epoch, update]))
            if callback is not None:
                callback("epoch", dict(band=band, epoch=epoch,
                                       model={"vp": vp.detach().numpy().copy()}))
    return {"model": vp.detach().numpy().copy(), "history": history,
            "step_ratio": modelling.step_ratio}


def epoch_curve(bands, true: np.ndarray, init: np.ndarray):
    """``(rows, callback)``: a workflow callback appending one row per epoch to ``rows``.

    Rows are ``(band, epoch, rel. error, SSIM, wall s, CPU s, 1-min load)`` from the time
    of this call; the first row is the starting model (``epoch`` -1).

    Args:
      bands: the config's band list (row labels).
      true, init: ``[nz, nx]`` true and starting vp (m/s).
    """
    rows = [("start", -1, relative_error(init, true), ssim(init, true), 0.0, 0.0,
             os.getloadavg()[0])]
    t0, c0 = time.perf_counter(), cpu_seconds()

    def callback(event, info):
        if event == "epoch":
            m = info["model"]["vp"]
            rows.append((bands[info["band"]], info["epoch"], relative_error(m, true),
                         ssim(m, true), time.perf_counter() - t0, cpu_seconds() - c0,
                         os.getloadavg()[0]))

    return rows, callback
