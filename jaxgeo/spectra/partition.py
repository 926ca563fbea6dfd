"""Total internal partition sums Q(T) (TIPS) as a smooth, differentiable pytree.

The tables come from ``tips_tables.npz`` (generated from hitran-api by
``tools/make_tips_table.py``) or from PhysAE's QTpy pickles (``load_qtpy``). Q(T) is a natural
cubic spline through the tabulated nodes, so dQ/dT exists and is continuous.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.interpolate import CubicSpline

from jaxgeo.core.safepickle import load_plain_pickle

TABLE_FILE = Path(__file__).with_name("tips_tables.npz")
TIPS_VERSIONS = (2021, 2025)


@functools.lru_cache(maxsize=1)
def _tables() -> dict[str, np.ndarray]:
    with np.load(TABLE_FILE) as data:
        return {k: data[k] for k in data.files}


def _iso_row(mol: int, iso: int) -> int:
    t = _tables()
    hit = np.nonzero((t["mol"] == mol) & (t["iso"] == iso))[0]
    if hit.size == 0:
        raise KeyError(
            f"isotopologue (molecule {mol}, isotopologue {iso}) is not in the HITRAN tables "
            f"shipped with jaxgeo ({TABLE_FILE.name}); check the ids or pass your own "
            "PartitionFunction (e.g. load_qtpy)."
        )
    return int(hit[0])


def isotopologue_mass(mol: int, iso: int) -> float:
    """Mass of a HITRAN isotopologue in atomic mass units (g/mol)."""
    return float(_tables()["mass_amu"][_iso_row(mol, iso)])


def isotopologue_abundance(mol: int, iso: int) -> float:
    """Terrestrial abundance of a HITRAN isotopologue (the one HITRAN intensities include)."""
    return float(_tables()["abundance"][_iso_row(mol, iso)])


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class PartitionFunction:
    """Cubic-spline Q(T) for a few isotopologues (rows).

    Attributes:
        knots: (K,) temperature nodes, K.
        coef: (R, K-1, 4) spline coefficients per row and interval, highest power first,
            in powers of (T - knots[i]).
        t_max: (R,) upper end of each row's table, K (T is clipped to [knots[0], t_max]).
        keys: static tuple of (molecule, isotopologue) per row.
    """

    knots: jax.Array
    coef: jax.Array
    t_max: jax.Array
    keys: tuple[tuple[int, int], ...] = field(default=(), metadata={"static": True})

    def row_of(self, mol: int, iso: int) -> int:
        try:
            return self.keys.index((int(mol), int(iso)))
        except ValueError:
            raise KeyError(
                f"partition function has no row for (molecule {mol}, isotopologue {iso}); "
                f"it holds {list(self.keys)}"
            ) from None

    def __call__(self, row: jax.Array, temperature: jax.Array) -> jax.Array:
        """Q for rows ``row`` (int array) at ``temperature`` (K, broadcastable)."""
        return evaluate_partition(self, row, temperature)


def evaluate_partition(pf: PartitionFunction, row: jax.Array, temperature: jax.Array) -> jax.Array:
    """Q(T) for spline rows ``row``; shapes broadcast between ``row`` and ``temperature``."""
    t = jnp.clip(temperature, pf.knots[0], pf.t_max[row])
    idx = jnp.clip(jnp.searchsorted(pf.knots, t, side="right") - 1, 0, pf.knots.shape[0] - 2)
    dt = t - pf.knots[idx]
    c = pf.coef[row, idx]
    return ((c[..., 0] * dt + c[..., 1]) * dt + c[..., 2]) * dt + c[..., 3]


def _spline_rows(
    knots_per_row: Sequence[np.ndarray], values_per_row: Sequence[np.ndarray], keys
) -> PartitionFunction:
    common = max(knots_per_row, key=len)
    coef = np.zeros((len(keys), common.size - 1, 4))
    t_max = np.zeros(len(keys))
    for r, (tk, qk) in enumerate(zip(knots_per_row, values_per_row, strict=True)):
        if not np.array_equal(tk, common[: tk.size]):
            raise ValueError("all partition-function rows must share the same temperature nodes")
        spline = CubicSpline(tk, qk, bc_type="not-a-knot")
        coef[r, : tk.size - 1] = spline.c.T
        coef[r, tk.size - 1 :] = spline.c.T[-1]  # never used: T is clipped to t_max
        t_max[r] = tk[-1]
    return PartitionFunction(
        knots=jnp.asarray(common), coef=jnp.asarray(coef), t_max=jnp.asarray(t_max),
        keys=tuple((int(m), int(i)) for m, i in keys),
    )


def merge_partitions(partitions: Sequence[PartitionFunction]) -> PartitionFunction:
    """One ``PartitionFunction`` holding the rows of all ``partitions`` (first one wins for an
    isotopologue present twice). They must share their temperature nodes (true for tables of
    one TIPS version, or one ``load_qtpy`` call); host-side."""
    first = partitions[0]
    if all(pf is first for pf in partitions):
        return first
    knots = max((np.asarray(pf.knots) for pf in partitions), key=len)
    keys, coef, t_max = [], [], []
    for pf in partitions:
        own = np.asarray(pf.knots)
        if not np.array_equal(own, knots[: own.size]):
            raise ValueError(
                "line lists carry partition sums on different temperature nodes (e.g. a QTpy "
                "table and TIPS); attach one PartitionFunction to all of them with "
                "LineList.with_partition, or rebuild from TIPS with partition_version=2021")
        for r, key in enumerate(pf.keys):
            if key not in keys:
                row = np.asarray(pf.coef[r])
                pad = np.repeat(row[-1:], knots.size - own.size, axis=0)  # unused: T clipped
                keys.append(key)
                coef.append(np.concatenate([row, pad]))
                t_max.append(float(pf.t_max[r]))
    return PartitionFunction(knots=jnp.asarray(knots), coef=jnp.asarray(np.stack(coef)),
                             t_max=jnp.asarray(np.asarray(t_max)), keys=tuple(keys))


def tips_partition_function(
    isotopologues: Iterable[tuple[int, int]], version: int = 2021
) -> PartitionFunction:
    """TIPS partition sums (from the shipped HITRAN tables) for ``(molecule, isotopologue)`` pairs.

    Args:
        isotopologues: HITRAN (molecule id, local isotopologue id) pairs.
        version: 2021 (TIPS-2021, Gamache et al. 2021; PhysAE's choice) or 2025.
    """
    if version not in TIPS_VERSIONS:
        raise ValueError(f"TIPS version must be one of {TIPS_VERSIONS}, got {version}")
    t = _tables()
    knots = t[f"knots_{version}"]
    keys = sorted({(int(m), int(i)) for m, i in isotopologues})
    tk_rows, q_rows = [], []
    for m, i in keys:
        q = t[f"q_{version}"][_iso_row(m, i)]
        n = int(np.sum(np.isfinite(q)))
        if n == 0:
            raise KeyError(f"TIPS-{version} has no partition sum for (molecule {m}, iso {i})")
        tk_rows.append(knots[:n])
        q_rows.append(q[:n])
    return _spline_rows(tk_rows, q_rows, keys)


def partition_sum(mol: int, iso: int, temperature, version: int = 2021) -> jax.Array:
    """Q(T) of one isotopologue from the shipped TIPS tables (differentiable in T)."""
    pf = tips_partition_function([(mol, iso)], version)
    return pf(jnp.zeros(jnp.shape(temperature), jnp.int32), jnp.asarray(temperature))


def load_qtpy(folder: str | Path, isotopologues: Iterable[tuple[int, int]]) -> PartitionFunction:
    """Read PhysAE/HITRAN QTpy files ``<folder>/<mol>_<iso>.QTpy`` (pickled {T: Q} dicts).

    The pickles are read with ``jaxgeo.core.safepickle.load_plain_pickle`` (plain dicts,
    lists, tuples, numbers and strings only; nothing in the file is executed), and anything
    else is refused with ``UnsafePickleError`` naming the file. The tabulated temperatures
    (integer kelvin in HITRAN's files) become the spline nodes.
    """
    folder = Path(folder)
    keys = sorted({(int(m), int(i)) for m, i in isotopologues})
    tk_rows, q_rows = [], []
    for m, i in keys:
        path = folder / f"{m}_{i}.QTpy"
        if not path.is_file():
            raise FileNotFoundError(
                f"QTpy file {path} not found: expected one pickled {{T: Q}} file per "
                "isotopologue named <molecule>_<isotopologue>.QTpy"
            )
        table = load_plain_pickle(path)
        if not isinstance(table, dict) or len(table) < 4:
            raise ValueError(
                f"{path}: expected a pickled dict {{temperature: Q}} with >= 4 entries"
            )
        temps = np.array(sorted(float(k) for k in table))
        vals = np.array([float(table[k]) for k in sorted(table, key=float)])
        tk_rows.append(temps)
        q_rows.append(vals)
    return _spline_rows(tk_rows, q_rows, keys)
