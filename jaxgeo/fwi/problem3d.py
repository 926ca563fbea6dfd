"""3-D acoustic FWI problems: model, surface geometry and illumination on ``[nz, ny, nx]``.

A run is 3-D when its vp model is 3-D: ``config.model.procedural.ny > 0`` (the built-in
layered model with a Gaussian anomaly) or a ``[nz, ny, nx]`` ``.npy`` in
``config.model.true.vp`` / ``config.model.init.vp``. This is how Seistorch selects 3-D too:
its 3-D example (``examples/forward_modeling/forward_modeling3d/forward.yml``) keeps
``equation: acoustic`` and gives a ``[nz, ny, nx]`` vp file, with ``sources.pkl`` holding
``[x, y, z]`` per shot and ``receivers.pkl`` ``[[x...], [y...], [z...]]`` per shot.

Only constant-density acoustics exists in 3-D (`jaxgeo.wave.acoustic` with a 3-D vp);
other equations, ``--mode rtm``/``lsrtm``, ``--grad-cut`` without a 3-D mask and SEG-Y
export stop with a one-line error (:func:`check_supported`).

Geometry (cells, ``(z, y, x)``): sources on the surface grid ``x = src_first..src_last``
(exclusive) by ``src_step`` times ``y = src_y_first..src_y_last`` by ``src_y_step`` at depth
``src_depth``; receivers likewise (``rec_*``, ``rec_y_*``, ``rec_depth``), fixed (absolute
cells) or moving (offsets from the source in x and y). Or ``.npy`` arrays
``[n_shots, n, 3]`` in ``geometry.sources`` / ``geometry.receivers``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from jaxgeo.core.config import ConfigError
from jaxgeo.core.safepickle import load_plain_pickle
from jaxgeo.fwi.setup import Problem, SimSettings, with_dtype
from jaxgeo.wave import checks

__all__ = ["is_3d", "check_supported", "procedural_models_3d", "load_model_3d", "geometry_3d",
           "load_geometry_3d", "build_problem_3d", "source_illumination_3d"]


def _file_ndim(path: str) -> int | None:
    p = Path(path)
    if not p.is_file() or p.suffix != ".npy":
        return None
    try:
        return int(np.load(p, mmap_mode="r").ndim)
    except (ValueError, OSError):
        return None


def is_3d(config) -> bool:
    """True when the run's vp model is 3-D (procedural ``ny > 0`` or a 3-D ``.npy`` file)."""
    if config.model.source == "procedural":
        return int(config.model.procedural.get("ny", 0)) > 0
    for section in (config.model.true, config.model.init):
        path = section.get("vp", "")
        if path and _file_ndim(path) == 3:
            return True
    return False


def check_supported(config) -> None:
    """One-line ConfigError for what 3-D FWI does not support (before any work)."""
    if config.equation != "acoustic":
        raise ConfigError(f"config.equation = {config.equation!r} is 2-D only; a 3-D model "
                          "runs with equation 'acoustic' (constant density)")
    if config.mode in ("rtm", "lsrtm"):
        raise ConfigError(f"--mode {config.mode} is 2-D only; use --mode forward or inversion "
                          "with a 3-D model")
    if config.data.segy:
        raise ConfigError("config.data.segy (SEG-Y export) is 2-D only; set it to False for a "
                          "3-D model")
    dx = config.dx
    if isinstance(dx, (tuple, list)) and len(dx) == 2:
        raise ConfigError(f"config.dx = {tuple(dx)!r} is a 2-D (dz, dx) pair; a 3-D model "
                          "needs a scalar or a (dz, dy, dx) triple")


def procedural_models_3d(config) -> tuple[dict, dict]:
    """(true, initial) ``[nz, ny, nx]`` vp (float32, m/s).

    Initial: the linear gradient ``v_top -> v_bottom`` in depth, plus ``layer_dv`` below
    row ``layer_depth`` (0: no layer). True: the same plus a Gaussian anomaly
    ``anomaly_dv exp(-r^2 / (2 anomaly_radius^2))`` centred at ``anomaly_center``
    (``(z, y, x)`` cells; a ``(z, x)`` pair is centred in y).
    """
    pc = config.model.procedural
    nz, ny, nx = int(pc.nz), int(pc.ny), int(pc.nx)
    z = np.arange(nz, dtype=np.float64)[:, None, None]
    y = np.arange(ny, dtype=np.float64)[None, :, None]
    x = np.arange(nx, dtype=np.float64)[None, None, :]
    background = pc.v_top + (pc.v_bottom - pc.v_top) * z / max(nz - 1, 1) + 0 * y + 0 * x
    depth = int(pc.get("layer_depth", 0))
    if depth > 0:
        background = background + float(pc.get("layer_dv", 0.0)) * (z >= depth)
    centre = tuple(float(c) for c in pc.anomaly_center)
    if len(centre) == 2:
        centre = (centre[0], (ny - 1) / 2.0, centre[1])
    if len(centre) != 3:
        raise ConfigError(f"config.model.procedural.anomaly_center = {centre!r}; give "
                          "(z, y, x) cells for a 3-D model")
    cz, cy, cx = centre
    r2 = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2
    true = background + pc.anomaly_dv * np.exp(-r2 / (2 * pc.anomaly_radius ** 2))
    return {"vp": true.astype(np.float32)}, {"vp": background.astype(np.float32)}


