"""The shipped PhysAE range sets (configs/physae/): each set's lines cover its whole training
window and its baseline stays positive over its ranges (both by hand from the config
values), the spectra are finite; ``--lines PATH`` errors and a real HITRAN file."""

import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgeo.spectra as sp
from jaxgeo.core.config import ConfigError, load_config
from jaxgeo.physae.run import build, is_synthetic, lines_label

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "physae"
GUIDE_SETS = ("ch4_6000", "atmospheric", "industrial_leak", "lab_calibration")
WINDOW = ROOT / "jaxgeo" / "physae" / "data" / "physae_window_3085.yaml"
BASE = ("baseline0", "baseline1", "baseline2")


def config(name, **fields):
    c = load_config(CONFIGS / f"{name}.py")
    c.encoder_variant = "tiny"
    for k, v in fields.items():
        c[k] = v
    return c


def expanded(lo, hi, f):
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    return mid - f * half, mid + f * half


def hand_window(c):
    """(low, high) cm^-1 of every grid of the training ranges, and the baseline training
    ranges with the pixel coordinate they multiply, computed from the config values."""
    n = c.num_points
    if c.window == "synthetic":  # the guide's convention: centre, width; x = i / (N - 1)
        f = dict(c.expand_factors)
        c_lo, c_hi = expanded(*c.ranges_val.sig0, f.get("sig0", 1.0))
        w_lo, w_hi = expanded(*c.ranges_val.dsig, f.get("dsig", 1.0))
        base = [expanded(*c.ranges_val[b], f.get(b, 1.0)) for b in BASE]
        return (c_lo - w_hi / 2, c_hi + w_hi / 2), base, np.arange(n) / (n - 1)
    w = sp.load_physae_yaml(WINDOW)  # physae.py's convention: pixel 0, step, pixel index i
    f = w.expand_factors
    s_lo, s_hi = expanded(*w.ranges_val["sig0"], f["sig0"])
    d_lo, d_hi = expanded(*w.ranges_val["dsig"], f["dsig"])
    i = np.arange(n, dtype=np.float64)
    poly = w.poly_frequency["CH4"]
    off = [d * i + sum(ck * i ** (k + 2) for k, ck in enumerate(poly)) for d in (d_lo, d_hi)]
    base = [expanded(*w.ranges_val[b], f[b]) for b in BASE]
    return (s_lo + min(o.min() for o in off), s_hi + max(o.max() for o in off)), base, i


@pytest.fixture(scope="module", params=GUIDE_SETS + ("reference",))
def built(request):
    c = config(request.param)
    return request.param, c, build(c)


def test_lines_cover_the_whole_window(built):
    name, c, (space, obs, _) = built
    (lo, hi), _, _ = hand_window(c)
    lines = dict(obs.lines)
    nu = np.concatenate([sp.linelist.host_arrays(v)["nu0"] for v in lines.values()])
    assert nu.min() <= lo and nu.max() >= hi, (name, nu.min(), nu.max(), lo, hi)
    if name != "reference":  # the synthetic list: each molecule on its own covers it
        assert set(lines) == {"CH4", "H2O"}
        for v in lines.values():
            m = sp.linelist.host_arrays(v)["nu0"]
            assert m.min() <= lo and m.max() >= hi
        # the guide's window: centre 5995-6005 etc. is inside the span (hand check of the
        # span itself: centre +- width / 2)
        c_lo, c_hi = c.ranges_val.sig0
        assert lo <= c_lo - c.ranges_val.dsig[0] / 2 and hi >= c_hi + c.ranges_val.dsig[0] / 2
        assert is_synthetic(c) and "synthetic" in lines_label(c)
    else:
        assert not is_synthetic(c) and "synthetic" not in lines_label(c)


def test_baseline_positive_over_the_ranges(built):
    name, c, (space, obs, _) = built
    _, base, x = hand_window(c)
    corners = np.array(np.meshgrid(*base, indexing="ij")).reshape(3, -1).T  # 8 corners
    # b0 + b1 x + b2 x^2 on the pixel grid at every corner of the box (linear in b: the
    # extremes over the box are at its corners)
    values = corners[:, :1] + corners[:, 1:2] * x + corners[:, 2:3] * x ** 2
    assert values.min() > 0, (name, values.min())
    # the same in the internal (pixel) form the model evaluates, from the built space
    lo, hi = space.bounds("train")
    j = [space.index(b) for b in BASE]
    internal = np.array(np.meshgrid(*[(lo[k], hi[k]) for k in j], indexing="ij")).reshape(3, -1).T
    model = np.array([np.asarray(sp.polynomial_baseline(jnp.asarray(b, jnp.float32),
                                                        c.num_points)) for b in internal])
    # same corner order; the conversion x = i / (N - 1) is exact; float32 evaluation of
    # the polynomial: 1e-5
    np.testing.assert_allclose(model.min(1), values.min(1), rtol=1e-5)


def test_spectra_finite_and_positive_at_the_box_centre(built):
    name, c, (space, obs, _) = built
    lo, hi = space.bounds("train")
    y = np.asarray(jax.jit(obs)(jnp.asarray(0.5 * (lo + hi), jnp.float32)))
    assert y.shape == (c.num_points,) and np.all(np.isfinite(y))
    assert y.min() > 0 and y.max() < 1.4  # transmission x a baseline near 1


def test_lines_errors_name_the_flag(shared_data, tmp_path):
    with pytest.raises(ConfigError, match=r"^--lines .*nope\.par: no such file"):
        build(config("ch4_6000", lines=str(tmp_path / "nope.par")))
    bad = tmp_path / "lines.csv"
    bad.write_text("x")
    with pytest.raises(ConfigError, match=r"^--lines .*lines\.csv: unknown suffix"):
        build(config("ch4_6000", lines=str(bad)))
    # real files that do not reach 5995-6005 cm^-1: a HITRAN CH4 extract 4975-5050 and the
    # PhysAE YAML of 3085 cm^-1
    for path in (shared_data / "spectra" / "hitran_CH4_4975_5050.par", WINDOW):
        with pytest.raises(ConfigError, match=r"^--lines .*: the line list does not cover"):
            build(config("ch4_6000", lines=str(path)))


def test_real_hitran_file_through_lines(shared_data):
    par = shared_data / "spectra" / "hitran_CH4_4975_5050.par"
    c = config("ch4_6000", lines=str(par), num_points=200)
    c.ranges_val.sig0 = (5010.0, 5012.0)
    c.ranges_val.dsig = (4.0, 5.0)
    space, obs, _ = build(c)
    lines = dict(obs.lines)
    assert set(lines) == {"CH4"} and lines["CH4"].n_lines == 1017  # every record, CH4
    assert not is_synthetic(c) and lines_label(c) == f"lines from {par}"
    y = np.asarray(jax.jit(obs)(jnp.asarray(np.mean(space.bounds("train"), 0), jnp.float32)))
    assert np.all(np.isfinite(y)) and y.min() > 0


def test_missing_lines_file_is_one_error_line(tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "train_stage_a.py"), "--config",
         str(CONFIGS / "ch4_6000.py"), "--lines", str(tmp_path / "none.par"), "--out_dir",
         str(tmp_path / "run")], env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --lines "), lines
