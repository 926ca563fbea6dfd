"""PhysAE training stages as tasks of :func:`jaxgeo.core.train.fit`.

| stage | trained sub-trees          | refiners used | loss                                  |
|-------|----------------------------|---------------|---------------------------------------|
| A     | encoder, head              | none          | param + spectral terms of the head    |
| B1    | refiner_*                  | all           | same terms on the last refined output |
| B2    | encoder, head, refiner_*   | all           | as B1 (use a low lr)                  |
| DEN   | denoiser                   | none          | MSE(denoise(noisy), clean)            |

Frozen sub-trees get ``optax.set_to_zero()`` through ``optax.multi_transform``, so their
leaves do not change (weight decay included). The ReLoBRaLo state lives in the part's
``batch_stats`` (non-trained state updated by the step; checkpointed with it).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import optax

from jaxgeo.core.train import Part, TrainState
from jaxgeo.physae import losses as L
from jaxgeo.physae.models import PhysAE

__all__ = ["STAGES", "StageSpec", "stage_labels", "make_optimizer", "make_step",
           "init_params", "create_state", "LossConfig"]


@dataclass(frozen=True)
class StageSpec:
    trained: tuple[str, ...]  # top-level prefixes of trained sub-trees
    refiners: bool


STAGES = {"A": StageSpec(("encoder", "head"), False),
          "B1": StageSpec(("refiner_",), True),
          "B2": StageSpec(("encoder", "head", "refiner_"), True),
          "DEN": StageSpec(("denoiser",), False)}


def _spec(stage: str) -> StageSpec:
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r}: allowed {list(STAGES)}")
    return STAGES[stage]


def stage_labels(params: Mapping, stage: str) -> dict:
    """Pytree of "train"/"frozen" labels (one per leaf) for `stage`."""
    spec = _spec(stage)
    out = {}
    for k, v in params.items():
        label = "train" if any(k.startswith(p) for p in spec.trained) else "frozen"
        out[k] = jax.tree.map(lambda _, lab=label: lab, v)
    return out


def make_optimizer(params: Mapping, stage: str, *, lr, optimizer: str = "adamw",
                   weight_decay: float = 1e-4, clip_norm: float | None = 1.0
                   ) -> optax.GradientTransformation:
    """Gradient clipping + adamw/lion on the trained sub-trees, zero updates elsewhere.

    Args:
      lr: a float or an optax schedule.
    """
    if optimizer == "adamw":
        opt = optax.adamw(lr, weight_decay=weight_decay)
    elif optimizer == "lion":
        opt = optax.lion(lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer={optimizer!r}: allowed ['adamw', 'lion']")
    chain = [optax.clip_by_global_norm(clip_norm)] if clip_norm else []
    return optax.multi_transform({"train": optax.chain(*chain, opt),
                                  "frozen": optax.set_to_zero()},
                                 stage_labels(params, stage))


@dataclass(frozen=True)
class LossConfig:
    """Fixed weights ``lambda_*`` or ReLoBRaLo (``use_relobralo``)."""

    lambda_param: float = 1.0
    lambda_angle: float = 0.0
    lambda_peak: float = 0.0
    lambda_recon: float = 0.0
    use_relobralo: bool = False
    alpha: float = 0.999
    temperature: float = 0.1
    rho_mean: float = 0.99

    def active(self) -> tuple[str, ...]:
        if self.use_relobralo:
            return L.LOSS_TERMS
        return tuple(n for n in L.LOSS_TERMS if getattr(self, f"lambda_{n}") > 0)


@functools.partial(jax.jit, static_argnames=("model",))
def init_params(model: PhysAE, key, x_example) -> dict:
    """Every sub-module's parameters (``method=PhysAE.init_all``), jit-compiled once per
    model (a hashable module) and input shape.

    Args:
      model: the PhysAE module (static); key: PRNG key; x_example: (B, N) spectra.
    """
    return model.init(key, x_example, method=PhysAE.init_all)["params"]


def create_state(model: PhysAE, stage: str, rng, x_example, *, tx_factory,
                 params: Mapping | None = None, losses: LossConfig | None = None
                 ) -> TrainState:
    """A TrainState for `stage`; `params` (e.g. the previous stage's) replace the init."""
    if params is None:
        params = init_params(model, jax.random.PRNGKey(0) if rng is None else rng, x_example)
    params = jax.tree.map(jnp.asarray, dict(params))
    losses = LossConfig() if losses is None else losses
    stats = ({"relobralo": L.relobralo_init(len(losses.active()))} if losses.use_relobralo
             else {})
    return TrainState.create(rng=rng, parts={"model": Part.create(params, tx_factory(params),
                                                                  stats)})


def _terms(model: PhysAE, u, batch, names, spec_needed: bool) -> dict:
    mask = model.space.predicted_mask()
    out = {"param": L.param_mse(u, batch["u"], mask)}
    if spec_needed:
        y = model.simulate(u)
        out.update(angle=L.spectral_angle(y, batch["clean"]),
                   peak=L.peak_weighted_mse(y, batch["clean"]),
                   recon=L.recon_mse(y, batch["clean"]))
    return {n: out[n] for n in names}


def make_step(model: PhysAE, stage: str, losses: LossConfig | None = None,
              known: bool = False):
    """``step(state, batch) -> (state, metrics)`` for `stage` (batch: x, clean, u)."""
    spec = _spec(stage)
    losses = LossConfig() if losses is None else losses
    names = losses.active() if stage != "DEN" else ()
    fixed = jnp.asarray([getattr(losses, f"lambda_{n}") for n in names], jnp.float32)
    spectral = any(n != "param" for n in names)

    def loss_fn(params, stats, batch, key):
        k_drop, k_rho = jax.random.split(key)
        variables = {"params": params}
        if stage == "DEN":
            den = model.apply(variables, batch["x"], method=PhysAE.denoise)
            loss = L.recon_mse(den, batch["clean"])
            return loss, ({"denoise_mse": loss}, stats)
        outs = model.apply(variables, batch["x"], batch["u"] if known else None,
                           None if spec.refiners else 0, True, stage == "B1",
                           rngs={"dropout": k_drop})
        terms = _terms(model, outs[-1], batch, names, spectral)
        values = jnp.stack([terms[n] for n in names])
        if losses.use_relobralo:
            weights, new = L.relobralo_update(stats["relobralo"], values, k_rho,
                                              alpha=losses.alpha,
                                              temperature=losses.temperature,
                                              rho_mean=losses.rho_mean)
            stats = {"relobralo": new}
        else:
            weights = fixed
        loss = jnp.sum(weights * values)
        metrics = {f"loss_{n}": terms[n] for n in names}
        if len(outs) > 1:
            metrics["param_head"] = L.param_mse(outs[0], batch["u"],
                                                model.space.predicted_mask())
        return loss, (metrics, stats)

    def step(state: TrainState, batch) -> tuple[TrainState, dict]:
        part = state.part()
        (loss, (metrics, stats)), grads = jax.value_and_grad(
            lambda p: loss_fn(p, part.batch_stats, batch, state.step_key()),
            has_aux=True)(part.params)
        return state.apply_gradients(grads, stats), {"loss": loss, **metrics}

    return step