def load_model_3d(path: str, name: str, shape=None, downsample: int = 1) -> np.ndarray:
    """A ``[nz, ny, nx]`` model from ``.npy`` (every ``downsample``-th cell), checked."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name} model file {str(p)!r} does not exist; set "
                                "config.model paths to existing .npy files")
    model = np.load(p)
    if model.ndim != 3:
        raise ValueError(f"{name} model in {p} has shape {model.shape}; a 3-D run needs "
                         "[nz, ny, nx] for every model")
    model = model[::downsample, ::downsample, ::downsample]
    if shape is not None and model.shape != tuple(shape):
        raise ValueError(f"{name} model in {p} has shape {model.shape} but the grid is "
                         f"{tuple(shape)}; all models must share one grid")
    if not np.all(np.isfinite(model)):
        raise ValueError(f"{name} model in {p} contains NaN or inf")
    return model.astype(np.float32)


def _axis_range(first, last, step, what: str) -> np.ndarray:
    r = np.arange(int(first), int(last), int(step))
    if r.size == 0:
        raise ConfigError(f"no {what}: first={first}, last={last}, step={step} give an "
                          "empty range; fix config.geometry")
    return r


def load_geometry_3d(sources: str, receivers: str) -> tuple[np.ndarray, np.ndarray]:
    """Seistorch 3-D geometry pickles -> ``src [n_shots, 1, 3]``, ``rec [n_shots, n, 3]``
    (z, y, x) int32 cells. ``sources.pkl``: ``[x, y, z]`` per shot; ``receivers.pkl``:
    ``[[x...], [y...], [z...]]`` per shot."""
    src = np.asarray(load_plain_pickle(sources), np.float64)
    if src.ndim != 2 or src.shape[1] != 3:
        raise ValueError(f"{sources}: expected a list of [x, y, z] per shot for a 3-D model, "
                         f"got shape {src.shape}")
    rec = np.asarray(load_plain_pickle(receivers), np.float64)
    if rec.ndim != 3 or rec.shape[:2] != (src.shape[0], 3):
        raise ValueError(f"{receivers}: expected one [[x...], [y...], [z...]] per shot "
                         f"({src.shape[0]} shots), got shape {rec.shape}")
    src_zyx = src[:, ::-1][:, None, :]
    rec_zyx = np.transpose(rec[:, ::-1], (0, 2, 1))
    return np.rint(src_zyx).astype(np.int32), np.rint(rec_zyx).astype(np.int32)


def geometry_3d(config, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Source and receiver cells ``[n_shots, n, 3]`` (z, y, x), int32, checked in the grid."""
    g = config.geometry
    if g.sources:
        if not g.receivers:
            raise ConfigError("config.geometry.sources is set but geometry.receivers is not")
        if str(g.sources).endswith(".pkl"):
            src, rec = load_geometry_3d(g.sources, g.receivers)
        else:
            src = np.load(g.sources).astype(np.int32)
            rec = np.load(g.receivers).astype(np.int32)
        n = int(g.num_shots)
        if n > src.shape[0]:
            raise ConfigError(f"config.geometry.num_shots = {n} but {g.sources} holds "
                              f"{src.shape[0]} shots")
        if n:
            src, rec = src[:n], rec[:n]
    else:
        xs = _axis_range(g.src_first, g.src_last, g.src_step, "sources in x")
        ys = _axis_range(g.get("src_y_first", 0), g.get("src_y_last", 1),
                         g.get("src_y_step", 1), "sources in y")
        sy, sx = (a.reshape(-1) for a in np.meshgrid(ys, xs, indexing="ij"))
        src = np.stack([np.full_like(sx, g.src_depth), sy, sx], -1)[:, None, :]
        rx = _axis_range(g.rec_first, g.rec_last, g.rec_step, "receivers in x")
        ry = _axis_range(g.get("rec_y_first", 0), g.get("rec_y_last", 1),
                         g.get("rec_y_step", 1), "receivers in y")
        gy, gx = (a.reshape(-1) for a in np.meshgrid(ry, rx, indexing="ij"))
        if g.spread == "fixed":
            gy_s, gx_s = np.broadcast_to(gy, (sx.size, gy.size)), np.broadcast_to(
                gx, (sx.size, gx.size))
        else:
            gy_s, gx_s = sy[:, None] + gy[None, :], sx[:, None] + gx[None, :]
        rec = np.stack([np.full_like(gx_s, g.rec_depth), gy_s, gx_s], -1)
        src, rec = src.astype(np.int32), rec.astype(np.int32)
    for name, loc in (("source", src), ("receiver", rec)):
        if loc.ndim != 3 or loc.shape[-1] != 3 or loc.shape[0] != src.shape[0]:
            raise ValueError(f"{name} locations have shape {loc.shape}; expected "
                             f"[n_shots={src.shape[0]}, n, 3] (z, y, x) cells")
        bad = np.any((loc < 0) | (loc >= np.asarray(shape)), axis=-1)
        if bad.any():
            s, i = np.argwhere(bad)[0]
            raise ValueError(f"{name} {i} of shot {s} at (z, y, x) = {loc[s, i].tolist()} is "
                             f"outside the {' x '.join(map(str, shape))} grid; fix "
                             "config.geometry")
    return src, rec


