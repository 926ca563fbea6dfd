"""Line lists as pytrees of arrays, and loaders for HITRAN ``.par`` and PhysAE transitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgeo.spectra.partition import (
    PartitionFunction,
    isotopologue_mass,
    merge_partitions,
    tips_partition_function,
)

# Field name -> (start, stop) in a HITRAN2004+ 160-character record.
HITRAN_PAR_FIELDS: dict[str, tuple[int, int]] = {
    "molec_id": (0, 2),
    "local_iso_id": (2, 3),
    "nu": (3, 15),
    "sw": (15, 25),
    "a": (25, 35),
    "gamma_air": (35, 40),
    "gamma_self": (40, 45),
    "elower": (45, 55),
    "n_air": (55, 59),
    "delta_air": (59, 67),
}
HITRAN_RECORD_LENGTH = 160
HITRAN_MOLECULE_IDS = {"H2O": 1, "CO2": 2, "O3": 3, "N2O": 4, "CO": 5, "CH4": 6, "O2": 7}

# PhysAE ';'-separated transition fields, in order.
PHYSAE_FIELDS = (
    "mid", "lid", "center", "amplitude", "gamma_air", "gamma_self", "e0", "n_air",
    "shift_air", "abundance", "gDicke", "nDicke", "lmf", "nlmf",
)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class LineList:
    """Spectral lines (all arrays shape (L,), float unless stated).

    Attributes:
        mol_id, iso_id: HITRAN molecule / local isotopologue ids (int32).
        nu0: line centre, cm^-1.
        nu0_lo: nu0_exact - nu0 (the part of the centre the array dtype cannot hold; zero in
            float64): keeps float32 detunings accurate to ~1e-6 cm^-1 instead of ~2e-4.
        sw: intensity at 296 K, cm^-1/(molecule cm^-2) (HITRAN, includes abundance).
        gamma_air, gamma_self: Lorentz HWHM at 296 K and 1 atm, cm^-1/atm.
        elower: lower-state energy E'', cm^-1.
        n_air: temperature exponent of the widths (also used for self-broadening).
        delta_air: pressure shift at 296 K, cm^-1/atm.
        g_dicke, n_dicke: Dicke narrowing (cm^-1/atm at 296 K) and its T exponent.
        lmf, nlmf: Rosenkranz line-mixing coefficient Y (1/atm at 296 K) and its T exponent.
        sd_air: speed dependence of the width, gamma2 / gamma0 (dimensionless, HITRAN's SD;
            0 unless given: HITRAN .par records do not carry it).
        eta: Hartmann-Tran correlation parameter (dimensionless; 0 unless given).
        mass: molecular mass used for Doppler width, amu.
        q_row: row of ``partition`` for each line (int32).
        partition: Q(T) spline for the isotopologues present.
    """

    mol_id: jax.Array
    iso_id: jax.Array
    nu0: jax.Array
    nu0_lo: jax.Array
    sw: jax.Array
    gamma_air: jax.Array
    gamma_self: jax.Array
    elower: jax.Array
    n_air: jax.Array
    delta_air: jax.Array
    g_dicke: jax.Array
    n_dicke: jax.Array
    lmf: jax.Array
    nlmf: jax.Array
    sd_air: jax.Array
    eta: jax.Array
    mass: jax.Array
    q_row: jax.Array
    partition: PartitionFunction
    molecules: tuple[int, ...] = field(default=(), metadata={"static": True})

    @property
    def n_lines(self) -> int:
        return int(self.nu0.shape[0])

    def with_partition(self, partition: PartitionFunction) -> LineList:
        """Same lines, partition sums from ``partition`` (e.g. ``load_qtpy``)."""
        mol = np.asarray(self.mol_id)
        iso = np.asarray(self.iso_id)
        rows = np.array([partition.row_of(m, i) for m, i in zip(mol, iso, strict=True)], np.int32)
        return replace(self, partition=partition, q_row=jnp.asarray(rows))

    def select(self, mask) -> LineList:
        """Lines where the boolean numpy ``mask`` is true (host-side; not for jit)."""
        mask = np.asarray(mask, bool)
        arrays = {name: a[mask] for name, a in host_arrays(self).items()}
        return make_line_list(**arrays, partition_version=None, partition=self.partition)

    def sorted_by_centre(self) -> LineList:
        order = np.argsort(np.asarray(self.nu0), kind="stable")
        arrays = {name: a[order] for name, a in host_arrays(self).items()}
        return make_line_list(**arrays, partition_version=None, partition=self.partition)


LINE_ARRAY_FIELDS = (
    "mol_id", "iso_id", "nu0", "sw", "gamma_air", "gamma_self", "elower", "n_air",
    "delta_air", "g_dicke", "n_dicke", "lmf", "nlmf", "sd_air", "eta", "mass",
)


def host_arrays(lines: LineList) -> dict[str, np.ndarray]:
    """Line parameters as float64/int numpy arrays (centre = nu0 + nu0_lo, exact)."""
    out = {name: np.asarray(getattr(lines, name)) for name in LINE_ARRAY_FIELDS}
    out["nu0"] = out["nu0"].astype(np.float64) + np.asarray(lines.nu0_lo, np.float64)
    return out


def make_line_list(
    *,
    mol_id,
    iso_id,
    nu0,
    sw,
    gamma_air,
    gamma_self=None,
    elower,
    n_air,
    delta_air=None,
    g_dicke=None,
    n_dicke=None,
    lmf=None,
    nlmf=None,
    sd_air=None,
    eta=None,
    mass=None,
    partition: PartitionFunction | None = None,
    partition_version: int | None = 2021,
) -> LineList:
    """Build a ``LineList`` from array-likes; missing optional parameters are zero.

    ``mass`` defaults to each isotopologue's HITRAN mass; the partition function defaults to
    the shipped TIPS tables (``partition_version``) for the isotopologues present.
    """
    mol = np.asarray(mol_id, np.int32).reshape(-1)
    iso = np.asarray(iso_id, np.int32).reshape(-1)
    n = mol.size

    def col(x, default=0.0):
        if x is None:
            return np.full(n, default, np.float64)
        a = np.asarray(x, np.float64).reshape(-1)
        if a.size != n:
            raise ValueError(f"line parameter has {a.size} values but there are {n} lines")
        return a

    if mass is None:
        cache = {}
        mass = [
            cache.setdefault((m, i), isotopologue_mass(int(m), int(i)))
            for m, i in zip(mol, iso, strict=True)
        ]
    pairs = sorted(set(zip(mol.tolist(), iso.tolist(), strict=True)))
    if partition is None:
        partition = tips_partition_function(pairs, partition_version or 2021)
    rows = np.array([partition.row_of(m, i) for m, i in zip(mol, iso, strict=True)], np.int32)
    centre = col(nu0)
    centre_hi = jnp.asarray(centre)
    centre_lo = jnp.asarray(centre - np.asarray(centre_hi, np.float64))
    return LineList(
        mol_id=jnp.asarray(mol), iso_id=jnp.asarray(iso), nu0=centre_hi, nu0_lo=centre_lo,
        sw=jnp.asarray(col(sw)), gamma_air=jnp.asarray(col(gamma_air)),
        gamma_self=jnp.asarray(col(gamma_self)), elower=jnp.asarray(col(elower)),
        n_air=jnp.asarray(col(n_air)), delta_air=jnp.asarray(col(delta_air)),
        g_dicke=jnp.asarray(col(g_dicke)), n_dicke=jnp.asarray(col(n_dicke)),
        lmf=jnp.asarray(col(lmf)), nlmf=jnp.asarray(col(nlmf)), sd_air=jnp.asarray(col(sd_air)),
        eta=jnp.asarray(col(eta)), mass=jnp.asarray(col(mass)),
        q_row=jnp.asarray(rows), partition=partition,
        molecules=tuple(sorted(set(mol.tolist()))),
    )


def concatenate(line_lists: Sequence[LineList], partition_version: int | None = None) -> LineList:
    """Join line lists (host-side).

    Args:
        line_lists: the lists to join.
        partition_version: None (default) keeps the lists' own partition sums (e.g. a
            ``load_qtpy`` table attached with ``with_partition``), merging their rows; a TIPS
            version (2021, 2025) rebuilds them all from the shipped TIPS tables instead.
    """
    hosts = [host_arrays(ll) for ll in line_lists]
    arrays = {name: np.concatenate([h[name] for h in hosts]) for name in LINE_ARRAY_FIELDS}
    if partition_version is not None:
        return make_line_list(**arrays, partition_version=partition_version)
    return make_line_list(**arrays, partition_version=None,
                          partition=merge_partitions([ll.partition for ll in line_lists]))


class LineListFormatError(ValueError):
    """A malformed line record: the message names the file, line number and field."""


def _iso_char(ch: str) -> int:
    if ch.isdigit():
        return 10 if ch == "0" else int(ch)
    if "A" <= ch <= "Z":
        return 11 + ord(ch) - ord("A")
    raise ValueError(ch)


def read_hitran_par(
    path: str | Path,
    *,
    nu_min: float | None = None,
    nu_max: float | None = None,
    partition_version: int = 2021,
) -> LineList:
    """Read HITRAN 160-character records (``.par`` or HAPI ``.data``) into a ``LineList``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        LineListFormatError: a record is short or a field does not parse
            (message: ``<file>:<line>: field '<name>' ...``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HITRAN line file {path} not found")
    cols: dict[str, list] = {name: [] for name in HITRAN_PAR_FIELDS}
    with open(path, encoding="ascii", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            rec = raw.rstrip("\r\n")
            if not rec.strip():
                continue
            if len(rec) < HITRAN_PAR_FIELDS["delta_air"][1]:
                raise LineListFormatError(
                    f"{path}:{lineno}: record has {len(rec)} characters; a HITRAN .par record "
                    f"has {HITRAN_RECORD_LENGTH} (fields up to 'delta_air' need "
                    f"{HITRAN_PAR_FIELDS['delta_air'][1]})"
                )
            for name, (a, b) in HITRAN_PAR_FIELDS.items():
                text = rec[a:b]
                try:
                    if name == "local_iso_id":
                        value = _iso_char(text)
                    elif name == "molec_id":
                        value = int(text)
                    else:
                        value = float(text)
                except ValueError:
                    raise LineListFormatError(
                        f"{path}:{lineno}: field '{name}' (columns {a + 1}-{b}) = {text!r} "
                        "is not a number; check that the file uses HITRAN 160-character records"
                    ) from None
                if name != "local_iso_id" and name != "molec_id" and not np.isfinite(value):
                    raise LineListFormatError(
                        f"{path}:{lineno}: field '{name}' = {text!r} is not finite"
                    )
                cols[name].append(value)
    if not cols["nu"]:
        raise LineListFormatError(f"{path}: no HITRAN records found")
    nu = np.asarray(cols["nu"])
    keep = np.ones(nu.size, bool)
    if nu_min is not None:
        keep &= nu >= nu_min
    if nu_max is not None:
        keep &= nu <= nu_max
    c = {k: np.asarray(v)[keep] for k, v in cols.items()}
    return make_line_list(
        mol_id=c["molec_id"], iso_id=c["local_iso_id"], nu0=c["nu"], sw=c["sw"],
        gamma_air=c["gamma_air"], gamma_self=c["gamma_self"], elower=c["elower"],
        n_air=c["n_air"], delta_air=c["delta_air"], partition_version=partition_version,
    )


def parse_physae_transitions(
    text: str,
    *,
    source: str = "<string>",
    first_line: int = 1,
    mass: float | None = None,
    partition_version: int = 2021,
) -> LineList:
    """Parse PhysAE ';'-separated transitions (one line each; see ``PHYSAE_FIELDS``).

    Lines with fewer than 14 fields get zeros for the missing trailing fields (as PhysAE
    does); at least the first 9 (up to ``shift_air``) are required. ``mass`` (amu) overrides
    the isotopologue mass for the Doppler width (PhysAE uses one molar mass per molecule).
    """
    rows = []
    for k, raw in enumerate(text.splitlines()):
        lineno = first_line + k
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tokens = [t.strip() for t in line.split(";")]
        if len(tokens) < 9 or len(tokens) > len(PHYSAE_FIELDS):
            raise LineListFormatError(
                f"{source}:{lineno}: {len(tokens)} ';'-separated fields; PhysAE transitions "
                f"need 9 to {len(PHYSAE_FIELDS)}: {';'.join(PHYSAE_FIELDS)}"
            )
        tokens += ["0"] * (len(PHYSAE_FIELDS) - len(tokens))
        values = []
        for name, tok in zip(PHYSAE_FIELDS, tokens, strict=True):
            try:
                v = float(tok)
            except ValueError:
                raise LineListFormatError(
                    f"{source}:{lineno}: field '{name}' = {tok!r} is not a number"
                ) from None
            if not np.isfinite(v):
                raise LineListFormatError(
                    f"{source}:{lineno}: field '{name}' = {tok!r} is not finite"
                )
            values.append(v)
        rows.append(values)
    if not rows:
        raise LineListFormatError(f"{source}: no transitions found")
    a = np.asarray(rows)
    f = {name: a[:, i] for i, name in enumerate(PHYSAE_FIELDS)}
    return make_line_list(
        mol_id=f["mid"].astype(int), iso_id=f["lid"].astype(int), nu0=f["center"],
        sw=f["amplitude"], gamma_air=f["gamma_air"], gamma_self=f["gamma_self"], elower=f["e0"],
        n_air=f["n_air"], delta_air=f["shift_air"], g_dicke=f["gDicke"], n_dicke=f["nDicke"],
        lmf=f["lmf"], nlmf=f["nlmf"], mass=None if mass is None else np.full(len(rows), mass),
        partition_version=partition_version,
    )


def read_physae_transitions(
    path: str | Path, *, mass: float | None = None, partition_version: int = 2021
) -> LineList:
    """Read a PhysAE ';'-separated transitions file (one line per transition, '#' comments)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PhysAE transitions file {path} not found")
    return parse_physae_transitions(path.read_text(), source=str(path), mass=mass,
                                    partition_version=partition_version)


@dataclass(frozen=True)
class PhysAEWindow:
    """Contents of a PhysAE transitions YAML file.

    Attributes:
        lines: molecule name -> its ``LineList``.
        poly_frequency: molecule name -> calibration coefficients (c2, c3, ...) of i^2, i^3, ...
        ranges_val: parameter -> (low, high) validation sampling range.
        expand_factors: parameter -> factor widening ``ranges_val`` into training ranges.
        constants: named constants (path length, reference conditions, molar masses).
    """

    lines: Mapping[str, LineList]
    poly_frequency: Mapping[str, tuple[float, ...]]
    ranges_val: Mapping[str, tuple[float, float]]
    expand_factors: Mapping[str, float]
    constants: Mapping[str, float]

    def training_ranges(self) -> dict[str, tuple[float, float]]:
        """``ranges_val`` widened about their centres by ``expand_factors`` (1 if absent)."""
        out = {}
        for name, (lo, hi) in self.ranges_val.items():
            f = float(self.expand_factors.get(name, 1.0))
            mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
            out[name] = (mid - f * half, mid + f * half)
        return out

    def all_lines(self) -> LineList:
        """All molecules' lines in one list, each keeping its partition sums (TIPS or the
        ``load_qtpy`` table attached with ``with_partition``)."""
        return concatenate(list(self.lines.values()))


def load_physae_yaml(path: str | Path, partition_version: int = 2021) -> PhysAEWindow:
    """Load a PhysAE transitions YAML (``transitions``, optional ``poly_frequency``, ranges)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"PhysAE transitions file {path} not found")
    text = path.read_text()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise LineListFormatError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(doc, dict) or "transitions" not in doc:
        raise LineListFormatError(f"{path}: expected a mapping with a 'transitions' section")
    constants = {k: float(v) for k, v in (doc.get("constants") or {}).items()}
    src_lines = text.splitlines()
    lines = {}
    for mol, block in doc["transitions"].items():
        if not isinstance(block, str):
            raise LineListFormatError(
                f"{path}: transitions.{mol} must be a block string of ';'-separated lines"
            )
        start = next((i for i, s in enumerate(src_lines) if s.startswith("transitions:")), 0)
        first = next(
            (i + 2 for i, s in enumerate(src_lines)
             if i > start and s.strip().startswith(f"{mol}:")), 1
        )
        lines[mol] = parse_physae_transitions(
            block, source=f"{path} (transitions.{mol})", first_line=first,
            mass=constants.get(f"M_{mol}"), partition_version=partition_version,
        )
    poly = {}
    for mol, coeffs in (doc.get("poly_frequency") or {}).items():
        try:
            poly[mol] = tuple(float(c) for c in coeffs)
        except (TypeError, ValueError):
            raise LineListFormatError(
                f"{path}: poly_frequency.{mol} must be a list of numbers, got {coeffs!r}"
            ) from None
    ranges = {}
    for name, val in (doc.get("ranges_val") or {}).items():
        if not (isinstance(val, list | tuple) and len(val) == 2):
            raise LineListFormatError(f"{path}: ranges_val.{name} must be [low, high], got {val!r}")
        ranges[name] = (float(val[0]), float(val[1]))
    return PhysAEWindow(
        lines=lines, poly_frequency=poly, ranges_val=ranges,
        expand_factors={k: float(v) for k, v in (doc.get("expand_factors") or {}).items()},
        constants=constants,
    )
