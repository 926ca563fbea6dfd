"""Phase-picking batches made a whole batch at a time, equal to the seisbench.generate chain.

:func:`jaxgeo.seismic.data.phase_augmentations` runs SeisBench's augmentations one trace at a
time: about 0.9 ms of CPU per trace (pandas row lookups, ``np.take`` windowing, the labeller),
60 ms per batch of 64, which on a 2-core machine is CPU taken from the training step.
:class:`PhaseBatches` keeps a split's traces in memory and makes the same batches from the same
random draws (a ``RandomState`` reseeded per sample with the seed that
:class:`~jaxgeo.seismic.data.BatchLoader` gives numpy's global RNG for seisbench), with the
normalisation and the labels computed for the whole batch at once: the output equals the
seisbench path's (``tests/test_seismic_batches.py``).

Window rules, for a trace of ``n`` samples and a ``window`` of ``w`` samples:

* ``around_picks``: ``WindowAroundSample`` (a random available pick, ``w`` samples before it,
  ``2 w`` long, cut at the trace ends), then ``RandomWindow(w, strategy="pad")`` inside it;
* ``random``: ``RandomWindow(w, strategy="pad")`` over the whole trace;
* ``onsets_inside``: :class:`~jaxgeo.seismic.labels.WindowContainingOnsets`.

Each rule yields a window start and the part ``[lo, hi)`` of the trace it may show; samples of the
window outside it are zero (SeisBench's padding).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from jaxgeo.core.logging import progress
from jaxgeo.seismic.labels import (
    PHASE_COLUMNS,
    WINDOW_MODES,
    WindowContainingOnsets,
    log_peak_amplitude,
)

__all__ = [
    "NORMALIZE_EPS",
    "DETECTION_FACTOR",
    "TraceTable",
    "read_traces",
    "window_around",
    "draw_window",
    "normalize",
    "phase_labels",
    "detection_labels",
    "magnitude_labels",
    "PhaseBatches",
]

# SeisBench's Normalize eps and DetectionLabeller factor (detections run P .. S + 1.4 (S - P))
NORMALIZE_EPS = 1e-10
DETECTION_FACTOR = 1.4


@dataclass(frozen=True)
class TraceTable:
    """A split's traces and the metadata the phase labels need, as ``get_sample`` returns them.

    ``waveforms``: one ``[channels, n_i]`` array per trace (resampled, in the dataset's
    component order); ``onsets``: ``[N, K]`` samples of the K pick columns (NaN where
    missing); ``phases``: ``[K]`` 0 for a P column, 1 for an S column;
    ``magnitudes``: ``[N]`` (NaN where missing).
    """

    waveforms: tuple[np.ndarray, ...]
    onsets: np.ndarray
    magnitudes: np.ndarray
    phases: np.ndarray

    def __len__(self) -> int:
        return len(self.waveforms)


def read_traces(part, columns: Mapping[str, str] = PHASE_COLUMNS,
                magnitude_column: str = "source_magnitude") -> TraceTable:
    """Read every trace of a ``WaveformDataset`` (a split) into memory, with a progress bar.

    Args:
      part: the dataset or split.
      columns: pick column -> "P" or "S" (:func:`~jaxgeo.seismic.labels.pick_columns`).
      magnitude_column: the metadata column of the event magnitude.
    """
    waveforms, onsets, magnitudes = [], [], []
    for i in progress(range(len(part)), desc="reading traces"):
        x, meta = part.get_sample(i)
        waveforms.append(x)
        onsets.append([_as_float(meta.get(c)) for c in columns])
        magnitudes.append(_as_float(meta.get(magnitude_column)))
    phases = np.asarray([0 if p == "P" else 1 for p in columns.values()], np.int64)
    return TraceTable(tuple(waveforms), np.asarray(onsets, np.float64).reshape(-1, len(columns)),
                      np.asarray(magnitudes, np.float64), phases)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _random_window(m: int, w: int, rng) -> int:
    """Start of SeisBench's ``RandomWindow(windowlen=w, strategy="pad")`` in ``m`` samples."""
    return int(rng.randint(m - w, 1)) if m < w else int(rng.randint(0, m - w + 1))


def window_around(n: int, onsets, before: int, length: int, rng) -> tuple[int, int]:
    """``(start, length)`` of SeisBench's ``WindowAroundSample(samples_before=before,
    windowlen=length, selection="random", strategy="variable")`` in a trace of ``n`` samples:
    a random finite onset (``before`` without any), ``before`` samples earlier, cut at the
    trace ends. ``rng``: the sample's ``RandomState`` (one ``choice`` draw)."""
    picks = [float(o) for o in onsets if np.isfinite(o)] or [float(before)]
    p = int(rng.choice(picks) - before)  # truncated, as WindowAroundSample does
    if p < 0:  # FixedWindow(strategy="variable") cuts at the trace start ...
        length, p = max(0, length + p), 0
    if n < p + length:  # ... and at its end
        p = min(p, n)
        length = n - p
    return p, length


