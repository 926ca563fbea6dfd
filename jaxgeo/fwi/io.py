"""FWI data I/O: models (.npy), observed data (HDF5 ``shot_{i}`` ``[nt, nr, ncomp]``), SEG-Y.

Every writer goes to a temporary name beside the target and renames it when complete.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from jaxgeo.core.files import atomic_path
from jaxgeo.core.safepickle import loads_plain_pickle


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    """``np.save`` atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(array))
    return path


def load_model_file(path: str | os.PathLike, name: str,
                    shape: tuple[int, int] | None = None, downsample: int = 1) -> np.ndarray:
    """Load a 2D model ``[nz, nx]`` from ``.npy`` (every ``downsample``-th cell); errors name
    the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{name} model file {str(path)!r} does not exist; set "
                                f"config.model paths to existing .npy files")
    model = np.load(path)
    if model.ndim != 2:
        raise ValueError(f"{name} model in {path} has shape {model.shape}; expected [nz, nx]")
    model = model[::downsample, ::downsample]
    if shape is not None and model.shape != tuple(shape):
        raise ValueError(f"{name} model in {path} has shape {model.shape} but the grid is "
                         f"{tuple(shape)}; all models must share one grid")
    if not np.all(np.isfinite(model)):
        raise ValueError(f"{name} model in {path} contains NaN or inf")
    return model.astype(np.float32)


def write_observed(path: str | os.PathLike, data: np.ndarray,
                   components: Sequence[str], dt: float) -> Path:
    """Write ``data [n_shots, n_comp, n_rec, nt]`` as HDF5 datasets ``shot_{i}`` of shape
    ``(nt, nr, ncomp)``, with attributes ``dt`` (s), ``components`` and ``n_shots``; a
    ``.npy`` path is written as Seistorch does: an object array of ``n_shots`` arrays
    ``(nt, nr, ncomp)``."""
    path = Path(path)
    if path.suffix == ".npy":
        shots = np.empty(data.shape[0], dtype=object)
        for i, shot in enumerate(np.asarray(data)):
            shots[i] = np.ascontiguousarray(np.transpose(shot, (2, 1, 0)))
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, shots, allow_pickle=True)
        return path
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["dt"] = float(dt)
        f.attrs["components"] = list(components)
        f.attrs["n_shots"] = int(data.shape[0])
        for i, shot in enumerate(np.asarray(data)):
            f.create_dataset(f"shot_{i}", data=np.transpose(shot, (2, 1, 0)))
    return path


def read_observed(path: str | os.PathLike, n_shots: int, n_rec: int, nt: int,
                  n_comp: int, dtype: str = "float32") -> np.ndarray:
    """Read ``shot_{i}`` datasets back into ``[n_shots, n_comp, n_rec, nt]`` (``dtype``),
    checking shapes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"observed data file {str(path)!r} does not exist; create it "
                                f"with --mode forward or set config.data.observed")
    out = np.empty((n_shots, n_comp, n_rec, nt), np.dtype(dtype))
    if path.suffix == ".npy":
        return _read_observed_npy(path, out)
    with h5py.File(path, "r") as f:
        for i in range(n_shots):
            key = f"shot_{i}"
            if key not in f:
                raise ValueError(f"{path} has no dataset {key!r}: it holds "
                                 f"{len(f.keys())} shots but the geometry has {n_shots}")
            shot = f[key]
            if shot.shape != (nt, n_rec, n_comp):
                raise ValueError(f"{path}:{key} has shape {shot.shape}; the config expects "
                                 f"(nt={nt}, nr={n_rec}, ncomp={n_comp})")
            out[i] = np.transpose(shot[...], (2, 1, 0))
    return out


def _read_observed_npy(path: Path, out: np.ndarray) -> np.ndarray:
    """Seistorch's .npy observed data: an object array of shots ``(nt, nr, ncomp)`` (read
    through the restricted unpickler: only plain data can load) or one numeric array
    ``(n_shots, nt, nr, ncomp)``."""
    n_shots, n_comp, n_rec, nt = out.shape
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        _, _, dtype = read_header(f)
        if dtype.hasobject:
            shots = loads_plain_pickle(f.read(), str(path), numpy_arrays=True)
        else:
            f.seek(0)
            shots = np.load(f)
    if len(shots) < n_shots:
        raise ValueError(f"{path} holds {len(shots)} shots but the geometry has {n_shots}")
    for i in range(n_shots):
        shot = np.asarray(shots[i])
        if shot.shape != (nt, n_rec, n_comp):
            raise ValueError(f"{path}: shot {i} has shape {shot.shape}; the config expects "
                             f"(nt={nt}, nr={n_rec}, ncomp={n_comp})")
        out[i] = np.transpose(shot, (2, 1, 0))
    return out


def export_segy(path: str | os.PathLike, data: np.ndarray, dt: float,
                receiver_x: np.ndarray, source_x: np.ndarray, dx: float,
                component: int = 0) -> Path:
    """Write one component of ``data [n_shots, n_comp, n_rec, nt]`` to a SEG-Y file.

    Traces are shot-major; headers carry FieldRecord (shot), TraceNumber (receiver),
    SourceX / GroupX (metres), offset and the sample interval (microseconds).
    """
    import segyio

    path = Path(path)
    n_shots, _, n_rec, nt = data.shape
    spec = segyio.spec()
    spec.format = 5  # IEEE float32
    spec.samples = np.arange(nt) * dt * 1000.0
    spec.tracecount = n_shots * n_rec
    with atomic_path(path) as tmp, segyio.create(str(tmp), spec) as f:
        f.bin.update(hdt=int(round(dt * 1e6)), hns=nt)
        k = 0
        for s in range(n_shots):
            for r in range(n_rec):
                sx = float(source_x[s]) * dx
                gx = float(receiver_x[s, r]) * dx
                f.header[k] = {segyio.TraceField.FieldRecord: s + 1,
                               segyio.TraceField.TraceNumber: r + 1,
                               segyio.TraceField.SourceX: int(round(sx)),
                               segyio.TraceField.GroupX: int(round(gx)),
                               segyio.TraceField.offset: int(round(gx - sx)),
                               segyio.TraceField.TRACE_SAMPLE_INTERVAL:
                                   int(round(dt * 1e6)),
                               segyio.TraceField.TRACE_SAMPLE_COUNT: nt}
                f.trace[k] = np.asarray(data[s, component, r], np.float32)
                k += 1
    return path
