"""A Seistorch project folder runs unchanged: config.yml, geometry pickles, npy models."""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxgeo.core.config import ConfigError
from jaxgeo.core.safepickle import UnsafePickleError
from jaxgeo.fwi import config as fwi_config
from jaxgeo.fwi import setup, simulate

ROOT = Path(__file__).resolve().parents[1]
NZ, NX, NT = 24, 40, 120

CONFIG_YML = """\
seed: 3
name: tiny
dtype: float32
equation: acoustic
training:
  implicit:
    use: false
    pretrained:
  minibatch: true
  batch_size: 2
  N_epochs: 2
  lr:
    vp: 10.0
  scale_decay: 0.8
  lr_decay: 0.9
  filter_ord: 3
  smooth:
    counts: 0
    radius: {x: 4, z: 4}
    sigma: {x: 2, z: 2}
geom:
  obsPath: ./obs/shot_gather.npy
  truePath: {vp: ./velocity_model/true.npy, vs: , rho: , Q: }
  initPath: {vp: ./velocity_model/init.npy, vs: , rho: , Q: }
  invlist: {vp: true, vs: , rho: , q: }
  sources: ./geometry/sources.pkl
  receivers: ./geometry/receivers.pkl
  seabed:
  wavelet:
  wavelet_delay: 50
  wavelet_inverse: false
  fm: 5.0
  source_type: [h1]
  receiver_type: [h1]
  multiple: false
  boundary_saving: false
  inv_savePath: ./results
  multiscale: [all]
  dt: 0.004
  nt: 120
  h: 20.0
  Nshots: 4
  boundary: {type: pml, width: 6}
"""


def seistorch_folder(root: Path, yml: str = CONFIG_YML) -> Path:
    """Models and geometry written the way Seistorch's generate_model_geometry.py does:
    npy velocity models [nz, nx]; sources.pkl a list of [x, z] per shot; receivers.pkl a
    list of [[x...], [z...]] per shot (grid cells)."""
    (root / "velocity_model").mkdir(parents=True)
    (root / "geometry").mkdir()
    z = np.arange(NZ)[:, None]
    init = np.broadcast_to(1900.0 + 400.0 * z / (NZ - 1), (NZ, NX)).astype(np.float32)
    zz, xx = np.mgrid[:NZ, :NX]
    true = init - 250.0 * np.exp(-((zz - 12) ** 2 + (xx - 20) ** 2) / (2 * 5.0 ** 2))
    np.save(root / "velocity_model" / "true.npy", true.astype(np.float32))
    np.save(root / "velocity_model" / "init.npy", init)
    sources = [[x, 1] for x in range(5, 40, 10)]                 # 4 shots at depth 1
    receivers = [[list(range(0, 40, 2)), [22] * 20] for _ in sources]
    with open(root / "geometry" / "sources.pkl", "wb") as f:
        pickle.dump(sources, f)
    with open(root / "geometry" / "receivers.pkl", "wb") as f:
        pickle.dump(receivers, f)
    (root / "config.yml").write_text(yml)
    return root / "config.yml"


def entry():
    sys.path.insert(0, str(ROOT / "experiments"))
    import fwi
    return fwi


