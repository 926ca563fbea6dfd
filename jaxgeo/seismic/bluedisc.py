"""BlueDisc: conditional-GAN training of PhaseNet against S-phase amplitude suppression.

The generator is a :class:`~jaxgeo.seismic.phasenet.PhaseNet` with output channels P, S and a
third label channel, ``N`` (noise, ``1 - P - S``) or ``D`` (a tapered detection), read as logits;
the discriminator :class:`BlueDisc` scores ``(label or sigmoid(prediction), waveform)`` pairs.

Losses (``bce`` = mean binary cross entropy with logits):

* ``L_D = ½ [bce(D(y, x), 1) + bce(D(stop_grad(σ(G(x))), x), 0)]``
* ``L_G = [bce(D(σ(G(x)), x), 1) + λ · bce(G(x), y)] / (1 + λ)``

Modes: ``data`` (no discriminator, ``L_G = bce(G(x), y)``), hybrid (``λ > 0``) and pure GAN
(``λ = 0``). One discriminator step then one generator step per batch (:func:`make_gan_step`, a
task for :func:`jaxgeo.core.train.fit`), both Adam with ``β1 = 0, β2 = 0.999``.

BatchNorm statistics follow the original's module calls, all in train mode (batch statistics
in the forward pass, running averages updated per call, PyTorch momentum 0.1):

* D step: one G pass (G stats updated, output detached), D on the real pair, D on the fake pair
  (D stats updated twice);
* G step: one G pass for the adversarial term, D on the real pair (its output is only logged)
  and on the fake pair (D stats updated twice more; D's *weights* are not updated), and one
  more G pass for the data term (G stats updated, three G passes per batch in all). The two G
  passes of the G step give the same output (no dropout; train-mode BatchNorm), so the loss
  and its gradient are those of a single pass.

In data-only mode there is a single G pass per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgeo.core.train import Part, TrainState
from jaxgeo.seismic.phasenet import PhaseNet

__all__ = ["BlueDisc", "LAMBDA_SCALE", "bce_with_logits", "discriminator_loss", "generator_loss",
           "make_generator", "init_state", "make_gan_step", "adam", "label_order"]

# The seed guide's "--data-weight (default 1.0) is internally scaled by 4000": λ = 4000 × weight.
LAMBDA_SCALE = 4000.0
# PyTorch BatchNorm1d defaults (momentum 0.1 of the new batch, eps 1e-5), in flax terms.
_BN = dict(momentum=0.9, epsilon=1e-5)


class BlueDisc(nn.Module):
    """The BlueDisc discriminator: ``(label [B, T, 3], waveform [B, T, 3]) -> logit [B, 1]``.

    Channels-last input; the label channels come first in the concatenation (6 channels).
    Three blocks Conv1d (no bias; 6→64 k 11, 64→64 k 11, 64→128 k 5; stride 2, padding 1) →
    BatchNorm → LeakyReLU(0.1), then a flatten in PyTorch's channel-major order (``[B, 128,
    T']`` → ``[B, 128·T']``, so that ``fc`` weights are exchangeable with the original's) and a
    Linear to one logit. At ``T = 3001``: ``T' = 372``, 47,616 features, 138,369 parameters.
    """

    @nn.compact
    def __call__(self, label: jax.Array, waveform: jax.Array, train: bool = False) -> jax.Array:
        if label.shape[:2] != waveform.shape[:2] or label.ndim != 3:
            raise ValueError(f"BlueDisc expects label and waveform [batch, samples, channels] "
                             f"with equal batch and samples, got {label.shape} and "
                             f"{waveform.shape}")
        x = jnp.concatenate([label, waveform.astype(label.dtype)], axis=-1)
        for i, (features, kernel) in enumerate(((64, 11), (64, 11), (128, 5))):
            x = nn.Conv(features, (kernel,), strides=(2,), padding=((1, 1),), use_bias=False,
                        name=f"conv{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, name=f"bn{i}", **_BN)(x)
            x = nn.leaky_relu(x, 0.1)
        x = jnp.transpose(x, (0, 2, 1)).reshape(x.shape[0], -1)  # channel-major flatten
        return nn.Dense(1, name="fc")(x)


# --------------------------------------------------------------------------- losses
def bce_with_logits(logits: jax.Array, targets: jax.Array | float) -> jax.Array:
    """Mean binary cross entropy of ``sigmoid(logits)`` against ``targets`` (PyTorch's
    ``BCEWithLogitsLoss``): ``mean(max(z, 0) - z t + log(1 + exp(-|z|)))``."""
    targets = jnp.broadcast_to(jnp.asarray(targets, logits.dtype), logits.shape)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, targets))


def discriminator_loss(d_real: jax.Array, d_fake: jax.Array) -> jax.Array:
    """``½ [bce(d_real, 1) + bce(d_fake, 0)]`` for discriminator logits."""
    return 0.5 * (bce_with_logits(d_real, 1.0) + bce_with_logits(d_fake, 0.0))


def generator_loss(d_fake: jax.Array | None, g_logits: jax.Array, y: jax.Array,
                   lam: float | None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``(L_G, {"g_data_loss", "g_SGAN_loss"})``.

    Args:
      d_fake: discriminator logits of the generated pair (None in data-only mode).
      g_logits: generator logits ``[B, T, 3]``; y: labels ``[B, T, 3]`` in [0, 1].
      lam: λ (the data term's weight; 0 is pure GAN); None: data-only, ``L_G = bce(G, y)``.
    """
    data = bce_with_logits(g_logits, y)
    if lam is None:
        return data, {"g_data_loss": data}
    gan = bce_with_logits(d_fake, 1.0)
    return (gan + lam * data) / (1.0 + lam), {"g_data_loss": data, "g_SGAN_loss": gan}


