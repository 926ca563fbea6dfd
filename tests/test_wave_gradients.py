"""Gradients of jaxgeo.wave propagators: finite differences, reciprocity, checkpointing,
and the dot-product (adjoint) test, on tiny grids."""

import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgeo.wave as wave

NZ, NX, DX, DT, NT = 12, 14, 10.0, 1e-3, 90


def assert_derivatives_match_fd(forward, args, eps=0.5, seed=0):
    """Central differences vs jvp and vjp along a random direction, per argument (float64).

    With eps = 0.5 (m/s or kg/m^3) on models ~2000, truncation error is ~(eps/2000)^2 ~ 1e-7
    relative and rounding ~1e-16 / 1e-4, so 1e-5 relative leaves room and still catches
    any wrong term (those give O(1e-2..1) errors).
    """
    rng = np.random.default_rng(seed)
    out, vjp = jax.vjp(forward, *args)
    w = jnp.asarray(rng.standard_normal(out.shape))
    cotangents = vjp(w)
    for i, x in enumerate(args):
        direction = jnp.asarray(rng.standard_normal(x.shape))

        def along(t, i=i, direction=direction):
            shifted = list(args)
            shifted[i] = args[i] + t * direction
            return forward(*shifted)

        fd = (along(eps) - along(-eps)) / (2 * eps)
        tangents = [jnp.zeros_like(a) for a in args]
        tangents[i] = direction
        jvp = jax.jvp(forward, tuple(args), tuple(tangents))[1]
        scale = float(jnp.linalg.norm(fd))
        assert scale > 0
        assert float(jnp.linalg.norm(jvp - fd)) <= 1e-5 * scale, f"jvp, argument {i}"
        lhs, rhs = float(jnp.vdot(w, fd)), float(jnp.vdot(cotangents[i], direction))
        assert abs(lhs - rhs) <= 1e-5 * float(jnp.linalg.norm(w)) * scale, f"vjp, arg {i}"


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def tiny_model(dtype):
    rng = np.random.default_rng(0)
    vp = 1500.0 + 300.0 * rng.random((NZ, NX))
    return jnp.asarray(vp, dtype)


def geometry():
    amps = np.asarray(wave.ricker(15.0, NT, DT))[None, None]
    src = np.array([[[3, 3]]])
    rec = np.array([[[9, 10], [4, 11]]])
    return amps, src, rec


def acoustic_forward(v, checkpoint_every=8):
    """The float64 tiny-grid forward shared by the tests below (compiled once)."""
    amps, src, rec = geometry()
    return wave.acoustic(v, DX, DT, amps.astype(np.float64), src, rec, order=4, pml_width=4,
                         checkpoint_every=checkpoint_every)


def test_acoustic_grad_matches_finite_differences(x64):
    assert_derivatives_match_fd(acoustic_forward, (tiny_model(jnp.float64),))


def test_acoustic_free_surface_grad_matches_finite_differences(x64):
    """The reverse pass transposes the Laplacian with itself; with the odd image of a free
    surface that is exact only because row 0 is forced to zero (see
    `jaxgeo.wave.acoustic.grid_reads`): checked here against central
    differences and jvp, with a source and a receiver one row below the surface."""
    amps, _, _ = geometry()

    def forward(v):
        return wave.acoustic(v, DX, DT, amps.astype(np.float64), np.array([[[1, 3]]]),
                             np.array([[[1, 10], [5, 11]]]), order=4, pml_width=4,
                             free_surface=True, checkpoint_every=8)

    assert_derivatives_match_fd(forward, (tiny_model(jnp.float64),))


def test_acoustic_dot_product_test(x64):
    """<J dv, w> == <dv, J^T w> for the linearised operator (jvp vs vjp)."""
    vp = tiny_model(jnp.float64)
    rng = np.random.default_rng(1)
    dv = jnp.asarray(rng.standard_normal(vp.shape))
    data, jdv = jax.jvp(acoustic_forward, (vp,), (dv,))
    w = jnp.asarray(rng.standard_normal(data.shape))
    (jtw,) = jax.vjp(acoustic_forward, vp)[1](w)
    lhs, rhs = float(jnp.vdot(jdv, w)), float(jnp.vdot(dv, jtw))
    assert abs(lhs - rhs) <= 1e-6 * abs(lhs)  # issue 3 bound; float64 gives ~1e-14


def test_checkpointed_gradient_equals_plain(x64):
    vp = tiny_model(jnp.float64)
    w = jnp.asarray(np.random.default_rng(3).standard_normal((1, 2, NT)))
    chunked = jax.vjp(acoustic_forward, vp)[1](w)[0]
    plain = jax.vjp(lambda v: acoustic_forward(v, checkpoint_every=0), vp)[1](w)[0]
    # remat recomputes the same arithmetic; 1e-5 is the bound (float64: ~1e-15)
    assert float(jnp.linalg.norm(chunked - plain) / jnp.linalg.norm(plain)) <= 1e-5


