"""BlueDisc's evaluation: peaks of the P and S probability traces, greedy matching to the
labelled picks, effective detections and the 0.5-amplitude suppression band.

Definitions (samples at 100 Hz):

* a predicted pick is a peak of a channel's probability (height >= 0.1, peaks at least 100
  samples apart; the semantics of ``scipy.signal.find_peaks(height=, distance=)``);
* matching is greedy nearest: all (label, peak) pairs of one trace and phase in increasing
  ``|Δt|``, each label and each peak used at most once;
* an *effective* detection is a matched label with ``|Δt| <= 10`` samples and peak >= 0.7;
* the *suppression band* holds the matched labels with ``|Δt| < 0.1 s`` and peak in
  ``[0.4, 0.6]``.

Channels are read by name (``phases``, e.g. ``"PSD"``), never by position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["find_peaks", "Match", "match_greedy", "PhaseScores", "score_phase", "evaluate",
           "comparison_table", "density_figure", "prediction_figure"]

HEIGHT, DISTANCE = 0.1, 100
EFFECTIVE_DT, EFFECTIVE_PEAK = 10, 0.7
BAND = (0.4, 0.6)
BAND_SECONDS = 0.1


def find_peaks(x: np.ndarray, height: float = HEIGHT, distance: int = DISTANCE
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, heights)`` of the local maxima of ``x [T]`` at least `height` high, thinned
    so that no two are closer than `distance` samples (the higher one stays).

    A flat top counts once, at its middle sample (rounded down); the end samples are never
    peaks. Equal to ``scipy.signal.find_peaks(x, height=height, distance=distance)[0]``.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"find_peaks expects a 1-D trace, got shape {x.shape}")
    if distance < 1:
        raise ValueError(f"distance={distance}: must be >= 1 sample")
    peaks = []
    i, n = 1, len(x)
    while i < n - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < n - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
                continue
        i += 1
    peaks = np.asarray([p for p in peaks if x[p] >= height], np.int64)
    if len(peaks) > 1 and distance > 1:
        keep = np.ones(len(peaks), bool)
        # ties in height: numpy's default argsort order, as scipy breaks them
        for k in np.argsort(x[peaks])[::-1]:
            if not keep[k]:
                continue
            close = np.abs(peaks - peaks[k]) < distance
            close[k] = False
            keep[close] = False
        peaks = peaks[keep]
    return peaks, x[peaks]


@dataclass(frozen=True)
class Match:
    """A labelled pick ``label`` (sample) matched to a predicted peak at ``pick``."""

    label: float
    pick: int
    height: float

    @property
    def dt(self) -> float:
        return self.pick - self.label


def match_greedy(labels: Sequence[float], picks: np.ndarray, heights: np.ndarray
                 ) -> tuple[list[Match], list[float]]:
    """Greedy nearest matching of one trace's labelled picks to its predicted peaks.

    Returns ``(matches, missed labels)``; NaN labels are ignored.
    """
    labels = [float(a) for a in labels if np.isfinite(a)]
    pairs = sorted((abs(p - a), i, j) for i, a in enumerate(labels)
                   for j, p in enumerate(picks))
    used_l, used_p, matches = set(), set(), []
    for _, i, j in pairs:
        if i in used_l or j in used_p:
            continue
        used_l.add(i)
        used_p.add(j)
        matches.append(Match(labels[i], int(picks[j]), float(heights[j])))
    missed = [a for i, a in enumerate(labels) if i not in used_l]
    return matches, missed


@dataclass(frozen=True)
class PhaseScores:
    """One phase's counts over a data set and the matched (Δt, peak) pairs."""

    labels: int
    matched: int
    effective: int
    band: int
    dts: np.ndarray
    heights: np.ndarray

    @property
    def band_fraction(self) -> float:
        return self.band / self.labels if self.labels else float("nan")

    @property
    def effective_fraction(self) -> float:
        return self.effective / self.labels if self.labels else float("nan")


