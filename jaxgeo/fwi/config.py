"""FWI config schema: defaults (what Seistorch's config.yml covers), legacy flags, validation.

Fields (units): dx m (scalar or (dz, dx)), dt s, nt samples, velocities m/s, rho kg/m^3,
frequencies Hz, locations in model cells (z down, x right).
"""

from pathlib import Path

import ml_collections

from jaxgeo.core.config import (
    ConfigError,
    LegacyFlag,
    check_choice,
    check_positive,
    check_range,
    check_type,
    load_config,
    parse_command_line,
)
from jaxgeo.fwi.losses import parse_loss_spec
from jaxgeo.fwi.optim import OPTIMIZERS


def load_with_model_folder(path: str | Path, folder: str | Path) -> ml_collections.ConfigDict:
    """The config file ``path`` with its model files (true, init, seabed) moved to ``folder``.

    Keeps each file name and drops its directory, so a config written for ``data/marmousi``
    reads the same files from wherever the user keeps them; empty paths stay empty.

    Args:
      path: a ``.py`` config that defines ``get_config()``.
      folder: the directory that holds the model files.
    """
    config = load_config(path)
    folder = Path(folder)

    def moved(name: str) -> str:
        return str(folder / Path(name).name) if name else name

    for group in ("true", "init"):
        config.model[group] = {k: moved(v) for k, v in config.model[group].items()}
    config.model.seabed = moved(config.model.seabed)
    return config


