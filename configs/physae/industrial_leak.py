"""PhysAE Stage A guide's "Industrial Leak Detection" range set (10 ppm to 1 % CH4).

CH4, baseline, P and T ranges and the window (centre 5995-6005 cm^-1, width 8-12 cm^-1)
are the guide's Example 2 (PhysAE ``project/examples/CONFIGURATION_GUIDE.md``), in the
guide's convention (see ``ch4_6000.py``). Project's choices (the guide gives none):
``mf_H2O`` 1e-3..3e-2 (process air at 0-50 C) and a 5 m path (peak CH4 optical depth
<~ 1 at 1 %). Lines: the documented synthetic list unless ``--lines PATH``.
"""

from pathlib import Path

from jaxgeo.core.config import load_config
from jaxgeo.physae.run import guide_range_set

RANGES = {
    "sig0": (5995.0, 6005.0),
    "dsig": (8.0, 12.0),
    "mf_CH4": (1e-5, 1e-2),         # 10 ppm to 1 %
    "mf_H2O": (1e-3, 3e-2),         # project's choice
    "baseline0": (0.7, 1.3),        # larger baseline variation
    "baseline1": (-0.03, 0.03),
    "baseline2": (-0.002, 0.002),
    "P": (0.9, 1.1),                # atm: near atmospheric
    "T": (273.0, 323.0),            # K: 0-50 C
}


def get_config():
    return guide_range_set(load_config(Path(__file__).with_name("reference.py")), RANGES,
                           path_length_m=5.0, out_dir="runs/physae_industrial_leak")
