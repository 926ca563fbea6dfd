"""Host-side sizing of the windowed evaluation: uniform grids and static window sizes.

One job: from concrete line parameters and condition ranges, the static sizes (core window,
blocks, lines per block) that make the windowed sum exact (``window_sizes``,
``core_points_for``, ``small_y_needed``). numpy only; call outside ``jit``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.constants import AMU_G, C_LIGHT_CM_S, K_BOLTZMANN_ERG_K, LN2, SQRT_LN2
from jaxgeo.spectra.linelist import LineList
from jaxgeo.spectra.lineshapes import faddeeva_plan
from jaxgeo.spectra.state import WINDOW_TIE

__all__ = ["ASYMPTOTIC_Z", "UniformGrid", "WindowSizes", "core_points_for", "core_radius",
           "host_doppler_hwhm", "reach_margin", "small_y_needed", "window_sizes"]


def host_doppler_hwhm(lines: LineList, temperature: float) -> np.ndarray:
    """Doppler HWHM (cm^-1) per line on the host, float64 (as ``physics.doppler_hwhm``)."""
    nu0 = np.asarray(lines.nu0, np.float64)
    mass = np.asarray(lines.mass, np.float64)
    return nu0 / C_LIGHT_CM_S * np.sqrt(2 * K_BOLTZMANN_ERG_K * temperature * LN2
                                        / (mass * AMU_G))


def core_radius(dtype) -> float:
    """|z| from which the cheap wing kernel (``faddeeva_wing_real``) is used: 10 in float64,
    8 in float32 (see ``jaxgeo.spectra.lineshapes.FADDEEVA_PLANS``)."""
    return faddeeva_plan(dtype).wing_z


ASYMPTOTIC_Z = core_radius("float64")  # the larger of the two (safe for both dtypes)


def small_y_needed(lines: LineList, *, t_min: float, t_max: float, p_min_atm: float,
                   dtype=None) -> bool:
    """Whether some line can have y = sqrt(ln2) gamma_L/gamma_D below the core kernel's
    Taylor threshold (``faddeeva_plan(dtype).taylor_y``) for T in [t_min, t_max] and
    p >= p_min_atm, any air/self broadening mixture. Host-side; False lets the core kernel
    skip its small-y region (``small_y=False``; a violation then gives NaN, not a wrong
    value). y ~ T^-(n + 1/2) is monotonic in T, so the two end temperatures bound it."""
    if p_min_atm <= 0:
        return True
    plan = faddeeva_plan(lines.nu0.dtype if dtype is None else dtype)
    n_air = np.asarray(lines.n_air, np.float64)
    gamma = np.minimum(np.asarray(lines.gamma_air, np.float64),
                       np.asarray(lines.gamma_self, np.float64))
    y_min = np.inf
    for t in (t_min, t_max):
        gd = host_doppler_hwhm(lines, t)
        gl = p_min_atm * (296.0 / t) ** n_air * gamma
        y_min = min(y_min, float((SQRT_LN2 * gl / gd).min()))
    return bool(y_min < plan.taylor_y * (1 + 1e-6))


def core_points_for(lines: LineList, *, min_step: float, t_max: float, p_max_atm: float,
                    dtype=None) -> int:
    """Static ``core_points`` covering |z| < ``core_radius(dtype)`` (dtype: of ``lines``
    unless given) for T <= t_max, p <= p_max_atm on grids whose spacing is at least
    ``min_step`` (cm^-1). Host-side."""
    radius = core_radius(lines.nu0.dtype if dtype is None else dtype)
    gd_max = host_doppler_hwhm(lines, t_max)
    shift_max = p_max_atm * np.abs(np.asarray(lines.delta_air, np.float64))
    core_cm = radius * gd_max.max() / SQRT_LN2 + shift_max.max()
    return int(math.ceil(core_cm / min_step)) + 2


@dataclass(frozen=True)
class UniformGrid:
    """Uniform wavenumber grid nu_j = start + j * step, j = 0..n-1 (static, hashable)."""

    start: float
    step: float
    n: int

    def values(self, dtype=None) -> jax.Array:
        return self.start + self.step * jnp.arange(self.n, dtype=dtype)


@dataclass(frozen=True)
class WindowSizes:
    """Static sizes (grid points / lines) for ``absorption_coefficient_uniform``.

    The wing sum is evaluated block by block: the grid is cut into blocks of
    ``block_points`` points and each block sums the ``block_lines`` centre-sorted lines that
    start at the first line whose window can reach it (all lines that can, by construction).
    The core (|z| < ``core_z``) is scattered from ``core_points`` windows per line;
    ``core_z`` must be at least ``core_radius`` of the dtype used (checked when tracing).
    """

    wing_cm: float  # largest wing * max(gamma_L, gamma_D) over lines and conditions
    core_points: int  # covers |z| < core_z (a few Doppler widths) plus the shift
    block_points: int
    block_lines: int
    core_z: float = ASYMPTOTIC_Z
    small_y: bool = True  # False: no line reaches y < taylor_y (see ``small_y_needed``)
    # optional split of the blocks into groups with their own line counts (sparse blocks
    # then evaluate fewer lines): ((block indices, lines), ...); None: one group
    block_groups: tuple[tuple[tuple[int, ...], int], ...] | None = None


def window_sizes(
    lines: LineList,
    grid: UniformGrid,
    *,
    t_min: float,
    t_max: float,
    p_max_atm: float,
    wing: float = 50.0,
    diluent_self_max: float = 0.0,
    block_points: int = 128,
    dtype=None,
    p_min_atm: float = 0.0,
    max_groups: int = 4,
) -> WindowSizes:
    """Sizes that make the windowed sum exact for all T in [t_min, t_max], p <= p_max_atm.

    Computed on the host from concrete line parameters (call outside ``jit``). ``dtype``
    (default: that of ``lines``) selects the core radius (``core_radius``). ``p_min_atm`` > 0
    (a lower bound on p) lets the core kernel skip its small-y region when no line needs it
    (``small_y_needed``; if a lower pressure is used anyway the spectrum is NaN).
    ``max_groups``: the blocks are split into at most this many groups by the number of
    lines that can reach them, each group evaluating only its own maximum (grid edges and
    sparse stretches need far fewer lines than the densest block).
    """
    core_z = core_radius(lines.nu0.dtype if dtype is None else dtype)
    nu0 = np.asarray(lines.nu0, np.float64)
    n_air = np.asarray(lines.n_air, np.float64)
    g_air = np.asarray(lines.gamma_air, np.float64)
    g = np.maximum(g_air, (1 - diluent_self_max) * g_air
                   + diluent_self_max * np.asarray(lines.gamma_self, np.float64))
    t_lo = np.where(n_air >= 0, t_min, t_max)
    gl_max = p_max_atm * (296.0 / t_lo) ** n_air * g
    gd_max = host_doppler_hwhm(lines, t_max)
    shift_max = p_max_atm * np.abs(np.asarray(lines.delta_air, np.float64))
    wing_cm = float(wing * np.maximum(gl_max, gd_max).max()) * (1 + 1e-6 + WINDOW_TIE["float64"])
    core_cm = core_z * gd_max.max() / SQRT_LN2 + shift_max.max()
    core_points = int(math.ceil(core_cm / grid.step)) + 2
    # Lines whose window can reach a block [b0, b1] (centre-sorted, largest window H_l per
    # line over the conditions): from the first line whose prefix max of c + H reaches b0 to
    # the last whose suffix min of c - H is <= b1 (the runtime bounds the same way with the
    # actual windows <= H, see ``_wing_blocks``: never more lines).
    order = np.argsort(nu0, kind="stable")
    centres = nu0[order]
    reach = (wing * np.maximum(gl_max, gd_max) * (1 + 1e-6 + WINDOW_TIE["float64"]))[order]
    margin = reach_margin(grid, np.float32)  # >= the runtime margin of any dtype
    n_blocks = math.ceil(grid.n / block_points)
    b0 = grid.start + grid.step * block_points * np.arange(n_blocks)
    b1 = b0 + grid.step * (block_points - 1)
    lo = np.searchsorted(np.maximum.accumulate(centres + reach), b0 - margin, side="left")
    hi = np.searchsorted(np.minimum.accumulate((centres - reach)[::-1])[::-1], b1 + margin,
                         side="right")
    counts = np.maximum(hi - lo, 0) + 2  # +2 lines: float32 centres may round across a reach
    block_lines = max(1, int(counts.max()))
    groups = _block_groups(counts, max_groups)
    return WindowSizes(wing_cm=wing_cm, core_points=core_points, block_points=block_points,
                       block_lines=block_lines, core_z=core_z, block_groups=groups,
                       small_y=small_y_needed(lines, t_min=t_min, t_max=t_max,
                                              p_min_atm=p_min_atm, dtype=dtype))


def reach_margin(grid: UniformGrid, dtype) -> float:
    """Slack (cm^-1) on a line's reach when bounding the lines of a wing block: 4 grid steps
    plus 16 ulp of the largest |nu| in ``dtype`` (covers the rounding of c + H there)."""
    edge = max(abs(grid.start), abs(grid.start + grid.step * (grid.n - 1)))
    return 4 * abs(grid.step) + 16 * float(np.finfo(dtype).eps) * edge


def _block_groups(counts: np.ndarray, max_groups: int, chunk: int = 8):
    """Partition blocks by their line count (rounded up to ``chunk``) into at most
    ``max_groups`` groups minimising sum(group size x group maximum): the work of the wing
    sums. Exact dynamic programme over the distinct rounded counts (few). None: one group."""
    levels_all = -(-counts // chunk) * chunk
    levels, n_at = np.unique(levels_all, return_counts=True)
    k_max = min(max_groups, levels.size)
    if k_max <= 1:
        return None
    n_lv = levels.size
    cum = np.concatenate([[0], np.cumsum(n_at)])
    # cost[j][i]: best cost of levels[:i] in j groups; the last group spans levels[a:i]
    inf = float("inf")
    cost = [[inf] * (n_lv + 1) for _ in range(k_max + 1)]
    cut = [[0] * (n_lv + 1) for _ in range(k_max + 1)]
    cost[0][0] = 0.0
    for j in range(1, k_max + 1):
        for i in range(1, n_lv + 1):
            for a in range(j - 1, i):
                c = cost[j - 1][a] + (cum[i] - cum[a]) * float(levels[i - 1])
                if c < cost[j][i]:
                    cost[j][i], cut[j][i] = c, a
    k = min(range(1, k_max + 1), key=lambda j: (cost[j][n_lv], j))
    if k == 1:
        return None
    bounds, i = [], n_lv
    for j in range(k, 0, -1):
        bounds.append((cut[j][i], i))
        i = cut[j][i]
    groups = []
    for a, i in reversed(bounds):
        members = np.nonzero((levels_all > (levels[a - 1] if a else 0))
                             & (levels_all <= levels[i - 1]))[0]
        groups.append((tuple(int(b) for b in members), int(levels[i - 1])))
    return tuple(groups)
