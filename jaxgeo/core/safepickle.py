"""Read pickles from users without running their code.

A pickle can call any importable function while it loads (``os.system`` included).
Seistorch geometry files (``sources.pkl``, ``receivers.pkl``) and PhysAE QTpy partition
sums are pickles of plain data, so they are read with an unpickler that resolves **no**
global at all: only the opcodes for dicts, lists, tuples, sets, numbers, strings, bytes,
booleans and None can succeed. Anything else raises `UnsafePickleError` naming the file and
the refused object, before that object is created.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

__all__ = ["UnsafePickleError", "load_plain_pickle", "loads_plain_pickle"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle holds something other than plain containers, numbers and strings."""


# numpy's array reconstruction (Seistorch's .npy object arrays of shots): these build an
# empty ndarray of a given shape and dtype and fill it from bytes; nothing else runs.
NUMPY_ARRAY_GLOBALS = frozenset({("numpy.core.multiarray", "_reconstruct"),
                                 ("numpy._core.multiarray", "_reconstruct"),
                                 ("numpy", "ndarray"), ("numpy", "dtype")})


class _PlainUnpickler(pickle.Unpickler):
    """An unpickler whose global lookup always refuses (no class, no function), except
    numpy's array reconstruction when `allowed` holds it."""

    source = "<bytes>"
    allowed: frozenset = frozenset()

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: refusing to load {module}.{name}; only plain lists, tuples, "
            f"dicts, numbers and strings are accepted (re-save the file with those)")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: persistent ids are not accepted")


def loads_plain_pickle(data: bytes, source: str = "<bytes>", *,
                       numpy_arrays: bool = False) -> Any:
    """Unpickle `data`, admitting only plain containers, numbers and strings.

    Args:
      data: the pickle's bytes.
      source: a name for error messages (usually the file path).
      numpy_arrays: also admit numpy arrays (the globals in ``NUMPY_ARRAY_GLOBALS``), for
        ``.npy`` object arrays of numeric arrays.
    """
    unpickler = _PlainUnpickler(io.BytesIO(data))
    unpickler.source = source
    if numpy_arrays:
        unpickler.allowed = NUMPY_ARRAY_GLOBALS
    try:
        return unpickler.load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or corrupt data
        raise UnsafePickleError(f"{source}: not a readable pickle ({exc})") from None


def load_plain_pickle(path: str | os.PathLike) -> Any:
    """Read a pickle file of plain data (see `loads_plain_pickle`); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    return loads_plain_pickle(path.read_bytes(), str(path))