def test_acoustic_reciprocity():
    """Swapping source and receiver gives the same trace (self-adjoint operator)."""
    rng = np.random.default_rng(2)
    vp = jnp.asarray(1500.0 + 500.0 * rng.random((30, 40)), jnp.float32)
    nt = 400
    amps = np.asarray(wave.ricker(20.0, nt, DT))[None, None]
    a, b = np.array([[[5, 6]]]), np.array([[[22, 31]]])
    forward = wave.acoustic(vp, DX, DT, amps, a, b, order=8)
    backward = wave.acoustic(vp, DX, DT, amps, b, a, order=8)
    err = float(jnp.linalg.norm(forward - backward) / jnp.linalg.norm(forward))
    assert err <= 1e-3  # issue 3 bound (the CPML is not exactly symmetric; float32)


def test_acoustic_under_jit_and_vmap_batches():
    """jit gives the eager numbers; two shots equal two single-shot runs."""
    amps, src, rec = geometry()
    vp = tiny_model(jnp.float32)
    amps2 = np.concatenate([amps, 0.5 * amps])
    src2 = np.concatenate([src, src + 2])
    rec2 = np.concatenate([rec, rec])
    both = jax.jit(lambda v: wave.acoustic(v, DX, DT, amps2, src2, rec2, order=4,
                                           pml_width=4))(vp)
    for i in range(2):
        single = wave.acoustic(vp, DX, DT, amps2[i:i + 1], src2[i:i + 1], rec2[i:i + 1],
                               order=4, pml_width=4)
        np.testing.assert_allclose(both[i], single[0], rtol=1e-5, atol=1e-6 * float(
            jnp.abs(single).max()))  # float32 rounding only


def test_variable_density_grad_matches_finite_differences(x64):
    amps, src, rec = geometry()
    vp = tiny_model(jnp.float64)
    rho = 2000.0 + 0.5 * (vp - 1500.0)

    def forward(v, r):
        return wave.acoustic(v, DX, DT, amps.astype(np.float64), src, rec, rho=r, order=4,
                             pml_width=4)

    assert_derivatives_match_fd(forward, (vp, rho))


def test_elastic_grad_matches_finite_differences(x64):
    amps, src, rec = geometry()
    vp = tiny_model(jnp.float64) + 500.0
    vs = vp / 1.9
    rho = 2000.0 + 0.3 * (vp - 2000.0)

    def forward(v, s, r):
        out = wave.elastic(v, s, r, DX, DT, amps.astype(np.float64), src, rec,
                           source_type="fz", order=4, pml_width=4)
        # vz (~1e-9 m/s) and p (~1e-3 Pa) rescaled to similar sizes, both checked
        return jnp.concatenate([out["vz"] * 1e9, out["p"] * 1e3], axis=1)

    assert_derivatives_match_fd(forward, (vp, vs, rho))


# ------------------------------------------------ adjoint-state path (issue 16) vs autodiff

def relative_l2(a, b) -> float:
    """|a - b| / |b| in float64: these gradients are ~1e-17 and their float32 differences
    ~1e-23, whose squares underflow float32 (a float32 norm reads them as exactly 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


ADJ_NZ, ADJ_NX, ADJ_NT = 20, 22, 50  # order 8 needs >= 20 cells for its CPML strips


def adjoint_case(order, free_surface, dtype, checkpoint_every=8):
    """A 20 x 22 random model whose direct and scattered waves reach both receivers
    within the 50 steps (6-7 cells, ~26 ms at 2500-3000 m/s after the 25 ms peak), so the
    records and gradients are O(1) physics, not the stencil's numerical precursors."""
    rng = np.random.default_rng(order + 10 * free_surface)
    vp = jnp.asarray(2500.0 + 500.0 * rng.random((ADJ_NZ, ADJ_NX)), dtype)
    amps = np.asarray(wave.ricker(25.0, ADJ_NT, DT, peak_time=0.025))[None, None]
    amps = (amps * 1e3).astype(dtype)  # records O(1)
    src = np.array([[[1 if free_surface else 4, 5]]])
    rec = np.array([[[1, 11], [6, 12]]]) if free_surface else np.array([[[9, 10], [4, 12]]])

    def forward(v, adjoint):
        return wave.acoustic(v, DX, DT, amps, src, rec, order=order, pml_width=4,
                             free_surface=free_surface,
                             checkpoint_every=checkpoint_every if adjoint else 8,
                             adjoint=adjoint)

    w = jnp.asarray(rng.standard_normal((1, 2, ADJ_NT)), dtype)
    return vp, forward, w


