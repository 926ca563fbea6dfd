"""PhysAE Stage A guide's "Laboratory Calibration" range set (100 ppm to 5 % CH4).

CH4, baseline, P and T ranges and the window (centre 5998-6002 cm^-1, width 4-6 cm^-1)
are the guide's Example 3 (PhysAE ``project/examples/CONFIGURATION_GUIDE.md``), in the
guide's convention (see ``ch4_6000.py``). Project's choices (the guide gives none):
``mf_H2O`` 1e-6..1e-4 (dry calibration gas, 1-100 ppm water) and a 1 m cell (peak CH4
optical depth <~ 1 at 5 %). Lines: the documented synthetic list unless ``--lines PATH``.
"""

from pathlib import Path

from jaxgeo.core.config import load_config
from jaxgeo.physae.run import guide_range_set

RANGES = {
    "sig0": (5998.0, 6002.0),       # narrow range, high precision
    "dsig": (4.0, 6.0),             # smaller window
    "mf_CH4": (1e-4, 5e-2),         # 100 ppm to 5 %
    "mf_H2O": (1e-6, 1e-4),         # project's choice
    "baseline0": (0.95, 1.05),      # stable baseline
    "baseline1": (-0.005, 0.005),
    "baseline2": (-0.0001, 0.0001),
    "P": (0.95, 1.05),              # atm: controlled pressure
    "T": (293.0, 298.0),            # K: room temperature
}


def get_config():
    return guide_range_set(load_config(Path(__file__).with_name("reference.py")), RANGES,
                           path_length_m=1.0, out_dir="runs/physae_lab_calibration")
