"""Synthetic SeisBench-format dataset, dataset loading and seisbench.generate pipelines."""

import time

import numpy as np
import pytest
import seisbench.data as sbd  # noqa: E402

from jaxgeo.seismic.data import (  # noqa: E402
    BatchLoader,
    get_split,
    load_dataset,
    phase_loader,
)
from jaxgeo.seismic.labels import WindowContainingOnsets
from jaxgeo.seismic.synthetic import (  # noqa: E402
    SyntheticConfig,
    make_trace,
    travel_times,
    write_synthetic_dataset,
)

COLUMNS = ["trace_name", "split", "trace_sampling_rate_hz", "trace_P_arrival_sample",
           "trace_S_arrival_sample", "source_magnitude", "source_magnitude_type",
           "path_ep_distance_km", "source_depth_km", "trace_snr_db", "station_code"]


@pytest.fixture(scope="module")
def noisy_path(tmp_path_factory):
    cfg = SyntheticConfig(n_traces=200, seed=3, split_fractions=(0.5, 0.3, 0.2),
                          noise_fraction=0.2)
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "noisy", cfg)


@pytest.fixture(scope="module")
def clean_path(tmp_path_factory):
    # 300 dB SNR: noise 1e-15 of the peak, so onsets are exactly where the signal starts.
    cfg = SyntheticConfig(n_traces=60, seed=4, noise_fraction=0.0, snr_db=(300.0, 300.0))
    return write_synthetic_dataset(tmp_path_factory.mktemp("syn") / "clean", cfg)


def test_dataset_loads_with_seisbench_and_has_splits_and_metadata(noisy_path):
    ds = sbd.WaveformDataset(noisy_path, sampling_rate=100)
    assert len(ds) == 200
    meta = ds.metadata
    for col in COLUMNS:
        assert col in meta.columns, col
    counts = meta["split"].value_counts().to_dict()
    assert counts == {"train": 100, "dev": 60, "test": 40}
    assert len(ds.train()) == 100 and len(ds.dev()) == 60 and len(ds.test()) == 40
    noise = meta["trace_P_arrival_sample"].isna()
    assert noise.sum() == (meta["trace_category"] == "noise").sum()
    assert 20 <= noise.sum() <= 60  # 20 % of 200 expected, binomial spread ±3σ ≈ ±17
    events = meta[~noise]
    assert (events["trace_S_arrival_sample"] > events["trace_P_arrival_sample"]).all()
    assert set(events["source_magnitude_type"]) == {"ML"}
    x = ds.get_waveforms(0)
    assert x.shape == (3, 4000) and x.dtype == np.float32
    assert ds.data_format["component_order"] == "ZNE"


def test_writer_refuses_to_overwrite(noisy_path):
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_synthetic_dataset(noisy_path, SyntheticConfig(n_traces=5))


def test_travel_times_match_analytic_formulas():
    # Homogeneous half-space: straight ray, t = sqrt(x^2 + z^2) / v.
    half = ((0.0, 6.0),)
    tp, ts = travel_times(half, 30.0, 10.0)
    assert tp == pytest.approx(np.hypot(30.0, 10.0) / 6.0, rel=1e-9)
    assert ts == pytest.approx(np.hypot(30.0, 10.0) / (6.0 / np.sqrt(3.0)), rel=1e-9)
    # Layer over half-space, surface source: t_head = x / v2 + 2 h sqrt(1/v1^2 - 1/v2^2),
    # first arrival beyond the crossover distance x_c = 2 h sqrt((v2 + v1) / (v2 - v1)).
    h, v1, v2 = 10.0, 5.0, 7.0
    two = ((0.0, v1), (h, v2))
    x_cross = 2 * h * np.sqrt((v2 + v1) / (v2 - v1))
    for x in (0.5 * x_cross, 1.5 * x_cross, 3 * x_cross):
        head = x / v2 + 2 * h * np.sqrt(1 / v1**2 - 1 / v2**2)
        expected = min(x / v1, head)
        assert travel_times(two, x, 1e-9)[0] == pytest.approx(expected, rel=1e-6)


