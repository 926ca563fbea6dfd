"""Line-list loaders and partition sums against HAPI's own parser and TIPS tables."""

import contextlib
import io
import json
import pickle
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import jaxgeo.spectra as sp

with contextlib.redirect_stdout(io.StringIO()):
    import hapi

PAR_FILES = ("hitran_CH4_4975_5050.par", "hitran_H2O_2000_2100.par")


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


@pytest.mark.parametrize("name", PAR_FILES)
def test_read_hitran_par_matches_hapi_parser(x64, shared_data, tmp_path, name):
    src = shared_data / "spectra" / name
    shutil.copy(src, tmp_path / "T.data")
    header = dict(hapi.HITRAN_DEFAULT_HEADER, table_name="T")
    (tmp_path / "T.header").write_text(json.dumps(header))
    with contextlib.redirect_stdout(io.StringIO()):
        hapi.db_begin(str(tmp_path))
    ref = hapi.LOCAL_TABLE_CACHE["T"]["data"]
    lines = sp.read_hitran_par(src)
    assert lines.n_lines == len(ref["nu"])
    pairs = {
        "mol_id": "molec_id", "iso_id": "local_iso_id", "nu0": "nu", "sw": "sw",
        "gamma_air": "gamma_air", "gamma_self": "gamma_self", "elower": "elower",
        "n_air": "n_air", "delta_air": "delta_air",
    }
    for ours, theirs in pairs.items():
        np.testing.assert_array_equal(np.asarray(getattr(lines, ours)), np.asarray(ref[theirs]),
                                      err_msg=ours)  # same decimal text -> same float64
    pairs = set(zip(ref["molec_id"], ref["local_iso_id"], strict=True))
    masses = {(m, i): hapi.molecularMass(m, i) for m, i in pairs}
    np.testing.assert_array_equal(
        np.asarray(lines.mass),
        [masses[(m, i)] for m, i in zip(ref["molec_id"], ref["local_iso_id"], strict=True)],
    )  # copied table values


def test_malformed_par_names_file_line_and_field(shared_data, tmp_path):
    good = (shared_data / "spectra" / PAR_FILES[0]).read_text().splitlines()
    bad = list(good[:5])
    bad[3] = bad[3][:15] + "  1.0E-2X " + bad[3][25:]  # corrupt 'sw' on line 4
    path = tmp_path / "bad.par"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(sp.LineListFormatError, match=r"bad\.par:4: field 'sw'"):
        sp.read_hitran_par(path)
    short = tmp_path / "short.par"
    short.write_text(good[0] + "\n" + good[1][:40] + "\n")
    with pytest.raises(sp.LineListFormatError, match=r"short\.par:2: record has 40 characters"):
        sp.read_hitran_par(short)
    with pytest.raises(FileNotFoundError, match="missing.par"):
        sp.read_hitran_par(tmp_path / "missing.par")


def test_physae_yaml_loader(x64, shared_data):
    w = sp.load_physae_yaml(shared_data / "spectra" / "physae_window_3085.yaml")
    assert set(w.lines) == {"CH4", "H2O"}
    ch4, h2o = w.lines["CH4"], w.lines["H2O"]
    assert ch4.n_lines == 6 and h2o.n_lines == 7
    # first CH4 line of the file, field by field
    first = [3085.861015, 1.013e-19, 0.06, 0.078, 219.9411, 0.73, -0.00712, 0.0221, 0.96,
             0.584, 1.12]
    got = [float(getattr(ch4, f)[0]) for f in ("nu0", "sw", "gamma_air", "gamma_self",
                                               "elower", "n_air", "delta_air", "g_dicke",
                                               "n_dicke", "lmf", "nlmf")]
    assert got == first
    assert np.all(np.asarray(h2o.g_dicke) == 0) and np.all(np.asarray(h2o.lmf) == 0)
    assert list(np.asarray(h2o.iso_id)) == [2, 1, 1, 1, 1, 1, 1]
    assert w.poly_frequency["CH4"] == (-2.3614803e-07, 1.2103413e-10, -3.1617856e-14)
    assert w.constants["path_length_m"] == 15.12
    np.testing.assert_array_equal(np.asarray(ch4.mass), 16.04)  # PhysAE's molar mass
    lo, hi = w.training_ranges()["T"]
    assert (lo, hi) == pytest.approx((307.65 - 1.3 * 2.5, 307.65 + 1.3 * 2.5))


