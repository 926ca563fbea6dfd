"""BlueDisc's data pipeline in both forms (seisbench.generate chain and batched, bit-identical).

Per trace: with probability 2/3 a window around a random pick (3000 samples before it, 6000
long, cut at the trace ends), else none (SeisBench's ``OneOf`` over that and a
``NullAugmentation``; its ``np.random.choice`` draw comes first), then a random 3001-sample
window (padded); float32; Gaussian pick labels (sigma 20) in the order P, S, N; a tapered
detection label (1 from P to S + 1.4 (S - P), Gaussian tails of the same sigma outside it);
demean + peak normalisation. SeisBench has no tapered detection labeller:
:class:`TaperedDetectionLabeller` is the chain form, :func:`tapered_detection_labels` the batched
one.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import seisbench.generate as sbg

from jaxgeo.seismic.batches import (
    DETECTION_FACTOR,
    TraceTable,
    _random_window,
    normalize,
    phase_labels,
    read_traces,
    window_around,
)
from jaxgeo.seismic.data import PIPELINES, BatchLoader, _fits_in_memory, get_split, make_generator
from jaxgeo.seismic.labels import phases_of, pick_columns

__all__ = ["WINDOW", "BEFORE", "AROUND", "SIGMA", "ONE_OF", "tapered_detection_labels",
           "TaperedDetectionLabeller", "bluedisc_augmentations", "BlueDiscBatches",
           "generator_targets", "bluedisc_loader",
           "bluedisc_onsets_loader"]

WINDOW, BEFORE, AROUND, SIGMA = 3001, 3000, 6000, 20
ONE_OF = np.array([2, 1]) / 3  # P(window around a pick), P(no pre-window)


def _gaussian(onset: int, length: int, sigma: float) -> np.ndarray:
    """SeisBench's ``gaussian_pick``: exp(-(t - onset)^2 / (2 sigma^2)), float64."""
    d = np.arange(length) - onset
    return np.exp(-np.power(d, 2.0) / (2 * np.power(sigma, 2.0)))


def _tapered(p: float, s: float, length: int, sigma: float, factor: float) -> np.ndarray:
    y = np.zeros(length)
    if not (np.isfinite(p) and np.isfinite(s) and s >= p):
        return y
    p0, p1 = max(int(p), 0), max(int(s + factor * (s - p)), 0)
    y[:p0] = _gaussian(p0, length, sigma)[:p0]
    y[p1:] = _gaussian(p1, length, sigma)[p1:]
    y[p0:p1] = 1
    return y


def tapered_detection_labels(onsets: np.ndarray, length: int, phases: np.ndarray,
                             sigma: float = SIGMA, factor: float = DETECTION_FACTOR
                             ) -> np.ndarray:
    """``[B, length]`` float32 tapered detections for window-relative ``onsets [B, K]`` of K
    pick columns of phase ``phases [K]`` (0 P, 1 S): 1 on ``[P, S + factor (S - P))`` (P, S the
    earliest onsets, truncated to samples, at least 0), Gaussian tails of width ``sigma``
    before and after; 0 without a P and an S or with S before P."""
    phases = np.asarray(phases)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no pick of a phase
        p = np.nanmin(onsets[:, phases == 0], axis=1) if np.any(phases == 0) else \
            np.full(len(onsets), np.nan)
        s = np.nanmin(onsets[:, phases == 1], axis=1) if np.any(phases == 1) else \
            np.full(len(onsets), np.nan)
    return np.stack([_tapered(a, b, length, sigma, factor) for a, b in zip(p, s, strict=True)]
                    ).astype(np.float32)


class TaperedDetectionLabeller:
    """seisbench.generate labeller: ``state_dict[key] = ([1, samples] float64, metadata)``, the
    tapered detection of :func:`tapered_detection_labels` from the window's metadata."""

    def __init__(self, p_columns: Sequence[str], s_columns: Sequence[str], sigma: float = SIGMA,
                 factor: float = DETECTION_FACTOR, key: str = "detection"):
        self.p_columns, self.s_columns = list(p_columns), list(s_columns)
        self.sigma, self.factor, self.key = sigma, factor, key

    def __call__(self, state_dict):
        x, meta = state_dict["X"]

        def earliest(columns):
            values = [meta[c] for c in columns if c in meta and not np.isnan(meta[c])]
            return min(values) if values else np.nan

        y = _tapered(earliest(self.p_columns), earliest(self.s_columns), x.shape[-1],
                     self.sigma, self.factor)
        state_dict[self.key] = (y[None, :], meta)


def bluedisc_augmentations(columns: Mapping[str, str]) -> list:
    """The chain of the module docstring for pick columns ``columns`` (column -> P or S)."""
    return [
        sbg.OneOf([sbg.WindowAroundSample(list(columns), samples_before=BEFORE,
                                          windowlen=AROUND, selection="random",
                                          strategy="variable"),
                   sbg.NullAugmentation()], probabilities=[2, 1]),
        sbg.RandomWindow(windowlen=WINDOW, strategy="pad"),
        sbg.ChangeDtype(np.float32),
        sbg.ProbabilisticLabeller(label_columns=dict(columns), model_labels="PSN", sigma=SIGMA,
                                  dim=0),
        TaperedDetectionLabeller(phases_of(columns, "P"), phases_of(columns, "S")),
        sbg.Normalize(demean_axis=-1, amp_norm_axis=-1, amp_norm_type="peak"),
    ]


