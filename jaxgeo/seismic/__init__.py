"""jaxgeo.seismic: SeisBench data pipelines, PhaseNet-family pickers, training and evaluation.

Modules: ``phasenet`` / ``eqtransformer`` (Flax models, channels-last), ``convert`` (SeisBench
weights <-> Flax), ``synthetic`` (SeisBench-format synthetic earthquakes), ``data`` (datasets
and generator pipelines), ``metrics``, ``train`` (train_phase / eval_phase), ``plots``.
"""

from jaxgeo.seismic.eqtransformer import EQTransformer
from jaxgeo.seismic.phasenet import PhaseNet, PhaseNetConvLSTM, PhaseNetLSTM

__all__ = ["EQTransformer", "PhaseNet", "PhaseNetConvLSTM", "PhaseNetLSTM"]
