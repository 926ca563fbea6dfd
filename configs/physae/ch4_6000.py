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

from pathlib import Path

from jaxgeo.core.config import load_config
from jaxgeo.physae.run import guide_range_set

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


def get_config():
    return guide_range_set(load_config(Path(__file__).with_name("reference.py")), RANGES,
                           path_length_m=10.0, out_dir="runs/physae_ch4_6000")
