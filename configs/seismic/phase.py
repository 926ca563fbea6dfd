"""Phase picking on SeisBench data: PhaseNet family (train_phase / eval_phase).

Run: python experiments/seismic.py --config configs/seismic/phase.py --mode train_phase \
         --model_type phasenet --dataset synthetic --model_path runs/phasenet --epochs 5
"""

from jaxgeo.seismic.experiment import default_config


def get_config():
    return default_config()