def test_physae_yaml_without_poly_frequency(x64, shared_data, tmp_path):
    """``poly_frequency`` is optional: a YAML without it loads with no calibration."""
    doc = yaml.safe_load((shared_data / "spectra" / "physae_window_3085.yaml").read_text())
    assert "poly_frequency" in doc  # the shipped file has one; remove it
    del doc["poly_frequency"]
    path = tmp_path / "no_poly.yaml"
    path.write_text(yaml.safe_dump(doc))
    w = sp.load_physae_yaml(path)
    assert dict(w.poly_frequency) == {}
    assert w.lines["CH4"].n_lines == 6 and w.lines["H2O"].n_lines == 7
    # the observation model then uses the plain linear grid sig0 + dsig i
    y, nu = sp.physae_forward(w.lines, sig0=3085.4, dsig=0.0015, poly_coeffs=(),
                              baseline=jnp.asarray([1.0, 0.0, 0.0]), temperature=307.65,
                              p_mbar=500.0, mole_fractions={"CH4": 1e-5, "H2O": 0.006},
                              path_length_cm=1512.0, n_points=800)
    np.testing.assert_allclose(np.asarray(nu), 3085.4 + 0.0015 * np.arange(800), rtol=1e-15)
    assert np.all(np.isfinite(np.asarray(y))) and float(y.min()) < 0.9  # lines visible


def test_physae_transitions_file(x64, tmp_path):
    path = tmp_path / "ch4.csv"
    path.write_text("# mid;lid;center;...\n6;1;3085.861015;1.013E-19;0.06;0.078;219.9411;0.73;"
                    "-0.00712;0.0;0.0221;0.96;0.584;1.12\n\n6;1;3085.83;1.7E-19;0.06;0.078;"
                    "219.9;0.73;-0.007;0;0.02;0.9;0.1;1.1;7\n")
    with pytest.raises(sp.LineListFormatError, match=r"ch4\.csv:4: 15 ';'-separated fields"):
        sp.read_physae_transitions(path)
    path.write_text(path.read_text().rsplit(";7", 1)[0] + "\n")
    lines = sp.read_physae_transitions(path, mass=16.04)
    assert lines.n_lines == 2 and float(lines.lmf[0]) == 0.584 and float(lines.mass[1]) == 16.04


def test_runtime_imports_no_hapi_or_flax():
    code = ("import sys, jaxgeo.spectra; "
            "bad = [m for m in ('hapi', 'flax', 'ml_collections') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_physae_yaml_error_names_line(shared_data, tmp_path):
    text = (shared_data / "spectra" / "physae_window_3085.yaml").read_text().splitlines()
    row = next(i for i, s in enumerate(text) if "3085.832038" in s)  # 2nd CH4 transition
    text[row] = text[row].replace("0.0597", "0.05x7")
    bad = tmp_path / "bad.yaml"
    bad.write_text("\n".join(text) + "\n")
    with pytest.raises(sp.LineListFormatError,
                       match=rf"bad\.yaml \(transitions\.CH4\):{row + 1}: field 'gamma_air'"):
        sp.load_physae_yaml(bad)


def test_physae_transition_errors():
    with pytest.raises(sp.LineListFormatError, match=r"<string>:2: field 'gamma_air' = 'x'"):
        sp.parse_physae_transitions("6;1;3085.8;1e-19;0.06;0.078;219.9;0.73;-0.007\n"
                                    "6;1;3085.9;1e-19;x;0.078;219.9;0.73;-0.007")
    with pytest.raises(sp.LineListFormatError, match=r"<string>:1: 3 ';'-separated fields"):
        sp.parse_physae_transitions("6;1;3085.8")


@pytest.mark.parametrize("mol,iso", [(1, 1), (1, 2), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)])
def test_partition_sums_match_hapi_tips2021(x64, mol, iso):
    temps = np.array([70.0, 150.5, 250.0, 296.0, 307.65, 320.0, 987.5])
    ours = np.asarray(sp.partition_sum(mol, iso, temps))
    ref = np.array([hapi.partitionSum(mol, iso, float(t), version=2021) for t in temps])
    # spline vs HAPI's 3-point Lagrange on the same 10 K nodes: both interpolate smooth Q(T).
    np.testing.assert_allclose(ours, ref, rtol=2e-6)


