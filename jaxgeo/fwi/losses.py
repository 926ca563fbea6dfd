"""Waveform misfits for FWI.

Every misfit is a pure function ``(synthetic, observed) -> scalar`` on arrays whose last
axis is time (``[..., nt]``, e.g. ``[n_shots, n_receivers, nt]``). All leading axes are
traces; each misfit is computed per trace, vectorised, then averaged over traces (so a
global mean equals the mean of per-shot means when shots have equal receiver counts).
No Python loop over traces. Misfits that need the time step (``wd``, ``traveltime``) take
``dt`` in seconds.

``make_loss("0.5*l2+0.5*envelope", dt)`` parses a weighted sum into one callable.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array
LossFn = Callable[[Array, Array], Array]

# Guards divisions by trace norms so that all-zero (padded or muted) traces give finite
# values and finite gradients.
_EPS = 1e-12


def _mean_traces(per_trace: Array) -> Array:
    return jnp.mean(per_trace)


def l2(syn: Array, obs: Array) -> Array:
    """Mean squared difference over all samples (Seistorch's ``l2`` = MSE)."""
    return jnp.mean((syn - obs) ** 2)


def l1(syn: Array, obs: Array) -> Array:
    """Mean absolute difference over all samples."""
    return jnp.mean(jnp.abs(syn - obs))


def sml1(syn: Array, obs: Array, beta: float = 1.0) -> Array:
    """Smooth L1 (Huber): ``0.5 r²/beta`` where ``|r| < beta``, else ``|r| - beta/2``; mean."""
    r = jnp.abs(syn - obs)
    return jnp.mean(jnp.where(r < beta, 0.5 * r**2 / beta, r - 0.5 * beta))


def _normalised_correlation(syn: Array, obs: Array) -> Array:
    """Per-trace zero-lag correlation ``<s,o> / (|s| |o|)`` in [-1, 1]; shape ``[...]``."""
    num = jnp.sum(syn * obs, axis=-1)
    den = jnp.sqrt(jnp.sum(syn**2, axis=-1) * jnp.sum(obs**2, axis=-1) + _EPS**2)
    return num / (den + _EPS)


def cs(syn: Array, obs: Array) -> Array:
    """Cosine-similarity misfit: ``1 - <s,o>/(|s||o|)`` per trace, averaged. Min 0 at s = a·o."""
    return _mean_traces(1.0 - _normalised_correlation(syn, obs))


def cc(syn: Array, obs: Array) -> Array:
    """Negative normalised cross-correlation at zero lag, per trace, averaged. Minimum -1."""
    return _mean_traces(-_normalised_correlation(syn, obs))


def analytic_signal(x: Array) -> Array:
    """Analytic signal ``x + i H[x]`` along the last axis (FFT Hilbert transform, as scipy)."""
    n = x.shape[-1]
    spec = jnp.fft.fft(x, axis=-1)
    h = jnp.zeros(n, dtype=x.dtype)
    if n % 2 == 0:
        h = h.at[0].set(1).at[n // 2].set(1).at[1 : n // 2].set(2)
    else:
        h = h.at[0].set(1).at[1 : (n + 1) // 2].set(2)
    return jnp.fft.ifft(spec * h, axis=-1)


def _envelope(x: Array) -> Array:
    a = analytic_signal(x)
    # sqrt of (|a|² + eps²) keeps the gradient finite where the envelope vanishes.
    return jnp.sqrt(jnp.real(a) ** 2 + jnp.imag(a) ** 2 + _EPS**2)


def envelope(syn: Array, obs: Array) -> Array:
    """Mean squared difference of envelopes ``|s + iH[s]|``."""
    return jnp.mean((_envelope(syn) - _envelope(obs)) ** 2)


def ip(syn: Array, obs: Array) -> Array:
    """Instantaneous-phase misfit, free of phase wrapping.

    With unit phasors ``u = a/|a|`` of the analytic signals, the misfit per sample is
    ``|u_s - u_o|² = 2 - 2 cos(φ_s - φ_o)``; mean over samples. 0 iff the phases agree.
    """
    a_s, a_o = analytic_signal(syn), analytic_signal(obs)
    u_s = a_s / (jnp.sqrt(jnp.abs(a_s) ** 2 + _EPS**2))
    u_o = a_o / (jnp.sqrt(jnp.abs(a_o) ** 2 + _EPS**2))
    return jnp.mean(jnp.abs(u_s - u_o) ** 2)


def _normalised_integral(x: Array) -> Array:
    e = jnp.cumsum(x**2, axis=-1)
    return e / (e[..., -1:] + _EPS)


def nim(syn: Array, obs: Array) -> Array:
    """Normalised integration method: squared difference of ``cumsum(x²)/sum(x²)``; mean."""
    return jnp.mean((_normalised_integral(syn) - _normalised_integral(obs)) ** 2)


def positive_transform(x: Array, kind: str = "softplus", scale: Array | None = None) -> Array:
    """Make a trace positive for optimal transport: ``softplus(x/scale)``, ``x²`` or ``|x|``.

    ``scale`` (default: the per-trace RMS of ``x``) sets the softplus sharpness so the
    transform does not depend on the data's absolute amplitude.
    """
    if kind == "softplus":
        if scale is None:
            scale = jnp.sqrt(jnp.mean(x**2, axis=-1, keepdims=True)) + _EPS
        return jax.nn.softplus(x / scale)
    if kind == "square":
        return x**2 + _EPS
    if kind == "abs":
        return jnp.sqrt(x**2 + _EPS**2)
    raise ValueError(f"unknown positive transform {kind!r}; use 'softplus', 'square' or 'abs'")


def wd(syn: Array, obs: Array, dt: float = 1.0, transform: str = "softplus") -> Array:
    """Squared 1D Wasserstein-2 distance between traces seen as densities in time.

    Each trace is made positive (``positive_transform``; the softplus scale is the
    observed trace's RMS, shared by both traces) and normalised to unit mass. With CDFs
    ``F`` (synthetic) and ``G`` (observed) on the time axis ``t_i = i·dt`` (seconds),
    ``W2² = Σ_i (t_i - G⁻¹(F(t_i)))² f_i`` (the optimal map ``G⁻¹∘F``; ``G⁻¹`` is the
    observed quantile function, linear interpolation). Units: s². Mean over traces.
    """
    nt = syn.shape[-1]
    t = jnp.arange(nt, dtype=syn.dtype) * dt
    scale = jnp.sqrt(jnp.mean(obs**2, axis=-1, keepdims=True)) + _EPS
    p = positive_transform(syn, transform, scale if transform == "softplus" else None)
    q = positive_transform(obs, transform, scale if transform == "softplus" else None)
    p = p / jnp.sum(p, axis=-1, keepdims=True)
    q = q / jnp.sum(q, axis=-1, keepdims=True)
    f_cdf = jnp.cumsum(p, axis=-1)
    g_cdf = jnp.cumsum(q, axis=-1)
    batch = syn.shape[:-1]
    f2 = f_cdf.reshape(-1, nt)
    g2 = g_cdf.reshape(-1, nt)
    mapped = jax.vmap(lambda fc, gc: jnp.interp(fc, gc, t))(f2, g2).reshape(*batch, nt)
    return _mean_traces(jnp.sum((t - mapped) ** 2 * p, axis=-1))


def cross_correlation(syn: Array, obs: Array) -> tuple[Array, Array]:
    """Full cross-correlation ``c[k] = Σ_t s[t+k] o[t]`` for lags ``k = -(nt-1)..nt-1``.

    Returns ``(lags [2nt-1] in samples, c [..., 2nt-1])``; computed with zero-padded FFTs.
    """
    nt = syn.shape[-1]
    nfft = 2 * nt
    fs = jnp.fft.rfft(syn, nfft, axis=-1)
    fo = jnp.fft.rfft(obs, nfft, axis=-1)
    c = jnp.fft.irfft(fs * jnp.conj(fo), nfft, axis=-1)
    # irfft index k >= 0 is lag k; index nfft-k is lag -k.
    c = jnp.concatenate([c[..., nfft - (nt - 1):], c[..., :nt]], axis=-1)
    lags = jnp.arange(-(nt - 1), nt, dtype=syn.dtype)
    return lags, c


def traveltime_shift(syn: Array, obs: Array, dt: float = 1.0, temperature: float = 0.01) -> Array:
    """Differentiable time shift (s) of ``syn`` relative to ``obs``, per trace ``[...]``.

    Soft-argmax of the cross-correlation: with ``c`` normalised by its per-trace maximum
    ``|c|``, ``shift = dt · Σ_k k softmax(c/temperature)_k``. Positive when ``syn`` arrives
    later than ``obs``. ``temperature → 0`` gives the hard argmax.
    """
    lags, c = cross_correlation(syn, obs)
    cmax = jnp.max(jnp.abs(c), axis=-1, keepdims=True) + _EPS
    w = jax.nn.softmax(c / cmax / temperature, axis=-1)
    return dt * jnp.sum(w * lags, axis=-1)


def traveltime(syn: Array, obs: Array, dt: float = 1.0, temperature: float = 0.01) -> Array:
    """Mean squared cross-correlation traveltime shift (s²) over traces."""
    return _mean_traces(traveltime_shift(syn, obs, dt, temperature) ** 2)


# Misfits that take the time step.
_NEEDS_DT = {"wd", "traveltime"}
LOSSES: dict[str, Callable[..., Array]] = {
    "l2": l2, "l1": l1, "sml1": sml1, "cs": cs, "cc": cc, "envelope": envelope,
    "ip": ip, "nim": nim, "wd": wd, "traveltime": traveltime,
}
# Value of each misfit for identical data (its minimum).
MINIMUM = {name: (-1.0 if name == "cc" else 0.0) for name in LOSSES}

_TERM = re.compile(r"^\s*(?:([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?([a-z0-9_]+)\s*$")


def parse_loss_spec(spec: str | Sequence | Mapping) -> list[tuple[float, str]]:
    """Parse ``"0.5*l2+0.5*envelope"``, ``"l2"``, ``[("l2", 0.5), ...]`` or ``{"l2": 0.5}``.

    Returns ``[(weight, name), ...]``; raises ValueError naming the bad term and the
    valid loss names.
    """
    valid = ", ".join(sorted(LOSSES))
    if isinstance(spec, Mapping):
        terms = [(float(w), str(n)) for n, w in spec.items()]
    elif isinstance(spec, str):
        terms = []
        for part in spec.split("+"):
            m = _TERM.match(part)
            if not m:
                raise ValueError(
                    f"cannot parse loss term {part.strip()!r} in {spec!r}; write e.g. "
                    f"'0.5*l2+0.5*envelope' with names from: {valid}")
            terms.append((float(m.group(1)) if m.group(1) else 1.0, m.group(2)))
    else:
        terms = []
        for item in spec:
            if isinstance(item, str):
                terms.append((1.0, item))
            else:
                name, weight = item
                terms.append((float(weight), str(name)))
    if not terms:
        raise ValueError(f"empty loss specification; choose from: {valid}")
    for _, name in terms:
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r}; valid losses: {valid}")
    return terms


def make_loss(spec: str | Sequence | Mapping, dt: float = 1.0) -> LossFn:
    """One pure callable ``(syn, obs) -> scalar`` for a (weighted sum) loss specification."""
    terms = parse_loss_spec(spec)

    def loss(syn: Array, obs: Array) -> Array:
        total = 0.0
        for weight, name in terms:
            fn = LOSSES[name]
            value = fn(syn, obs, dt=dt) if name in _NEEDS_DT else fn(syn, obs)
            total = total + weight * value
        return total

    return loss
