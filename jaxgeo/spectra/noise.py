"""Noise models for synthetic spectra: pure functions of a PRNG key (jit/vmap friendly).

Each generator returns either the noisy spectrum (``y`` in, same shape out) or the additive
noise pattern (N,). ``NoiseProfile`` holds PhysAE's default ranges (noise_default.yaml) and
``apply_noise`` draws one realisation of the full PhysAE-style mixture for one spectrum
(``vmap`` over keys for a batch). Index i = 0..N-1 is the spectral sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


def additive_gaussian(key, y, std):
    """y + std * n, n ~ N(0, 1) i.i.d.; variance of the noise std^2."""
    return y + std * jax.random.normal(key, jnp.shape(y), jnp.result_type(y))


def multiplicative_gaussian(key, y, std):
    """y * (1 + std * n): relative noise with variance std^2."""
    return y * (1.0 + std * jax.random.normal(key, jnp.shape(y), jnp.result_type(y)))


def shot(key, y, scale):
    """Shot (photon) noise, Gaussian approximation: y + scale * sqrt(max(y, 0)) * n."""
    n = jax.random.normal(key, jnp.shape(y), jnp.result_type(y))
    return y + scale * jnp.sqrt(jnp.maximum(y, 0.0)) * n


def flicker(key, n_points: int, std, exponent=1.0, dtype=jnp.float32):
    """1/f^exponent noise (N,), zero mean, standard deviation ``std`` (exponent 1: flicker).

    White Gaussian noise shaped in the Fourier domain by f^(-exponent/2) (power ~ 1/f^exp),
    with the DC bin removed, then normalised to the requested standard deviation.
    """
    white = jax.random.normal(key, (n_points,), dtype)
    spec = jnp.fft.rfft(white)
    f = jnp.fft.rfftfreq(n_points).astype(dtype)
    shaped = jnp.where(f > 0, spec * jnp.where(f > 0, f, 1.0) ** (-0.5 * exponent), 0.0)
    pattern = jnp.fft.irfft(shaped, n=n_points)
    return std * pattern / jnp.std(pattern)


def baseline_drift(key, n_points: int, sigma_points, amplitude, dtype=jnp.float32):
    """Smooth drift (N,): white noise convolved with a Gaussian of ``sigma_points`` samples
    (circularly, via FFT), zero mean, standard deviation ``amplitude``.

    Its autocorrelation at lag k is exp(-k^2 / (4 sigma^2)).
    """
    white = jax.random.normal(key, (n_points,), dtype)
    f = jnp.fft.rfftfreq(n_points).astype(dtype)
    kernel = jnp.exp(-2.0 * (jnp.pi * f * sigma_points) ** 2)  # FT of the unit-area Gaussian
    smooth = jnp.fft.irfft(jnp.fft.rfft(white) * kernel, n=n_points)
    smooth = smooth - smooth.mean()
    return amplitude * smooth / jnp.std(smooth)


def fringe_pattern(n_points: int, amplitudes, frequencies, phases, dtype=jnp.float32):
    """sum_k a_k sin(2 pi f_k t + phi_k), t = i/(N-1) in [0, 1]; (N,). f in cycles/window."""
    t = jnp.linspace(0.0, 1.0, n_points, dtype=dtype)
    arg = 2 * jnp.pi * frequencies[:, None] * t[None, :] + phases[:, None]
    return (amplitudes[:, None] * jnp.sin(arg)).sum(axis=0)


def etalon(key, n_points: int, *, n_modes: int, freq_range, amp_range, n_active=None,
           dtype=jnp.float32):
    """Etalon fringes: ``n_modes`` sinusoids with uniform frequencies/amplitudes/phases.

    ``n_active`` (traced int <= n_modes) switches off the extra modes (random mode counts).
    """
    kf, ka, kp = jax.random.split(key, 3)
    freqs = jax.random.uniform(kf, (n_modes,), dtype, *freq_range)
    amps = jax.random.uniform(ka, (n_modes,), dtype, *amp_range)
    phases = jax.random.uniform(kp, (n_modes,), dtype, 0.0, 2 * jnp.pi)
    if n_active is not None:
        amps = jnp.where(jnp.arange(n_modes) < n_active, amps, 0.0)
    return fringe_pattern(n_points, amps, freqs, phases, dtype)


def spikes(key, n_points: int, *, max_count: int, amp_range, width_range, count=None,
           dtype=jnp.float32):
    """Gaussian spikes of random sign: sum +-a exp(-(i - mu)^2 / (2 w^2)); (N,).

    ``count`` (traced int <= max_count, default max_count) spikes are active; positions are
    uniform in [0, N-1], amplitudes in ``amp_range``, widths (samples) in ``width_range``.
    """
    km, ka, kw, ks = jax.random.split(key, 4)
    mu = jax.random.uniform(km, (max_count,), dtype, 0.0, n_points - 1.0)
    amp = jax.random.uniform(ka, (max_count,), dtype, *amp_range)
    width = jax.random.uniform(kw, (max_count,), dtype, *width_range)
    sign = jnp.where(jax.random.bernoulli(ks, 0.5, (max_count,)), 1.0, -1.0).astype(dtype)
    active = jnp.arange(max_count) < (max_count if count is None else count)
    i = jnp.arange(n_points, dtype=dtype)
    shapes = jnp.exp(-0.5 * ((i[None, :] - mu[:, None]) / width[:, None]) ** 2)
    return (jnp.where(active, sign * amp, 0.0)[:, None] * shapes).sum(axis=0)


def glitches(key, n_points: int, *, max_count: int, amp_range, rise_range, count=None,
             dtype=jnp.float32):
    """Step glitches: sum +-a * sigmoid((i - pos)/rise), pos in [0.1N, 0.9N]; (N,)."""
    kp, ka, kr, ks = jax.random.split(key, 4)
    pos = jax.random.uniform(kp, (max_count,), dtype, 0.1 * n_points, 0.9 * n_points)
    amp = jax.random.uniform(ka, (max_count,), dtype, *amp_range)
    rise = jax.random.uniform(kr, (max_count,), dtype, *rise_range)
    sign = jnp.where(jax.random.bernoulli(ks, 0.5, (max_count,)), 1.0, -1.0).astype(dtype)
    active = jnp.arange(max_count) < (max_count if count is None else count)
    i = jnp.arange(n_points, dtype=dtype)
    steps = jax.nn.sigmoid((i[None, :] - pos[:, None]) / rise[:, None])
    return (jnp.where(active, sign * amp, 0.0)[:, None] * steps).sum(axis=0)


def clip(y, low=0.0, high=1.3):
    """Detector clipping to [low, high] (PhysAE default [0, 1.3])."""
    return jnp.clip(y, low, high)


@dataclass(frozen=True)
class NoiseProfile:
    """Ranges of the PhysAE noise mixture (defaults: PhysAE noise_default.yaml).

    ``*_range`` are (low, high) of uniform draws; ``p_*`` are probabilities that a component
    is present in a spectrum. Fringe amplitudes and spike/glitch amplitudes are absolute
    (transmission units); drift sigma is in samples; fringe frequencies in cycles/window.
    """

    std_add_range: tuple[float, float] = (0.001, 0.01)
    std_mult_range: tuple[float, float] = (0.002, 0.02)
    p_drift: float = 0.7
    drift_sigma_range: tuple[float, float] = (8.0, 90.0)
    drift_amp_range: tuple[float, float] = (0.002, 0.03)
    p_fringes: float = 0.6
    n_fringes_range: tuple[int, int] = (1, 3)
    fringe_freq_range: tuple[float, float] = (0.2, 12.0)
    fringe_amp_range: tuple[float, float] = (0.001, 0.01)
    p_spikes: float = 0.4
    spikes_count_range: tuple[int, int] = (1, 4)
    spike_amp_range: tuple[float, float] = (0.002, 0.03)
    spike_width_range: tuple[float, float] = (1.0, 4.0)
    p_shot: float = 0.0
    shot_scale_range: tuple[float, float] = (0.001, 0.01)
    p_flicker: float = 0.0
    flicker_std_range: tuple[float, float] = (0.001, 0.01)
    p_glitches: float = 0.0
    glitches_count_range: tuple[int, int] = (1, 3)
    glitch_amp_range: tuple[float, float] = (0.002, 0.02)
    glitch_rise_range: tuple[float, float] = (1.5, 5.0)
    clip: tuple[float, float] | None = (0.0, 1.3)

    def __post_init__(self):
        for name, value in vars(self).items():
            if name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseProfile.{name} = {value} must be a probability in [0, 1]")
            if name.endswith("_range") and value[0] > value[1]:
                raise ValueError(f"NoiseProfile.{name} = {value}: low must not exceed high")


# Fixed ids of the noise components (their fold_in index): append new ones at the end.
NOISE_COMPONENTS = ("mult", "add", "shot", "drift", "fringes", "spikes", "flicker", "glitches")


def apply_noise(key, y, profile: NoiseProfile = NoiseProfile()):
    """One realisation of the PhysAE noise mixture on one spectrum y (N,).

    Order: multiplicative and additive Gaussian, shot, then (each with its probability)
    baseline drift, etalon fringes, spikes, flicker and glitches, then clipping.
    Returns (noisy (N,), flags dict name -> bool array of which components were drawn).
    """
    n = y.shape[-1]
    dtype = jnp.result_type(y)

    def stream(component: str):
        """Keys of one component: fold_in(key, its fixed id), then split. Adding a
        component never changes the draws of the others."""
        return iter(jax.random.split(jax.random.fold_in(key, NOISE_COMPONENTS.index(component)),
                                     8))

    def u(keys, rng):
        return jax.random.uniform(next(keys), (), dtype, rng[0], rng[1])

    def coin(keys, p):
        return jax.random.bernoulli(next(keys), p)

    def count(keys, rng):
        return jax.random.randint(next(keys), (), rng[0], rng[1] + 1)

    k = stream("mult")
    out = multiplicative_gaussian(next(k), y, u(k, profile.std_mult_range))
    k = stream("add")
    out = additive_gaussian(next(k), out, u(k, profile.std_add_range))
    flags = {}
    k = stream("shot")
    flags["shot"] = coin(k, profile.p_shot)
    out = jnp.where(flags["shot"], shot(next(k), out, u(k, profile.shot_scale_range)), out)
    k = stream("drift")
    flags["drift"] = coin(k, profile.p_drift)
    drift = baseline_drift(next(k), n, u(k, profile.drift_sigma_range),
                           u(k, profile.drift_amp_range), dtype)
    out = out + jnp.where(flags["drift"], drift, 0.0)
    k = stream("fringes")
    flags["fringes"] = coin(k, profile.p_fringes)
    fr = etalon(next(k), n, n_modes=profile.n_fringes_range[1],
                freq_range=profile.fringe_freq_range, amp_range=profile.fringe_amp_range,
                n_active=count(k, profile.n_fringes_range), dtype=dtype)
    out = out + jnp.where(flags["fringes"], fr, 0.0)
    k = stream("spikes")
    flags["spikes"] = coin(k, profile.p_spikes)
    sk = spikes(next(k), n, max_count=profile.spikes_count_range[1],
                amp_range=profile.spike_amp_range, width_range=profile.spike_width_range,
                count=count(k, profile.spikes_count_range), dtype=dtype)
    out = out + jnp.where(flags["spikes"], sk, 0.0)
    k = stream("flicker")
    flags["flicker"] = coin(k, profile.p_flicker)
    fl = flicker(next(k), n, u(k, profile.flicker_std_range), dtype=dtype)
    out = out + jnp.where(flags["flicker"], fl, 0.0)
    k = stream("glitches")
    flags["glitches"] = coin(k, profile.p_glitches)
    gl = glitches(next(k), n, max_count=profile.glitches_count_range[1],
                  amp_range=profile.glitch_amp_range, rise_range=profile.glitch_rise_range,
                  count=count(k, profile.glitches_count_range), dtype=dtype)
    out = out + jnp.where(flags["glitches"], gl, 0.0)
    if profile.clip is not None:
        out = clip(out, *profile.clip)
    return out, flags