# --------------------------------------------------------------------------- task
def label_order(label: str) -> str:
    """The generator's channel order for ``--label`` ``D`` or ``N``: ``"PSD"`` or ``"PSN"``."""
    if label not in ("D", "N"):
        raise ValueError(f"label={label!r}: use 'D' (detection) or 'N' (noise)")
    return "PS" + label


def make_generator(label: str, filter_factor: int = 1) -> PhaseNet:
    """PhaseNet with channels P, S, `label` and peak normalisation (logits are read)."""
    return PhaseNet(classes=3, phases=label_order(label), norm="peak",
                    filter_factor=filter_factor)


def adam(lr: float) -> optax.GradientTransformation:
    """Adam with ``β1 = 0, β2 = 0.999`` (BlueDisc's optimizer for both networks)."""
    return optax.adam(lr, b1=0.0, b2=0.999)


def init_state(generator: nn.Module, *, samples: int = 3001, g_lr: float = 1e-3,
               d_lr: float | None = 1e-3, seed: int = 42) -> TrainState:
    """Generator (and, if `d_lr` is not None, discriminator) parts, initialised from `seed`.

    Args:
      generator: the PhaseNet (:func:`make_generator`).
      samples: window length (3001 for PhaseNet).
      g_lr, d_lr: Adam learning rates; ``d_lr=None`` builds no discriminator (data-only).
      seed: the run's seed (init keys and the state's PRNG key derive from it).
    """
    key_g, key_d, key_run = jax.random.split(jax.random.PRNGKey(seed), 3)
    x = jnp.zeros((1, samples, 3), jnp.float32)
    # jit: the same values as eager init (the same keys and ops), compiled in about half the
    # time of PhaseNet's op-by-op initialisation on CPU
    g_vars = jax.jit(lambda key: generator.init(key, x, train=False))(key_g)
    parts = {"generator": Part.create(g_vars["params"], adam(g_lr), g_vars.get("batch_stats"))}
    if d_lr is not None:
        d_vars = jax.jit(lambda key: BlueDisc().init(key, x, x, train=False))(key_d)
        parts["discriminator"] = Part.create(d_vars["params"], adam(d_lr),
                                             d_vars["batch_stats"])
    return TrainState.create(parts=parts, rng=key_run)


