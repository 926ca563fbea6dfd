"""Run the entry scripts with tcmalloc as the C allocator when it is installed.

XLA:CPU allocates a fresh temporary buffer (185 MB for PhaseNet's training step) on every
execution. glibc's malloc serves it from new ``mmap`` pages in the worker threads, so each
step page-faults its way through it again; tcmalloc keeps the pages and reuses them, which
took jaxgeo's PhaseNet train step from 0.24-0.32 s to 0.156 s on 2 CPU cores (see
``benchmarks/phasenet_vs_seisbench.py``). The allocator is fixed when a process starts, so
the only way to switch is ``LD_PRELOAD`` before start-up: `use_tcmalloc` re-executes the
running script once with the library preloaded.

Install it with ``apt-get install libtcmalloc-minimal4`` (Debian/Ubuntu). Opt out with
``JAXGEO_TCMALLOC=0``.

This module imports neither jax nor anything outside the standard library, and
``jaxgeo/__init__.py`` and ``jaxgeo/core/__init__.py`` import nothing heavy, so an entry
script can import it before jax (``tests/test_core_allocator.py`` checks that
``import jaxgeo.core.allocator`` leaves jax unimported).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
import sysconfig
from collections.abc import Callable, Mapping, Sequence

__all__ = ["MARKER_VAR", "OPT_OUT_VAR", "TCMALLOC_NAMES", "find_tcmalloc", "plan_preload",
           "search_dirs", "tcmalloc_mapped", "use_tcmalloc"]

OPT_OUT_VAR = "JAXGEO_TCMALLOC"
"""Set to 0/false/no/off to keep the system allocator."""
MARKER_VAR = "JAXGEO_TCMALLOC_PRELOADED"
"""Set (to the library) in the re-executed process, so that it never re-executes again."""
TCMALLOC_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
"""File names tried in each directory, preferred first (the minimal build has no profiler)."""
_OFF = ("0", "false", "no", "off")
# Allocators that replace malloc; with one of them already preloaded we add nothing.
_ALLOCATORS = ("tcmalloc", "jemalloc", "mimalloc")


def search_dirs() -> tuple[str, ...]:
    """The usual shared-library directories of Debian/Ubuntu (multiarch) and other Linuxes."""
    arch = sysconfig.get_config_var("MULTIARCH") or ""
    multiarch = (f"/usr/lib/{arch}", f"/lib/{arch}") if arch else ()
    return (*multiarch, "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/usr/lib64", "/usr/lib", "/usr/local/lib")


def find_tcmalloc(dirs: Sequence[str] | None = None,
                  find_library: Callable[[str], str | None] | None = ctypes.util.find_library,
                  ) -> str | None:
    """Locate a tcmalloc shared library.

    Args:
        dirs: directories to look in, in order (default: `search_dirs()`).
        find_library: fallback lookup by library name (``ctypes.util.find_library``, which
            asks ``ldconfig``; it returns a soname such as ``libtcmalloc_minimal.so.4``, which
            ``LD_PRELOAD`` resolves the same way); None to skip it.

    Returns:
        The path (or soname) of the first library found, or None.
    """
    for name in TCMALLOC_NAMES:
        for d in search_dirs() if dirs is None else dirs:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    if find_library is not None:
        for name in ("tcmalloc_minimal", "tcmalloc"):
            found = find_library(name)
            if found:
                return found
    return None


def plan_preload(environ: Mapping[str, str], library: str | None,
                 platform: str = sys.platform) -> str | None:
    """Decide whether to re-execute with tcmalloc, without side effects.

    Args:
        environ: the process environment.
        library: the tcmalloc library found (`find_tcmalloc`), or None.
        platform: ``sys.platform``; only Linux is handled.

    Returns:
        The ``LD_PRELOAD`` value to re-execute with (the library prepended to what is already
        there), or None to leave the process as it is: not Linux, no library, opted out
        (``JAXGEO_TCMALLOC=0``), already re-executed (``JAXGEO_TCMALLOC_PRELOADED`` set), or a
        malloc replacement (tcmalloc, jemalloc, mimalloc) already in ``LD_PRELOAD``.
    """
    if not platform.startswith("linux") or not library:
        return None
    if environ.get(OPT_OUT_VAR, "").strip().lower() in _OFF or environ.get(MARKER_VAR):
        return None
    current = environ.get("LD_PRELOAD", "").strip()
    entries = current.replace(":", " ").split()
    if any(a in os.path.basename(e) for e in entries for a in _ALLOCATORS):
        return None
    return f"{library}:{current}" if current else library


def tcmalloc_mapped(maps: str = "/proc/self/maps") -> bool:
    """Whether a tcmalloc library is mapped into this process (Linux ``/proc``)."""
    try:
        with open(maps) as fh:
            return "tcmalloc" in fh.read()
    except OSError:
        return False


def use_tcmalloc(argv: Sequence[str] | None = None) -> bool:
    """Re-execute the running script with tcmalloc preloaded, if installed; call it first.

    Entry scripts call this before anything imports jax (the allocator cannot change once
    the process runs). When `plan_preload` says so, the process is replaced
    (``os.execve``) by the same interpreter and command line with ``LD_PRELOAD`` set and
    ``JAXGEO_TCMALLOC_PRELOADED`` marking the re-executed process, which then prints one
    line to stderr saying tcmalloc is in use and how to opt out. Without a library, or on
    another platform, it does nothing. It also does nothing inside pytest (a test that
    imports an entry script must not re-execute the test run) or in an interactive
    interpreter (nothing to re-execute). Opt out with ``JAXGEO_TCMALLOC=0``.

    Args:
        argv: the full command line to re-execute, interpreter options included
            (default ``sys.orig_argv``, so ``-u``, ``-X ...`` and ``-m`` are kept); its
            first entry (the interpreter as invoked) is replaced by ``sys.executable``.

    Returns:
        True when tcmalloc is mapped into this (re-executed) process, False otherwise. Does
        not return when it re-executes.
    """
    marker = os.environ.get(MARKER_VAR)
    if marker:
        if tcmalloc_mapped():
            print(f"jaxgeo: using tcmalloc ({marker}, LD_PRELOAD) as the C allocator; "
                  f"{OPT_OUT_VAR}=0 keeps the system allocator", file=sys.stderr)
            return True
        print(f"jaxgeo: preloading {marker} failed; running with the system allocator",
              file=sys.stderr)
        return False
    argv = list(sys.orig_argv if argv is None else argv)
    if "pytest" in sys.modules or len(argv) < 2:
        return False
    library = find_tcmalloc()
    preload = plan_preload(os.environ, library)
    if preload is None or library is None:
        return False
    env = {**os.environ, "LD_PRELOAD": preload, MARKER_VAR: library}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv[1:]], env)
    return False  # not reached: execve replaces the process