def draw_window(mode: str, n: int, onsets, w: int, containing: WindowContainingOnsets | None,
                rng) -> tuple[tuple[int, ...], int, int]:
    """``(shifts, lo, hi)`` for one trace of ``n`` samples and a ``w``-sample window: the window
    starts at ``sum(shifts)`` (SeisBench moves the onsets by each shift in turn) and shows the
    trace's samples ``[lo, hi)``. ``containing``: the ``onsets_inside`` windower.

    ``rng`` is the sample's ``RandomState``; the draws are SeisBench's, in SeisBench's order.
    """
    if mode == "around_picks":
        p, length = window_around(n, onsets, w, 2 * w, rng)
        return (p, _random_window(length, w, rng)), p, p + length
    if mode == "random":
        return (_random_window(n, w, rng),), 0, n
    if mode == "onsets_inside":
        return (containing.start(n, onsets, rng),), 0, n
    raise ValueError(f"mode must be one of {WINDOW_MODES}, got {mode!r}")


def normalize(x: np.ndarray, norm: str) -> np.ndarray:
    """Demean, then divide by the std or the absolute peak along the last axis (+1e-10)."""
    x = x - np.mean(x, axis=-1, keepdims=True)
    if norm == "peak":
        return x / (np.max(np.abs(x), axis=-1, keepdims=True) + NORMALIZE_EPS)
    return x / (np.std(x, axis=-1, keepdims=True) + NORMALIZE_EPS)


def phase_labels(onsets: np.ndarray, length: int, sigma: float,
                 phases: np.ndarray | None = None, order: str = "NPS") -> np.ndarray:
    """``[B, length, 3]`` float32 Gaussian pick labels, channels in ``order`` (a permutation of
    "NPS", SeisBench's ``model_labels``; default N, P, S) for window-relative
    ``onsets [B, K]`` (samples) of K pick columns whose phase is ``phases [K]`` (0 P, 1 S;
    default: K = 2 columns, P then S).

    SeisBench's ``ProbabilisticLabeller``, in float64 with its operations in its order:
    exp(-(t - onset)^2 / (2 sigma^2)) per column (0 where the onset is missing), the maximum
    over the columns of one phase, P and S divided by max(1, P + S), N = 1 - P - S.
    """
    phases = np.asarray([0, 1] if phases is None else phases)
    columns = np.arange(length) - onsets[:, :, None]  # [B, K, length]
    np.multiply(columns, columns, out=columns)  # = np.power(., 2.0), computed as x * x
    columns /= -(2 * np.power(sigma, 2.0))  # a / -c == -a / c exactly
    np.exp(columns, out=columns)
    columns[np.isnan(onsets)] = 0
    picks = np.zeros((len(onsets), 2, length))
    for k, phase in enumerate(phases):
        np.maximum(picks[:, phase], columns[:, k], out=picks[:, phase])
    picks /= np.maximum(1, picks[:, 0] + picks[:, 1])[:, None, :]
    if sorted(order) != ["N", "P", "S"]:
        raise ValueError(f"order={order!r}: a permutation of 'NPS'")
    labels = np.empty((len(onsets), length, 3), np.float32)
    labels[..., order.index("N")] = 1 - (picks[:, 0] + picks[:, 1])
    labels[..., order.index("P")] = picks[:, 0]
    labels[..., order.index("S")] = picks[:, 1]
    return labels


def detection_labels(onsets: np.ndarray, length: int,
                     phases: np.ndarray | None = None) -> np.ndarray:
    """``[B, length]`` SeisBench ``DetectionLabeller`` labels: 1 from P to S + 1.4 (S - P),
    with P and S the earliest onsets of the P and the S columns (``phases`` as in
    :func:`phase_labels`)."""
    phases = np.asarray([0, 1] if phases is None else phases)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no pick of that phase
        p = np.nanmin(onsets[:, phases == 0], axis=1, keepdims=True)
        s = np.nanmin(onsets[:, phases == 1], axis=1, keepdims=True)
    valid = np.isfinite(p) & np.isfinite(s) & (s >= p)
    with np.errstate(invalid="ignore"):
        end = np.trunc(s + DETECTION_FACTOR * (s - p))
        t = np.arange(length)[None, :]
        return (valid & (t >= np.trunc(p)) & (t < end)).astype(np.float32)


