"""Elastic FWI of Marmousi (vp, vs; rho fixed) from the user-supplied Seistorch files.

Expects ``true_vp.npy``, ``true_vs.npy``, ``rho.npy``, ``linear_vp.npy``, ``linear_vs.npy``
and ``seabed.npy`` in ``data/marmousi/``.

    python experiments/fwi.py --config configs/fwi/marmousi_elastic.py --mode forward
    python experiments/fwi.py --config configs/fwi/marmousi_elastic.py \\
        --lr vp=10.0 vs=5.78 --loss vp=l2 vs=l2 --grad-cut
"""

from pathlib import Path

from jaxgeo.core.config import load_config

DATA = "data/marmousi"


def get_config():
    c = load_config(Path(__file__).with_name("marmousi_acoustic.py"))
    c.equation = "elastic"
    c.order = 4
    c.dt = 0.002
    c.nt = 2000
    c.model.true = {"vp": f"{DATA}/true_vp.npy", "vs": f"{DATA}/true_vs.npy",
                    "rho": f"{DATA}/rho.npy"}
    c.model.init = {"vp": f"{DATA}/linear_vp.npy", "vs": f"{DATA}/linear_vs.npy", "rho": ""}
    c.model.invert = ("vp", "vs")
    c.optim.lr = {"vp": 10.0, "vs": 5.78}
    c.loss = {"vp": "l2", "vs": "l2"}
    c.data.components = ("vx", "vz")
    c.elastic_source = "explosion"
    c.save_path = "runs/marmousi_elastic"
    c.data.observed = "runs/marmousi_elastic/observed.h5"
    return c
