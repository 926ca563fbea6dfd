"""Small built-in FWI demo: a Gaussian low-velocity anomaly in a gradient background.

Runs forward modelling (observed data from the true model) and a two-band multiscale
acoustic inversion from the smooth background in well under 3 minutes on 2 CPU cores:
``python experiments/fwi.py --config configs/fwi/demo.py --mode forward`` then
``--mode inversion`` (``experiments/demo.py`` does both).
"""

from jaxgeo.fwi.config import default_config


def get_config():
    config = default_config()
    config.equation = "acoustic"
    config.dx = 20.0
    config.dt = 0.002
    config.nt = 600
    config.order = 4
    config.model.source = "procedural"
    config.model.procedural.nz = 40
    config.model.procedural.nx = 80
    config.model.procedural.v_top = 1800.0
    config.model.procedural.v_bottom = 2600.0
    config.model.procedural.anomaly_dv = -350.0
    config.model.procedural.anomaly_center = (20.0, 40.0)
    config.model.procedural.anomaly_radius = 6.0
    config.model.bounds.vp = (1400.0, 3000.0)
    config.geometry.src_first, config.geometry.src_last, config.geometry.src_step = 4, 76, 8
    config.geometry.src_depth = 1
    config.geometry.rec_first, config.geometry.rec_last, config.geometry.rec_step = 0, 80, 2
    config.geometry.rec_depth = 1
    config.wavelet.freq = 6.0
    config.wavelet.delay = 0.25
    config.boundary.pml_width = 10
    config.multiscale.bands = [4.0, "all"]
    config.training.epochs = 3
    config.training.step_per_epoch = 5
    config.training.num_batches = 1
    config.optim.name = "cg"
    config.optim.lr = {"vp": 30.0}          # largest model change per update (m/s)
    config.grad.smooth = True
    config.grad.smooth_sigma = (2.0, 2.0)
    config.grad.smooth_radius = (6, 6)
    config.loss = {"vp": "l2"}
    config.save_path = "demo_output/fwi"
    config.data.observed = "demo_output/fwi/observed.h5"
    return config
