"""Phase-picking metrics (numpy): SeisBench benchmark tasks 1-3 and pick precision/recall/F1.

* task 1, event detection: ROC-AUC of a per-window score against event/noise labels;
* task 2, phase identification: Matthews correlation coefficient of P-vs-S decisions;
* task 3, onset determination: residuals (predicted - true, seconds): mean, RMS, MAE;
* picks: local maxima above ``threshold`` in each phase's probability; a pick is a true
  positive when it lies within ``tolerance`` seconds of an unmatched true pick of that phase.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "roc_curve",
    "roc_auc",
    "matthews_corrcoef",
    "residual_stats",
    "find_picks",
    "PickCounts",
    "phase_metrics",
]


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """False/true positive rates over all thresholds (ties handled as one step)."""
    labels = np.asarray(labels, bool)
    scores = np.asarray(scores, float)
    n_pos, n_neg = labels.sum(), (~labels).sum()
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC needs both positive and negative examples "
                         f"(got {n_pos} positive, {n_neg} negative)")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last_of_tie]
    fp = np.cumsum(~y)[last_of_tie]
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (trapezoidal over the tie-aware curve)."""
    fpr, tpr = roc_curve(labels, scores)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def matthews_corrcoef(y_true, y_pred) -> float:
    """MCC of two binary label vectors; 0 when a marginal is constant."""
    t = np.asarray(y_true, bool)
    p = np.asarray(y_pred, bool)
    tp = float(np.sum(t & p))
    tn = float(np.sum(~t & ~p))
    fp = float(np.sum(~t & p))
    fn = float(np.sum(t & ~p))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else (tp * tn - fp * fn) / denom


def residual_stats(residuals_s) -> dict[str, float]:
    r = np.asarray(residuals_s, float)
    if r.size == 0:
        return {"mean": float("nan"), "rms": float("nan"), "mae": float("nan"), "n": 0}
    return {"mean": float(r.mean()), "rms": float(np.sqrt(np.mean(r**2))),
            "mae": float(np.mean(np.abs(r))), "n": int(r.size)}


def find_picks(prob, threshold: float, min_distance: int = 0) -> np.ndarray:
    """Pick samples: the maximum of every contiguous run of ``prob >= threshold``, then,
    highest first, dropping picks closer than ``min_distance`` samples to a kept one (the
    minimum peak distance of PhaseNet's post-processing, 0.5 s there). Sorted by sample."""
    prob = np.asarray(prob, float)
    above = prob >= threshold
    if not above.any():
        return np.zeros(0, int)
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    picks = np.array([a + int(np.argmax(prob[a:b])) for a, b in zip(starts, stops, strict=True)])
    if min_distance <= 0 or len(picks) < 2:
        return picks
    kept: list[int] = []
    for k in picks[np.argsort(-prob[picks], kind="stable")]:
        if all(abs(int(k) - j) >= min_distance for j in kept):
            kept.append(int(k))
    return np.array(sorted(kept))


@dataclass
class PickCounts:
    tp: int = 0
    n_pred: int = 0
    n_true: int = 0

    def add(self, pred_samples, true_samples, tolerance_samples: float) -> list[float]:
        """Greedy one-to-one matching by distance; returns residuals (samples) of matches."""
        pred = list(np.asarray(pred_samples, float))
        true = [t for t in np.asarray(true_samples, float).ravel() if np.isfinite(t)]
        self.n_pred += len(pred)
        self.n_true += len(true)
        pairs = sorted((abs(p - t), i, j) for i, p in enumerate(pred) for j, t in enumerate(true))
        used_p, used_t, residuals = set(), set(), []
        for dist, i, j in pairs:
            if dist > tolerance_samples or i in used_p or j in used_t:
                continue
            used_p.add(i)
            used_t.add(j)
            residuals.append(pred[i] - true[j])
        self.tp += len(residuals)
        return residuals

    def scores(self) -> dict[str, float]:
        precision = self.tp / self.n_pred if self.n_pred else 0.0
        recall = self.tp / self.n_true if self.n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, **asdict(self)}


def phase_metrics(prob, p_true, s_true, *, sampling_rate: float = 100.0,
                  threshold: float = 0.3, tolerance_s: float = 0.1,
                  id_window_s: float = 0.5, min_pick_distance_s: float = 0.5,
                  detection=None) -> dict:
    """All metrics for a set of windows.

    prob ``[N, T, 3]`` (N, P, S probabilities); ``p_true``/``s_true`` ``[N]`` onset samples
    inside the window or NaN. Task 1 score: max over the window of ``max(P, S)``; windows with
    any pick are events. Task 2: for each true pick, "P" when the max P probability within
    ±``id_window_s`` of it exceeds the max S probability there. Task 3: residual of the
    window's arg-max of the matching phase channel. Picks closer than ``min_pick_distance_s``
    to a higher pick of the same phase are merged into it. ``detection`` ``[N, T]``: a model's
    own detection output (EQTransformer); when given, the task 1 score is its window maximum.
    """
    prob = np.asarray(prob, float)
    p_true = np.asarray(p_true, float)
    s_true = np.asarray(s_true, float)
    n, t, _ = prob.shape
    in_window = lambda a: np.isfinite(a) & (a >= 0) & (a < t)  # noqa: E731
    p_in, s_in = in_window(p_true), in_window(s_true)
    out: dict = {}

    event = p_in | s_in
    if detection is None:
        det_score = prob[:, :, 1:].max(axis=(1, 2))
    else:
        detection = np.asarray(detection, float)
        if detection.shape != (n, t):
            raise ValueError(f"detection has shape {detection.shape}; expected {(n, t)} "
                             "(one probability per window and sample)")
        det_score = detection.max(axis=1)
    out["task1_score"] = "max P/S probability" if detection is None else "max detection"
    out["task1_auc"] = roc_auc(event, det_score) if 0 < event.sum() < n else float("nan")

    half = int(round(id_window_s * sampling_rate))
    is_p, says_p = [], []
    residuals: dict[str, list[float]] = {"P": [], "S": []}
    counts = {"P": PickCounts(), "S": PickCounts()}
    tol = tolerance_s * sampling_rate
    min_distance = int(round(min_pick_distance_s * sampling_rate))
    pick_residuals: dict[str, list[float]] = {"P": [], "S": []}
    for i in range(n):
        for ch, phase, onset, present in ((1, "P", p_true[i], p_in[i]),
                                          (2, "S", s_true[i], s_in[i])):
            picks = find_picks(prob[i, :, ch], threshold, min_distance)
            truth = [onset] if present else []
            pick_residuals[phase] += counts[phase].add(picks, truth, tol)
            if not present:
                continue
            k = int(round(onset))
            lo, hi = max(0, k - half), min(t, k + half + 1)
            is_p.append(phase == "P")
            says_p.append(prob[i, lo:hi, 1].max() > prob[i, lo:hi, 2].max())
            residuals[phase].append((np.argmax(prob[i, :, ch]) - onset) / sampling_rate)
    out["task2_mcc"] = matthews_corrcoef(is_p, says_p) if is_p else float("nan")
    for phase in ("P", "S"):
        out[f"task3_{phase}"] = residual_stats(residuals[phase])
        scores = counts[phase].scores()
        scores["residual"] = residual_stats(np.asarray(pick_residuals[phase]) / sampling_rate)
        out[f"picks_{phase}"] = scores
    out["threshold"] = threshold
    out["tolerance_s"] = tolerance_s
    out["min_pick_distance_s"] = min_pick_distance_s
    return out
