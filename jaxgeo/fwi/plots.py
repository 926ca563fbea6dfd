"""Figures of an FWI run (PNG via jaxgeo.core.plotting.save_figure; tensorboard images)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from jaxgeo.core.plotting import save_figure  # noqa: E402


def to_image(array: np.ndarray, symmetric: bool = False,
             vmax: float | None = None) -> np.ndarray:
    """``[nz, nx]`` -> ``[nz, nx, 3]`` uint8 (viridis, or seismic when ``symmetric``,
    scaled to ``±vmax``, default ``max|array|``). A 3-D ``[nz, ny, nx]`` array shows its
    middle y slice ``[nz, nx]``."""
    a = np.asarray(array, np.float64)
    if a.ndim == 3:
        a = a[:, a.shape[1] // 2]
    if symmetric:
        m = vmax or np.max(np.abs(a)) or 1.0
        norm, cmap = (a / m + 1) / 2, plt.get_cmap("seismic")
    else:
        lo, hi = np.min(a), np.max(a)
        norm, cmap = (a - lo) / ((hi - lo) or 1.0), plt.get_cmap("viridis")
    return (cmap(norm)[..., :3] * 255).astype(np.uint8)


def shot_gather(data: np.ndarray, dt: float, path: Path, title: str = "shot gather") -> Path:
    """Plot ``data [n_rec, nt]`` as an image (time down)."""
    fig, ax = plt.subplots(figsize=(5, 4))
    clip = np.percentile(np.abs(data), 99) or 1.0
    ax.imshow(data.T, aspect="auto", cmap="gray", vmin=-clip, vmax=clip,
              extent=(0, data.shape[0], data.shape[1] * dt, 0))
    ax.set_xlabel("receiver")
    ax.set_ylabel("time (s)")
    ax.set_title(title)
    return save_figure(fig, path)


def final_figures(directory: Path, problem, params: dict, history: np.ndarray,
                  obs_shot: np.ndarray, syn_shot: np.ndarray, errors: list[float]
                  ) -> list[Path]:
    """Models (true/initial/inverted), loss curve, data residual of the first shot."""
    directory = Path(directory)
    paths = []
    for name, inv in params.items():
        panels = [("initial", problem.init_model[name]), ("inverted", inv)]
        if problem.true_model is not None:
            panels.insert(0, ("true", problem.true_model[name]))
        if np.ndim(inv) == 3:
            paths.append(model_slices_3d(panels, name, directory / f"model_{name}.png"))
            continue
        lo = min(float(np.min(p)) for _, p in panels)
        hi = max(float(np.max(p)) for _, p in panels)
        fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)))
        for ax, (title, m) in zip(np.atleast_1d(axes), panels, strict=True):
            im = ax.imshow(m, cmap="jet", vmin=lo, vmax=hi, aspect="auto")
            ax.set_title(f"{title} {name}")
            fig.colorbar(im, ax=ax, label="m/s" if name != "rho" else "kg/m^3")
        fig.tight_layout()
        paths.append(save_figure(fig, directory / f"model_{name}.png"))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    flat = history[np.isfinite(history)]
    ax.semilogy(np.arange(1, flat.size + 1), np.maximum(flat, 1e-30))
    ax.set_xlabel("update")
    ax.set_ylabel("loss")
    if errors and np.isfinite(errors).all():
        ax2 = ax.twinx()
        per_epoch = flat.size / len(errors)
        ax2.plot(per_epoch * np.arange(1, len(errors) + 1), errors, "r.-")
        ax2.set_ylabel("model RMS error (m/s)", color="r")
    fig.tight_layout()
    paths.append(save_figure(fig, directory / "loss.png"))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.5), sharey=True)
    clip = np.percentile(np.abs(obs_shot), 99) or 1.0
    for ax, (title, d) in zip(axes, [("observed", obs_shot), ("synthetic", syn_shot),
                                     ("residual", syn_shot - obs_shot)], strict=True):
        ax.imshow(d.T, aspect="auto", cmap="gray", vmin=-clip, vmax=clip)
        ax.set_title(title)
        ax.set_xlabel("receiver")
    axes[0].set_ylabel("time sample")
    fig.tight_layout()
    paths.append(save_figure(fig, directory / "residual.png"))
    return paths


def migration_image(image: np.ndarray, spacing: tuple[float, float], path: Path,
                    title: str) -> Path:
    """Plot ``image [nz, nx]`` (depth down, metres), symmetric grey scale at its 99th
    percentile."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    clip = np.percentile(np.abs(image), 99) or 1.0
    nz, nx = image.shape
    ax.imshow(image, cmap="gray", vmin=-clip, vmax=clip, aspect="auto",
              extent=(0, nx * spacing[1], nz * spacing[0], 0))
    ax.set_xlabel("x (m)")
    ax.set_ylabel("depth (m)")
    ax.set_title(title)
    return save_figure(fig, path)


def model_slices_3d(panels: list[tuple[str, np.ndarray]], name: str, path: Path,
                    centre: tuple[int, int, int] | None = None) -> Path:
    """Three orthogonal slices through each ``[nz, ny, nx]`` model in ``panels``
    (``(title, model)`` rows): ``z-x`` at ``y = cy``, ``z-y`` at ``x = cx`` and the depth
    slice ``y-x`` at ``z = cz``; ``centre`` defaults to the cell of the largest difference
    between the first two panels (the anomaly), one colour scale for all."""
    models = [np.asarray(m, np.float64) for _, m in panels]
    if centre is None:
        diff = np.abs(models[0] - models[1]) if len(models) > 1 else models[0]
        centre = tuple(int(i) for i in np.unravel_index(np.argmax(diff), diff.shape))
    cz, cy, cx = centre
    lo, hi = min(m.min() for m in models), max(m.max() for m in models)
    fig, axes = plt.subplots(len(panels), 3, figsize=(10, 2.6 * len(panels)), squeeze=False)
    for row, ((title, _), m) in enumerate(zip(panels, models, strict=True)):
        cuts = ((m[:, cy, :], f"z-x at y={cy}", "x"), (m[:, :, cx], f"z-y at x={cx}", "y"),
                (m[cz], f"y-x at z={cz}", "x"))
        for ax, (img, label, xlabel) in zip(axes[row], cuts, strict=True):
            im = ax.imshow(img, cmap="jet", vmin=lo, vmax=hi, aspect="auto")
            ax.set_title(f"{title} {name}: {label}", fontsize=9)
            ax.set_xlabel(f"{xlabel} (cells)")
        fig.colorbar(im, ax=axes[row].tolist(), label="m/s" if name != "rho" else "kg/m^3")
    return save_figure(fig, path)