def test_ambiguous_s_keeps_s_minus_p_and_puts_s_on_a_strong_p_coda():
    # Homogeneous half-space (vp 6 km/s, vs = vp / sqrt(3)), source at 10 km: by hand
    # S - P = R (sqrt(3) - 1) / vp, R the hypocentral distance; no noise (300 dB).
    kw = dict(snr_db=(300.0, 300.0), layers=((0.0, 6.0),), depth_km=(10.0, 10.0),
              distance_km=(5.0, 60.0), trace_seconds=30.0)
    for i in range(20):
        out = {}
        for amb in (False, True):
            x, meta = make_trace(np.random.default_rng([1, i]),
                                 SyntheticConfig(ambiguous_s=amb, **kw), False)
            x = x.astype(np.float64)
            s = meta["trace_S_arrival_sample"]
            # horizontal RMS over the 0.5 s before S (P coda only) over the trace's peak
            out[amb] = (meta, np.sqrt(np.mean(x[1:, s - 50:s] ** 2)) / np.abs(x).max())
        (m0, level0), (m1, level1) = out[False], out[True]
        # the same draws: the option changes amplitudes and shapes, not onsets or the source
        for key in ("trace_P_arrival_sample", "trace_S_arrival_sample", "path_ep_distance_km",
                    "source_magnitude"):
            assert m0[key] == m1[key], key
        r = np.hypot(m1["path_ep_distance_km"], 10.0)
        hand = r * (np.sqrt(3.0) - 1.0) / 6.0 * 100.0  # samples at 100 Hz
        # P and S onsets are each rounded to a sample (distance rounded to 1 m: 0.01 sample)
        assert abs((m1["trace_S_arrival_sample"] - m1["trace_P_arrival_sample"]) - hand) <= 1.0
        # The P coda envelope at S is >= exp(-(S-P) / (2 (S-P))) = 0.61 of its peak with the
        # option (P peak >= S peak / 1.5, horizontals 0.9 of Z), but exp(-(S-P) / (0.5 (1 +
        # 0.04 R))) <= exp(-1.8) (S - P = 0.122 R s, R in 11-61 km) without it (P peak <= S
        # peak / 2, horizontals 0.35 of Z): by hand a level >= 10x higher. Measured over these
        # seeds: 0.07-0.23 against 0.0004-0.009; asserted with margin (random coda carrier).
        assert level1 > 0.03 and level1 > 5 * level0, (i, level0, level1)


def test_picks_sit_on_onsets_and_amplitudes_follow_local_magnitude(clean_path):
    ds = sbd.WaveformDataset(clean_path, sampling_rate=100)
    meta = ds.metadata
    for i in range(len(ds)):
        x = ds.get_waveforms(i).astype(np.float64)
        p, s = int(meta.trace_P_arrival_sample[i]), int(meta.trace_S_arrival_sample[i])
        peak = np.abs(x).max()
        # Nothing before P (noise is 1e-15 of the peak), energy within 0.2 s after P.
        assert np.abs(x[:, :p]).max() < 1e-9 * peak
        assert np.abs(x[:, p : p + 20]).max() > 1e-3 * peak
        # The P onset is impulsive: the direct pulse (amplitude 1-2 of the coda peak) peaks at
        # 0.2 / f <= 0.034 s (f >= 6 Hz), where the coda envelope is still below
        # 1 - exp(-0.034 / 0.05) = 0.49, so Z reaches >= (1 - 0.49) / (2 + 1) = 0.17 of the
        # P peak within 4 samples. (Generator v2, scattered part only, failed this for ~1/2.)
        assert np.abs(x[0, p : p + 5]).max() >= 0.15 * np.abs(x[0, p:s]).max()
        # S arrives on the horizontals: RMS over 1 s after S well above 1 s before it.
        after = np.sqrt(np.mean(x[1:, s : s + 100] ** 2))
        before = np.sqrt(np.mean(x[1:, s - 100 : s] ** 2))
        assert after > 2 * before
        # Hutton & Boore (1987): ML = log10 A + 1.11 log10(R/100) + 0.00189 (R-100) + 3,
        # A the peak in mm (our count unit). The P coda adds to the S peak; 0.15 units covers it.
        r = np.hypot(meta.path_ep_distance_km[i], meta.source_depth_km[i])
        ml = np.log10(peak) + 1.11 * np.log10(r / 100) + 0.00189 * (r - 100) + 3.0
        assert abs(ml - meta.source_magnitude[i]) < 0.15


