"""The shipped FWI configs load, validate, and can be pointed at another data folder."""

from pathlib import Path

import pytest

from jaxgeo.fwi import config as fwi_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs" / "fwi").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_validates(path):
    fwi_config.validate(fwi_config.load_with_model_folder(path, "/elsewhere"))


def test_load_with_model_folder_moves_only_the_folder():
    c = fwi_config.load_with_model_folder(ROOT / "configs" / "fwi" / "marmousi_elastic.py",
                                          "/d")
    # the file names of the config's docstring, in /d; an empty rho stays empty
    assert dict(c.model.true) == {"vp": "/d/true_vp.npy", "vs": "/d/true_vs.npy",
                                  "rho": "/d/rho.npy"}
    assert dict(c.model.init) == {"vp": "/d/linear_vp.npy", "vs": "/d/linear_vs.npy",
                                  "rho": ""}
    assert c.model.seabed == "/d/seabed.npy"
    assert c.equation == "elastic" and c.training.epochs == 8   # inherited from acoustic
