"""Generate ``tips_tables.npz``: TIPS partition sums, masses and abundances from hitran-api.

Run once by a maintainer (hitran-api is a test/benchmark dependency, never imported by
jaxgeo at run time)::

    python tools/make_tips_table.py

The output holds, for every isotopologue that hitran-api knows, the TIPS-2021 and TIPS-2025
partition sums on HAPI's own temperature nodes (1 K, 10 K, 20 K, ... up to T_max), padded with
NaN to a common node grid, and the isotopologue mass (amu) and terrestrial abundance.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np

OUTPUT = Path(__file__).resolve().parents[1] / "jaxgeo" / "spectra" / "tips_tables.npz"


def build_tables() -> dict[str, np.ndarray]:
    """Collect the tables from hitran-api into plain numpy arrays."""
    with contextlib.redirect_stdout(io.StringIO()):
        import hapi  # noqa: PLC0415  (maintainer-only dependency)

    keys = sorted(hapi.ISO)
    mol = np.array([k[0] for k in keys], np.int32)
    iso = np.array([k[1] for k in keys], np.int32)
    mass = np.array([hapi.ISO[k][hapi.ISO_INDEX["mass"]] for k in keys], np.float64)
    abundance = np.array([hapi.ISO[k][hapi.ISO_INDEX["abundance"]] for k in keys], np.float64)
    out = {"mol": mol, "iso": iso, "mass_amu": mass, "abundance": abundance}
    for version, t_hash, q_hash in [
        (2021, hapi.TIPS_2021_ISOT_HASH, hapi.TIPS_2021_ISOQ_HASH),
        (2025, hapi.TIPS_2025_ISOT_HASH, hapi.TIPS_2025_ISOQ_HASH),
    ]:
        t_max = max(float(np.max(t_hash[k])) for k in keys if k in t_hash)
        knots = np.asarray(max((t_hash[k] for k in keys if k in t_hash), key=len), np.float64)
        assert knots[-1] == t_max
        q = np.full((len(keys), knots.size), np.nan)
        for row, k in enumerate(keys):
            if k not in t_hash:
                continue
            tk = np.asarray(t_hash[k], np.float64)
            assert np.array_equal(tk, knots[: tk.size]), k
            q[row, : tk.size] = np.asarray(q_hash[k], np.float64)
        out[f"knots_{version}"] = knots
        out[f"q_{version}"] = q
    return out


def main() -> None:
    tables = build_tables()
    tmp = OUTPUT.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **tables)
    os.replace(tmp, OUTPUT)
    size_kib = OUTPUT.stat().st_size / 1024
    print(f"wrote {OUTPUT} ({size_kib:.0f} KiB, {tables['mol'].size} isotopologues)")


if __name__ == "__main__":
    main()