def default_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.mode = "inversion"                 # forward | inversion | rtm | lsrtm
    c.equation = "acoustic"              # acoustic | acoustic_vd | elastic | viscoacoustic | vti
    c.dtype = "float32"                  # float32 | float64 (jax x64 during the run only)
    c.dx = 20.0
    c.dt = 0.002
    c.nt = 1000
    c.order = 8                          # spatial FD order (elastic uses 4)
    c.elastic_source = "explosion"       # elastic source: explosion | fz | fx
    # autodiff | adjoint: how jax.grad differentiates the propagator (wave.acoustic's and
    # wave.elastic's `adjoint`); adjoint: the adjoint-state loop (hand-written transposed
    # step for constant-density acoustic: 0.61x Deepwave's gradient time vs 0.83x), equal
    # to autodiff to rounding; vti, viscoacoustic and 3-D use autodiff either way
    c.gradient = "autodiff"
    c.seed = 0
    c.resume = False
    c.save_path = "runs/fwi"

    c.model = ml_collections.ConfigDict()
    c.model.source = "files"             # files | procedural
    # .npy paths (files); q: quality factor (viscoacoustic), epsilon/delta: Thomsen (vti)
    c.model.true = {"vp": "", "vs": "", "rho": "", "q": "", "epsilon": "", "delta": ""}
    c.model.init = {"vp": "", "vs": "", "rho": "", "q": "", "epsilon": "", "delta": ""}
    c.model.invert = ("vp",)             # parameters to update
    c.model.bounds = ml_collections.ConfigDict({"vp": (1000.0, 6000.0), "vs": (0.0, 4000.0),
                                                 "rho": (1000.0, 3000.0), "q": (5.0, 1000.0),
                                                 "epsilon": (0.0, 0.5), "delta": (-0.3, 0.5)})
    c.model.procedural = ml_collections.ConfigDict()
    c.model.procedural.nz = 40
    c.model.procedural.nx = 80
    c.model.procedural.ny = 0            # > 0: a 3-D [nz, ny, nx] model (jaxgeo.fwi.problem3d)
    c.model.procedural.layer_depth = 0   # 3-D: vp += layer_dv below this row (0: no layer)
    c.model.procedural.layer_dv = 0.0
    c.model.procedural.v_top = 1800.0    # vp at the top of the linear background
    c.model.procedural.v_bottom = 2600.0
    c.model.procedural.vp_vs = 1.73      # vs = vp / vp_vs (elastic)
    c.model.procedural.rho = 2000.0
    c.model.procedural.q = 50.0          # viscoacoustic: constant Q (true and initial)
    c.model.procedural.epsilon = 0.1     # vti: constant Thomsen epsilon (true and initial)
    c.model.procedural.delta = 0.05      # vti: constant Thomsen delta (true and initial)
    c.model.procedural.anomaly_dv = -300.0   # Gaussian anomaly in the true model (m/s)
    c.model.procedural.anomaly_center = (20.0, 40.0)   # (z, x) cells
    c.model.procedural.anomaly_radius = 6.0            # Gaussian sigma, cells
    c.model.seabed = ""                  # .npy mask (0 water, 1 below) for --grad-cut
    c.model.downsample = 1               # keep every k-th cell of loaded files (dx scales by k)

    c.geometry = ml_collections.ConfigDict()
    c.geometry.sources = ""              # optional .npy [n_shots, n_src, 2] (z, x) cells,
                                         # or Seistorch's sources.pkl ([x, z] per shot)
    c.geometry.receivers = ""            # optional .npy [n_shots, n_rec, 2], or
                                         # receivers.pkl ([[x...], [z...]] per shot)
    c.geometry.src_first = 0             # generated: x cells first..last (exclusive) by step
    c.geometry.src_last = 1
    c.geometry.src_step = 1
    c.geometry.src_depth = 1
    c.geometry.rec_first = 0             # fixed: absolute x cells; moving: offsets from source
    c.geometry.rec_last = 1
    c.geometry.rec_step = 1
    c.geometry.rec_depth = 1
    c.geometry.spread = "fixed"          # fixed | moving
    c.geometry.num_shots = 0             # use the first N shots of the files (0: all)
    c.geometry.src_y_first = 0           # 3-D: y cells of the source and receiver grids
    c.geometry.src_y_last = 1            # (sources: first..last exclusive by step, times
    c.geometry.src_y_step = 1            # the x range; receivers: absolute or, moving,
    c.geometry.rec_y_first = 0           # offsets from the source)
    c.geometry.rec_y_last = 1
    c.geometry.rec_y_step = 1

    c.wavelet = ml_collections.ConfigDict()
    c.wavelet.kind = "ricker"            # ricker | file
    c.wavelet.freq = 5.0                 # Ricker peak frequency (Hz)
    c.wavelet.delay = 0.3                # Ricker peak time (s)
    c.wavelet.file = ""                  # .npy [nt] when kind == "file"

    c.boundary = ml_collections.ConfigDict()
    c.boundary.pml_width = 20
    c.boundary.free_surface = False

    c.grad = ml_collections.ConfigDict()
    c.grad.cut = False                   # --grad-cut: multiply by seabed mask
    c.grad.smooth = False                # --grad-smooth
    c.grad.smooth_sigma = (2.0, 2.0)     # cells (z, x)
    c.grad.smooth_radius = (6, 6)        # cells (z, x)
    c.grad.clip = False                  # --grad-clip
    c.grad.clipvalue = 0.02              # clip the top clipvalue fraction of |g|
    c.grad.illumination = False          # --illumination: divide by the smoothed, floored
                                         # source illumination sum u^2 (per band)
    c.grad.illum_sigma = 3.0             # its Gaussian smoothing (cells)
    c.grad.illum_floor = 1e-3            # its water level, relative to the peak

    c.multiscale = ml_collections.ConfigDict()
    c.multiscale.bands = ["all"]         # low-pass cut-offs (Hz), [low, high] bands or "all"
    c.multiscale.filter_order = 6
    c.multiscale.filteratfirst = False   # filter the wavelet (else the synthetic data)
    c.multiscale.obsnofilter = False     # leave the observed data unfiltered

    c.training = ml_collections.ConfigDict()
    c.training.epochs = 10               # per band
    c.training.step_per_epoch = 1        # optimizer updates per epoch
    c.training.num_batches = 1           # shot minibatches per epoch (one per step)

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"                # adam | sd | cg | lbfgs
    c.optim.lr = {"vp": 10.0}            # per parameter
    c.optim.cg_beta = "pr"               # pr | fr
    c.optim.eps = 1e-8                   # adam epsilon (data are scaled to unit RMS)
    c.optim.epoch_decay = 1.0            # lr *= epoch_decay every epoch
    c.optim.band_decay = 1.0             # lr *= band_decay every band

    c.loss = {"vp": "l2"}                # per parameter; "0.5*l2+0.5*envelope" allowed

    c.encoding = ml_collections.ConfigDict()
    c.encoding.batchsize = 4             # shots per super shot (codingfwi)
    c.encoding.super_shots = 1           # super shots per iteration

    c.migration = ml_collections.ConfigDict()   # --mode rtm / lsrtm (background: model.init)
    c.migration.illumination = True     # RTM: divide by the source illumination sum u^2
    c.migration.illum_floor = 1e-3      # its water level, relative to the peak
    c.migration.iterations = 10         # LSRTM: CGLS iterations (one Born + one adjoint each)

    c.data = ml_collections.ConfigDict()
    c.data.observed = ""                 # HDF5 with shot_{i} [nt, nr, ncomp], or a
                                         # Seistorch .npy object array of those
    c.data.segy = False                  # also export observed data as SEG-Y
    c.data.components = ("vx", "vz")     # elastic: recorded components

    c.devices = ml_collections.ConfigDict()
    c.devices.num_devices = 0            # 0 = all visible
    c.devices.num_threads = 0            # CPU cores for XLA (affinity); 0 = all allowed
    c.devices.use_cuda = False
    c.devices.gpuid = 0

    c.log = ml_collections.ConfigDict()
    c.log.tensorboard = True
    c.log.figures = True
    return c


