"""A documented *synthetic* line list for windows without an offline HITRAN file.

No HITRAN extract of the near-IR CH4 window 5995-6005 cm^-1 (the 2nu3 band region) ships
with the project, so the PhysAE range sets there run on lines drawn from the distributions
below. The lines are plausible in magnitude, not real transitions: every output made with
them is labelled ``synthetic`` (see :data:`SYNTHETIC_LABEL`). Give a real HITRAN ``.par`` /
``.data`` file or a PhysAE YAML instead through ``--lines PATH``.

Per molecule (:data:`SYNTHETIC_MOLECULES`), with ``rng = numpy.random.default_rng([seed,
HITRAN molecule id])`` (so each molecule has its own deterministic stream):

* centres: from ``window[0] - wing``, successive spacings ~ U(spacing); the list stops at
  the last centre <= ``window[1] + wing``. With ``wing >= spacing[1]`` the first centre is
  <= window[0] and the last >= window[1] (the window is covered at both ends);
* ``sw`` (cm^-1/(molecule cm^-2) at 296 K): log10 sw ~ U(log10 strength range);
  CH4 1e-24..1e-21 (strongest 2nu3 lines near 6000 cm^-1 are ~1e-21), H2O 1e-24..1e-23;
* ``gamma_air`` ~ U(0.05, 0.08) cm^-1/atm; ``gamma_self`` = ratio * gamma_air
  (CH4 1.3, H2O 5.0, the ratios of the reference window's lines);
* ``n_air`` ~ U(0.6, 0.8) (mean 0.7); ``delta_air`` ~ U(-0.01, 0.0) cm^-1/atm;
* ``elower`` ~ U(0, E_max) cm^-1 (CH4 1500, H2O 2500);
* main isotopologue (iso 1), HITRAN mass and TIPS-2021 partition sums; no Dicke narrowing,
  no line mixing (zeros).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from jaxgeo.spectra.linelist import HITRAN_MOLECULE_IDS, LineList, make_line_list

__all__ = ["SYNTHETIC_LABEL", "SyntheticBand", "SYNTHETIC_MOLECULES", "synthetic_lines",
           "synthetic_window_lines"]

SYNTHETIC_LABEL = "synthetic"


@dataclass(frozen=True)
class SyntheticBand:
    """The distributions of one molecule's synthetic lines (see the module docstring).

    Attributes:
      spacing: (low, high) of the uniform centre spacing, cm^-1.
      strength: (low, high) of the log-uniform intensity at 296 K, cm^-1/(molecule cm^-2).
      gamma_air: (low, high) of the uniform air width at 296 K, cm^-1/atm.
      self_ratio: gamma_self / gamma_air.
      n_air: (low, high) of the uniform temperature exponent.
      delta_air: (low, high) of the uniform pressure shift, cm^-1/atm.
      elower_max: upper end of the uniform lower-state energy, cm^-1.
    """

    spacing: tuple[float, float]
    strength: tuple[float, float]
    gamma_air: tuple[float, float] = (0.05, 0.08)
    self_ratio: float = 1.3
    n_air: tuple[float, float] = (0.6, 0.8)
    delta_air: tuple[float, float] = (-0.01, 0.0)
    elower_max: float = 1500.0


SYNTHETIC_MOLECULES = {
    "CH4": SyntheticBand(spacing=(0.1, 0.5), strength=(1e-24, 1e-21), self_ratio=1.3,
                         elower_max=1500.0),
    "H2O": SyntheticBand(spacing=(0.1, 0.5), strength=(1e-24, 1e-23), self_ratio=5.0,
                         elower_max=2500.0),
}


def synthetic_lines(seed: int, window: tuple[float, float], molecule: str = "CH4", *,
                    wing: float = 1.0) -> LineList:
    """Synthetic lines of `molecule` over ``[window[0] - wing, window[1] + wing]``.

    A pure function of its arguments (the same arguments give the same list).

    Args:
      seed: integer seed.
      window: (low, high) wavenumbers the lines must cover, cm^-1.
      molecule: a key of :data:`SYNTHETIC_MOLECULES` ("CH4" or "H2O").
      wing: extra span on both sides, cm^-1; at least the band's largest spacing, so that
        both window ends are covered.
    Returns:
      a :class:`~jaxgeo.spectra.LineList` (as :func:`~jaxgeo.spectra.read_hitran_par`
      returns), lines sorted by centre.
    Raises:
      ValueError: unknown molecule, window with low >= high, or a too small wing.
    """
    if molecule not in SYNTHETIC_MOLECULES:
        raise ValueError(f"molecule={molecule!r}: synthetic bands exist for "
                         f"{sorted(SYNTHETIC_MOLECULES)}")
    lo, hi = float(window[0]), float(window[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"window=({lo}, {hi}): need finite low < high (cm^-1)")
    band = SYNTHETIC_MOLECULES[molecule]
    if wing < band.spacing[1]:
        raise ValueError(f"wing={wing}: must be >= the largest line spacing "
                         f"{band.spacing[1]} cm^-1 so both window ends are covered")
    mol_id = HITRAN_MOLECULE_IDS[molecule]
    rng = np.random.default_rng([int(seed), mol_id])
    start, stop = lo - wing, hi + wing
    n_max = int(math.ceil((stop - start) / band.spacing[0])) + 2
    steps = rng.uniform(*band.spacing, n_max)
    centres = start + np.cumsum(steps)
    centres = centres[centres <= stop]
    n = centres.size
    log_s = rng.uniform(math.log10(band.strength[0]), math.log10(band.strength[1]), n)
    gamma_air = rng.uniform(*band.gamma_air, n)
    return make_line_list(
        mol_id=np.full(n, mol_id), iso_id=np.ones(n, int), nu0=centres, sw=10.0 ** log_s,
        gamma_air=gamma_air, gamma_self=band.self_ratio * gamma_air,
        elower=rng.uniform(0.0, band.elower_max, n), n_air=rng.uniform(*band.n_air, n),
        delta_air=rng.uniform(*band.delta_air, n))


def synthetic_window_lines(seed: int, window: tuple[float, float],
                           molecules=("CH4", "H2O"), *, wing: float = 1.0
                           ) -> dict[str, LineList]:
    """molecule -> :func:`synthetic_lines` for each of `molecules` (same seed and window)."""
    return {m: synthetic_lines(seed, window, m, wing=wing) for m in molecules}
