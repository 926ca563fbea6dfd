"""Convolutional PML (CPML) damping profiles.

Standard CPML with kappa = 1 (Komatitsch & Martin 2007): along one axis the damping is
``d(s) = d0 * s**2`` with ``d0 = -3 c_max ln(R) / (2 L)`` for a normalised depth ``s`` in
[0, 1] into a layer of thickness ``L``, and ``alpha(s) = pi f (1 - s)``. A memory
variable obeys ``psi <- b psi + a * dfield`` with ``b = exp(-(d + alpha) dt)`` and
``a = d / (d + alpha) (b - 1)``. Both are exactly zero outside the layers, so memory
variables stay zero in the model interior.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgeo.wave.stencils import first_derivative, second_derivative

REFLECTION = 1e-3  # target reflection coefficient of the layer at normal incidence
POWER = 2


def depth_into_layers(n: int, width_lo: int, width_hi: int, shift: float = 0.0) -> jnp.ndarray:
    """Normalised depth in [0, 1] into the low/high layers for grid points ``i + shift``.

    The model occupies points ``width_lo .. n - 1 - width_hi``; depth is 0 inside it and
    1 at the outer layer edge (one cell beyond the last padded point).
    """
    pos = jnp.arange(n, dtype=jnp.float32) + shift
    lo = (width_lo - pos) / max(width_lo, 1) if width_lo else jnp.zeros(n)
    hi = (pos - (n - 1 - width_hi)) / max(width_hi, 1) if width_hi else jnp.zeros(n)
    return jnp.clip(jnp.maximum(lo, hi), 0.0, 1.0)


def cpml_coefficients(depth: jnp.ndarray, width_cells: int, h: float, dt: float,
                      c_max: jnp.ndarray, freq: jnp.ndarray, dtype) -> tuple:
    """(a, b) CPML coefficients for normalised depths ``depth`` (1-D)."""
    thickness = max(width_cells, 1) * h
    d0 = -(POWER + 1) * c_max * jnp.log(REFLECTION) / (2.0 * thickness)
    d = d0 * depth**POWER
    alpha = jnp.pi * freq * (1.0 - depth)
    inside = depth > 0
    b = jnp.where(inside, jnp.exp(-(d + alpha) * dt), 0.0)
    denom = jnp.where(inside, d + alpha, 1.0)
    a = jnp.where(inside, d / denom * (b - 1.0), 0.0)
    return a.astype(dtype), b.astype(dtype)


def axis_profiles(n: int, widths: tuple[int, int], h: float, dt: float, c_max, freq, dtype,
                  shift: float = 0.0) -> tuple:
    """(a, b) for one axis of length ``n`` with layers of ``widths = (lo, hi)`` cells."""
    depth = depth_into_layers(n, widths[0], widths[1], shift)
    width = max(widths) if max(widths) else 1
    return cpml_coefficients(depth, width, h, dt, c_max, freq, dtype)


def strip_profiles(n: int, widths: tuple[int, int], h: float, dt: float, c_max, freq, dtype,
                   shift: float = 0.0) -> tuple:
    """(a, b) restricted to the two layers of one axis, concatenated (``[lo + hi]``)."""
    a, b = axis_profiles(n, widths, h, dt, c_max, freq, dtype, shift)
    lo, hi = widths
    keep = jnp.concatenate([jnp.arange(lo), jnp.arange(n - hi, n)]).astype(jnp.int32)
    return a[keep], b[keep]


def take_along(x, axis: int, start: int, stop: int):
    """``x[..., start:stop, ...]`` along ``axis``."""
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def correct_derivative(deriv, psi, a, b, axis: int, widths: tuple[int, int]):
    """CPML-stretched first derivative ``d + psi_new`` with ``psi_new = b psi + a d``.

    ``psi`` holds the memory variable only inside the two layers of ``axis`` (``[lo + hi]``
    cells along it); ``a``, ``b`` are the matching `strip_profiles`, shaped to broadcast
    along ``axis``. Returns (corrected derivative over the whole grid, new psi).
    """
    lo, hi = widths
    n = deriv.shape[axis]
    if lo + hi == 0:
        return deriv, psi
    d_strips = jnp.concatenate(
        [p for p in (take_along(deriv, axis, 0, lo), take_along(deriv, axis, n - hi, n))
         if p.shape[axis]],
        axis=axis)
    psi_new = b * psi + a * d_strips
    out_strips = d_strips + psi_new
    pieces = []
    if lo:
        pieces.append(take_along(out_strips, axis, 0, lo))
    pieces.append(take_along(deriv, axis, lo, n - hi))
    if hi:
        pieces.append(take_along(out_strips, axis, lo, lo + hi))
    return jnp.concatenate(pieces, axis=axis), psi_new


def pml_velocity(vp) -> jnp.ndarray:
    """Velocity that sets the CPML damping: max(vp) rounded up to a multiple of 100 m/s.

    Rounding keeps the absorbing layer fixed under small model updates, so the propagator
    is a smooth function of the model (gradients match finite differences) and successive
    inversion iterations use the same boundary. No gradient flows through it.
    """
    return jax.lax.stop_gradient(jnp.ceil(jnp.max(vp) / 100.0) * 100.0)


def embed_blocks(blocks, axis: int, spans, length: int):
    """`blocks` placed at their (disjoint, ascending) `spans` along `axis` in zeros of
    `length`, as one concatenation."""
    shape = list(blocks[0].shape)

    def zeros(count):
        shape[axis] = count
        return [jnp.zeros(shape, blocks[0].dtype)] if count > 0 else []

    pieces, at = [], 0
    for block, (start, stop) in zip(blocks, spans, strict=True):
        pieces += zeros(start - at) + [block]
        at = stop
    return jnp.concatenate(pieces + zeros(length - at), axis=axis)


def cpml_correction(sides, psi, zeta, prof, axis: int, strips, order: int, inv_h: float):
    """CPML correction of d2u/dx2 along ``axis`` inside its two layers.

    ``sides`` are the field on the non-empty layers (``strips = (lo, hi)`` cells), each
    padded by ``h = order//2`` cells along ``axis``; the memory variables ``psi``/``zeta``
    hold the layers concatenated (``lo + hi`` along ``axis``). Pasalic-McGarry form with
    CPML coefficients ``(a, b, a')``: ``tmp = (1 + a) d2 + a' d1 + d1(b psi)``,
    stretched ``= (1 + a) tmp + b zeta``, ``psi <- b psi + a d1``, ``zeta <- b zeta + a tmp``.
    Returns (stretched - d2 on the strips, new psi, new zeta).
    """
    lo, hi = strips
    h = order // 2
    a, b, da = prof
    d1_parts, d2_parts, bpsi_parts = [], [], []
    b_psi = b * psi
    offsets = [off for off, width in ((0, lo), (lo, hi)) if width]
    for side, offset in zip(sides, offsets, strict=True):
        width = side.shape[axis] - 2 * h
        d1_parts.append(first_derivative(side, axis, order, inv_h))
        d2_parts.append(second_derivative(side, axis, order, inv_h**2))
        # b psi is zero beyond each layer, so zero padding is exact
        widths = [(0, 0)] * side.ndim
        widths[axis] = (h, h)
        bpsi_parts.append(first_derivative(
            jnp.pad(take_along(b_psi, axis, offset, offset + width), widths), axis, order, inv_h))
    d1 = jnp.concatenate(d1_parts, axis=axis)
    d2 = jnp.concatenate(d2_parts, axis=axis)
    tmp = (1 + a) * d2 + da * d1 + jnp.concatenate(bpsi_parts, axis=axis)
    correction = (1 + a) * tmp + b * zeta - d2
    return correction, b_psi + a * d1, b * zeta + a * tmp


def cpml_correction_transpose(ct_correction, ct_psi, ct_zeta, prof, axis: int, strips,
                              order: int, inv_h: float):
    """Transpose of `cpml_correction` in ``(sides, psi, zeta)``.

    Args:
      ct_correction: cotangent of the correction, ``lo + hi`` cells along ``axis``.
      ct_psi, ct_zeta: cotangents of the new memory variables (same shape).
      prof, axis, strips, order, inv_h: as for `cpml_correction`.
    Returns:
      (cotangents of the sides, each padded by ``h`` along ``axis`` as the forward took
      them; of psi; of zeta). The centred first difference is antisymmetric and the second
      symmetric, so their transposes are the same stencils (first with a minus sign) on the
      cotangent zero-padded by ``2 h``.
    """
    lo, hi = strips
    h = order // 2
    a, b, da = prof
    ct_tmp = (1 + a) * ct_correction + a * ct_zeta
    ct_zeta_old = b * (ct_correction + ct_zeta)
    ct_d2 = (1 + a) * ct_tmp - ct_correction
    ct_d1 = da * ct_tmp + a * ct_psi

    def pad(x, width):
        widths = [(0, 0)] * x.ndim
        widths[axis] = (width, width)
        return jnp.pad(x, widths)

    sides, bpsi_parts = [], []
    for offset, width in ((0, lo), (lo, hi)):
        if not width:
            continue
        d1 = take_along(ct_d1, axis, offset, offset + width)
        d2 = take_along(ct_d2, axis, offset, offset + width)
        sides.append(second_derivative(pad(d2, 2 * h), axis, order, inv_h**2)
                     - first_derivative(pad(d1, 2 * h), axis, order, inv_h))
        tmp = take_along(ct_tmp, axis, offset, offset + width)
        bpsi_parts.append(-first_derivative(pad(tmp, h), axis, order, inv_h))
    ct_psi_old = b * (ct_psi + jnp.concatenate(bpsi_parts, axis=axis))
    return tuple(sides), ct_psi_old, ct_zeta_old


def embed_strips(values, axis: int, strips, n: int, margin: int = 0):
    """Place strip values (``lo + hi`` cells along ``axis``) into a zero grid of length n,
    itself inside ``margin`` zero cells on both sides (one concatenation)."""
    lo, hi = strips
    parts = [(take_along(values, axis, off, off + w), (margin + start, margin + start + w))
             for off, start, w in ((0, 0, lo), (lo, n - hi, hi)) if w]
    return embed_blocks([p for p, _ in parts], axis, [span for _, span in parts],
                        n + 2 * margin)