# ----------------------------------------------------------------- Seistorch flags

def _bool_text(text: str) -> bool:
    low = text.lower()
    if low not in ("true", "false", "1", "0"):
        raise ValueError("expected true/false")
    return low in ("true", "1")


MODES = ("forward", "inversion", "rtm", "lsrtm")

LEGACY_FLAGS = (
    LegacyFlag("--opt", "optim.name", "value", str, "optimizer", choices=OPTIMIZERS),
    LegacyFlag("--loss", "loss", "keyvals", str, "misfit per parameter, e.g. vp=l2"),
    LegacyFlag("--lr", "optim.lr", "keyvals", float, "learning rate per parameter"),
    LegacyFlag("--grad-cut", "grad.cut", "bool", help="multiply gradients by the seabed mask"),
    LegacyFlag("--grad-smooth", "grad.smooth", "bool", help="Gaussian-smooth gradients"),
    LegacyFlag("--grad-clip", "grad.clip", "bool", help="clip gradients at a quantile"),
    LegacyFlag("--illumination", "grad.illumination", "bool",
               help="precondition gradients by the source illumination"),
    LegacyFlag("--clipvalue", "grad.clipvalue", "value", float, "fraction of |g| clipped"),
    LegacyFlag("--step-per-epoch", "training.step_per_epoch", "value", int, "updates per epoch"),
    LegacyFlag("--filteratfirst", "multiscale.filteratfirst", "bool",
               help="filter the wavelet before modelling"),
    LegacyFlag("--obsnofilter", "multiscale.obsnofilter", "bool",
               help="do not filter the observed data"),
    LegacyFlag("--num-batches", "training.num_batches", "value", int, "shot minibatches/epoch"),
    LegacyFlag("--save-path", "save_path", "value", str, "output directory"),
    LegacyFlag("--mode", "mode", "value", str,
               "forward, inversion, rtm (reverse-time migration) or lsrtm (least-squares RTM)",
               choices=MODES),
    LegacyFlag("--num_threads", "devices.num_threads", "value", int,
               "CPU cores for XLA (sets the process CPU affinity before jax starts)"),
    LegacyFlag("--batchsize", "encoding.batchsize", "value", int, "shots per super shot"),
    LegacyFlag("--use-cuda", "devices.use_cuda", "bool", help="run on a GPU"),
    LegacyFlag("--gpuid", "devices.gpuid", "value", int, "GPU index"),
    LegacyFlag("--resume", "resume", "bool", help="continue from the last complete epoch"),
    LegacyFlag("--checkpoint", "checkpoint", "value", str,
               "Seistorch's model checkpoint path (accepted; jaxgeo resumes with --resume)"),
)