def test_pipeline_labels_sit_on_onsets_and_are_deterministic(clean_path):
    ds = load_dataset(clean_path)
    loader = phase_loader(ds, "train", batch_size=8, sigma=10, detection=True, magnitude=True,
                          seed=1)
    batch = next(iter(loader))
    again = next(iter(phase_loader(ds, "train", batch_size=8, sigma=10, detection=True,
                                   magnitude=True, seed=1)))
    other = next(iter(phase_loader(ds, "train", batch_size=8, sigma=10, seed=2)))
    assert batch["X"].shape == (8, 3001, 3) and batch["y"].shape == (8, 3001, 3)
    np.testing.assert_array_equal(batch["X"], again["X"])
    assert not np.array_equal(batch["X"], other["X"])
    np.testing.assert_allclose(batch["y"].sum(-1), 1.0, atol=1e-6)  # N + P + S = 1
    checked = 0
    for x, y, det, mag in zip(batch["X"], batch["y"], batch["detection"], batch["magnitude"],
                              strict=True):
        if y[:, 1].max() < 0.99:  # P outside this window
            continue
        p = int(np.argmax(y[:, 1]))
        # Demeaned noise-free pre-event part is constant (the negative mean) up to the label.
        pre = x[:p] - x[0]
        assert np.abs(pre).max() < 1e-6 * np.abs(x).max()
        assert np.abs(x[p : p + 20] - x[0]).max() > 1e-3 * np.abs(x).max()
        assert det[p] == 1 and (p == 0 or det[p - 1] == 0)
        assert mag[p] > 0 and (p == 0 or mag[p - 1] == 0)
        checked += 1
    assert checked >= 4  # windows are cut around picks: most contain the P onset


def test_evaluation_windows_keep_onsets_inside(noisy_path):
    ds = load_dataset(noisy_path)
    meta = get_split(ds, "test").metadata.reset_index(drop=True)
    loader = phase_loader(ds, "test", batch_size=8, sigma=10, seed=5, shuffle=False,
                          drop_last=False, mode="onsets_inside", margin=50)
    y = np.concatenate([b["y"] for b in loader])
    assert len(y) == len(meta)  # one window per test trace, in metadata order
    events = 0
    for i, row in meta.iterrows():
        if not np.isfinite(row.trace_P_arrival_sample):
            assert y[i, :, 1:].max() < 1e-6  # noise trace: no labels
            continue
        # Both onsets labelled (peak 1) at least 50 samples from either edge, and their
        # separation is the one in the metadata (the window only shifts them).
        p, s = int(np.argmax(y[i, :, 1])), int(np.argmax(y[i, :, 2]))
        assert y[i, p, 1] > 0.99 and y[i, s, 2] > 0.99
        assert 50 <= p and s <= 3001 - 1 - 50
        assert s - p == row.trace_S_arrival_sample - row.trace_P_arrival_sample
        events += 1
    assert events >= 20  # 40 test traces, 20 % noise: ~32 events


def test_window_start_rule():
    rng_state = np.random.get_state()
    try:
        np.random.seed(0)
        w = WindowContainingOnsets(windowlen=100, margin=10)
        for _ in range(200):
            start = w.start(1000, [400.0, 450.0])
            # 400 - start >= 10 and 450 - start <= 89  ->  start in [361, 390]
            assert 361 <= start <= 390
            # Onsets 300 samples apart cannot both fit: the first one is placed, ...
            start = w.start(1000, [np.nan, 700.0, 400.0])
            assert 311 <= start <= 390
            # ... no onsets: anywhere in the trace; a short trace starts at 0 (padded).
            assert 0 <= w.start(1000, [np.nan, np.nan]) <= 900
            assert w.start(80, [30.0]) == 0
        with pytest.raises(ValueError, match="margin"):
            WindowContainingOnsets(windowlen=100, margin=50)
    finally:
        np.random.set_state(rng_state)


