"""Datasets and seisbench.generate pipelines feeding numpy batches to jit-compiled steps.

``load_dataset`` returns a ``seisbench.data.WaveformDataset`` for a named SeisBench dataset
(through the real ``seisbench.data`` class, which downloads on first use), for a local
SeisBench-format folder, or for ``"synthetic"`` (generated once into a cache folder).

Pipelines: :func:`phase_augmentations` (window around picks or a random window, demean,
std/peak normalisation, ``ProbabilisticLabeller`` with Gaussian ``sigma``, optional detection and
magnitude labels) wrapped in a ``GenericGenerator``; :class:`BatchLoader` batches it with
deterministic per-sample seeds and a background prefetch thread. :func:`phase_loader` by default
makes the same batches a batch at a time from the split held in memory
(:mod:`jaxgeo.seismic.batches`: equal arrays, 6x less CPU). Batches are channels-last:
``X [B, samples, 3]`` float32, ``y [B, samples, 3]`` (N, P, S), optional ``detection [B, samples]``
and ``magnitude [B, samples]``.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import seisbench
import seisbench.data as sbd
import seisbench.generate as sbg

from jaxgeo.seismic.batches import PhaseBatches, read_traces
from jaxgeo.seismic.labels import (
    PHASE_COLUMNS,
    WINDOW,
    WINDOW_MODES,
    AppendLogAmplitude,
    MagnitudeLabeller,
    RecordLogAmplitude,
    WindowContainingOnsets,
    onset_columns,
    phases_of,
    pick_columns,
)
from jaxgeo.seismic.synthetic import (
    GENERATOR_VERSION,
    SyntheticConfig,
    write_synthetic_dataset,
)

__all__ = [
    "NAMED_DATASETS",
    "SPLITS",
    "WAVEFORM_CACHES",
    "AUTO_CACHE_MEMORY_FRACTION",
    "PIPELINES",
    "DatasetUnavailableError",
    "default_cache_dir",
    "load_dataset",
    "get_split",
    "phase_augmentations",
    "make_generator",
    "sample_seed",
    "GeneratorBatches",
    "BatchLoader",
    "phase_loader",
]

# Names accepted by load_dataset -> seisbench.data class name.
NAMED_DATASETS = {
    name.lower(): name
    for name in (
        "ETHZ", "STEAD", "GEOFON", "MLAAPDE", "INSTANCE", "InstanceCount", "InstanceNoise",
        "InstanceGM", "InstanceCountsCombined", "SCEDC", "LenDB", "Iquique", "NEIC", "PNW",
        "PNWExotic", "PNWAccelerometers", "PNWNoise", "TXED", "CEED", "OBS", "OBST2024",
        "VCSEIS", "AQ2009Counts", "AQ2009GM", "Meier2019JGR", "CREW", "BOHEMIA_Saxony",
        "LFEStacksCascadiaBostock2015",
    )
}
SPLITS = ("train", "dev", "test")
# seisbench.generate draws from numpy's global RNG: seeding + drawing must not interleave
# between loaders running in different threads.
_GLOBAL_RNG_LOCK = threading.Lock()


class DatasetUnavailableError(ValueError):
    """A named SeisBench dataset is neither cached nor downloadable."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("JAXGEO_CACHE", Path.home() / ".cache" / "jaxgeo")) / "seismic"


def _is_seisbench_folder(path: Path) -> bool:
    has_meta = (path / "metadata.csv").is_file() or any(path.glob("metadata*.csv"))
    has_wave = (path / "waveforms.hdf5").is_file() or any(path.glob("waveforms*.hdf5"))
    return has_meta and has_wave


WAVEFORM_CACHES = ("auto", "trace", "full", "none")
# "auto" keeps read traces in memory when the waveform files fill at most this part of RAM
AUTO_CACHE_MEMORY_FRACTION = 0.25


def load_dataset(name_or_path: str | Path, sampling_rate: float | None = 100, *,
                 synthetic_traces: int = 3000, seed: int = 0, cache_dir: str | Path | None = None,
                 waveform_cache: str = "auto", **kwargs):
    """Return a ``seisbench.data.WaveformDataset``.

    ``name_or_path``: a SeisBench dataset name (case-insensitive, e.g. ``ETHZ``, ``STEAD``,
    ``INSTANCE``, ``InstanceCount``), a folder with ``metadata.csv`` + ``waveforms.hdf5``, or
    ``"synthetic"`` (``synthetic_traces`` traces with ``seed``, written once under
    ``cache_dir``). ``sampling_rate`` resamples on read (None keeps the native rate).
    ``waveform_cache``: SeisBench's ``cache`` strategy (``"trace"``, ``"full"``, ``"none"``);
    ``"auto"`` uses ``"trace"`` (each trace is read from HDF5 once, then served from memory:
    ~30% less loader CPU per batch) when the dataset's waveform files fill at most a quarter
    of the machine's memory, and no cache otherwise.
    """
    if waveform_cache not in WAVEFORM_CACHES:
        raise ValueError(f"waveform_cache={waveform_cache!r}: use one of {WAVEFORM_CACHES}")
    dataset = _open_dataset(name_or_path, sampling_rate, synthetic_traces, seed, cache_dir,
                            **kwargs)
    if "cache" not in kwargs:
        dataset.cache = _cache_strategy(waveform_cache, dataset)
    return dataset


