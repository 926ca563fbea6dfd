"""tensorboardX event files written by MetricWriter, read back with tensorboard's
EventAccumulator."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

from jaxgeo.core.logging import MetricWriter, progress  # noqa: E402


def test_event_files_round_trip(tmp_path):
    values = np.random.default_rng(0).normal(size=1000)
    with MetricWriter(tmp_path) as writer:
        for step in range(5):
            writer.scalars({"loss": 1.0 / (step + 1), "lr": 0.1}, step, prefix="train/")
        writer.histogram("grad", values, step=4)
        writer.image("model", np.outer(np.arange(8), np.ones(6)), step=4)
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        writer.figure("curve", fig, step=4)
    assert list(tmp_path.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0}).Reload()
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(5))
    np.testing.assert_allclose([e.value for e in loss], [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5],
                               rtol=1e-6)  # stored as float32
    hist = events.Histograms("grad")[0].histogram_value
    assert hist.num == 1000
    assert abs(hist.sum - values.sum()) < 1e-6 * np.abs(values).sum()  # float64 in the proto
    assert set(events.Tags()["images"]) == {"model", "curve"}
    model_img = events.Images("model")[0]
    assert (model_img.height, model_img.width) == (8, 6)


def test_progress_is_quiet_without_terminal(capsys, monkeypatch):
    monkeypatch.delenv("JAXGEO_PROGRESS", raising=False)
    assert sum(progress(range(100), desc="quiet")) == 4950
    assert "quiet" not in capsys.readouterr().err  # pytest's stderr is not a terminal
    monkeypatch.setenv("JAXGEO_PROGRESS", "1")
    list(progress(range(3), desc="forced"))
    assert "forced" in capsys.readouterr().err
