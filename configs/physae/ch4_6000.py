"""PhysAE Stage A guide's default range set: near-IR CH4, window centre 5995-6005 cm^-1.

Ranges (the guide's convention: sig0 = window centre and dsig = window width in cm^-1,
P in atm, baseline on x = i / (N - 1) in [0, 1]) are the Stage A configuration guide's
``NORM_PARAMS`` (PhysAE ``project/examples/CONFIGURATION_GUIDE.md``); they are both the
sampling and the normalisation ranges there, so ``expand_factors`` are 1. The guide gives
no H2O range and no path length: ``mf_H2O`` 1e-4..2e-2 (ambient air, 0.01-2 % water) and
a 10 m path (peak optical depth <~ 1 at the top of the CH4 range) are this project's choices.

Lines: no HITRAN file for 5995-6005 cm^-1 is available offline, so the default is the
documented *synthetic* CH4 + H2O list of :mod:`jaxgeo.spectra.synthetic` (seed
``synthetic_seed``) over the training window plus ``synthetic_wing`` cm^-1 on both sides;
every output says ``synthetic``. Give a real list with ``--lines PATH`` (HITRAN .par/.data
or PhysAE YAML; it must cover the window).

    python experiments/train_stage_a.py --config configs/physae/ch4_6000.py [--lines PATH]
"""

import importlib.util
from pathlib import Path

RANGES = {
    "sig0": (5995.0, 6005.0),       # window centre, cm^-1
    "dsig": (8.0, 12.0),            # window width, cm^-1
    "mf_CH4": (1e-6, 5e-3),         # 1 ppm .. 0.5 % (log scale)
    "mf_H2O": (1e-4, 2e-2),         # project's choice (log scale)
    "baseline0": (0.8, 1.2),
    "baseline1": (-0.02, 0.02),     # per unit x = i / (N - 1)
    "baseline2": (-0.001, 0.001),   # per unit x^2
    "P": (0.5, 1.2),                # atm
    "T": (250.0, 320.0),            # K
}


def range_set(ranges, path_length_m: float, out_dir: str):
    """The reference config with a guide-convention range set on the synthetic lines."""
    spec = importlib.util.spec_from_file_location(
        "physae_reference", Path(__file__).with_name("reference.py"))
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    c = base.get_config()
    c.window = "synthetic"  # ranges below; lines: synthetic unless --lines PATH
    c.convention = "guide"
    c.ranges_val = {k: tuple(v) for k, v in ranges.items()}
    c.expand_factors = {k: 1.0 for k in ranges}
    c.path_length_m = float(path_length_m)
    c.synthetic_seed = 0
    c.synthetic_wing = 1.0  # cm^-1 of lines beyond both ends of the training window
    c.log_scale = ("mf_CH4", "mf_H2O")
    c.log_floors = {}
    c.out_dir = out_dir
    return c


def get_config():
    return range_set(RANGES, path_length_m=10.0, out_dir="runs/physae_ch4_6000")