def test_partition_sum_derivative_is_smooth(x64):
    # dQ/dT from autodiff vs central differences of HAPI's table, and continuous at a node.
    t = 303.0
    d = jax.grad(lambda T: sp.partition_sum(6, 1, T))(t)
    h = 0.5
    fd = (hapi.partitionSum(6, 1, t + h, version=2021)
          - hapi.partitionSum(6, 1, t - h, version=2021)) / (2 * h)
    assert abs(float(d) / fd - 1) < 1e-4  # FD/interpolation error of HAPI's Lagrange scheme
    left = jax.grad(lambda T: sp.partition_sum(6, 1, T))(300.0 - 1e-7)
    right = jax.grad(lambda T: sp.partition_sum(6, 1, T))(300.0 + 1e-7)
    assert abs(float(left) / float(right) - 1) < 1e-6  # C1 spline: no kink at the 300 K node


def test_load_qtpy(x64, tmp_path):
    temps = np.arange(1, 501)
    q = 0.5 * temps**1.5 + 3.0  # any smooth table
    (tmp_path / "6_1.QTpy").write_bytes(pickle.dumps({int(t): float(v)
                                                      for t, v in zip(temps, q, strict=True)}))
    pf = sp.load_qtpy(tmp_path, [(6, 1)])
    got = float(pf(np.int32(0), 296.5))
    assert got == pytest.approx(0.5 * 296.5**1.5 + 3.0, rel=1e-8)  # spline error for T^1.5
    with pytest.raises(FileNotFoundError, match="1_1.QTpy"):
        sp.load_qtpy(tmp_path, [(1, 1)])


class _OpensAFile:
    """Unpickles as ``open(target, 'w')``: creates ``target`` when loaded by pickle.load."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_load_qtpy_refuses_hostile_pickle_without_running_it(tmp_path):
    from jaxgeo.core.safepickle import UnsafePickleError

    witness = tmp_path / "created_by_unpickling.txt"
    hostile = pickle.dumps({296: 1.0, 297: _OpensAFile(witness), 298: 1.1, 299: 1.2})
    (tmp_path / "6_1.QTpy").write_bytes(hostile)
    with pytest.raises(UnsafePickleError, match=r"6_1\.QTpy.*refusing to load .*open"):
        sp.load_qtpy(tmp_path, [(6, 1)])
    assert not witness.exists()  # nothing in the file was executed
    # the file is really hostile: the standard unpickler does create the witness file
    with contextlib.closing(pickle.loads(hostile)[297]):
        pass
    assert witness.exists()


def test_load_qtpy_refuses_non_table(tmp_path):
    (tmp_path / "6_1.QTpy").write_bytes(pickle.dumps([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"6_1\.QTpy"):
        sp.load_qtpy(tmp_path, [(6, 1)])


def test_concatenate_keeps_loaded_qtpy_partition(x64, tmp_path, shared_data):
    temps = np.arange(1, 501)
    q = 0.5 * temps**1.5 + 3.0  # a table far from TIPS: rebuilding TIPS would be noticed
    (tmp_path / "6_1.QTpy").write_bytes(pickle.dumps({int(t): float(v)
                                                      for t, v in zip(temps, q, strict=True)}))
    ch4 = sp.read_hitran_par(shared_data / "spectra" / "hitran_CH4_4975_5050.par")
    ch4 = ch4.select(np.asarray(ch4.iso_id) == 1)
    ch4 = ch4.with_partition(sp.load_qtpy(tmp_path, [(6, 1)]))
    pf = ch4.partition
    joined = sp.concatenate([ch4, ch4.select(np.arange(ch4.n_lines) < 3)])
    got = float(joined.partition(joined.q_row[:1], 296.5)[0])
    assert got == pytest.approx(0.5 * 296.5**1.5 + 3.0, rel=1e-8)  # spline error for T^1.5
    assert pf is joined.partition
