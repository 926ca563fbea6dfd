"""Source-encoded acoustic FWI of Marmousi (experiments/codingfwi.py).

Same files and geometry as marmousi_acoustic.py (fixed spread); each update fires
``encoding.batchsize`` encoded shots as one super shot.

    python experiments/codingfwi.py --config configs/fwi/marmousi_encoded.py --batchsize 8
"""

import importlib.util
from pathlib import Path


def get_config():
    spec = importlib.util.spec_from_file_location(
        "marmousi_acoustic", Path(__file__).with_name("marmousi_acoustic.py"))
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    c = base.get_config()
    c.encoding.batchsize = 8
    c.encoding.super_shots = 1
    c.training.epochs = 40
    c.save_path = "runs/marmousi_encoded"
    return c
