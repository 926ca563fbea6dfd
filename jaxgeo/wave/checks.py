"""Input checks that run before any propagation (shapes, locations, values, CFL, sampling).

Value checks (positivity, CFL, points per wavelength) need concrete arrays; under
`jax.jit`/`jax.grad` tracing they are skipped, so call the propagator (or
`check_inputs`) once eagerly before tracing, as the FWI workflows do.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.wave.stencils import ORDERS, nyquist_eigenvalue

# Minimum grid points per shortest wavelength before dispersion is noticeable, by order.
MIN_POINTS_PER_WAVELENGTH = {2: 8.0, 4: 6.0, 6: 5.0, 8: 4.0}


def concrete(x) -> np.ndarray | None:
    """``x`` as a numpy array, or None when it is a tracer (inside jit/grad)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def grid_spacing(dx, ndim: int = 2) -> tuple[float, ...]:
    """``(dz, dx)`` (or ``(dz, dy, dx)`` for ``ndim=3``) from a scalar or a tuple, checked
    positive."""
    spacing = np.atleast_1d(np.asarray(dx, dtype=np.float64))
    if spacing.size == 1:
        spacing = np.repeat(spacing, ndim)
    if spacing.size != ndim or not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        axes = "(dz, dx)" if ndim == 2 else "(dz, dy, dx)"
        raise ValueError(f"dx must be a positive scalar or a {axes} tuple in metres for a "
                         f"{ndim}-D model, got {dx}")
    return tuple(float(s) for s in spacing)


def check_order(order: int, allowed=ORDERS) -> None:
    if order not in allowed:
        raise ValueError(f"order={order} is not supported; choose one of {tuple(allowed)}")


def check_model(name: str, model, shape: tuple[int, ...] | None = None,
                allow_zero: bool = False, ndims: tuple[int, ...] = (2,)) -> None:
    """``ndims``-D shape (matching ``shape`` if given) and positive (or >= 0) finite values."""
    if jnp.ndim(model) not in ndims:
        layouts = " or ".join({2: "2-D [nz, nx]", 3: "3-D [nz, ny, nx]"}[d] for d in ndims)
        raise ValueError(f"{name} must be a {layouts} array, got shape {jnp.shape(model)}")
    if shape is not None and tuple(jnp.shape(model)) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(jnp.shape(model))} but vp has shape "
                         f"{tuple(shape)}; all models must share one grid")
    values = concrete(model)
    if values is None:
        return
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or inf; fix the model before propagating")
    bad = values < 0 if allow_zero else values <= 0
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be {need} everywhere; {name}{list(idx)} = "
                         f"{values[idx]} ({int(bad.sum())} bad cells)")


def check_geometry(source_amplitudes, source_locations, receiver_locations,
                   model_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """Shapes and in-model locations (one coordinate per model axis: ``(z, x)`` or
    ``(z, y, x)``). Returns (n_shots, n_sources, n_receivers, nt)."""
    ndim = len(model_shape)
    axes = "(z, x)" if ndim == 2 else "(z, y, x)"
    amp_shape = jnp.shape(source_amplitudes)
    if len(amp_shape) != 3:
        raise ValueError("source_amplitudes must be [n_shots, n_sources, nt], got shape "
                         f"{amp_shape}; for one wavelet w use w[None, None, :]")
    n_shots, n_sources, nt = amp_shape
    if nt < 1:
        raise ValueError("source_amplitudes has no time samples (nt = 0)")
    for name, locs, n_expected in (("source_locations", source_locations, n_sources),
                                   ("receiver_locations", receiver_locations, None)):
        shape = jnp.shape(locs)
        if len(shape) != 3 or shape[2] != ndim or shape[0] != n_shots:
            raise ValueError(f"{name} must be [n_shots={n_shots}, n, {ndim}] {axes} cell "
                             f"indices, got shape {shape}")
        if n_expected is not None and shape[1] != n_expected:
            raise ValueError(f"source_locations has {shape[1]} sources per shot but "
                             f"source_amplitudes has {n_expected}; they must match")
        if not jnp.issubdtype(jnp.result_type(locs), jnp.integer):
            raise ValueError(f"{name} must hold integer {axes} cell indices, got dtype "
                             f"{jnp.result_type(locs)}")
        values = concrete(locs)
        if values is None:
            continue
        inside = np.all((values >= 0) & (values < np.asarray(model_shape)), axis=-1)
        if not np.all(inside):
            s, i = (int(v) for v in np.argwhere(~inside)[0])
            valid = ", ".join(f"{a} in 0..{n - 1}" for a, n in
                              zip(axes.strip("()").split(", "), model_shape, strict=True))
            raise ValueError(f"{name}[{s}, {i}] = {values[s, i].tolist()} is outside the model "
                             f"(valid {valid}); locations are model-relative cell indices "
                             "(the PML is added outside)")
    return n_shots, n_sources, int(jnp.shape(receiver_locations)[1]), nt


def max_stable_dt(c_max: float, spacing: tuple[float, ...], order: int,
                  staggered: bool = False) -> float:
    """Largest stable dt of the leapfrog scheme: ``2 / (c_max sqrt(sum_d lambda / h_d^2))``."""
    lam = nyquist_eigenvalue(order, staggered)
    return 2.0 / (c_max * math.sqrt(sum(lam / h**2 for h in spacing)))


def check_cfl(c_max_model, dt: float, spacing, order: int, staggered: bool = False,
              what: str = "vp") -> None:
    """Raise when ``dt`` exceeds the largest stable time step (CPML needs a small margin)."""
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a positive number of seconds, got {dt}")
    values = concrete(c_max_model)
    if values is None:
        return
    c_max = float(np.max(values))
    limit = max_stable_dt(c_max, spacing, order, staggered)
    if dt > limit:
        raise ValueError(f"dt = {dt:.6g} s is unstable for max({what}) = {c_max:g} m/s, "
                         f"spacing {spacing} m, order {order}: the largest stable dt is "
                         f"{limit:.6g} s; use a smaller dt (or resample the wavelet)")


def dominant_frequency(source_amplitudes, dt: float):
    """Frequency (Hz) of the peak of the summed source amplitude spectrum (traceable)."""
    trace = jnp.sum(jnp.asarray(source_amplitudes, jnp.float32), axis=(0, 1))
    nt = trace.shape[0]
    n_fft = max(2 * nt, 64)
    spectrum = jnp.abs(jnp.fft.rfft(trace, n=n_fft))
    freqs = jnp.fft.rfftfreq(n_fft, dt)
    return jax.lax.stop_gradient(freqs[jnp.argmax(spectrum)])


def warn_sampling(c_min_model, source_amplitudes, dt: float, spacing, order: int,
                  what: str = "vp") -> None:
    """Warn when the model has too few points per shortest wavelength for ``order``."""
    values, amps = concrete(c_min_model), concrete(source_amplitudes)
    if values is None or amps is None:
        return
    positive = values[values > 0]
    if positive.size == 0:
        return
    freq = float(dominant_frequency(amps, dt))
    if freq <= 0:
        return
    ppw = float(np.min(positive)) / freq / max(spacing)
    need = MIN_POINTS_PER_WAVELENGTH[order]
    if ppw < need:
        warnings.warn(f"only {ppw:.1f} grid points per minimum wavelength (min({what}) = "
                      f"{np.min(positive):g} m/s at the dominant {freq:.1f} Hz); order {order} "
                      f"needs about {need:g}: expect numerical dispersion. Use a finer grid, a "
                      "lower frequency or a higher order.", stacklevel=3)
