"""Acoustic FWI of the Marmousi model (user-supplied Seistorch example files).

Expects ``true_vp.npy``, ``linear_vp.npy`` and ``seabed.npy`` (173 x 561 cells, 20 m) in
``data/marmousi/`` (override with --config.model.true.vp=... etc.). The default keeps every
2nd cell (40 m) so that it fits a workstation; set --config.model.downsample=1 for the
full grid (then lower dt and raise the frequencies).

    python experiments/fwi.py --config configs/fwi/marmousi_acoustic.py --mode forward
    python experiments/fwi.py --config configs/fwi/marmousi_acoustic.py --mode inversion
    python benchmarks/fwi_marmousi.py --shipped     # the same, curve into RESULTS.md

Recipe: 24 shots, Adam (m/s per update), lr 80 m/s decaying 0.93 per epoch and 0.8 per
band, per-trace normalised cross-correlation loss (``cc``: insensitive to the amplitude
errors of the linear start, so the far offsets and the deep reflections count as much as
the strong shallow arrivals), seabed-masked and cut gradient without smoothing,
hand-written adjoint gradient, low-pass bands 2 / 3 / 5 / 8 Hz / all x 8 epochs x 3
updates of 8 shots (120 updates).

Expected on 2 CPU cores (measured 2026-12-04, load 1.8; ``benchmarks/RESULTS.md`` section
``fwi_marmousi: shipped``): 8.9 min wall, 15.2 min CPU; relative model error
0.188 -> 0.164, SSIM (Gaussian window, sigma 1.5 cells) 0.446 -> 0.612. The 8 Hz band
gives the largest single gain; more epochs within a band give little. Issue 17's stretch
goal (<= 0.13 / >= 0.70) is not reached.
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
    c.grad.smooth = False            # cc + low bands already give smooth updates
    c.gradient = "adjoint"           # hand-written adjoint: gradient 4.7 forwards vs 5.8 (autodiff)
    c.multiscale.bands = [2.0, 3.0, 5.0, 8.0, "all"]
    c.training.epochs = 8            # per band
    c.training.step_per_epoch = 3    # each epoch: 3 updates of 8 shots (all 24 shots)
    c.training.num_batches = 3
    c.optim.name = "adam"
    c.optim.lr = {"vp": 80.0}        # m/s per update at the start of each band
    c.optim.epoch_decay = 0.93
    c.optim.band_decay = 0.8
    c.loss = {"vp": "cc"}
    c.save_path = "runs/marmousi_acoustic"
    c.data.observed = "runs/marmousi_acoustic/observed.h5"
    return c
