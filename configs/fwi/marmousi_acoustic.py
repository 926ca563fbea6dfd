"""Acoustic FWI of the Marmousi model (user-supplied Seistorch example files).

Expects ``true_vp.npy``, ``linear_vp.npy`` and ``seabed.npy`` (173 x 561 cells, 20 m) in
``data/marmousi/`` (override with --config.model.true.vp=... etc.). The default keeps every
2nd cell (40 m) so that it fits a workstation; set --config.model.downsample=1 for the
full grid (then lower dt and raise the frequencies).

    python experiments/fwi.py --config configs/fwi/marmousi_acoustic.py --mode forward
    python experiments/fwi.py --config configs/fwi/marmousi_acoustic.py --opt adam \\
        --loss vp=l2 --lr vp=10.0 --grad-cut
"""

from jaxgeo.fwi.config import default_config

DATA = "data/marmousi"


def get_config():
    c = default_config()
    c.equation = "acoustic"
    c.dx = 20.0                      # of the files; multiplied by model.downsample
    c.model.downsample = 2
    c.dt = 0.003
    c.nt = 1500
    c.order = 8
    c.model.source = "files"
    c.model.true = {"vp": f"{DATA}/true_vp.npy", "vs": "", "rho": ""}
    c.model.init = {"vp": f"{DATA}/linear_vp.npy", "vs": "", "rho": ""}
    c.model.seabed = f"{DATA}/seabed.npy"
    c.model.invert = ("vp",)
    c.model.bounds.vp = (1500.0, 5500.0)
    g = c.geometry                   # cells of the downsampled grid (87 x 281)
    g.src_first, g.src_last, g.src_step, g.src_depth = 25, 256, 10, 1
    g.rec_first, g.rec_last, g.rec_step, g.rec_depth = 25, 256, 1, 1
    g.spread = "fixed"
    c.wavelet.freq, c.wavelet.delay = 5.0, 0.3
    c.boundary.pml_width = 20
    c.boundary.free_surface = False
    c.grad.cut = True
    c.multiscale.bands = [3.0, 5.0, "all"]
    c.training.epochs = 20
    c.training.step_per_epoch = 1
    c.training.num_batches = 1
    c.optim.name = "adam"
    c.optim.lr = {"vp": 10.0}
    c.loss = {"vp": "l2"}
    c.save_path = "runs/marmousi_acoustic"
    c.data.observed = "runs/marmousi_acoustic/observed.h5"
    return c
