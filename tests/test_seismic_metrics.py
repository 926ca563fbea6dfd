"""Phase-picking metrics against scipy and hand-counted cases."""

import numpy as np
import pytest
from scipy import signal, stats

from jaxgeo.seismic.metrics import (
    PickCounts,
    find_picks,
    matthews_corrcoef,
    phase_metrics,
    residual_stats,
    roc_auc,
)


def test_roc_auc_equals_mann_whitney_u_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.random(300) < 0.4
    # Rounded scores create many ties; AUC = U / (n_pos n_neg) counts ties as 1/2.
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)
    u = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    expected = u / (labels.sum() * (~labels).sum())
    assert roc_auc(labels, scores) == pytest.approx(expected, rel=1e-12)  # exact rational count
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_auc([1, 1], [0.2, 0.3])


def test_mcc_equals_pearson_correlation_of_binary_vectors():
    rng = np.random.default_rng(1)
    truth = rng.random(200) < 0.5
    pred = np.where(rng.random(200) < 0.8, truth, ~truth)
    expected = stats.pearsonr(truth.astype(float), pred.astype(float)).statistic
    assert matthews_corrcoef(truth, pred) == pytest.approx(expected, rel=1e-12)
    assert matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0
    assert matthews_corrcoef([1, 1, 1], [1, 0, 1]) == 0.0  # constant truth: defined as 0


def test_find_picks_matches_scipy_peaks_above_threshold():
    t = np.arange(3001)
    centres = [400, 1200, 1210 + 400, 2900]
    heights = [0.9, 0.2, 0.6, 0.5]
    curve = sum(h * np.exp(-0.5 * ((t - c) / 10.0) ** 2) for c, h in zip(centres, heights,
                                                                         strict=True))
    peaks, _ = signal.find_peaks(curve, height=0.3)
    np.testing.assert_array_equal(find_picks(curve, 0.3), peaks)
    np.testing.assert_array_equal(find_picks(curve, 0.3), [400, 1610, 2900])


def test_min_pick_distance_matches_scipy_peak_distance():
    rng = np.random.default_rng(2)
    t = np.arange(3001)
    for _ in range(5):
        centres = np.sort(rng.choice(np.arange(100, 2900, 7), size=12, replace=False))
        heights = rng.uniform(0.35, 1.0, size=12)
        # narrow bumps (sigma 3) keep one local maximum per bump where they overlap
        curve = np.max([h * np.exp(-0.5 * ((t - c) / 3.0) ** 2)
                        for c, h in zip(centres, heights, strict=True)], axis=0)
        peaks, _ = signal.find_peaks(curve, height=0.3, distance=50)
        np.testing.assert_array_equal(find_picks(curve, 0.3, min_distance=50), peaks)


def test_pick_counts_hand_made_case():
    counts = PickCounts()
    # window 1: one true pick at 100, predictions at 105 (hit, 0.05 s) and 500 (false alarm)
    r1 = counts.add([105, 500], [100], tolerance_samples=10)
    # window 2: true pick at 300, prediction 320 is 0.2 s away: miss + false alarm
    r2 = counts.add([320], [300], tolerance_samples=10)
    # window 3: noise window (no truth), no prediction
    counts.add([], [np.nan], tolerance_samples=10)
    assert r1 == [5.0] and r2 == []
    s = counts.scores()
    assert (s["tp"], s["n_pred"], s["n_true"]) == (1, 3, 2)
    assert s["precision"] == pytest.approx(1 / 3)
    assert s["recall"] == pytest.approx(1 / 2)
    assert s["f1"] == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_residual_stats_and_phase_metrics_on_constructed_predictions():
    r = residual_stats([0.1, -0.2, 0.3])
    assert r["mean"] == pytest.approx(0.2 / 3)
    assert r["rms"] == pytest.approx(np.sqrt((0.01 + 0.04 + 0.09) / 3))
    assert r["mae"] == pytest.approx(0.2)

    t = np.arange(3001)
    bump = lambda c: np.exp(-0.5 * ((t - c) / 10.0) ** 2)  # noqa: E731
    prob = np.zeros((3, 3001, 3))
    prob[0, :, 1], prob[0, :, 2] = bump(1000 + 3), bump(1500 - 8)  # P +0.03 s, S -0.08 s
    prob[1, :, 1], prob[1, :, 2] = 0.2 * bump(900), bump(1900 + 20)  # P missed, S +0.2 s
    prob[2, :, 1] = 0.1 * bump(50)  # noise window, weak response
    prob[:, :, 0] = 1 - prob[:, :, 1:].sum(-1)
    m = phase_metrics(prob, [1000, 900, np.nan], [1500, 1900, np.nan], threshold=0.3,
                      tolerance_s=0.1)
    assert m["task1_auc"] == 1.0  # both events score 1.0 > noise 0.1
    # Identification: window 0 P->P, S->S; window 1 P: max P 0.2 vs S tail ~0 -> P; S -> S.
    assert m["task2_mcc"] == pytest.approx(1.0)
    assert m["picks_P"]["tp"] == 1 and m["picks_P"]["n_true"] == 2 and m["picks_P"]["n_pred"] == 1
    assert m["picks_S"]["tp"] == 1 and m["picks_S"]["n_pred"] == 2
    assert m["task3_P"]["mean"] == pytest.approx((0.03 + 0.0) / 2)
    assert m["task3_S"]["mae"] == pytest.approx((0.08 + 0.2) / 2)