EQUATIONS = ("acoustic", "acoustic_vd", "elastic", "viscoacoustic", "vti")
PARAMETERS = {"acoustic": ("vp",), "acoustic_vd": ("vp", "rho"), "elastic": ("vp", "vs", "rho"),
              "viscoacoustic": ("vp", "q"), "vti": ("vp", "epsilon", "delta")}


def parse_args(argv, *, prog: str = "fwi.py", default_config: str | None = None):
    """Config from the command line (``--config``, ``--config.x=y`` and Seistorch flags).

    A Seistorch ``config.yml`` may be the first positional argument (``fwi.py config.yml
    --mode forward``) or ``--config config.yml``; it is read by
    :func:`jaxgeo.fwi.seistorch.load_config`.
    """
    from jaxgeo.fwi import seistorch  # seistorch imports this module (default_config)
    argv = list(argv)
    if argv and not argv[0].startswith("-"):
        argv = ["--config", argv[0], *argv[1:]]
    loaders = {".yml": seistorch.load_config, ".yaml": seistorch.load_config}
    return parse_command_line(argv, default_config=default_config, legacy=LEGACY_FLAGS,
                              prog=prog, description="Full-waveform inversion (jaxgeo.fwi)",
                              loaders=loaders)


def _band_ok(band) -> bool:
    if isinstance(band, str):
        return band == "all"
    if isinstance(band, (int, float)) and not isinstance(band, bool):
        return band > 0
    return (isinstance(band, (list, tuple)) and len(band) == 2
            and all(isinstance(b, (int, float)) for b in band) and 0 < band[0] < band[1])


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Check every field once, before any work; ConfigError names the field and the fix."""
    check_choice(config, "mode", MODES)
    check_choice(config, "equation", EQUATIONS)
    check_choice(config, "dtype", ("float32", "float64"))
    check_choice(config, "gradient", ("autodiff", "adjoint"))
    for field in ("dt", "nt", "boundary.pml_width", "training.epochs",
                  "training.step_per_epoch", "training.num_batches", "encoding.batchsize",
                  "encoding.super_shots", "wavelet.freq", "multiscale.filter_order"):
        if field == "boundary.pml_width" and config.boundary.pml_width == 0:
            continue
        check_positive(config, field)
    for field in ("nt", "training.epochs", "training.step_per_epoch", "training.num_batches",
                  "encoding.batchsize", "encoding.super_shots", "order", "boundary.pml_width"):
        check_type(config, field, int)
    dx = config.dx
    dxs = dx if isinstance(dx, (tuple, list)) else (dx,)
    if not all(isinstance(d, (int, float)) and d > 0 for d in dxs) or len(dxs) not in (1, 2, 3):
        raise ConfigError(f"config.dx = {dx!r} is not allowed; give a spacing in metres > 0, "
                          "a (dz, dx) pair or, 3-D, a (dz, dy, dx) triple")
    orders = (4,) if config.equation == "elastic" else (2, 4, 6, 8)
    check_choice(config, "order", orders)
    check_choice(config, "model.source", ("files", "procedural"))
    check_choice(config, "elastic_source", ("explosion", "fz", "fx"))
    check_type(config, "model.downsample", int)
    check_type(config, "devices.num_threads", int)
    check_range(config, "devices.num_threads", 0, 1 << 16)
    check_positive(config, "model.downsample")
    check_choice(config, "geometry.spread", ("fixed", "moving"))
    check_type(config, "geometry.num_shots", int)
    check_choice(config, "wavelet.kind", ("ricker", "file"))
    check_choice(config, "optim.name", OPTIMIZERS)
    check_choice(config, "optim.cg_beta", ("pr", "fr"))
    check_positive(config, "optim.epoch_decay")
    check_positive(config, "optim.band_decay")
    check_range(config, "grad.clipvalue", 0.0, 0.999)
    check_positive(config, "grad.illum_floor")
    check_positive(config, "optim.eps")
    allowed = PARAMETERS[config.equation]
    invert = tuple(config.model.invert)
    if not invert or any(p not in allowed for p in invert):
        raise ConfigError(f"config.model.invert = {invert!r} is not allowed; with equation "
                          f"{config.equation!r} choose from {list(allowed)}")
    if config.equation == "vti" and "epsilon" in invert and "delta" in invert:
        raise ConfigError("config.model.invert inverts both epsilon and delta; the VTI "
                          "propagator needs epsilon >= delta everywhere, which independent "
                          "updates do not keep: invert epsilon with delta fixed (or delta alone)")
    lrs = config.optim.lr
    for p in invert:
        if p not in lrs:
            raise ConfigError(f"config.optim.lr has no learning rate for {p!r} (inverted); "
                              f"add --lr {p}=VALUE")
        if not isinstance(lrs[p], (int, float)) or not lrs[p] > 0:
            raise ConfigError(f"config.optim.lr.{p} = {lrs[p]!r} must be a number > 0")
    for p in invert:
        spec = config.loss.get(p, None)
        if spec is None:
            raise ConfigError(f"config.loss has no misfit for {p!r}; add --loss {p}=l2")
        try:
            parse_loss_spec(spec)
        except ValueError as err:
            raise ConfigError(f"config.loss.{p}: {err}") from None
    if config.optim.name == "lbfgs":
        specs = {str(config.loss[p]) for p in invert}
        if len(specs) > 1:
            raise ConfigError("lbfgs needs one misfit for all inverted parameters; "
                              f"config.loss has {sorted(specs)}")
        if (config.grad.smooth or config.grad.clip or config.grad.cut
                or config.grad.illumination):
            raise ConfigError("lbfgs uses its own line search on the raw gradient: disable "
                              "--grad-cut/--grad-smooth/--grad-clip or choose adam, sd or cg")
    bands = list(config.multiscale.bands)
    if not bands or not all(_band_ok(b) for b in bands):
        raise ConfigError(f"config.multiscale.bands = {bands!r} is not allowed; give low-pass "
                          "cut-offs in Hz (e.g. 5.0), [low, high] pairs or 'all'")
    nyquist = 0.5 / config.dt
    for b in bands:
        top = b if isinstance(b, (int, float)) else (b[1] if not isinstance(b, str) else 0)
        if top >= nyquist:
            raise ConfigError(f"band {b!r} reaches the Nyquist frequency {nyquist:g} Hz of "
                              f"dt = {config.dt}; lower it")
    if config.grad.cut and not config.model.seabed:
        raise ConfigError("--grad-cut needs config.model.seabed (a .npy mask: 0 in water, "
                          "1 below); set --config.model.seabed=PATH")
    if config.mode in ("rtm", "lsrtm"):
        if config.equation not in ("acoustic", "acoustic_vd"):
            raise ConfigError(f"--mode {config.mode} needs an acoustic equation, got "
                              f"config.equation = {config.equation!r}; set it to acoustic or "
                              "acoustic_vd")
        check_positive(config, "migration.iterations")
        check_positive(config, "migration.illum_floor")
    if config.mode != "forward" and not config.data.observed:
        raise ConfigError("config.data.observed is empty; give the HDF5 file written by "
                          "--mode forward")
    if config.equation == "elastic":
        comps = tuple(config.data.components)
        if not comps or any(c not in ("vx", "vz", "p") for c in comps):
            raise ConfigError(f"config.data.components = {comps!r}; choose from vx, vz, p")
    return config