def _generator_pass(generator: nn.Module, params: Any, stats: Any,
                    x: jax.Array) -> tuple[jax.Array, Any]:
    logits, new = generator.apply({"params": params, "batch_stats": stats}, x, train=True,
                                  logits=True, mutable=["batch_stats"])
    return logits, new["batch_stats"]


def _disc_pass(params: Any, stats: Any, label: jax.Array, x: jax.Array) -> tuple[jax.Array, Any]:
    logit, new = BlueDisc().apply({"params": params, "batch_stats": stats}, label, x,
                                  train=True, mutable=["batch_stats"])
    return logit, new["batch_stats"]


def discriminator_step(generator: nn.Module, state: TrainState,
                       batch: dict) -> tuple[TrainState, dict]:
    """One D update on ``batch`` (``X [B, T, 3]``, ``y [B, T, 3]``); G's weights untouched
    (its output is detached), G's BatchNorm statistics advanced by its one pass."""
    g, d = state.part("generator"), state.part("discriminator")
    x, y = batch["X"], batch["y"]
    logits, g_stats = _generator_pass(generator, g.params, g.batch_stats, x)
    fake = jax.lax.stop_gradient(jax.nn.sigmoid(logits))

    def loss_fn(params):
        real_logit, stats = _disc_pass(params, d.batch_stats, y, x)
        fake_logit, stats = _disc_pass(params, stats, fake, x)
        return discriminator_loss(real_logit, fake_logit), (stats, real_logit, fake_logit)

    (loss, (d_stats, real, fake_logit)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        d.params)
    state = state.apply_gradients(grads, d_stats, part="discriminator")
    state = state.with_part("generator", g.replace(batch_stats=g_stats))
    return state, {"d_loss": loss, "d_SGAN_loss": loss, "d_SGAN_real": jnp.mean(real),
                   "d_SGAN_fake": jnp.mean(fake_logit)}


def generator_step(generator: nn.Module, state: TrainState, batch: dict,
                   lam: float | None) -> tuple[TrainState, dict]:
    """One G update (``lam`` as in :func:`generator_loss`); D's weights and optimizer state are
    not changed (its BatchNorm statistics advance by its two train-mode passes)."""
    g = state.part("generator")
    x, y = batch["X"], batch["y"]
    has_d = lam is not None
    d = state.part("discriminator") if has_d else None

    def loss_fn(params):
        logits, g_stats = _generator_pass(generator, params, g.batch_stats, x)
        d_fake, d_stats, extra = None, None, {}
        if has_d:
            real, d_stats = _disc_pass(d.params, d.batch_stats, y, x)
            d_fake, d_stats = _disc_pass(d.params, d_stats, jax.nn.sigmoid(logits), x)
            # the original's separate data pass: same output, one more statistics update
            logits, g_stats = _generator_pass(generator, params, g_stats, x)
            extra = {"g_SGAN_real": jnp.mean(real), "g_SGAN_fake": jnp.mean(d_fake)}
        loss, terms = generator_loss(d_fake, logits, y, lam)
        return loss, (g_stats, d_stats, {**terms, **extra})

    (loss, (g_stats, d_stats, terms)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        g.params)
    state = state.apply_gradients(grads, g_stats, part="generator")
    if has_d:
        state = state.with_part("discriminator", d.replace(batch_stats=d_stats))
    return state, {"g_loss": loss, **terms}


def make_gan_step(generator: nn.Module, lam: float | None) -> Callable:
    """The task's step: one discriminator step, then one generator step (data-only when
    ``lam`` is None: the generator step alone). Metrics: ``g_loss``, ``g_data_loss`` and, with
    a discriminator, ``d_loss``, ``d_SGAN_loss``, ``g_SGAN_loss`` and the mean logits."""
    if lam is not None and (not np.isfinite(lam) or lam < 0):
        raise ValueError(f"λ={lam}: the data weight must be >= 0 (or None for data-only)")

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        metrics = {}
        if lam is not None:
            state, metrics = discriminator_step(generator, state, batch)
        state, g_metrics = generator_step(generator, state, batch, lam)
        return state, {**metrics, **g_metrics}

    return step