def _fits_in_memory(dataset) -> bool:
    """Whether the dataset's waveform files fill at most AUTO_CACHE_MEMORY_FRACTION of RAM."""
    size = sum(f.stat().st_size for f in Path(dataset.path).glob("*.hdf5*"))
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return size <= AUTO_CACHE_MEMORY_FRACTION * memory


def _cache_strategy(waveform_cache: str, dataset) -> str | None:
    if waveform_cache != "auto":
        return None if waveform_cache == "none" else waveform_cache
    return "trace" if _fits_in_memory(dataset) else None


def _open_dataset(name_or_path, sampling_rate, synthetic_traces, seed, cache_dir, **kwargs):
    key = str(name_or_path)
    if key.lower() == "synthetic":

        folder = Path(cache_dir or default_cache_dir()) / (
            f"synthetic_v{GENERATOR_VERSION}_n{synthetic_traces}_s{seed}")
        if not _is_seisbench_folder(folder):
            folder.parent.mkdir(parents=True, exist_ok=True)
            write_synthetic_dataset(folder, SyntheticConfig(n_traces=synthetic_traces, seed=seed),
                                    overwrite=True)
        return sbd.WaveformDataset(folder, sampling_rate=sampling_rate, **kwargs)
    if key.lower() in NAMED_DATASETS:
        cls_name = NAMED_DATASETS[key.lower()]
        cls = getattr(sbd, cls_name, None)
        if cls is None:
            raise ValueError(f"seisbench {sbd.__name__} has no dataset class {cls_name}; "
                             "upgrade seisbench or use a local folder")
        try:
            return cls(sampling_rate=sampling_rate, **kwargs)  # downloads on first use
        except OSError as err:  # requests' ConnectionError and timeouts are OSErrors
            raise DatasetUnavailableError(
                f"SeisBench dataset {cls_name} is not in SeisBench's cache "
                f"({Path(seisbench.cache_data_root) / cls_name.lower()}) and cannot be "
                f"downloaded here ({type(err).__name__}). Download it where there is network "
                f"access and copy that folder here (or set SEISBENCH_CACHE_ROOT), or pass "
                f"--dataset PATH of a local copy (a folder with metadata.csv and "
                f"waveforms.hdf5)") from None
    path = Path(key).expanduser()
    if path.is_dir():
        if not _is_seisbench_folder(path):
            raise ValueError(
                f"{path} is not a SeisBench dataset folder: expected metadata.csv and "
                "waveforms.hdf5 (write one with jaxgeo.seismic.synthetic or "
                "seisbench.data.WaveformDataWriter)"
            )
        return sbd.WaveformDataset(path, sampling_rate=sampling_rate, **kwargs)
    names = ", ".join(["synthetic"] + sorted(NAMED_DATASETS.values()))
    raise ValueError(
        f"unknown dataset {key!r}: not a SeisBench dataset name and not an existing folder. "
        f"Use one of: {names}, or the path of a folder with metadata.csv + waveforms.hdf5"
    )


