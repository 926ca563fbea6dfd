"""Seistorch projects as they are: ``config.yml``, geometry pickles, observed data files.

``load_config(path)`` maps every key of Seistorch's YAML schema onto the jaxgeo FWI config
(:func:`jaxgeo.fwi.config.default_config`). Relative paths are resolved against the
directory of the ``.yml`` file. A key whose feature jaxgeo lacks
(``training.implicit.use: true``, ``wavelet_inverse: true``, an equation or boundary type
jaxgeo has no propagator for, a ``Q``/``epsilon``/``delta`` model for an equation that does
not use it) raises :class:`ConfigError` naming the key; a key outside the schema logs a
warning and is ignored.

Mapping (Seistorch key -> jaxgeo field):
  seed -> seed; dtype -> dtype; equation -> equation; name: kept for logs only;
  training.N_epochs -> training.epochs; training.lr (number or per parameter) -> optim.lr;
  training.lr_decay -> optim.epoch_decay; training.scale_decay -> optim.band_decay;
  training.filter_ord -> multiscale.filter_order; training.minibatch + batch_size ->
  training.num_batches = ceil(Nshots / batch_size) and encoding.batchsize = batch_size;
  training.smooth{counts, radius{x,z}, sigma{x,z}} -> grad.smooth (counts 0 or 1),
  grad.smooth_radius/sigma (z, x);
  equation: acoustic, acoustic_vd, acoustic1st (-> acoustic_vd), elastic, viscoacoustic and
  vacoustic (-> viscoacoustic, constant density), vti;
  geom.obsPath -> data.observed (.npy object array or HDF5); truePath/initPath{vp, vs,
  rho, Q (or q), epsilon (or eps), delta} -> model.true/init; invlist -> model.invert;
  sources/receivers (.pkl) ->
  geometry.sources/receivers; seabed -> model.seabed; wavelet (.npy) -> wavelet.file;
  wavelet_delay (samples) -> wavelet.delay = wavelet_delay * dt; fm -> wavelet.freq;
  source_type -> elastic_source (h1/p: explosion, vz: fz, vx: fx); receiver_type ->
  data.components (elastic); multiple -> boundary.free_surface; boundary_saving: a memory
  strategy, no effect here; inv_savePath -> save_path; multiscale -> multiscale.bands;
  dt, nt, h -> dt, nt, dx; Nshots: must not exceed the shots in sources.pkl (the first
  Nshots are used); boundary{type: pml, width} (or the older pml{N}) -> boundary.pml_width.

Geometry pickles (Seistorch's ``generate_model_geometry.py`` layout, grid cells):
``sources.pkl`` a list with ``[x, z]`` per shot; ``receivers.pkl`` a list with
``[[x0, x1, ...], [z0, z1, ...]]`` per shot. They are read with
:func:`jaxgeo.core.safepickle.load_plain_pickle` (no object other than lists, tuples,
numbers and strings can load).
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
import yaml

from jaxgeo.core.config import ConfigError
from jaxgeo.core.files import atomic_path
from jaxgeo.core.logging import get_logger
from jaxgeo.core.safepickle import load_plain_pickle
from jaxgeo.fwi.config import default_config

__all__ = ["load_config", "load_geometry", "write_geometry", "SCHEMA"]

log = get_logger("jaxgeo.fwi.seistorch")

_PARAMS = {"vp": None, "vs": None, "rho": None, "Q": None, "q": None, "epsilon": None,
           "eps": None, "delta": None}
SCHEMA: dict[str, Any] = {
    "seed": None, "name": None, "dtype": None, "equation": None,
    "training": {"minibatch": None, "batch_size": None, "N_epochs": None, "lr": None,
                 "scale_decay": None, "lr_decay": None, "filter_ord": None,
                 "smooth": {"counts": None, "radius": None, "sigma": None},
                 "implicit": {"use": None, "pretrained": None}},
    "geom": {"obsPath": None, "truePath": _PARAMS, "initPath": _PARAMS,
             "invlist": {"vp": None, "vs": None, "rho": None, "q": None, "Q": None,
                         "epsilon": None, "eps": None, "delta": None},
             "sources": None, "receivers": None, "seabed": None, "wavelet": None,
             "wavelet_delay": None, "wavelet_inverse": None, "fm": None,
             "source_type": None, "receiver_type": None, "multiple": None,
             "boundary_saving": None, "inv_savePath": None, "multiscale": None, "dt": None,
             "nt": None, "h": None, "Nshots": None, "boundary": {"type": None, "width": None},
             "pml": {"N": None}},
}
_EQUATIONS = {"acoustic": "acoustic", "elastic": "elastic", "acoustic_vd": "acoustic_vd",
              "acoustic1st": "acoustic_vd", "viscoacoustic": "viscoacoustic",
              "vacoustic": "viscoacoustic", "vti": "vti"}
# Seistorch's names for a parameter -> jaxgeo's (the first spelling found is used)
_ALIASES = {"vp": ("vp",), "vs": ("vs",), "rho": ("rho",), "q": ("Q", "q"),
            "epsilon": ("epsilon", "eps"), "delta": ("delta",)}


def _param(section: dict, name: str):
    """The value of jaxgeo parameter ``name`` in a Seistorch truePath/initPath/invlist."""
    for key in _ALIASES[name]:
        if section.get(key) is not None:
            return section[key]
    return None
_SOURCES = {"h1": "explosion", "p": "explosion", "vz": "fz", "vx": "fx"}


def _warn_unknown(tree: dict, schema: dict, prefix: str = "") -> None:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if key not in schema:
            log.warning("Seistorch key %r is not part of the schema jaxgeo reads; ignored",
                        name)
        elif isinstance(schema[key], dict) and isinstance(value, dict):
            _warn_unknown(value, schema[key], name + ".")


def _unsupported(key: str, why: str) -> ConfigError:
    return ConfigError(f"Seistorch key {key!r} is not supported by jaxgeo: {why}")


def _path(base: Path, value: Any) -> str:
    if value in (None, ""):
        return ""
    p = Path(str(value)).expanduser()
    return str(p if p.is_absolute() else (base / p))


def load_geometry(sources: str, receivers: str) -> tuple[np.ndarray, np.ndarray]:
    """Seistorch geometry pickles -> ``src [n_shots, 1, 2]``, ``rec [n_shots, n_rec, 2]``
    as (z, x) grid cells (int32).

    Args:
      sources: ``sources.pkl``, a list of ``[x, z]`` per shot.
      receivers: ``receivers.pkl``, a list of ``[[x...], [z...]]`` per shot.
    """
    src_raw, rec_raw = load_plain_pickle(sources), load_plain_pickle(receivers)
    try:
        src = np.asarray(src_raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{sources}: expected a list of [x, z] per shot") from None
    if src.ndim != 2 or src.shape[1] != 2:
        raise ValueError(f"{sources}: expected a list of [x, z] per shot, got shape "
                         f"{src.shape}")
    if not isinstance(rec_raw, (list, tuple)) or len(rec_raw) != len(src):
        raise ValueError(f"{receivers}: expected one [[x...], [z...]] per shot "
                         f"({len(src)} shots in {sources})")
    recs = []
    for i, r in enumerate(rec_raw):
        try:
            a = np.asarray(r, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{receivers}: shot {i} is not [[x...], [z...]]") from None
        if a.ndim != 2 or a.shape[0] != 2:
            raise ValueError(f"{receivers}: shot {i} has shape {a.shape}; expected "
                             "[[x...], [z...]] (2, n_rec)")
        recs.append(a)
    if len({a.shape for a in recs}) != 1:
        raise ValueError(f"{receivers}: shots have different receiver counts; jaxgeo needs "
                         "the same count per shot")
    src_zx = np.stack([src[:, 1], src[:, 0]], -1)[:, None, :]
    rec_zx = np.stack([np.stack([a[1], a[0]], -1) for a in recs])
    return np.rint(src_zx).astype(np.int32), np.rint(rec_zx).astype(np.int32)


def write_geometry(directory: str | Path, sources: np.ndarray, receivers: np.ndarray
                   ) -> tuple[Path, Path]:
    """Write ``sources.pkl`` and ``receivers.pkl`` as Seistorch's ``generate_model_geometry.py``
    lays them out (the inverse of :func:`load_geometry`); returns their paths.

    Args:
      directory: output folder (created if needed); both files are written atomically.
      sources: ``[n_shots, 1, 2]`` (z, x) grid cells, one source per shot.
      receivers: ``[n_shots, n_rec, 2]`` (z, x) grid cells.

    The pickles hold plain lists of ints: ``[x, z]`` per shot and ``[[x...], [z...]]`` per
    shot.
    """
    src, rec = np.asarray(sources), np.asarray(receivers)
    if src.ndim != 3 or src.shape[1:] != (1, 2):
        raise ValueError(f"sources have shape {src.shape}; expected [n_shots, 1, 2] (z, x)")
    if rec.ndim != 3 or rec.shape[-1] != 2 or rec.shape[0] != src.shape[0]:
        raise ValueError(f"receivers have shape {rec.shape}; expected [{src.shape[0]}, n, 2]")
    src_list = [[int(s[0, 1]), int(s[0, 0])] for s in src]
    rec_list = [[[int(x) for x in r[:, 1]], [int(z) for z in r[:, 0]]] for r in rec]
    directory = Path(directory)
    paths = directory / "sources.pkl", directory / "receivers.pkl"
    for path, obj in zip(paths, (src_list, rec_list), strict=True):
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    return paths


def load_config(path: str) -> ml_collections.ConfigDict:
    """A Seistorch ``config.yml`` as a jaxgeo FWI config (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Seistorch config {str(path)!r} does not exist")
    with path.open() as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    _warn_unknown(raw, SCHEMA)
    base = path.resolve().parent
    c = default_config()
    t, g = raw.get("training") or {}, raw.get("geom") or {}
    if "seed" in raw and raw["seed"] is not None:
        c.seed = int(raw["seed"])
    if raw.get("dtype"):
        c.dtype = str(raw["dtype"])
    eq = str(raw.get("equation") or "acoustic")
    if eq not in _EQUATIONS:
        raise _unsupported("equation", f"{eq!r}; jaxgeo has {sorted(_EQUATIONS)}")
    c.equation = _EQUATIONS[eq]
    c.order = 4 if c.equation == "elastic" else c.order
    if (t.get("implicit") or {}).get("use"):
        raise _unsupported("training.implicit.use", "implicit (neural-network) models; "
                           "set it to false")
    inv = g.get("invlist") or {"vp": True}
    if g.get("wavelet_inverse"):
        raise _unsupported("geom.wavelet_inverse", "source-wavelet inversion; set it false")
    c.model.source = "files"
    names = tuple(_ALIASES)
    c.model.true = {p: _path(base, _param(g.get("truePath") or {}, p)) for p in names}
    c.model.init = {p: _path(base, _param(g.get("initPath") or {}, p)) for p in names}
    c.model.invert = tuple(p for p in names if _param(inv, p))
    users = {"q": "viscoacoustic", "epsilon": "vti", "delta": "vti"}
    for name, equation in users.items():
        for part, section in (("truePath", c.model.true), ("initPath", c.model.init)):
            if section[name] and c.equation != equation:
                key = next(k for k in _ALIASES[name] if (g.get(part) or {}).get(k))
                raise _unsupported(f"geom.{part}.{key}", f"a {key} model with equation "
                                   f"{c.equation!r}; set equation: {equation} or remove it")
    if c.equation == "viscoacoustic" and (c.model.true["rho"] or c.model.init["rho"]):
        log.warning("geom.truePath/initPath.rho: jaxgeo's viscoacoustic propagator is constant "
                    "density; rho is not used")
    # Seistorch's schema has no model bounds: none here either (add them with
    # --config.model.bounds.vp="(lo, hi)")
    c.model.bounds = ml_collections.ConfigDict({p: (None, None) for p in names})
    if g.get("seabed"):
        c.model.seabed = _path(base, g["seabed"])
    c.data.observed = _path(base, g.get("obsPath"))
    if g.get("sources") or g.get("receivers"):
        c.geometry.sources = _path(base, g.get("sources"))
        c.geometry.receivers = _path(base, g.get("receivers"))
    for key, field in (("dt", "dt"), ("h", "dx")):
        if g.get(key) is not None:
            c[field] = float(g[key])
    if g.get("nt") is not None:
        c.nt = int(g["nt"])
    if g.get("fm") is not None:
        c.wavelet.freq = float(g["fm"])
    if g.get("wavelet"):
        c.wavelet.kind, c.wavelet.file = "file", _path(base, g["wavelet"])
    if g.get("wavelet_delay") is not None:
        c.wavelet.delay = float(g["wavelet_delay"]) * float(c.dt)
    src_type = list(g.get("source_type") or ["h1"])
    if src_type[0] not in _SOURCES:
        raise _unsupported("geom.source_type", f"{src_type[0]!r}; use one of {sorted(_SOURCES)}")
    c.elastic_source = _SOURCES[src_type[0]]
    rec_type = [str(r) for r in (g.get("receiver_type") or ["h1"])]
    if c.equation == "elastic":
        c.data.components = tuple(r if r != "h1" else "p" for r in rec_type)
    c.boundary.free_surface = bool(g.get("multiple", False))
    bnd = g.get("boundary") or {}
    if bnd.get("type") not in (None, "pml"):
        raise _unsupported("geom.boundary.type", f"{bnd['type']!r}; jaxgeo has 'pml'")
    width = bnd.get("width", (g.get("pml") or {}).get("N"))
    if width is not None:
        c.boundary.pml_width = int(width)
    if g.get("inv_savePath"):
        c.save_path = _path(base, g["inv_savePath"])
    if g.get("multiscale"):
        c.multiscale.bands = [b if isinstance(b, (str, list)) else float(b)
                              for b in g["multiscale"]]
    if t.get("N_epochs") is not None:
        c.training.epochs = int(t["N_epochs"])
    lr = t.get("lr")
    if isinstance(lr, dict):
        c.optim.lr = {k: float(v) for k, v in lr.items() if v is not None}
    elif lr is not None:
        c.optim.lr = {p: float(lr) for p in c.model.invert}
    if t.get("lr_decay") is not None:
        c.optim.epoch_decay = float(t["lr_decay"])
    if t.get("scale_decay") is not None:
        c.optim.band_decay = float(t["scale_decay"])
    if t.get("filter_ord") is not None:
        c.multiscale.filter_order = int(t["filter_ord"])
    smooth = t.get("smooth") or {}
    counts = int(smooth.get("counts") or 0)
    if counts > 1:
        raise _unsupported("training.smooth.counts", f"{counts} passes; jaxgeo smooths once "
                           "(use 0 or 1 and a larger sigma)")
    if counts == 1:
        c.grad.smooth = True
        for key, field in (("radius", "smooth_radius"), ("sigma", "smooth_sigma")):
            v = smooth.get(key)
            if isinstance(v, dict):
                conv = int if key == "radius" else float
                c.grad[field] = (conv(v.get("z", v.get("x"))), conv(v.get("x", v.get("z"))))
    n_shots = g.get("Nshots")
    c.geometry.num_shots = int(n_shots) if n_shots is not None else 0
    if t.get("batch_size"):
        c.encoding.batchsize = int(t["batch_size"])
        if t.get("minibatch") and n_shots:
            c.training.num_batches = max(1, math.ceil(int(n_shots) / int(t["batch_size"])))
    return c
