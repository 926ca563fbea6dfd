"""Reverse-time migration (RTM) and least-squares RTM (LSRTM) on the Born operator.

With ``F`` the acoustic propagator (:func:`jaxgeo.fwi.simulate.simulate`) and
``J = dF/dvp`` its Jacobian at a smooth background ``m0`` (:mod:`jaxgeo.wave.born`):

* the scattered data are ``d_s = d_obs - F(m0)`` (the background predicts the direct
  wave and the smooth part of the wavefield, so ``d_s`` holds the reflections);
* the RTM image is ``J^T d_s`` (zero-lag cross-correlation of the source wavefield with the
  back-propagated data, as the reverse-mode derivative of the same discrete propagator),
  optionally divided by the source illumination ``E = sum_shots sum_t u^2`` (floored at
  ``eps * max E``) to compensate for geometrical spreading;
* for a velocity step the image ``J^T d_s`` is the band-limited step (zero at the interface,
  negative above and positive below a velocity increase); `reflectivity`, its depth
  derivative, peaks at the interface, as a reflector is usually displayed;
* LSRTM minimises ``0.5 |J dm - d_s|^2`` by conjugate gradients on the normal equations
  (CGLS: one Born and one adjoint Born run per iteration) from ``dm = 0``.

Shots are split over a one-axis ``"shots"`` mesh with ``shard_map``; the per-device images
are summed with ``psum``, so any device count gives the same image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxgeo.core.logging import progress
from jaxgeo.core.parallel import gather
from jaxgeo.fwi.setup import SimSettings
from jaxgeo.fwi.simulate import AXIS, forward_all, pad_batch, put_sharded, simulate

__all__ = ["BornOperator", "LsrtmResult", "born_operator", "compensate", "lsrtm", "reflectivity",
           "rtm", "scattered_data"]

Array = jax.Array
MIGRATION_EQUATIONS = ("acoustic", "acoustic_vd")


@dataclass(frozen=True)
class BornOperator:
    """``J`` and ``J^T`` at a fixed background, over all shots.

    ``forward(dm [nz, nx]) -> [n_shots, n_comp, n_rec, nt]`` and
    ``adjoint(data [n_shots, n_comp, n_rec, nt]) -> [nz, nx]`` (host numpy in and out).
    """

    forward: Callable[[np.ndarray], np.ndarray]
    adjoint: Callable[[np.ndarray], np.ndarray]
    shape: tuple[int, int]   # model grid [nz, nx]


def born_operator(background: Mapping[str, np.ndarray], amplitudes: np.ndarray,
                  src: np.ndarray, rec: np.ndarray, settings: SimSettings,
                  mesh: Mesh) -> BornOperator:
    """The Born operator w.r.t. vp at ``background``, sharded over ``mesh``.

    Args:
      background: ``{"vp": [nz, nx], ...}`` smooth background model (m/s, kg/m^3).
      amplitudes: ``[n_shots, n_src, nt]`` source amplitudes.
      src, rec: ``[n_shots, n_src, 2]`` and ``[n_shots, n_rec, 2]`` ``(z, x)`` cells.
      settings: the run's `SimSettings` (acoustic equations only).
      mesh: one-axis ``"shots"`` mesh; shots are padded with zero-weight copies to fill it.
    """
    if settings.equation not in MIGRATION_EQUATIONS:
        raise ValueError(f"RTM/LSRTM need an acoustic equation, got {settings.equation!r}; "
                         f"set config.equation to one of {MIGRATION_EQUATIONS}")
    n = src.shape[0]
    idx, weights = pad_batch(np.arange(n), mesh.devices.size)
    real = (weights > 0).astype(np.float32)
    rep, shard = PartitionSpec(), PartitionSpec(AXIS)
    fixed = {k: jnp.asarray(v) for k, v in background.items() if k != "vp"}
    vp = jax.device_put(jnp.asarray(background["vp"]), NamedSharding(mesh, rep))
    amps, s_dev, r_dev = (put_sharded(a[idx], mesh) for a in (amplitudes, src, rec))
    mask = put_sharded(real, mesh)

    def model_of(v):
        return {**fixed, "vp": v}

    def local_born(v, dm, a, s, r, keep):
        tangent = jax.jvp(lambda m: simulate(model_of(m), a, s, r, settings), (v,), (dm,))[1]
        return tangent * keep[:, None, None, None]

    def local_adjoint(v, data, a, s, r, keep):
        _, pullback = jax.vjp(lambda m: simulate(model_of(m), a, s, r, settings), v)
        image = pullback(data * keep[:, None, None, None])[0]
        return jax.lax.psum(image, AXIS)

    born_sharded = jax.jit(jax.shard_map(
        local_born, mesh=mesh, in_specs=(rep, rep, shard, shard, shard, shard),
        out_specs=shard, check_vma=False))
    adjoint_sharded = jax.jit(jax.shard_map(
        local_adjoint, mesh=mesh, in_specs=(rep, shard, shard, shard, shard, shard),
        out_specs=rep, check_vma=False))
    dtype = np.asarray(background["vp"]).dtype

    def forward(dm: np.ndarray) -> np.ndarray:
        out = born_sharded(vp, jnp.asarray(dm, dtype), amps, s_dev, r_dev, mask)
        return np.asarray(gather(out))[:n]

    def adjoint(data: np.ndarray) -> np.ndarray:
        padded = put_sharded(np.asarray(data, dtype)[idx] * real[:, None, None, None], mesh)
        return np.asarray(adjoint_sharded(vp, padded, amps, s_dev, r_dev, mask))

    return BornOperator(forward=forward, adjoint=adjoint, shape=tuple(vp.shape))


def compensate(image: np.ndarray, illumination: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Illumination-compensated image ``image / max(E, eps max E)`` ``[nz, nx]``.

    Args:
      image: ``[nz, nx]`` RTM image.
      illumination: ``[nz, nx]`` source illumination ``sum_shots sum_t u^2``.
      eps: floor relative to the maximum illumination (keeps the division bounded where
        the sources do not reach).
    """
    if eps <= 0:
        raise ValueError(f"illumination floor eps must be > 0, got {eps}")
    illumination = np.asarray(illumination, np.float64)
    floor = eps * float(np.max(illumination))
    if floor <= 0:
        raise ValueError("source illumination is zero everywhere; check the sources")
    return (np.asarray(image, np.float64) / np.maximum(illumination, floor)).astype(image.dtype)


