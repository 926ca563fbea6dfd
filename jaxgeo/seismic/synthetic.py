"""Synthetic local earthquakes written as a SeisBench-format dataset.

Each trace is a 3-component (Z, N, E) record at ``sampling_rate`` Hz:

* P and S first-arrival times from a flat layered 1D velocity model (direct ray found by
  bisection on the ray parameter, head waves along every interface below the source; the
  earliest wins), for a random epicentral distance and source depth;
* each phase is a direct arrival, a causal one-cycle pulse that starts at the onset with a
  random first-motion polarity per component, followed by scattered energy: band-limited
  noise under an envelope that builds up over a fraction of a second and decays as a coda
  (decay time growing with distance); P dominant on Z, S on the horizontals. (Generator
  version 2 had the scattered part only: its random-phase carrier often faded near the
  onset, so that even without noise 11 % of the P onsets stayed below 20 % of the P peak for
  more than 0.1 s, and no picker could place them within 0.1 s);
* S peak amplitudes follow the Hutton & Boore (1987) local-magnitude relation
  ``log10 A = ML - 1.11 log10(R/100) - 0.00189 (R - 100) - 3`` (A in mm Wood-Anderson, R
  hypocentral km), P peaks a random factor 2-5 smaller;
* coloured background noise scaled to a per-trace SNR (dB, P-wave peak over noise std);
* a fraction of noise-only traces (no picks, no magnitude);
* ``ambiguous_s=True`` (off by default; the default output is unchanged) makes the S onsets
  ambiguous, for BlueDisc's S-suppression benchmark: the P phase is about as strong as S
  (S/P peak ratio 0.7-1.5 instead of 2-5), as strong on the horizontals as on Z, and its coda
  decays over ``0.5 (1 + 0.04 R) + 2 (S - P)`` s, so that S (whose delay after P grows with
  distance as the travel times say) arrives on a high-amplitude P coda; the S phase is
  emergent (direct pulse 0-0.3 of its coda peak instead of 1-2, coda rise 0.3-1 s instead of
  0.08-0.3 s). The random draws are the same as in the default mode (only their ranges
  change), so a trace keeps its distance, depth, onsets and magnitude.

Metadata columns follow SeisBench naming (``trace_P_arrival_sample`` etc.). The writer is
``seisbench.data.WaveformDataWriter``; the folder appears atomically (written under a temporary
name, then renamed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import seisbench.data as sbd

from jaxgeo.core.files import atomic_path
from jaxgeo.core.logging import progress

__all__ = [
    "GENERATOR_VERSION",
    "VP_VS",
    "SyntheticConfig",
    "direct_time",
    "head_wave_time",
    "first_arrival",
    "travel_times",
    "local_magnitude_amplitude",
    "local_magnitude",
    "direct_pulse",
    "make_trace",
    "write_synthetic_dataset",
]

# Bump when the generated waveforms change: cached 'synthetic' datasets are keyed by it.
GENERATOR_VERSION = 3

# (top depth km, vp km/s); Vs = Vp / sqrt(3). A generic continental crust over mantle.
DEFAULT_LAYERS: tuple[tuple[float, float], ...] = ((0.0, 5.0), (4.0, 5.8), (15.0, 6.5),
                                                  (30.0, 8.0))
VP_VS = float(np.sqrt(3.0))


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic catalogue. Distances/depths in km, times in s."""

    n_traces: int = 3000
    seed: int = 0
    sampling_rate: float = 100.0
    trace_seconds: float = 40.0
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train, dev, test
    noise_fraction: float = 0.1
    distance_km: tuple[float, float] = (5.0, 100.0)
    depth_km: tuple[float, float] = (2.0, 25.0)
    magnitude: tuple[float, float] = (0.5, 4.0)
    snr_db: tuple[float, float] = (8.0, 40.0)  # P peak over noise std
    p_start_seconds: tuple[float, float] = (3.0, 12.0)  # time of the P onset in the trace
    layers: tuple[tuple[float, float], ...] = DEFAULT_LAYERS
    stations: tuple[str, ...] = field(default=("SYN01", "SYN02", "SYN03", "SYN04", "SYN05"))
    ambiguous_s: bool = False  # S emergent on a high-amplitude P coda (see the module doc)

    def validate(self) -> None:
        if self.n_traces < 1:
            raise ValueError(f"n_traces must be >= 1, got {self.n_traces}")
        if len(self.split_fractions) != 3 or abs(sum(self.split_fractions) - 1) > 1e-9 or min(
            self.split_fractions
        ) < 0:
            raise ValueError(
                f"split_fractions {self.split_fractions} must be three non-negative numbers "
                "(train, dev, test) summing to 1"
            )
        if not 0 <= self.noise_fraction <= 1:
            raise ValueError(f"noise_fraction must lie in [0, 1], got {self.noise_fraction}")
        if self.sampling_rate <= 0 or self.trace_seconds <= 0:
            raise ValueError("sampling_rate and trace_seconds must be positive")
        depths = [top for top, _ in self.layers]
        if depths[0] != 0 or any(b <= a for a, b in zip(depths, depths[1:], strict=False)):
            raise ValueError(f"layer tops must start at 0 and increase, got {depths}")