def magnitude_labels(onsets: np.ndarray, magnitudes: np.ndarray, length: int,
                     use: np.ndarray | None = None) -> np.ndarray:
    """``[B, length]`` :class:`~jaxgeo.seismic.labels.MagnitudeLabeller` labels: 0 before the
    first pick, the magnitude from it on (0 throughout without a pick or a magnitude).

    ``use [K]`` (bool, default all): the pick columns of ``onsets [B, K]`` that may start the
    label (``--phases``)."""
    if use is not None:
        onsets = np.where(np.asarray(use, bool)[None, :], onsets, np.nan)
    earliest = np.min(np.where(np.isfinite(onsets), onsets, np.inf), axis=1)
    valid = np.isfinite(earliest) & np.isfinite(magnitudes)
    first = np.clip(np.floor(np.where(valid, earliest, length)), 0, length)
    mask = np.arange(length)[None, :] >= first[:, None]
    return np.where(mask, magnitudes.astype(np.float32)[:, None], np.float32(0))


class PhaseBatches:
    """Batch source for :class:`~jaxgeo.seismic.data.BatchLoader` over a :class:`TraceTable`.

    ``make_batch(indices, seeds)`` returns ``X [B, window, C]`` float32 and ``y [B, window, 3]``
    float32, plus ``detection``/``magnitude [B, window]`` float32 when asked for, the same
    arrays the seisbench chain of :func:`~jaxgeo.seismic.data.phase_augmentations` gives.
    ``amplitude``: ``X`` gets C more channels, the window's log10 peak amplitudes
    (:func:`~jaxgeo.seismic.labels.log_peak_amplitude`) constant in time (``[B, window, 2C]``);
    ``magnitude_onsets [K]`` (bool): the pick columns that may start the magnitude label.
    """

    def __init__(self, table: TraceTable, *, norm: str = "std", sigma: float = 20,
                 window: int = 3001, mode: str = "around_picks", margin: int = 50,
                 detection: bool = False, magnitude: bool = False, amplitude: bool = False,
                 magnitude_onsets: np.ndarray | None = None):
        if norm not in ("std", "peak"):
            raise ValueError(f"norm must be 'std' or 'peak', got {norm!r}")
        if mode not in WINDOW_MODES:
            raise ValueError(f"mode must be one of {WINDOW_MODES}, got {mode!r}")
        # the onsets_inside windower (it validates the margin); other modes do not use it
        self.containing = (WindowContainingOnsets(window, margin) if mode == "onsets_inside"
                           else None)
        self.table = table
        self.norm, self.sigma, self.window, self.mode = norm, sigma, int(window), mode
        self.detection, self.magnitude = detection, magnitude
        self.amplitude, self.magnitude_onsets = amplitude, magnitude_onsets

    def __len__(self) -> int:
        return len(self.table)

    def make_batch(self, indices, seeds) -> dict[str, np.ndarray]:
        w, table = self.window, self.table
        first = table.waveforms[int(indices[0])]
        x = np.zeros((len(indices), first.shape[0], w), first.dtype)
        onsets = np.empty((len(indices), table.onsets.shape[1]))
        rng = np.random.RandomState()  # reseeded per sample: 2 us, where a new one costs 100 us
        for b, (i, seed) in enumerate(zip(indices, seeds, strict=True)):
            trace, trace_onsets = table.waveforms[int(i)], table.onsets[int(i)]
            rng.seed(seed)
            shifts, lo, hi = draw_window(self.mode, trace.shape[-1], trace_onsets, w,
                                         self.containing, rng)
            start = sum(shifts)
            a, e = max(start, lo), min(start + w, hi)
            if e > a:
                x[b, :, a - start : e - start] = trace[:, a:e]
            rel = trace_onsets
            for shift in shifts:  # in turn, as SeisBench does (float rounding)
                rel = rel - shift
            onsets[b] = rel
        channels = normalize(x, self.norm).astype(np.float32)
        if self.amplitude:  # log peak amplitudes as extra channels, constant in time
            amp = log_peak_amplitude(x).astype(np.float32)
            channels = np.concatenate([channels, np.broadcast_to(amp[:, :, None],
                                                                 channels.shape)], axis=1)
        batch = {"X": np.ascontiguousarray(channels.transpose(0, 2, 1)),
                 "y": phase_labels(onsets, w, self.sigma, table.phases)}
        if self.detection:
            batch["detection"] = detection_labels(onsets, w, table.phases)
        if self.magnitude:
            picked = table.magnitudes[np.asarray(indices, int)]
            batch["magnitude"] = magnitude_labels(onsets, picked, w, self.magnitude_onsets)
        return batch
