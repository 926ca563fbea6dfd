"""Source-encoded acoustic FWI of Marmousi (experiments/codingfwi.py).

Same files and geometry as marmousi_acoustic.py (fixed spread); each update fires
``encoding.batchsize`` encoded shots as one super shot.

    python experiments/codingfwi.py --config configs/fwi/marmousi_encoded.py --batchsize 8
"""

from pathlib import Path

from jaxgeo.core.config import load_config


def get_config():
    c = load_config(Path(__file__).with_name("marmousi_acoustic.py"))
    c.encoding.batchsize = 8
    c.encoding.super_shots = 1
    c.training.epochs = 40
    c.save_path = "runs/marmousi_encoded"
    return c