# ------------------------------------------------------------------------- travel times


def _layer_stack(layers, depth: float):
    """Thicknesses/velocities of layers above ``depth`` (the source layer cut at the source)."""
    tops = np.array([t for t, _ in layers], float)
    vel = np.array([v for _, v in layers], float)
    bottoms = np.append(tops[1:], np.inf)
    thick = np.clip(np.minimum(bottoms, depth) - tops, 0.0, None)
    keep = thick > 0
    return thick[keep], vel[keep]


def direct_time(layers, distance: float, depth: float, iterations: int = 60) -> float:
    """Direct (up-going) ray travel time in s from a source at ``depth`` to a surface station."""
    h, v = _layer_stack(layers, depth)
    if distance == 0:
        return float(np.sum(h / v))
    p_hi = 1.0 / v.max()
    lo, hi = 0.0, p_hi * (1 - 1e-12)
    for _ in range(iterations):  # X(p) is monotonic increasing in p
        p = 0.5 * (lo + hi)
        x = np.sum(h * p * v / np.sqrt(1 - (p * v) ** 2))
        lo, hi = (p, hi) if x < distance else (lo, p)
    p = 0.5 * (lo + hi)
    # T = p X + tau(p) is stationary in p, so it stays exact in the grazing limit where a thin
    # layer above the source cannot reach X(p) = distance within float precision.
    return float(p * distance + np.sum(h * np.sqrt(1 / v**2 - p**2)))


def head_wave_time(layers, distance: float, depth: float) -> float:
    """Earliest head wave along an interface below the source; inf when none is critical."""
    tops = np.array([t for t, _ in layers], float)
    vel = np.array([v for _, v in layers], float)
    best = np.inf
    for j in range(1, len(tops)):
        if tops[j] <= depth or vel[j] <= vel[:j].max():
            continue
        p = 1.0 / vel[j]
        h_up, v_up = _layer_stack(layers, tops[j])  # surface -> refractor
        h_src, v_src = _layer_stack(layers, depth)  # surface -> source
        # down leg = layers between source and refractor = (surface->refractor) - (surface->source)
        h_down = h_up.copy()
        h_down[: len(h_src)] -= h_src
        eta_up = np.sqrt(1 / v_up**2 - p**2)
        offset = np.sum((h_up + h_down) * p * v_up / np.sqrt(1 - (p * v_up) ** 2))
        if distance < offset:
            continue
        best = min(best, distance * p + float(np.sum((h_up + h_down) * eta_up)))
    return best


def first_arrival(layers, distance: float, depth: float) -> float:
    return min(direct_time(layers, distance, depth), head_wave_time(layers, distance, depth))


def travel_times(layers, distance: float, depth: float) -> tuple[float, float]:
    """(P, S) first-arrival times in s; S uses Vs = Vp / sqrt(3)."""
    s_layers = tuple((top, vp / VP_VS) for top, vp in layers)
    return first_arrival(layers, distance, depth), first_arrival(s_layers, distance, depth)


# --------------------------------------------------------------------------- amplitudes