def test_load_dataset_errors(tmp_path, noisy_path):
    with pytest.raises(ValueError, match="unknown dataset 'NOPE'.*ETHZ"):
        load_dataset("NOPE")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(ValueError, match="metadata.csv and waveforms.hdf5"):
        load_dataset(tmp_path / "empty_folder")
    only_train = write_synthetic_dataset(
        tmp_path / "only_train", SyntheticConfig(n_traces=10, split_fractions=(1.0, 0.0, 0.0)))
    ds = load_dataset(only_train)
    with pytest.raises(ValueError, match="'test' split of the dataset is empty"):
        get_split(ds, "test")
    with pytest.raises(ValueError, match="fewer than batch_size"):
        phase_loader(ds, "train", batch_size=64)


def test_waveform_cache_serves_the_same_batches(noisy_path, monkeypatch):
    import jaxgeo.seismic.data as data

    assert load_dataset(noisy_path).cache == "trace"  # a few MB: "auto" caches
    assert load_dataset(noisy_path, waveform_cache="none").cache is None
    assert load_dataset(noisy_path, cache="full").cache == "full"  # SeisBench's own argument
    monkeypatch.setattr(data, "AUTO_CACHE_MEMORY_FRACTION", 0.0)
    assert load_dataset(noisy_path).cache is None  # larger than the allowed memory share
    with pytest.raises(ValueError, match="waveform_cache='ram'.*'trace'"):
        load_dataset(noisy_path, waveform_cache="ram")
    # reference: SeisBench reading every trace from HDF5 (no cache); two epochs, so the
    # second one is served from the cache
    plain = sbd.WaveformDataset(noisy_path, sampling_rate=100)
    cached = load_dataset(noisy_path, waveform_cache="trace")
    for epoch in range(2):
        ref = phase_loader(plain, "train", batch_size=20, seed=epoch, prefetch=0,
                           pipeline="seisbench")
        got = phase_loader(cached, "train", batch_size=20, seed=epoch, prefetch=0,
                           pipeline="seisbench")
        for a, b in zip(ref, got, strict=True):
            np.testing.assert_array_equal(a["X"], b["X"])
            np.testing.assert_array_equal(a["y"], b["y"])


def test_default_dataset_is_written_in_under_a_minute(tmp_path):
    import time

    t0 = time.perf_counter()
    path = write_synthetic_dataset(tmp_path / "default", SyntheticConfig())
    seconds = time.perf_counter() - t0
    # Issue 6: the default size (a few thousand traces) must be written in under a minute
    # (about 10 s on 2 shared cores).
    assert seconds < 60, f"writing the default synthetic dataset took {seconds:.1f} s"
    ds = sbd.WaveformDataset(path, sampling_rate=100)
    assert len(ds) == SyntheticConfig().n_traces == 3000


class _SlowGenerator:
    """Stands in for a seisbench generator: each sample takes `seconds` of wall time."""

    def __init__(self, n: int, seconds: float):
        self.n, self.seconds = n, seconds

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        time.sleep(self.seconds)
        return {"X": np.full((3, 10), float(index), np.float32)}


def _mean_wait(prefetch: int, step_seconds: float) -> float:
    """Mean time a consumer that works `step_seconds` per batch blocks on batches 2..n."""
    loader = BatchLoader(_SlowGenerator(48, 0.005), 4, shuffle=False, prefetch=prefetch)
    waits, it = [], iter(loader)
    while True:
        t0 = time.perf_counter()
        batch = next(it, None)
        waits.append(time.perf_counter() - t0)
        if batch is None:
            break
        time.sleep(step_seconds)  # the train step (XLA releases the GIL the same way)
    return float(np.mean(waits[1:-1]))


def test_prefetch_hides_the_data_time_behind_the_step():
    # a batch takes 4 x 5 ms = 20 ms to produce, the step 40 ms. Without prefetch the consumer
    # waits the full production time each batch (>= 20 ms, sleep never returns early); with
    # it only the queue hand-off remains. 5 ms bound: a quarter of the production time, wide
    # enough for scheduler noise on a loaded 2-core machine.
    assert _mean_wait(prefetch=0, step_seconds=0.04) >= 0.02
    assert _mean_wait(prefetch=4, step_seconds=0.04) < 0.005