def score_phase(probabilities: np.ndarray, onsets: np.ndarray, sampling_rate: float = 100.0,
                height: float = HEIGHT, distance: int = DISTANCE) -> PhaseScores:
    """Score one phase: ``probabilities [N, T]`` of the channel, ``onsets [N]`` or ``[N, K]``
    labelled samples (NaN: none)."""
    onsets = np.asarray(onsets, np.float64).reshape(len(probabilities), -1)
    band_dt = BAND_SECONDS * sampling_rate
    n_labels = matched = effective = band = 0
    dts, heights = [], []
    for prob, trace_onsets in zip(probabilities, onsets, strict=True):
        picks, peak_heights = find_peaks(prob, height, distance)
        matches, _ = match_greedy(trace_onsets, picks, peak_heights)
        n_labels += int(np.isfinite(trace_onsets).sum())
        for m in matches:
            matched += 1
            dts.append(m.dt)
            heights.append(m.height)
            effective += abs(m.dt) <= EFFECTIVE_DT and m.height >= EFFECTIVE_PEAK
            band += abs(m.dt) < band_dt and BAND[0] <= m.height <= BAND[1]
    return PhaseScores(n_labels, matched, int(effective), int(band), np.asarray(dts),
                       np.asarray(heights))


def evaluate(predictions: np.ndarray, onsets: Mapping[str, np.ndarray], phases: str,
             sampling_rate: float = 100.0) -> dict[str, PhaseScores]:
    """Scores of each phase in `onsets` (``{"P": [N, K], "S": [N, K]}``) from ``predictions
    [N, T, 3]`` (probabilities, channels named by `phases`, e.g. ``"PSD"``)."""
    return {ph: score_phase(predictions[..., phases.index(ph)], onsets[ph], sampling_rate)
            for ph in onsets}


def comparison_table(runs: Mapping[str, Mapping[str, PhaseScores]]) -> str:
    """A markdown table of runs: labels, effective detections and the suppression band."""
    lines = ["| run | phase | labels | matched | effective | effective % | band % |",
             "|---|---|---|---|---|---|---|"]
    for run, scores in runs.items():
        for ph, s in scores.items():
            lines.append(f"| {run} | {ph} | {s.labels} | {s.matched} | {s.effective} | "
                         f"{100 * s.effective_fraction:.1f} | {100 * s.band_fraction:.1f} |")
    return "\n".join(lines) + "\n"


def density_figure(scores: Mapping[str, PhaseScores], title: str = ""):
    """Peak amplitude vs time error (samples) density, one panel per phase (matplotlib)."""
    import matplotlib  # optional plotting dependency, imported only when a figure is made
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 4), squeeze=False)
    for ax, (ph, s) in zip(axes[0], scores.items(), strict=True):
        ax.hist2d(s.dts, s.heights, bins=[np.linspace(-50, 50, 51), np.linspace(0, 1, 41)],
                  cmap="viridis")
        ax.axhspan(*BAND, color="w", alpha=0.15)
        ax.set(xlabel="time error (samples)", ylabel="peak amplitude", title=f"{title} {ph}")
    fig.tight_layout()
    return fig


def prediction_figure(x: np.ndarray, y: np.ndarray, pred: np.ndarray, phases: str,
                      title: str = ""):
    """One tracked sample: waveform ``x [T, 3]`` above the labels ``y`` (dashed) and the
    prediction ``pred [T, 3]`` (probabilities), channels named by `phases`."""
    import matplotlib  # optional plotting dependency, imported only when a figure is made
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4), sharex=True)
    top.plot(x + np.arange(x.shape[-1]) * 2.0, lw=0.5)
    for k, ph in enumerate(phases):
        line, = bottom.plot(pred[:, k], label=ph)
        bottom.plot(y[:, k], ls="--", color=line.get_color(), lw=0.8)
    bottom.set(ylim=(-0.05, 1.05), xlabel="sample", ylabel="probability")
    bottom.legend(loc="upper right")
    top.set_title(title)
    fig.tight_layout()
    return fig
