"""Atomic outputs: everything the project writes goes to a temporary name beside the target
and is renamed into place only when complete, so a killed run leaves no half-written file.

Example::

    with atomic_path("out/model.npy") as tmp:
        np.save(tmp, model)          # written to out/.model.npy.<random>.tmp
    # out/model.npy now exists, complete; on an exception nothing is left behind

The same helper serves directories (``directory=True``), e.g. a SeisBench dataset folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["atomic_path", "write_text", "write_json"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, directory: bool = False,
                overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` when the block succeeds.

    Args:
      path: the final file (or directory) name. Its parent is created if needed.
      directory: yield a fresh empty temporary directory instead of a file name.
      overwrite: replace an existing `path`; with False an existing target raises
        FileExistsError before anything is written.

    On an exception inside the block the temporary file or directory is removed and the
    target is untouched.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose another name or allow overwriting")
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.", ".tmp"
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=suffix))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if directory:
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write `text` to `path` atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as indented JSON atomically (numpy scalars become floats)."""
    return write_text(path, json.dumps(obj, indent=2, default=float))