class BlueDiscBatches:
    """Batched form over a :class:`~jaxgeo.seismic.batches.TraceTable` for
    :class:`~jaxgeo.seismic.data.BatchLoader`: ``X [B, 3001, C]``, ``y [B, 3001, 3]`` (P, S, N)
    and ``detection [B, 3001]``, equal to the chain's arrays for the same sample seeds."""

    def __init__(self, table: TraceTable, onsets: bool = False):
        self.table, self.onsets = table, onsets

    def __len__(self) -> int:
        return len(self.table)

    def make_batch(self, indices, seeds) -> dict[str, np.ndarray]:
        table, w = self.table, WINDOW
        channels = table.waveforms[int(indices[0])].shape[0]
        x = np.zeros((len(indices), channels, w), np.float32)
        onsets = np.empty((len(indices), table.onsets.shape[1]))
        rng = np.random.RandomState()
        for b, (i, seed) in enumerate(zip(indices, seeds, strict=True)):
            trace, rel = table.waveforms[int(i)], table.onsets[int(i)]
            rng.seed(seed)
            n = trace.shape[-1]
            if rng.choice(2, p=ONE_OF) == 0:  # OneOf's draw: the window around a pick
                lo, length = window_around(n, rel, BEFORE, AROUND, rng)
                hi, rel = lo + length, rel - lo
            else:
                lo, hi, length = 0, n, n
            start = _random_window(length, w, rng)
            rel = rel - start
            start += lo
            a, e = max(start, lo), min(start + w, hi)
            if e > a:
                x[b, :, a - start:e - start] = trace[:, a:e]
            onsets[b] = rel
        batch = {"X": np.ascontiguousarray(normalize(x, "peak").transpose(0, 2, 1)),
                 "y": phase_labels(onsets, w, SIGMA, table.phases, order="PSN"),
                 "detection": tapered_detection_labels(onsets, w, table.phases)}
        if self.onsets:  # window-relative onsets inside the window (NaN elsewhere), for scoring
            inside = np.where((onsets >= 0) & (onsets < w), onsets, np.nan)
            batch["onsets_P"] = inside[:, table.phases == 0]
            batch["onsets_S"] = inside[:, table.phases == 1]
        return batch


def generator_targets(batch: Mapping[str, np.ndarray], label: str) -> dict[str, np.ndarray]:
    """``{"X", "y"}`` for the generator: ``y`` channels P, S, N (``label="N"``) or P, S and the
    tapered detection (``label="D"``)."""
    if label not in ("D", "N"):
        raise ValueError(f"label={label!r}: use 'D' or 'N'")
    y = np.asarray(batch["y"])
    if label == "D":
        y = np.concatenate([y[..., :2], np.asarray(batch["detection"])[..., None]], axis=-1)
    return {"X": np.asarray(batch["X"]), "y": y.astype(np.float32)}


def bluedisc_loader(dataset, split: str, *, batch_size: int, seed: int = 42,
                    shuffle: bool | None = None, epochs: int | None = None,
                    prefetch: int = 4, pipeline: str = "auto") -> BatchLoader:
    """BlueDisc batches of ``split`` (``X``, ``y`` P/S/N, ``detection``), endless by default.

    Args:
      dataset: a SeisBench ``WaveformDataset`` (``load_dataset``: any name, a folder or
        ``synthetic``).
      split: ``train``, ``dev`` or ``test``.
      batch_size: traces per batch; seed: the stream's seed (windows and shuffling).
      shuffle: default True for ``train``; epochs: None = endless.
      pipeline: ``seisbench`` (the chain), ``batched`` (in memory) or ``auto``.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline={pipeline!r}: use one of {PIPELINES}")
    part = get_split(dataset, split)
    columns = pick_columns(part.metadata.columns)
    if pipeline == "batched" or (pipeline == "auto" and _fits_in_memory(part)):
        source = BlueDiscBatches(read_traces(part, columns))
    else:
        source = make_generator(part, bluedisc_augmentations(columns))
    train = split == "train"
    return BatchLoader(source, batch_size, shuffle=train if shuffle is None else shuffle,
                       seed=seed, epochs=epochs, prefetch=prefetch, drop_last=train)


def bluedisc_onsets_loader(dataset, split: str, batch_size: int, seed: int = 42) -> BatchLoader:
    """One pass over ``split`` in order (batched pipeline) with ``onsets_P [B, Kp]`` and
    ``onsets_S [B, Ks]`` (window-relative samples, NaN when absent) for evaluation."""
    part = get_split(dataset, split)
    table = read_traces(part, pick_columns(part.metadata.columns))
    return BatchLoader(BlueDiscBatches(table, onsets=True), batch_size, shuffle=False,
                       seed=seed, epochs=1, prefetch=0, drop_last=False)