# orders 4 and 6 share the code path of 2 and 8 (only the stencil weights differ); all four
# orders with and without a free surface were checked once by hand (errors ~2e-16)
# checkpoint_every 8: chunks of 4 pairs, the last one padded (49 steps); 0: every step's
# residual stored in the forward pass (no recomputation)
@pytest.mark.parametrize(("order", "free_surface", "checkpoint_every"),
                         [(2, False, 8), (8, False, 8), (8, True, 8), (4, True, 0)])
def test_adjoint_gradient_equals_autodiff_float64(x64, order, free_surface, checkpoint_every):
    vp, forward, w = adjoint_case(order, free_surface, jnp.float64, checkpoint_every)
    g_adj = jax.vjp(lambda v: forward(v, True), vp)[1](w)[0]
    g_ref = jax.vjp(lambda v: forward(v, False), vp)[1](w)[0]
    err = relative_l2(g_adj, g_ref)
    assert err <= 1e-10  # issue 16 bound; the same arithmetic in another order (~1e-16)


def test_adjoint_gradient_equals_autodiff_float32():
    vp, forward, w = adjoint_case(8, False, jnp.float32)
    g_adj = jax.vjp(lambda v: forward(v, True), vp)[1](w)[0]
    g_ref = jax.vjp(lambda v: forward(v, False), vp)[1](w)[0]
    err = relative_l2(g_adj, g_ref)
    assert err <= 1e-5  # issue 16 bound (float32 summation order)


def test_adjoint_path_dot_product_and_finite_differences(x64):
    """Born (jvp) and adjoint (vjp) of the adjoint path: <J dv, w> = <dv, J^T w> to 1e-6,
    and both against central differences of the forward model."""
    vp, forward, w = adjoint_case(4, False, jnp.float64)
    fwd = lambda v: forward(v, True)  # noqa: E731
    dv = jnp.asarray(np.random.default_rng(5).standard_normal(vp.shape))
    _, jdv = jax.jvp(fwd, (vp,), (dv,))
    (jtw,) = jax.vjp(fwd, vp)[1](w)
    lhs, rhs = float(jnp.vdot(jdv, w)), float(jnp.vdot(dv, jtw))
    assert abs(lhs - rhs) <= 1e-6 * abs(lhs)  # issue 16 bound; float64 gives ~1e-15
    assert_derivatives_match_fd(fwd, (vp,))


def test_acoustic_gradient_matches_deepwave_on_a_layered_model():
    """FWI gradient 0.5 |F(v) - d_obs|^2 on a two-layer model from a shifted interface, ours
    vs Deepwave's (torch autograd through its compiled C adjoint). Deepwave injects
    ``-v^2 dt^2 s`` into one cell where we inject ``v^2 dt^2 s / (dz dx)``, so its data are
    ours times ``-dx^2`` and its gradient ours times ``dx^4`` (the documented scale).
    Measured: correlation 0.999999999, scale 1e4 to 3e-6."""
    import deepwave
    import torch
    nz, nx, dx, dt, nt, freq = 40, 60, 10.0, 1e-3, 400, 15.0
    true = np.full((nz, nx), 2000.0, np.float32)
    true[20:] = 2500.0
    init = np.full((nz, nx), 2000.0, np.float32)
    init[22:] = 2400.0
    amps = np.broadcast_to(np.asarray(wave.ricker(freq, nt, dt), np.float32), (2, 1, nt)).copy()
    src = np.array([[[2, 15]], [[2, 45]]])
    rec = np.broadcast_to(np.array([[2, x] for x in range(0, nx, 2)]), (2, 30, 2)).copy()
    kw = dict(order=4, pml_width=20, pml_freq=freq)
    observed = wave.acoustic(jnp.asarray(true), dx, dt, amps, src, rec, **kw)
    ours = np.asarray(jax.grad(lambda v: 0.5 * jnp.sum(
        (wave.acoustic(v, dx, dt, amps, src, rec, **kw) - observed) ** 2))(jnp.asarray(init)))

    def deepwave_data(v):
        out = deepwave.scalar(v, dx, dt, source_amplitudes=torch.tensor(amps),
                              source_locations=torch.tensor(src),
                              receiver_locations=torch.tensor(rec), accuracy=4, pml_width=20,
                              pml_freq=freq)
        return out[-1] if isinstance(out, tuple) else out.receiver_amplitudes

    v = torch.tensor(init, requires_grad=True)
    observed_dw = deepwave_data(torch.tensor(true)).detach()
    (0.5 * ((deepwave_data(v) - observed_dw) ** 2).sum()).backward()
    theirs = v.grad.numpy()
    assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] >= 0.999  # issue 16 bound
    scale = float(np.vdot(theirs, ours) / np.vdot(ours, ours))
    assert scale == pytest.approx(dx**4, rel=1e-3)  # float32 data and CPML differences