def reflectivity(image: np.ndarray, dz: float = 1.0) -> np.ndarray:
    """Depth derivative of a velocity-perturbation image, ``[nz, nx]`` (centred
    differences inside, one-sided at the edges; ``dz`` in metres, default per cell).

    Args:
      image: ``[nz, nx]`` RTM or LSRTM image (a velocity perturbation).
      dz: vertical grid spacing; only scales the result.
    """
    return np.gradient(np.asarray(image), dz, axis=0)


def scattered_data(observed: np.ndarray, background: Mapping[str, np.ndarray],
                   amplitudes: np.ndarray, src: np.ndarray, rec: np.ndarray,
                   settings: SimSettings, mesh: Mesh) -> np.ndarray:
    """``d_obs - F(m0)`` ``[n_shots, n_comp, n_rec, nt]``: what the background leaves."""
    return observed - forward_all(background, amplitudes, src, rec, settings, mesh)


def rtm(op: BornOperator, scattered: np.ndarray, illumination: np.ndarray | None = None,
        eps: float = 1e-3) -> np.ndarray:
    """Reverse-time migration image ``J^T d_s`` ``[nz, nx]``, compensated when
    ``illumination`` is given.

    Args:
      op: the Born operator at the background (`born_operator`).
      scattered: ``[n_shots, n_comp, n_rec, nt]`` scattered data ``d_obs - F(m0)``.
      illumination: optional ``[nz, nx]`` source illumination for `compensate`.
      eps: illumination floor (relative to its maximum).
    """
    image = op.adjoint(scattered)
    return image if illumination is None else compensate(image, illumination, eps)


@dataclass
class LsrtmResult:
    """LSRTM output: the reflectivity (velocity perturbation, m/s) and the data residual
    norm ``|J dm - d_s|`` before the first and after every iteration."""

    image: np.ndarray             # [nz, nx]
    residual_norms: list[float]   # [iterations + 1]


def lsrtm(op: BornOperator, scattered: np.ndarray, iterations: int,
          callback: Callable[[int, np.ndarray, float], None] | None = None) -> LsrtmResult:
    """Least-squares RTM: CGLS on ``min 0.5 |J dm - d_s|^2`` from ``dm = 0``.

    In exact arithmetic iterate ``k`` equals ``k`` conjugate-gradient steps on the normal
    equations ``J^T J dm = J^T d_s`` (CGLS avoids forming ``J^T J`` and is the stabler
    variant). Accumulation is in float64 on the host.

    Args:
      op: the Born operator at the background (`born_operator`).
      scattered: ``[n_shots, n_comp, n_rec, nt]`` scattered data.
      iterations: number of CG iterations (each one Born and one adjoint run).
      callback: optional ``callback(k, dm, residual_norm)`` after iteration ``k``.
    """
    if iterations < 1:
        raise ValueError(f"LSRTM needs iterations >= 1, got {iterations}")
    b = np.asarray(scattered, np.float64)
    x = np.zeros(op.shape, np.float64)
    r = b.copy()
    s = op.adjoint(r).astype(np.float64)
    p = s.copy()
    gamma = float(np.vdot(s, s))
    norms = [float(np.linalg.norm(r))]
    bar = progress(range(iterations), desc="lsrtm", unit="it")
    for k in bar:
        if gamma == 0.0:  # the data lie in the null space of J^T: nothing more to fit
            norms.append(norms[-1])
            continue
        q = op.forward(p).astype(np.float64)
        alpha = gamma / float(np.vdot(q, q))
        x += alpha * p
        r -= alpha * q
        s = op.adjoint(r).astype(np.float64)
        gamma_new = float(np.vdot(s, s))
        p = s + (gamma_new / gamma) * p
        gamma = gamma_new
        norms.append(float(np.linalg.norm(r)))
        bar.set_postfix(residual=f"{norms[-1] / norms[0]:.3g}")
        if callback is not None:
            callback(k + 1, x, norms[-1])
    return LsrtmResult(image=x.astype(np.asarray(scattered).dtype), residual_norms=norms)
