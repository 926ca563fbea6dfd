"""Pick columns, windows and labels: the definitions both phase pipelines share.

:mod:`jaxgeo.seismic.data` (the seisbench.generate chain, one trace at a time) and
:mod:`jaxgeo.seismic.batches` (a whole batch at a time, bit-identical) both read their rules
from here, so neither imports the other.

Pick columns: a SeisBench dataset stores onsets in columns ``trace_<phase>_arrival_sample``.
:data:`SEISBENCH_PHASES` maps the phase names SeisBench's pick benchmark groups into P and S
(Pg, Pn, P1, pP, ... are P; Sg, Sn, S1, ... are S); :func:`pick_columns` selects the ones a
dataset carries, so that a trace picked only in Pg/Sg is an event, not noise. Several
columns of one phase are labelled as SeisBench's ``ProbabilisticLabeller`` does with a
column -> phase dict: the maximum of their Gaussians.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import seisbench.generate as sbg

__all__ = ["WINDOW", "WINDOW_MODES", "PHASE_COLUMNS", "SEISBENCH_PHASES", "AMPLITUDE_EPS",
           "pick_columns", "phases_of", "onset_columns", "log_peak_amplitude",
           "MagnitudeLabeller", "RecordLogAmplitude", "AppendLogAmplitude",
           "WindowContainingOnsets"]

# added to the peak before log10 (SeisBench's Normalize eps): an all-zero channel gives -10
AMPLITUDE_EPS = 1e-10

WINDOW = 3001
WINDOW_MODES = ("around_picks", "random", "onsets_inside")
# The columns of jaxgeo's own synthetic datasets (and the fallback for a table without picks).
PHASE_COLUMNS = {"trace_P_arrival_sample": "P", "trace_S_arrival_sample": "S"}
# Phase name -> P or S, as SeisBench's pick benchmark groups them ("phase_dict").
SEISBENCH_PHASES = {
    **{f"trace_{p}_arrival_sample": "P"
       for p in ("p", "pP", "P", "P1", "Pg", "Pn", "PmP", "pwP", "pwPm")},
    **{f"trace_{s}_arrival_sample": "S" for s in ("s", "S", "S1", "Sg", "SmS", "Sn")},
}


def pick_columns(columns: Iterable[str]) -> dict[str, str]:
    """The pick columns among `columns` (a dataset's metadata columns), column -> P or S.

    Ordered as :data:`SEISBENCH_PHASES` (P columns first, then S), which fixes the order of
    SeisBench's random pick choice. Without any pick column, :data:`PHASE_COLUMNS`.
    """
    present = set(columns)
    found = {c: phase for c, phase in SEISBENCH_PHASES.items() if c in present}
    return found or dict(PHASE_COLUMNS)


def phases_of(columns: Mapping[str, str], phase: str) -> list[str]:
    """The columns of `columns` labelled `phase` ("P" or "S"), in order."""
    return [c for c, p in columns.items() if p == phase]


def onset_columns(columns: Mapping[str, str], phases: str = "PS") -> list[str]:
    """The pick columns of `columns` (column -> "P"/"S") whose phase is in `phases`: the
    columns whose earliest pick starts a magnitude label (``--phases``)."""
    bad = set(phases) - {"P", "S"}
    if not phases or bad or len(set(phases)) != len(phases):
        raise ValueError(f"phases {phases!r}: use P, S or PS (the pick columns that start the "
                         "magnitude label)")
    return [c for c, p in columns.items() if p in phases]


def log_peak_amplitude(x: np.ndarray) -> np.ndarray:
    """``log10(max_t |x - mean_t x| + 1e-10)`` per channel: ``[..., C, T]`` -> ``[..., C]``.

    The amplitude scale that per-window normalisation removes (x in the dataset's units,
    e.g. counts); a magnitude model needs it (see :mod:`jaxgeo.seismic.magnitude`).
    """
    x = x - np.mean(x, axis=-1, keepdims=True)
    return np.log10(np.max(np.abs(x), axis=-1) + AMPLITUDE_EPS)


class RecordLogAmplitude:
    """SeisBench augmentation, before ``Normalize``: stores :func:`log_peak_amplitude` of the
    window ``X [C, T]`` as ``state_dict[key]``."""

    def __init__(self, key: str = "log_amplitude"):
        self.key = key

    def __call__(self, state_dict):
        x, meta = state_dict["X"]
        state_dict[self.key] = (log_peak_amplitude(x), meta)


class AppendLogAmplitude:
    """SeisBench augmentation, after ``Normalize``/``ChangeDtype``: appends the recorded log
    amplitudes as C channels constant in time (``X [C, T]`` -> ``[2C, T]``) and drops the
    key."""

    def __init__(self, key: str = "log_amplitude"):
        self.key = key

    def __call__(self, state_dict):
        x, meta = state_dict["X"]
        amp, _ = state_dict.pop(self.key)
        extra = np.broadcast_to(amp.astype(x.dtype)[:, None], x.shape)
        state_dict["X"] = (np.concatenate([x, extra], axis=0), meta)


class MagnitudeLabeller:
    """Magnitude label: 0 before the first valid pick in the window, the magnitude after it.

    Writes ``state_dict[key] = ([samples] float32, metadata)``; noise traces (no pick) are 0.
    """

    def __init__(self, phase_columns: Iterable[str] = tuple(PHASE_COLUMNS),
                 magnitude_column: str = "source_magnitude", key: str = "magnitude"):
        self.phase_columns = tuple(phase_columns)
        self.magnitude_column = magnitude_column
        self.key = key

    def __call__(self, state_dict):
        x, meta = state_dict["X"]
        n = x.shape[-1]
        picks = [meta.get(c, np.nan) for c in self.phase_columns]
        picks = [p for p in picks if p is not None and np.isfinite(p)]
        label = np.zeros(n, np.float32)
        mag = meta.get(self.magnitude_column, np.nan)
        if picks and mag is not None and np.isfinite(mag):
            first = int(np.clip(np.floor(min(picks)), 0, n))
            label[first:] = mag
        state_dict[self.key] = (label, meta)


class WindowContainingOnsets:
    """A ``windowlen`` window (seisbench ``FixedWindow``, padded) with every onset inside it at
    least ``margin`` samples from both window edges; a random window for traces without onsets.

    The evaluation-window rule of SeisBench's pick benchmark (``generate_eval_targets.py``,
    ``select_window_containing(..., bounds=(50, 50))`` at 100 Hz): an onset is never scored
    at the very border of a window, where the model sees no signal before (or after) it. When
    the onsets spread too wide for that, the window is placed for the first onset only. The
    start is drawn with numpy's global RNG, which :class:`BatchLoader` seeds per sample.
    """

    def __init__(self, windowlen: int = WINDOW, margin: int = 50,
                 phase_columns: Iterable[str] = tuple(PHASE_COLUMNS), key: str = "X"):
        if margin < 0 or 2 * margin >= windowlen:
            raise ValueError(f"margin must lie in [0, windowlen / 2), got {margin}")
        self.windowlen = int(windowlen)
        self.margin = int(margin)
        self.phase_columns = tuple(phase_columns)
        self.key = key

    def start(self, n: int, onsets, rng=np.random) -> int:
        """Window start for a trace of ``n`` samples with the given onset samples; ``rng`` is
        a ``numpy.random.RandomState`` (default: numpy's global one, as seisbench uses)."""
        w, b = self.windowlen, self.margin
        latest_in_trace = max(0, n - w)
        onsets = sorted(float(o) for o in onsets if o is not None and np.isfinite(o))
        if not onsets:
            return int(rng.randint(0, latest_in_trace + 1))
        for group in (onsets, onsets[:1]):
            lo = max(0, int(np.ceil(group[-1])) - (w - 1 - b))
            hi = min(latest_in_trace, int(np.floor(group[0])) - b)
            if lo <= hi:
                return int(rng.randint(lo, hi + 1))
        return int(np.clip(int(onsets[0]) - w // 2, 0, latest_in_trace))

    def __call__(self, state_dict):
        x, meta = state_dict[self.key]
        onsets = [meta.get(c, np.nan) for c in self.phase_columns]
        p0 = self.start(x.shape[-1], onsets)
        sbg.FixedWindow(windowlen=self.windowlen, strategy="pad", key=self.key)(
            state_dict, p0=p0)