def local_magnitude_amplitude(ml, hypocentral_km):
    """Wood-Anderson peak amplitude (mm) for ``ML`` at hypocentral distance (Hutton & Boore)."""
    r = np.asarray(hypocentral_km, float)
    return 10.0 ** (np.asarray(ml) - 1.11 * np.log10(r / 100.0) - 0.00189 * (r - 100.0) - 3.0)


def local_magnitude(amplitude_mm, hypocentral_km):
    """Inverse of :func:`local_magnitude_amplitude`."""
    r = np.asarray(hypocentral_km, float)
    return np.log10(amplitude_mm) + 1.11 * np.log10(r / 100.0) + 0.00189 * (r - 100.0) + 3.0


def _bandpass_noise(rng, shape, sampling_rate, f_lo, f_hi):
    """White noise band-limited by a smooth (Butterworth-like magnitude) FFT filter."""
    n = shape[-1]
    spec = np.fft.rfft(rng.standard_normal(shape), axis=-1)
    f = np.fft.rfftfreq(n, 1.0 / sampling_rate)
    f_lo = np.asarray(f_lo)[..., None]
    f_hi = np.asarray(f_hi)[..., None]
    gain = 1 / np.sqrt(1 + (f_lo / np.maximum(f, 1e-3)) ** 8) / np.sqrt(1 + (f / f_hi) ** 8)
    out = np.fft.irfft(spec * gain, n=n, axis=-1)
    return out / (out.std(axis=-1, keepdims=True) + 1e-12)


def direct_pulse(t, freq):
    """Causal one-cycle wavelet ``sin(2 pi f t) exp(-2 f t)`` for ``t >= 0`` (0 before).

    It leaves zero with slope ``2 pi f`` and peaks (0.64) at ``t = 0.2 / f``: an impulsive
    first motion a fraction of a period after the onset.
    """
    tt = np.maximum(t, 0.0)
    return np.where(t >= 0, np.sin(2 * np.pi * freq * tt) * np.exp(-2 * freq * tt), 0.0)


def _phase(rng, n, onset, sampling_rate, freq, rise, decay, weights, direct_range=(1.0, 2.0)):
    """One phase [3, n] starting at ``onset``: direct pulse (amplitude drawn from
    ``direct_range`` times the coda peak) + scattered coda, peak 1."""
    t = (np.arange(n) - onset) / sampling_rate
    after = t >= 0
    tt = np.maximum(t, 0)
    env = np.where(after, (1 - np.exp(-tt / rise)) * np.exp(-tt / decay), 0.0)
    carrier = _bandpass_noise(rng, (3, n), sampling_rate, 0.5 * freq, 2.0 * freq)
    coda = carrier * env
    coda /= np.abs(coda).max() + 1e-30
    polarity = rng.choice([-1.0, 1.0], size=(3, 1))
    direct = rng.uniform(*direct_range) * polarity * (direct_pulse(t, freq) / 0.64)
    wave = (direct + coda) * np.asarray(weights)[:, None]
    return wave / (np.abs(wave).max() + 1e-30)