def test_hessian_vector_product_matches_finite_differences(x64):
    """jvp of grad (the autodiff path) against the central difference of two gradients:
    (g(v + e u) - g(v - e u)) / 2e with e = 0.5 m/s has truncation ~(e / 2000)^2 ~ 1e-7.
    The model is lowered by 20 m/s so that no perturbed model crosses 1800 m/s, where the
    CPML velocity (max(vp) rounded up to 100 m/s) would jump."""
    vp = tiny_model(jnp.float64) - 20.0
    amps, src, rec = geometry()
    observed = acoustic_forward(vp + 30.0)

    def gradient(v):
        return jax.grad(lambda m: 0.5 * jnp.sum((acoustic_forward(m) - observed) ** 2))(v)

    u = jnp.asarray(np.random.default_rng(7).standard_normal(vp.shape))
    hvp = jax.jvp(gradient, (vp,), (u,))[1]
    eps = 0.5
    fd = (gradient(vp + eps * u) - gradient(vp - eps * u)) / (2 * eps)
    assert float(jnp.linalg.norm(hvp - fd)) <= 1e-5 * float(jnp.linalg.norm(fd))


@pytest.mark.parametrize("free_surface", [False, True])
def test_adjoint_gradient_equals_autodiff_variable_density(x64, free_surface):
    """The adjoint-state path of the staggered pressure-velocity system: vp and rho
    gradients equal autodiff's to 1e-10 in float64 (issue 16 bound; ~1e-16 measured) and
    1e-5 in float32 (summation order)."""
    rng = np.random.default_rng(3 + free_surface)
    vp = 1500.0 + 300.0 * rng.random((ADJ_NZ, ADJ_NX))
    rho = 1800.0 + 400.0 * rng.random((ADJ_NZ, ADJ_NX))
    amps = np.asarray(wave.ricker(15.0, ADJ_NT, DT))[None, None]
    src = np.array([[[1 if free_surface else 4, 5]]])
    rec = np.array([[[1 if free_surface else 15, 16], [8, 18]]])
    for dtype, bound in ((jnp.float64, 1e-10), (jnp.float32, 1e-5)):
        w = jnp.asarray(rng.standard_normal((1, 2, ADJ_NT)), dtype)

        def forward(v, r, adjoint, dtype=dtype):
            return wave.acoustic(v, DX, DT, amps.astype(dtype), src, rec, rho=r, order=4,
                                 pml_width=4, free_surface=free_surface, checkpoint_every=8,
                                 adjoint=adjoint)

        args = (jnp.asarray(vp, dtype), jnp.asarray(rho, dtype))
        g_adj = jax.vjp(lambda v, r: forward(v, r, True), *args)[1](w)
        g_ref = jax.vjp(lambda v, r: forward(v, r, False), *args)[1](w)
        for a, b in zip(g_adj, g_ref, strict=True):
            assert relative_l2(a, b) <= bound


def test_adjoint_storage_compression_and_default_storage():
    """bfloat16 storage of the Laplacians: the gradient stays within 1e-2 of the exact one
    (bfloat16 keeps 8 significant bits, a relative rounding of at most 2^-9 = 2e-3 per
    stored value; the errors of many steps partly average out, measured ~1e-3). The
    default interval stores everything below the budget and checkpoints above it."""
    vp, forward, w = adjoint_case(4, False, jnp.float32, checkpoint_every=None)
    amps = 1e3 * np.asarray(wave.ricker(25.0, ADJ_NT, DT, peak_time=0.025))[None, None]
    src, rec = np.array([[[4, 5]]]), np.array([[[9, 10], [4, 12]]])
    exact = jax.vjp(lambda v: forward(v, True), vp)[1](w)[0]
    packed = jax.vjp(lambda v: wave.acoustic(v, DX, DT, amps.astype(np.float32), src, rec,
                                             order=4, pml_width=4, adjoint=True,
                                             storage_compression=True), vp)[1](w)[0]
    err = relative_l2(packed, exact)
    assert 0 < err <= 1e-2
    interval = sys.modules["jaxgeo.wave.acoustic"].adjoint_checkpoint_interval
    budget = sys.modules["jaxgeo.wave.acoustic"].STORE_ALL_BUDGET_BYTES
    assert interval(None, 999, 4 * 240 * 340, 4) == 32  # 1.3 GB > budget: ~sqrt(999)
    assert interval(None, 999, budget // (999 * 4), 4) == 1000  # fits: store all
    assert interval(0, 999, 10**9, 4) == 1000 and interval(8, 999, 1, 4) == 8
    with pytest.raises(ValueError, match="storage_compression"):
        wave.acoustic(vp, DX, DT, amps, src, rec, storage_compression=True)
