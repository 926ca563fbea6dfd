"""Turn a validated FWI config into arrays: models, geometry, wavelet, mask, settings.

Everything here runs before any propagation and raises a clear error (missing file, wrong
shape, source outside the grid, unstable dt) so that a bad run stops before it writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from jaxgeo.core.config import ConfigError
from jaxgeo.fwi import io
from jaxgeo.fwi.config import PARAMETERS
from jaxgeo.fwi.seistorch import load_geometry as seistorch_geometry
from jaxgeo.wave import checks
from jaxgeo.wave.viscoacoustic import (
    N_MECHANISMS,
    relaxation_times,
    source_band,
    unrelaxed_modulus,
)
from jaxgeo.wave.vti import check_thomsen


@dataclass(frozen=True)
class SimSettings:
    """Static propagator settings (hashable: used as a jit static argument)."""

    equation: str
    spacing: tuple[float, float]
    dt: float
    order: int
    pml_width: int
    free_surface: bool
    pml_freq: float
    components: tuple[str, ...]
    elastic_source: str = "explosion"
    checkpoint_every: int | None = None
    adjoint: bool = False  # acoustic and elastic: reverse mode by the adjoint-state loop
    # viscoacoustic: Q is fitted over q_band (Hz) and vp is the phase velocity at
    # reference_freq (Hz); both fixed once from the unfiltered wavelet, so that filtering
    # and encoding do not change what vp and q mean between bands
    q_band: tuple[float, float] | None = None
    reference_freq: float | None = None


@dataclass
class Problem:
    """Arrays of one FWI run (host numpy)."""

    settings: SimSettings
    nt: int
    init_model: dict[str, np.ndarray]
    true_model: dict[str, np.ndarray] | None
    source_locations: np.ndarray        # [n_shots, n_src, 2] int32 (z, x)
    receiver_locations: np.ndarray      # [n_shots, n_rec, 2] int32
    wavelet: np.ndarray                 # [nt] (float32, or float64 with config.dtype)
    seabed: np.ndarray | None
    invert: tuple[str, ...]
    bounds: dict[str, tuple] = field(default_factory=dict)

    @property
    def n_shots(self) -> int:
        return int(self.source_locations.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.init_model["vp"].shape)

    def source_amplitudes(self, wavelet: np.ndarray | None = None) -> np.ndarray:
        """``[n_shots, n_src, nt]``: the wavelet at every source."""
        w = self.wavelet if wavelet is None else wavelet
        n_shots, n_src = self.source_locations.shape[:2]
        return np.broadcast_to(np.asarray(w, self.wavelet.dtype),
                               (n_shots, n_src, self.nt)).copy()


def with_dtype(problem: Problem, dtype: str) -> Problem:
    """``problem`` with models and wavelet cast to ``dtype`` ("float32" | "float64")."""
    dt = np.dtype(dtype)
    cast = lambda d: None if d is None else {k: np.asarray(v, dt) for k, v in d.items()}
    return replace(problem, init_model=cast(problem.init_model),
                   true_model=cast(problem.true_model),
                   wavelet=np.asarray(problem.wavelet, dt))


def procedural_models(config) -> tuple[dict, dict]:
    """(true, initial) models: linear vp gradient + Gaussian anomaly (true only)."""
    pc = config.model.procedural
    nz, nx = int(pc.nz), int(pc.nx)
    z = np.arange(nz, dtype=np.float64)[:, None]
    x = np.arange(nx, dtype=np.float64)[None, :]
    background = pc.v_top + (pc.v_bottom - pc.v_top) * z / max(nz - 1, 1) + 0 * x
    cz, cx = pc.anomaly_center
    bump = np.exp(-((z - cz) ** 2 + (x - cx) ** 2) / (2 * pc.anomaly_radius**2))
    true_vp = background + pc.anomaly_dv * bump
    constant = {p: np.full((nz, nx), float(pc[p])) for p in ("rho", "q", "epsilon", "delta")}
    true = {"vp": true_vp, "vs": true_vp / pc.vp_vs, **constant}
    init = {"vp": background, "vs": background / pc.vp_vs, **constant}
    cast = lambda d: {k: v.astype(np.float32) for k, v in d.items()}
    return cast(true), cast(init)


def _file_models(config, params, need_true: bool) -> tuple[dict | None, dict]:
    true, init, shape = {}, {}, None
    k = int(config.model.downsample)
    for p in params:
        tpath, ipath = config.model.true.get(p, ""), config.model.init.get(p, "")
        if tpath:
            true[p] = io.load_model_file(tpath, f"true {p}", shape, k)
            shape = true[p].shape
        if ipath:
            init[p] = io.load_model_file(ipath, f"initial {p}", shape, k)
            shape = init[p].shape
    for p in params:
        if p not in init:
            if p in config.model.invert or p not in true:
                raise ConfigError(f"no initial model for {p!r}: set config.model.init.{p} "
                                  "(or config.model.true.{p} for a fixed parameter)")
            init[p] = true[p]
        if need_true and p not in true:
            raise ConfigError(f"forward modelling needs config.model.true.{p} (a .npy file)")
    return (true if len(true) == len(params) else None), init


def _geometry(config, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    g = config.geometry
    if g.sources:
        if not g.receivers:
            raise ConfigError("config.geometry.sources is set but geometry.receivers is not")
        if str(g.sources).endswith(".pkl"):
            src, rec = seistorch_geometry(g.sources, g.receivers)
        else:
            src = np.load(g.sources).astype(np.int32)
            rec = np.load(g.receivers).astype(np.int32)
        n = int(g.num_shots)
        if n > src.shape[0]:
            raise ConfigError(f"config.geometry.num_shots (Seistorch Nshots) = {n} but "
                              f"{g.sources} holds {src.shape[0]} shots")
        if n:
            src, rec = src[:n], rec[:n]
    else:
        xs = np.arange(g.src_first, g.src_last, g.src_step)
        if xs.size == 0:
            raise ConfigError(f"no sources: geometry.src_first={g.src_first}, src_last="
                              f"{g.src_last}, src_step={g.src_step} give an empty range")
        src = np.stack([np.full_like(xs, g.src_depth), xs], -1)[:, None, :].astype(np.int32)
        offsets = np.arange(g.rec_first, g.rec_last, g.rec_step)
        if offsets.size == 0:
            raise ConfigError("no receivers: geometry.rec_first/rec_last/rec_step give an "
                              "empty range")
        if g.spread == "fixed":
            rx = np.broadcast_to(offsets, (xs.size, offsets.size))
        else:
            rx = xs[:, None] + offsets[None, :]
        rec = np.stack([np.full_like(rx, g.rec_depth), rx], -1).astype(np.int32)
    for name, loc in (("source", src), ("receiver", rec)):
        if loc.ndim != 3 or loc.shape[-1] != 2 or loc.shape[0] != src.shape[0]:
            raise ValueError(f"{name} locations have shape {loc.shape}; expected "
                             f"[n_shots={src.shape[0]}, n, 2] (z, x) cells")
        bad = ((loc[..., 0] < 0) | (loc[..., 0] >= shape[0])
               | (loc[..., 1] < 0) | (loc[..., 1] >= shape[1]))
        if bad.any():
            s, i = np.argwhere(bad)[0]
            raise ValueError(f"{name} {i} of shot {s} at (z, x) = {loc[s, i].tolist()} is "
                             f"outside the {shape[0]} x {shape[1]} grid; fix config.geometry")
    return src, rec


def _wavelet(config) -> np.ndarray:
    if config.wavelet.kind == "file":
        from jaxgeo.wave import load_wavelet
        w = np.asarray(load_wavelet(config.wavelet.file, nt=config.nt), np.float32)
        return w.reshape(-1, w.shape[-1])[0]
    from jaxgeo.wave import ricker
    return np.asarray(ricker(config.wavelet.freq, config.nt, config.dt,
                             peak_time=config.wavelet.delay), np.float32)


def build_problem(config, *, need_true: bool = False) -> Problem:
    """Load and check everything a run needs. Raises before any propagation.
    A 3-D vp model is built by :func:`jaxgeo.fwi.problem3d.build_problem_3d`."""
    from jaxgeo.fwi import problem3d  # it imports this module
    if problem3d.is_3d(config):
        return problem3d.build_problem_3d(config, need_true=need_true)
    params = PARAMETERS[config.equation]
    if config.model.source == "procedural":
        true, init = procedural_models(config)
        true = {p: true[p] for p in params}
        init = {p: init[p] for p in params}
    else:
        true, init = _file_models(config, params, need_true)
    shape = init["vp"].shape
    for name, m in list(init.items()) + list((true or {}).items()):
        if m.shape != shape:
            raise ValueError(f"model {name} has shape {m.shape} but vp has {shape}")
    spacing = checks.grid_spacing(config.dx)
    if config.model.source == "files" and int(config.model.downsample) > 1:
        spacing = tuple(h * int(config.model.downsample) for h in spacing)
    src, rec = _geometry(config, shape)
    seabed = None
    if config.model.seabed:
        seabed = io.load_model_file(config.model.seabed, "seabed mask", shape,
                                    int(config.model.downsample))
    bounds = {p: tuple(config.model.bounds.get(p, (None, None))) for p in config.model.invert}
    vmax = max(float(np.max(init["vp"])), float(np.max(true["vp"])) if true else 0.0)
    hi = bounds.get("vp", (None, None))[1]
    vmax = max(vmax, float(hi)) if hi is not None else vmax
    staggered = config.equation != "acoustic"
    order = int(config.order)
    models = [init] + ([true] if true else [])
    for model in models:
        for name, m in model.items():
            if name not in ("epsilon", "delta"):
                checks.check_model(name, m, allow_zero=(name == "vs"))
        if config.equation == "vti":
            check_thomsen(model["epsilon"], model["delta"], shape)
    wavelet = _wavelet(config)
    q_band = reference_freq = None
    what = "vp (including its upper bound)"
    if config.equation == "viscoacoustic":
        band = np.asarray(source_band(wavelet[None, None], float(config.dt)), np.float64)
        q_band, reference_freq = (float(band[0]), float(band[1])), float(config.wavelet.freq)
        # the fastest wave is the unrelaxed one, fastest where Q is lowest
        q_min = min(float(np.min(m["q"])) for m in models)
        lo = bounds.get("q", (None, None))[0]
        q_min = min(q_min, float(lo)) if lo is not None else q_min
        tau_sigma = relaxation_times(np.asarray(q_band), N_MECHANISMS)
        vmax = float(np.sqrt(unrelaxed_modulus(np.float64(vmax), np.float64(q_min), tau_sigma,
                                               reference_freq)))
        what = "the unrelaxed velocity at the lowest Q (including the bounds)"
    elif config.equation == "vti":
        eps_max = max(float(np.max(m["epsilon"])) for m in models)
        hi = bounds.get("epsilon", (None, None))[1]
        eps_max = max(eps_max, float(hi)) if hi is not None else eps_max
        vmax *= float(np.sqrt(1.0 + 2.0 * eps_max))
        what = "the horizontal velocity vp sqrt(1 + 2 epsilon) (including the bounds)"
    checks.check_cfl(np.array([vmax]), float(config.dt), spacing, order, staggered=staggered,
                     what=what)
    settings = SimSettings(
        equation=config.equation, spacing=spacing, dt=float(config.dt), order=order,
        pml_width=int(config.boundary.pml_width), free_surface=bool(config.boundary.free_surface),
        pml_freq=float(config.wavelet.freq),
        components=tuple(config.data.components) if config.equation == "elastic" else ("p",),
        elastic_source=str(config.elastic_source), q_band=q_band,
        reference_freq=reference_freq, adjoint=config.gradient == "adjoint")
    problem = Problem(settings=settings, nt=int(config.nt), init_model=init, true_model=true,
                      source_locations=src, receiver_locations=rec, wavelet=wavelet,
                      seabed=seabed, invert=tuple(config.model.invert), bounds=bounds)
    return with_dtype(problem, str(config.dtype))