def make_trace(rng, cfg: SyntheticConfig, noise_only: bool):
    """One synthetic record ``[3, n]`` (float32) and its metadata dict (picks in samples)."""
    n = int(round(cfg.trace_seconds * cfg.sampling_rate))
    station = str(rng.choice(cfg.stations))
    snr_db = float(rng.uniform(*cfg.snr_db))
    noise = _bandpass_noise(rng, (3, n), cfg.sampling_rate, rng.uniform(0.1, 1.0),
                            rng.uniform(10.0, 30.0))
    meta = {
        "station_code": station,
        "station_network_code": "SY",
        "trace_component_order": "ZNE",
        "trace_sampling_rate_hz": cfg.sampling_rate,
    }
    if noise_only:
        meta.update(trace_category="noise", trace_P_arrival_sample=np.nan,
                    trace_S_arrival_sample=np.nan, source_magnitude=np.nan,
                    source_magnitude_type="", path_ep_distance_km=np.nan,
                    source_depth_km=np.nan, trace_snr_db=np.nan)
        return (noise * rng.uniform(1, 100)).astype(np.float32), meta

    while True:  # keep S inside the record
        dist = float(rng.uniform(*cfg.distance_km))
        depth = float(rng.uniform(*cfg.depth_km))
        tp, ts = travel_times(cfg.layers, dist, depth)
        p_start = float(rng.uniform(*cfg.p_start_seconds))
        p_sample = int(round(p_start * cfg.sampling_rate))
        s_sample = int(round((p_start + ts - tp) * cfg.sampling_rate))
        if s_sample < n - 2 * cfg.sampling_rate:
            break
    ml = float(rng.uniform(*cfg.magnitude))
    hypo = float(np.hypot(dist, depth))
    s_amp = float(local_magnitude_amplitude(ml, hypo))
    amb = cfg.ambiguous_s  # the same draws, other ranges: the default output is unchanged
    p_amp = s_amp / rng.uniform(*((0.7, 1.5) if amb else (2.0, 5.0)))
    coda = 1.0 + 0.04 * hypo  # coda decay time grows with distance
    p_decay = 0.5 * coda + (2.0 * (s_sample - p_sample) / cfg.sampling_rate if amb else 0.0)
    p_wave = _phase(rng, n, p_sample, cfg.sampling_rate, rng.uniform(6.0, 12.0),
                    rng.uniform(0.05, 0.2), p_decay, (1.0, 0.9, 0.9) if amb else (1.0, 0.35, 0.35))
    s_wave = _phase(rng, n, s_sample, cfg.sampling_rate, rng.uniform(3.0, 7.0),
                    rng.uniform(*((0.3, 1.0) if amb else (0.08, 0.3))), coda, (0.4, 1.0, 0.9),
                    direct_range=(0.0, 0.3) if amb else (1.0, 2.0))
    signal = p_amp * p_wave + s_amp * s_wave
    noise_std = p_amp / 10 ** (snr_db / 20)  # SNR of the P arrival, as in SeisBench metadata
    wave = signal + noise_std * noise
    meta.update(trace_category="earthquake_local", trace_P_arrival_sample=p_sample,
                trace_S_arrival_sample=s_sample, source_magnitude=round(ml, 3),
                source_magnitude_type="ML", path_ep_distance_km=round(dist, 3),
                source_depth_km=round(depth, 3), trace_snr_db=round(snr_db, 2),
                trace_P_travel_time_s=round(tp, 4), trace_S_travel_time_s=round(ts, 4))
    return wave.astype(np.float32), meta


def _split_labels(rng, n: int, fractions) -> np.ndarray:
    counts = np.floor(np.asarray(fractions) * n).astype(int)
    counts[0] += n - counts.sum()
    labels = np.repeat(np.array(["train", "dev", "test"]), counts)
    return labels[rng.permutation(n)]


def write_synthetic_dataset(path: str | Path, config: SyntheticConfig | None = None, *,
                            overwrite: bool = False) -> Path:
    """Write ``metadata.csv`` + ``waveforms.hdf5`` into folder ``path``; returns the path.

    Deterministic given ``config.seed``. Raises FileExistsError when ``path`` exists unless
    ``overwrite``.
    """
    cfg = config or SyntheticConfig()
    cfg.validate()
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True or choose another folder")
    rng = np.random.default_rng(cfg.seed)
    splits = _split_labels(rng, cfg.n_traces, cfg.split_fractions)
    noise_flags = rng.random(cfg.n_traces) < cfg.noise_fraction
    with atomic_path(path, directory=True) as tmp:
        writer = sbd.WaveformDataWriter(tmp / "metadata.csv", tmp / "waveforms.hdf5")
        with writer:
            writer.data_format = {
                "dimension_order": "CW",
                "component_order": "ZNE",
                "sampling_rate": cfg.sampling_rate,
                "measurement": "velocity",
                "unit": "counts",
                "instrument_response": "not restituted",
            }
            writer._pbar = progress(total=cfg.n_traces, desc="synthetic traces")
            for i in range(cfg.n_traces):
                trace_rng = np.random.default_rng([cfg.seed, i])
                wave, meta = make_trace(trace_rng, cfg, bool(noise_flags[i]))
                meta["trace_name"] = f"synthetic_{i:06d}"
                meta["source_id"] = f"syn{cfg.seed}_{i:06d}"
                meta["split"] = str(splits[i])
                writer.add_trace(meta, wave)
    return path