def _wavelet(config) -> np.ndarray:
    from jaxgeo.fwi.setup import _wavelet as wavelet_2d  # the same wavelet in 2-D and 3-D
    return wavelet_2d(config)


def build_problem_3d(config, *, need_true: bool = False) -> Problem:
    """The 3-D counterpart of :func:`jaxgeo.fwi.setup.build_problem` (everything checked
    before any propagation; spacing ``(dz, dy, dx)``)."""
    check_supported(config)
    k = int(config.model.downsample)
    if config.model.source == "procedural":
        true, init = procedural_models_3d(config)
    else:
        true, init = {}, {}
        tpath, ipath = config.model.true.get("vp", ""), config.model.init.get("vp", "")
        if tpath:
            true["vp"] = load_model_3d(tpath, "true vp", None, k)
        if ipath:
            init["vp"] = load_model_3d(ipath, "initial vp",
                                       true["vp"].shape if tpath else None, k)
        if not ipath:
            raise ConfigError("no initial model for 'vp': set config.model.init.vp")
        if need_true and not tpath:
            raise ConfigError("forward modelling needs config.model.true.vp (a .npy file)")
        true = true or None
    shape = init["vp"].shape
    for model in [init] + ([true] if true else []):
        checks.check_model("vp", model["vp"], ndims=(3,))
    spacing = checks.grid_spacing(config.dx, ndim=3)
    if config.model.source == "files" and k > 1:
        spacing = tuple(h * k for h in spacing)
    src, rec = geometry_3d(config, shape)
    seabed = None
    if config.model.seabed:
        seabed = load_model_3d(config.model.seabed, "seabed mask", shape, k)
    bounds = {p: tuple(config.model.bounds.get(p, (None, None))) for p in config.model.invert}
    vmax = max(float(np.max(init["vp"])), float(np.max(true["vp"])) if true else 0.0)
    hi = bounds.get("vp", (None, None))[1]
    vmax = max(vmax, float(hi)) if hi is not None else vmax
    checks.check_cfl(np.array([vmax]), float(config.dt), spacing, int(config.order),
                     what="vp (including its upper bound)")
    settings = SimSettings(
        equation="acoustic", spacing=spacing, dt=float(config.dt), order=int(config.order),
        pml_width=int(config.boundary.pml_width), free_surface=bool(config.boundary.free_surface),
        pml_freq=float(config.wavelet.freq), components=("p",))
    problem = Problem(settings=settings, nt=int(config.nt), init_model=init, true_model=true,
                      source_locations=src, receiver_locations=rec, wavelet=_wavelet(config),
                      seabed=seabed, invert=tuple(config.model.invert), bounds=bounds)
    return with_dtype(problem, str(config.dtype))


def source_illumination_3d(model, amplitudes: np.ndarray, src: np.ndarray,
                           settings: SimSettings, planes_per_call: int = 2) -> np.ndarray:
    """Source illumination ``E[z, y, x] = sum_shots sum_t p(z, y, x, t)^2`` ``[nz, ny, nx]``.

    Every cell is made a receiver, ``planes_per_call`` depth planes at a time (one forward
    run per block; float64 accumulation on the host).

    Args:
      model: ``{"vp": [nz, ny, nx]}`` (m/s).
      amplitudes: ``[n_shots, n_src, nt]``.
      src: ``[n_shots, n_src, 3]`` (z, y, x) source cells.
      settings: the run's settings (spacing ``(dz, dy, dx)``).
      planes_per_call: depth planes recorded per forward run (memory ``planes ny nx nt``).
    """
    from jaxgeo.fwi.simulate import simulate
    nz, ny, nx = np.asarray(model["vp"]).shape
    run = jax.jit(lambda m, a, s_, r_: simulate(m, a, s_, r_, settings))
    energy = np.zeros((nz, ny, nx), np.float64)
    for z0 in range(0, nz, planes_per_call):
        rows = np.arange(z0, min(z0 + planes_per_call, nz))
        cells = np.stack(np.meshgrid(rows, np.arange(ny), np.arange(nx), indexing="ij"),
                         -1).reshape(-1, 3)
        rec = np.broadcast_to(cells, (src.shape[0],) + cells.shape).astype(np.int32)
        data = np.asarray(run(model, amplitudes, src, rec), np.float64)[:, -1]
        energy[rows] = np.sum(data ** 2, axis=(0, 2)).reshape(rows.size, ny, nx)
    return energy
