"""Tiny 3-D acoustic FWI: a Gaussian low-velocity anomaly in a layered 24^3 cell volume.

    python experiments/fwi.py --config configs/fwi/demo3d.py --mode forward
    python experiments/fwi.py --config configs/fwi/demo3d.py --mode inversion

A 3-D run is selected by the 3-D model (``model.procedural.ny > 0`` here, or a
``[nz, ny, nx]`` .npy in ``model.true.vp``/``model.init.vp``) with ``equation: acoustic``,
as in Seistorch. 4 shots on a 2 x 2 surface grid, 64 receivers on an 8 x 8 surface grid,
Ricker 8 Hz, Adam 4 epochs x 3 updates.

Measured (2 cores shared, load ~6): forward 12 s wall (8.6 s CPU); inversion 152 s wall
(81 s CPU); model RMS error 31.3 -> 26.2 m/s over the 12 updates (adam lr 30, in-process
run of the same config), figures/model_vp.png shows z-x, z-y and depth slices.
"""

from jaxgeo.fwi.config import default_config


def get_config():
    config = default_config()
    config.equation = "acoustic"
    config.dx = 20.0
    config.dt = 0.002
    config.nt = 300
    config.order = 4
    config.model.source = "procedural"
    config.model.procedural.nz = 24
    config.model.procedural.ny = 24
    config.model.procedural.nx = 24
    config.model.procedural.v_top = 1800.0
    config.model.procedural.v_bottom = 2400.0
    config.model.procedural.layer_depth = 18
    config.model.procedural.layer_dv = 200.0
    config.model.procedural.anomaly_dv = -300.0
    config.model.procedural.anomaly_center = (10.0, 12.0, 12.0)   # (z, y, x) cells
    config.model.procedural.anomaly_radius = 3.0
    config.model.bounds.vp = (1400.0, 3000.0)
    g = config.geometry
    g.src_first, g.src_last, g.src_step = 6, 24, 12            # x = 6, 18
    g.src_y_first, g.src_y_last, g.src_y_step = 6, 24, 12      # y = 6, 18
    g.src_depth = 1
    g.rec_first, g.rec_last, g.rec_step = 1, 24, 3             # 8 x 8 receivers
    g.rec_y_first, g.rec_y_last, g.rec_y_step = 1, 24, 3
    g.rec_depth = 1
    config.wavelet.freq = 8.0
    config.wavelet.delay = 0.15
    config.boundary.pml_width = 8
    config.multiscale.bands = ["all"]
    config.training.epochs = 4
    config.training.step_per_epoch = 3
    config.optim.name = "adam"
    config.optim.lr = {"vp": 30.0}          # m/s per update (adam's step size)
    config.grad.smooth = True
    config.grad.smooth_sigma = (1.5, 1.5, 1.5)
    config.grad.smooth_radius = (4, 4, 4)
    config.loss = {"vp": "l2"}
    config.log.tensorboard = False
    config.save_path = "demo_output/fwi3d"
    config.data.observed = "demo_output/fwi3d/observed.h5"
    return config