def get_split(dataset, split: str):
    """``train``/``dev``/``test`` part of ``dataset``; ValueError when it is empty or unknown."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if "split" not in dataset.metadata.columns:
        raise ValueError("dataset metadata has no 'split' column; add train/dev/test labels")
    part = getattr(dataset, split)()
    if len(part) == 0:
        counts = dataset.metadata["split"].value_counts().to_dict()
        raise ValueError(
            f"the {split!r} split of the dataset is empty (split sizes: {counts}); choose a "
            "dataset with that split or relabel the 'split' metadata column"
        )
    return part




def phase_augmentations(*, norm: str = "std", sigma: float = 20, window: int = WINDOW,
                        mode: str = "around_picks", detection: bool = False,
                        magnitude: bool = False, margin: int = 50,
                        columns: Mapping[str, str] = PHASE_COLUMNS, amplitude: bool = False,
                        magnitude_phases: str = "PS") -> list:
    """SeisBench augmentation chain for PhaseNet-style training/evaluation.

    ``mode``: ``around_picks`` (a 2·window region around a random pick, then a random ``window``
    inside it, padded where the trace ends; the training windows), ``random`` (a random window
    anywhere) or ``onsets_inside`` (every onset at least ``margin`` samples inside the window:
    SeisBench's evaluation windows, see :class:`WindowContainingOnsets`).
    ``columns``: the dataset's pick columns -> P/S (:func:`~jaxgeo.seismic.labels.pick_columns`).
    ``amplitude``: append the window's log10 peak amplitude per channel (taken before the
    normalisation) as channels constant in time, ``X [2C, T]``; ``magnitude_phases``: the
    phases whose earliest pick starts the magnitude label (P, S or PS).
    """
    if norm not in ("std", "peak"):
        raise ValueError(f"norm must be 'std' or 'peak', got {norm!r}")
    if mode == "onsets_inside":
        windows = [WindowContainingOnsets(window, margin, phase_columns=tuple(columns))]
    elif mode == "around_picks":
        windows = [
            sbg.WindowAroundSample(list(columns), samples_before=window, windowlen=2 * window,
                                   selection="random", strategy="variable"),
            sbg.RandomWindow(windowlen=window, strategy="pad"),
        ]
    elif mode == "random":
        windows = [sbg.RandomWindow(windowlen=window, strategy="pad")]
    else:
        raise ValueError(f"mode must be one of {WINDOW_MODES}, got {mode!r}")
    augs = windows + [RecordLogAmplitude()] * amplitude + [
        sbg.Normalize(demean_axis=-1, amp_norm_axis=-1, amp_norm_type=norm),
        sbg.ChangeDtype(np.float32),
    ] + [AppendLogAmplitude()] * amplitude + [
        sbg.ProbabilisticLabeller(label_columns=dict(columns), model_labels="NPS", sigma=sigma,
                                  dim=0),
    ]
    if detection:
        augs.append(sbg.DetectionLabeller(phases_of(columns, "P"), phases_of(columns, "S"),
                                          key=("X", "detection")))
    if magnitude:
        augs.append(MagnitudeLabeller(phase_columns=tuple(onset_columns(columns,
                                                                        magnitude_phases))))
    return augs


def make_generator(dataset_part, augmentations):
    gen = sbg.GenericGenerator(dataset_part)
    gen.add_augmentations(augmentations)
    return gen


def _to_channels_last(sample: dict[str, Any]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in sample.items():
        arr = np.asarray(value)
        if key in ("X", "y") and arr.ndim == 2:
            arr = arr.T  # [C, T] -> [T, C]
        elif key == "detection" and arr.ndim == 2:
            arr = arr[0]
        out[key] = arr.astype(np.float32)
    return out


def sample_seed(seed: int, epoch: int, index: int) -> np.ndarray:
    """The seed of one sample's random windowing in epoch ``epoch`` (a 1-element uint32 array)."""
    return np.random.SeedSequence([seed, epoch, int(index)]).generate_state(1)


class GeneratorBatches:
    """Batch source over a seisbench generator: one sample at a time, numpy's global RNG (which
    seisbench.generate draws from) seeded with the sample's seed under a lock."""

    def __init__(self, generator):
        self.generator = generator

    def __len__(self) -> int:
        return len(self.generator)

    def make_batch(self, indices, seeds) -> dict[str, np.ndarray]:
        samples = []
        for index, seed in zip(indices, seeds, strict=True):
            with _GLOBAL_RNG_LOCK:
                np.random.seed(seed)
                raw = self.generator[int(index)]
            samples.append(_to_channels_last(raw))
        return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


