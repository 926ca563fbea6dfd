"""How the spectra programs are compiled: one ``jax.jit`` with the XLA CPU options they share.

The spectra kernels are long chains of independent multiply-adds over grid points (Faddeeva
rational and asymptotic expansions), so they run faster with the widest SIMD registers the
CPU offers. XLA's CPU backend prefers 256-bit vectors by default; asking for 512 bits lets
it use AVX-512 where the CPU has it (a CPU without it ignores the request). Measured on 2
cores of an AVX-512 Intel Xeon, 1,017-line CH4 spectrum of 37.5k points, float64: 4.1 -> 3.5
ms per spectrum in the batch driver, results bit-identical (``benchmarks/spectra_vs_hapi.py``).

JAX accepts compiler options only on the outermost ``jax.jit``: when a spectra function is
called inside a user's own ``jit``/``vmap``/``grad`` trace, :func:`spectra_jit` calls the
plain ``jax.jit`` version and XLA compiles the whole program with the user's options. Pass
the options there for the same speed::

    fast = jax.jit(f, compiler_options=jaxgeo.spectra.CPU_COMPILER_OPTIONS)
"""

from __future__ import annotations

import functools

import jax

__all__ = ["CPU_COMPILER_OPTIONS", "spectra_jit"]

CPU_COMPILER_OPTIONS: dict[str, int] = {"xla_cpu_prefer_vector_width": 512}


def _is_traced(args, kwargs) -> bool:
    leaves = jax.tree_util.tree_leaves((args, kwargs))
    return any(isinstance(leaf, jax.core.Tracer) for leaf in leaves)


def spectra_jit(fun=None, **jit_kwargs):
    """``jax.jit`` with :data:`CPU_COMPILER_OPTIONS` at top level, plain ``jax.jit`` when nested.

    Usable as ``@spectra_jit`` or ``@spectra_jit(static_argnames=...)``.

    Args:
      fun: the function to compile; omitted when used with arguments.
      **jit_kwargs: further ``jax.jit`` arguments (``static_argnames``, ...).
    """
    if fun is None:
        return functools.partial(spectra_jit, **jit_kwargs)
    top_level = jax.jit(fun, compiler_options=CPU_COMPILER_OPTIONS, **jit_kwargs)
    nested = jax.jit(fun, **jit_kwargs)

    @functools.wraps(fun)
    def call(*args, **kwargs):
        compiled = nested if _is_traced(args, kwargs) else top_level
        return compiled(*args, **kwargs)

    # jit's introspection, so tests can count compilations and users can lower the program.
    call._cache_size = lambda: top_level._cache_size() + nested._cache_size()
    call.lower = top_level.lower
    return call