def test_seistorch_folder_forward_then_inversion(tmp_path, monkeypatch):
    yml = seistorch_folder(tmp_path / "project")
    monkeypatch.chdir(tmp_path)     # relative paths are the config file's, not the cwd's
    fwi = entry()
    (tmp_path / "project" / "obs").mkdir()
    assert fwi.main([str(yml), "--mode", "forward"]) == 0
    shots = np.load(tmp_path / "project" / "obs" / "shot_gather.npy", allow_pickle=True)
    assert shots.dtype == object and len(shots) == 4 and shots[0].shape == (NT, 20, 1)
    # the geometry read from the pickles is the hand-converted (z, x) geometry: the data
    # equal a forward run with these coordinates written out here
    c = fwi_config.parse_args([str(yml), "--mode", "forward"])
    problem = setup.build_problem(c, need_true=True)
    src = np.array([[[1, x]] for x in range(5, 40, 10)])
    rec = np.array([[[22, x] for x in range(0, 40, 2)]] * 4)
    np.testing.assert_array_equal(problem.source_locations, src)
    np.testing.assert_array_equal(problem.receiver_locations, rec)
    ref = simulate.forward_all(problem.true_model, problem.source_amplitudes(), src, rec,
                               problem.settings, simulate.make_mesh(1))
    # the same computation: only the float32 round trip through the file
    np.testing.assert_allclose(np.stack([s.T[:, :, :] for s in shots]).transpose(0, 1, 2, 3),
                               ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    assert c.training.num_batches == 2 and c.optim.epoch_decay == 0.9   # batch_size 2 of 4
    assert abs(c.wavelet.delay - 50 * 0.004) < 1e-12 and c.boundary.pml_width == 6

    # Seistorch's inversion command, unchanged
    assert fwi.main([str(yml), "--opt", "adam", "--loss", "vp=l2", "--mode", "inversion",
                     "--lr", "vp=10.0", "--checkpoint", "./none", "--grad-smooth"]) == 0
    out = tmp_path / "project" / "results"
    for name in ("paravpF0E0.npy", "paravpF0E1.npy", "gradvpF0E1.npy", "loss.npy"):
        assert (out / name).is_file(), name
    assert np.load(out / "loss.npy").shape == (1, 2, 1)


def test_hostile_pickle_is_refused(tmp_path):
    yml = seistorch_folder(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "geometry" / "sources.pkl", "wb") as f:
        pickle.dump([[5, 1], Evil()], f)
    c = fwi_config.parse_args([str(yml), "--mode", "forward"])
    with pytest.raises(UnsafePickleError, match=r"sources\.pkl: refusing to load builtins.print"):
        setup.build_problem(c, need_true=True)


@pytest.mark.parametrize("edit,needle", [
    (("Q: }", "Q: ./q.npy}"), "geom.truePath.Q"),
    (("use: false", "use: true"), "training.implicit.use"),
    (("boundary: {type: pml", "boundary: {type: habc"), "geom.boundary.type"),
])
def test_unsupported_keys_stop_naming_the_key(tmp_path, edit, needle):
    yml = seistorch_folder(tmp_path, CONFIG_YML.replace(*edit, 1))
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        fwi_config.parse_args([str(yml)])


def test_unknown_key_warns(tmp_path, caplog):
    yml = seistorch_folder(tmp_path, CONFIG_YML + "  colour: blue\n")
    fwi_config.parse_args(["--config", str(yml)])
    assert "geom.colour" in caplog.text


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_observed_npy_object_array_admits_arrays_only(tmp_path):
    from jaxgeo.fwi import io
    good = np.empty(2, dtype=object)
    good[0], good[1] = (np.full((5, 3, 1), v, np.float32) for v in (1.0, 2.0))
    np.save(tmp_path / "good.npy", good, allow_pickle=True)
    out = io.read_observed(tmp_path / "good.npy", 2, 3, 5, 1)
    # (nt, nr, ncomp) per shot -> [n_shots, n_comp, n_rec, nt], by hand
    assert out.shape == (2, 1, 3, 5) and out[0].max() == 1.0 and out[1].min() == 2.0
    bad = np.empty(2, dtype=object)
    bad[0], bad[1] = good[0], _Evil()
    np.save(tmp_path / "bad.npy", bad, allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="refusing to load builtins.print"):
        io.read_observed(tmp_path / "bad.npy", 2, 3, 5, 1)


# the flags of the inversion command in configs/fwi/marmousi_acoustic.yml's header
MARMOUSI_YML_FLAGS = ["--mode", "inversion", "--opt", "adam", "--loss", "vp=cc", "--grad-cut",
                      "--step-per-epoch", "3", "--config.gradient=adjoint"]


def test_marmousi_yml_twin_equals_the_py_config(shared_data, tmp_path, monkeypatch):
    """configs/fwi/marmousi_acoustic.yml with the files experiments/marmousi_seistorch.py
    writes is the same inversion as configs/fwi/marmousi_acoustic.py."""
    sys.path.insert(0, str(ROOT / "experiments"))
    import marmousi_seistorch

    data = shared_data / "marmousi"
    monkeypatch.chdir(tmp_path)       # the .yml points at data/marmousi_seistorch (cwd)
    (tmp_path / "configs" / "fwi").mkdir(parents=True)
    yml = tmp_path / "configs" / "fwi" / "marmousi_acoustic.yml"
    yml.write_text((ROOT / "configs" / "fwi" / "marmousi_acoustic.yml").read_text())
    assert marmousi_seistorch.main(["--data", str(data), "--out",
                                    "data/marmousi_seistorch"]) == 0
    # Seistorch's layout, by hand: first shot's source [x, z] = [25, 1], receivers
    # [[25, 26, ...], [1, 1, ...]] (fixed spread, every cell from 25 to 255)
    with open(tmp_path / "data" / "marmousi_seistorch" / "geometry" / "sources.pkl", "rb") as f:
        assert pickle.load(f)[:2] == [[25, 1], [35, 1]]
    with open(tmp_path / "data" / "marmousi_seistorch" / "geometry" / "receivers.pkl", "rb") as f:
        rec0 = pickle.load(f)[0]
    assert rec0[0] == list(range(25, 256)) and rec0[1] == [1] * 231

    twin = fwi_config.parse_args([str(yml), *MARMOUSI_YML_FLAGS])
    fwi_config.validate(twin)
    py = marmousi_seistorch.marmousi_config(data)
    a, b = setup.build_problem(twin, need_true=True), setup.build_problem(py, need_true=True)
    for name in ("source_locations", "receiver_locations", "seabed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(a.true_model["vp"], b.true_model["vp"])
    np.testing.assert_array_equal(a.init_model["vp"], b.init_model["vp"])
    # the Ricker delay goes through Seistorch's integer samples: exact at dt = 3 ms
    np.testing.assert_allclose(a.source_amplitudes(), b.source_amplitudes(), rtol=0,
                               atol=1e-6)
    assert a.settings.spacing == b.settings.spacing and a.nt == b.nt
    for field in ("dt", "order", "gradient", "loss", "multiscale.bands", "multiscale.filter_order",
                  "training.epochs", "training.step_per_epoch", "training.num_batches",
                  "optim.name", "optim.lr", "optim.epoch_decay", "optim.band_decay",
                  "grad.cut", "grad.smooth", "boundary.pml_width", "boundary.free_surface",
                  "seed"):
        x, y = twin, py
        for part in field.split("."):
            x, y = x[part], y[part]
        x = dict(x) if hasattr(x, "keys") else x
        y = dict(y) if hasattr(y, "keys") else y
        assert (list(x) if isinstance(x, tuple) else x) == \
            (list(y) if isinstance(y, tuple) else y), field
