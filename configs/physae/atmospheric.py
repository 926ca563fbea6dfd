"""PhysAE Stage A guide's "Atmospheric Monitoring" range set (near-IR CH4, 1-100 ppm).

CH4, baseline, P and T ranges and the window (centre 6000-6010 cm^-1, width 10-15 cm^-1)
are the guide's Example 1 (PhysAE ``project/examples/CONFIGURATION_GUIDE.md``), in the
guide's convention (see ``ch4_6000.py``). Project's choices (the guide gives none):
``mf_H2O`` 1e-3..2.5e-2 (tropospheric water, 0.1-2.5 %) and a 100 m path (open path or
long multipass cell; peak CH4 optical depth ~0.2 at 100 ppm). Lines: the documented
synthetic list unless ``--lines PATH``.
"""

from pathlib import Path

from jaxgeo.core.config import load_config
from jaxgeo.physae.run import guide_range_set

RANGES = {
    "sig0": (6000.0, 6010.0),
    "dsig": (10.0, 15.0),
    "mf_CH4": (1e-6, 1e-4),         # 1-100 ppm
    "mf_H2O": (1e-3, 2.5e-2),       # project's choice
    "baseline0": (0.9, 1.1),
    "baseline1": (-0.01, 0.01),
    "baseline2": (-0.0005, 0.0005),
    "P": (0.6, 1.0),                # atm: high altitude to sea level
    "T": (240.0, 300.0),            # K
}


def get_config():
    return guide_range_set(load_config(Path(__file__).with_name("reference.py")), RANGES,
                           path_length_m=100.0, out_dir="runs/physae_atmospheric")
