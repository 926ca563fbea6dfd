"""The synthetic line list: the statistics it documents (hand computation), coverage of the
window at both ends, determinism, and the LineList structure of the loaders."""

import math
from pathlib import Path

import numpy as np
import pytest

import jaxgeo.spectra as sp

WINDOW = Path(__file__).resolve().parents[1] / "jaxgeo" / "physae" / "data" / \
    "physae_window_3085.yaml"
# the arrays are float32 (jax default): bounds hold up to one rounding, <= 2^-23 relative
F32_LO, F32_HI = 1 - 1.2e-7, 1 + 1.2e-7
LONG = (5900.0, 6100.0)  # 200 cm^-1: ~670 lines per molecule, for the statistics


def uniform_mean_ok(x, lo, hi, k=4.0):
    """|mean - (lo+hi)/2| within k standard errors of U(lo, hi) (std (hi-lo)/sqrt(12))."""
    se = (hi - lo) / math.sqrt(12.0) / math.sqrt(x.size)
    return abs(x.mean() - 0.5 * (lo + hi)) <= k * se


@pytest.mark.parametrize("molecule", ["CH4", "H2O"])
def test_statistics_match_the_documented_distributions(molecule):
    band = sp.SYNTHETIC_MOLECULES[molecule]
    lines = sp.synthetic_lines(3, LONG, molecule, wing=1.0)
    h = sp.linelist.host_arrays(lines)
    nu = h["nu0"]
    # spacings U(0.1, 0.5) cm^-1: every one inside, mean 0.3 (4 standard errors)
    d = np.diff(nu)
    assert d.min() >= 0.1 - 1e-9 and d.max() <= 0.5 + 1e-9
    assert uniform_mean_ok(d, 0.1, 0.5)
    # count of a renewal process over 202 cm^-1: mean 202/0.3 = 673, var t s^2/m^3 = 100
    assert abs(nu.size - 202.0 / 0.3) <= 4 * math.sqrt(202.0 * (0.4 ** 2 / 12) / 0.3 ** 3)
    # strengths log-uniform: CH4 1e-24..1e-21 (strongest ~1e-21), H2O 1e-24..1e-23
    s_lo, s_hi = band.strength
    assert (s_lo, s_hi) == ((1e-24, 1e-21) if molecule == "CH4" else (1e-24, 1e-23))
    log_s = np.log10(h["sw"])
    assert log_s.min() >= math.log10(s_lo * F32_LO) and log_s.max() <= math.log10(s_hi * F32_HI)
    assert uniform_mean_ok(log_s, math.log10(s_lo), math.log10(s_hi))
    # the strongest of ~670 log-uniform draws lies within a factor 2 of the top
    assert h["sw"].max() >= 0.5 * s_hi
    # widths U(0.05, 0.08) cm^-1/atm, self = ratio * air (CH4 1.3, H2O 5.0)
    g = h["gamma_air"]
    assert g.min() >= 0.05 * F32_LO and g.max() <= 0.08 * F32_HI
    assert uniform_mean_ok(g, 0.05, 0.08)
    ratio = 1.3 if molecule == "CH4" else 5.0
    # both stored in float32 (jax default): two roundings of <= 2^-23 relative each
    np.testing.assert_allclose(h["gamma_self"], ratio * g, rtol=2.4e-7)
    # temperature exponent U(0.6, 0.8), mean 0.7; shift U(-0.01, 0)
    assert h["n_air"].min() >= 0.6 * F32_LO and h["n_air"].max() <= 0.8 * F32_HI
    assert uniform_mean_ok(h["n_air"], 0.6, 0.8)
    assert h["delta_air"].min() >= -0.01 * F32_HI and h["delta_air"].max() <= 0.0
    # lower-state energies U(0, E_max): CH4 1500, H2O 2500 cm^-1
    e_max = 1500.0 if molecule == "CH4" else 2500.0
    assert h["elower"].min() >= 0 and h["elower"].max() <= e_max * F32_HI
    assert uniform_mean_ok(h["elower"], 0.0, e_max)
    # molecule / main isotopologue ids, HITRAN mass, no Dicke, no line mixing
    mol = sp.linelist.HITRAN_MOLECULE_IDS[molecule]
    assert np.all(h["mol_id"] == mol) and np.all(h["iso_id"] == 1)
    np.testing.assert_allclose(h["mass"], sp.isotopologue_mass(mol, 1), rtol=1e-6)  # float32
    assert not np.any(h["g_dicke"]) and not np.any(h["lmf"])


@pytest.mark.parametrize("window", [(5995.0, 6005.0), (5992.5, 6017.5), (5997.0, 6003.0)])
@pytest.mark.parametrize("molecule", ["CH4", "H2O"])
def test_covers_the_window_with_wings_at_both_ends(window, molecule):
    wing = 0.8
    nu = sp.linelist.host_arrays(sp.synthetic_lines(0, window, molecule, wing=wing))["nu0"]
    assert nu.min() <= window[0] and nu.max() >= window[1]
    assert nu.min() > window[0] - wing and nu.max() <= window[1] + wing
    assert np.all(np.diff(nu) > 0)  # sorted, distinct centres


def test_deterministic_for_a_seed_and_seed_dependent():
    a = sp.linelist.host_arrays(sp.synthetic_lines(7, (5995.0, 6005.0), "CH4"))
    b = sp.linelist.host_arrays(sp.synthetic_lines(7, (5995.0, 6005.0), "CH4"))
    c = sp.linelist.host_arrays(sp.synthetic_lines(8, (5995.0, 6005.0), "CH4"))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert a["nu0"].size != c["nu0"].size or not np.array_equal(a["nu0"], c["nu0"])
    # each molecule has its own stream: CH4 and H2O centres differ for one seed
    w = sp.synthetic_window_lines(7, (5995.0, 6005.0))
    assert set(w) == {"CH4", "H2O"}
    h2o = sp.linelist.host_arrays(w["H2O"])["nu0"]
    assert h2o.size != a["nu0"].size or not np.array_equal(h2o, a["nu0"])


def test_same_structure_as_the_loaders():
    ref = sp.load_physae_yaml(WINDOW).lines["CH4"]
    syn = sp.synthetic_lines(0, (5995.0, 6005.0), "CH4")
    assert type(syn) is type(ref)
    for name in sp.linelist.LINE_ARRAY_FIELDS + ("nu0_lo", "q_row"):
        a, b = getattr(syn, name), getattr(ref, name)
        assert a.dtype == b.dtype and a.ndim == b.ndim == 1, name
    assert syn.molecules == (6,)


@pytest.mark.parametrize("kwargs, text", [
    ({"molecule": "CO2"}, "molecule='CO2'"),
    ({"window": (6005.0, 5995.0)}, "window=(6005.0, 5995.0)"),
    ({"wing": 0.2}, "wing=0.2"),
])
def test_bad_arguments_name_the_argument(kwargs, text):
    args = {"seed": 0, "window": (5995.0, 6005.0), "molecule": "CH4", "wing": 1.0, **kwargs}
    with pytest.raises(ValueError, match=text.replace("(", r"\(").replace(")", r"\)")):
        sp.synthetic_lines(args["seed"], args["window"], args["molecule"], wing=args["wing"])