class BatchLoader:
    """Iterate numpy batches from a batch source, prefetched in a background thread.

    ``source``: a seisbench generator (wrapped in :class:`GeneratorBatches`) or any object with
    ``len()`` and ``make_batch(indices, seeds) -> dict`` (:class:`~jaxgeo.seismic.batches.
    PhaseBatches`). Deterministic: the order in epoch ``e`` is a permutation seeded by
    ``(seed, e)`` and each sample's random windowing is seeded by ``(seed, e, index)``
    (:func:`sample_seed`). ``epochs=None`` repeats forever. ``drop_last`` drops a final partial
    batch.
    """

    def __init__(self, source, batch_size: int, *, shuffle: bool = True, seed: int = 0,
                 epochs: int | None = 1, drop_last: bool = True, prefetch: int = 4,
                 keys: tuple[str, ...] | None = None):
        if len(source) == 0:
            raise ValueError("generator is empty: the selected dataset split has no traces")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if drop_last and len(source) < batch_size:
            raise ValueError(
                f"split has {len(source)} traces, fewer than batch_size={batch_size}; "
                "lower the batch size or use drop_last=False"
            )
        self.source = source if hasattr(source, "make_batch") else GeneratorBatches(source)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epochs = epochs
        self.drop_last = drop_last
        self.prefetch = prefetch
        self.keys = keys

    def batches_per_epoch(self) -> int:
        n = len(self.source)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self, epoch: int) -> np.ndarray:
        n = len(self.source)
        idx = np.arange(n)
        if self.shuffle:
            idx = np.random.default_rng([self.seed, epoch]).permutation(n)
        return idx

    def _batch(self, epoch: int, indices: np.ndarray) -> dict[str, np.ndarray]:
        batch = self.source.make_batch(indices, [sample_seed(self.seed, epoch, i)
                                                 for i in indices])
        return batch if self.keys is None else {k: batch[k] for k in self.keys}

    def _produce(self, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        per_epoch = self.batches_per_epoch()
        epoch, skip = divmod(int(start), per_epoch)
        while self.epochs is None or epoch < self.epochs:
            idx = self._indices(epoch)
            stop = len(idx) - (len(idx) % self.batch_size if self.drop_last else 0)
            for first in range(skip * self.batch_size, stop, self.batch_size):
                yield self._batch(epoch, idx[first : first + self.batch_size])
            epoch, skip = epoch + 1, 0

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return self.iterate(0)

    def iterate(self, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        """The batches from global batch index `start` on (epoch ``start // batches_per_epoch``),
        prefetched; batch ``k`` is the same whatever `start` was (the engine's ``Stream``)."""
        if self.prefetch <= 0:
            yield from self._produce(start)
            return
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def worker():
            try:
                for batch in self._produce(start):
                    while not stop.is_set():
                        try:
                            q.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                item = done
            except BaseException as exc:  # surfaced in the consumer
                item = exc
            while not stop.is_set():  # never block forever on a consumer that has gone
                try:
                    q.put(item, timeout=0.1)
                    return
                except queue.Full:
                    continue

        thread = threading.Thread(target=worker, daemon=True, name="jaxgeo-prefetch")
        thread.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # No join here: this may run from a garbage-collector finaliser in any thread. The
            # worker sees `stop` within 0.1 s (or after its current sample) and exits.
            stop.set()


PIPELINES = ("auto", "batched", "seisbench")


def phase_loader(dataset, split: str, *, batch_size: int, norm: str = "std", sigma: float = 20,
                 seed: int = 0, shuffle: bool | None = None, epochs: int | None = 1,
                 drop_last: bool | None = None, detection: bool = False,
                 magnitude: bool = False, prefetch: int = 4, mode: str = "around_picks",
                 margin: int = 50, window: int = WINDOW, pipeline: str = "auto",
                 amplitude: bool = False, magnitude_phases: str = "PS") -> BatchLoader:
    """Batches of the ``split`` part of ``dataset`` for phase picking (see module docstring).

    ``mode``/``margin``/``window``: the windowing of :func:`phase_augmentations` (``window``
    samples per example: 3001 for PhaseNet, 6000 for EQTransformer).
    ``pipeline``: ``seisbench`` runs the seisbench.generate chain one trace at a time;
    ``batched`` reads the split into memory once and makes the same batches (equal arrays, the
    same random draws) a batch at a time (:mod:`jaxgeo.seismic.batches`, 6x less CPU);
    ``auto`` is ``batched`` when the waveform files fill at most a quarter of RAM.
    ``amplitude``/``magnitude_phases``: see :func:`phase_augmentations`.
    """
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline={pipeline!r}: use one of {PIPELINES}")
    part = get_split(dataset, split)
    train = split == "train"
    columns = pick_columns(part.metadata.columns)
    options = dict(norm=norm, sigma=sigma, detection=detection, magnitude=magnitude, mode=mode,
                   margin=margin, window=int(window))
    use = onset_columns(columns, magnitude_phases)
    if pipeline == "batched" or (pipeline == "auto" and _fits_in_memory(part)):
        source = PhaseBatches(read_traces(part, columns), **options, amplitude=amplitude,
                              magnitude_onsets=np.asarray([c in use for c in columns]))
    else:
        source = make_generator(part, phase_augmentations(
            **options, columns=columns, amplitude=amplitude, magnitude_phases=magnitude_phases))
    return BatchLoader(source, batch_size, shuffle=train if shuffle is None else shuffle,
                       seed=seed, epochs=epochs, prefetch=prefetch,
                       drop_last=train if drop_last is None else drop_last)
