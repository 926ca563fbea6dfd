"""jaxgeo.seismic: SeisBench data pipelines, PhaseNet-family pickers, training and evaluation.

Modules, one job each: ``labels`` (pick columns, windows and label rules), ``data``
(datasets and the seisbench.generate pipeline), ``batches`` (the same batches a batch at a
time), ``synthetic`` (SeisBench-format synthetic earthquakes), ``phasenet`` /
``eqtransformer`` (Flax models, channels-last), ``convert`` (SeisBench weights <-> Flax),
``registry`` (model types: builder, task, flags, defaults), ``experiment`` (config defaults,
validation, run directory), ``train`` (training as a task on ``jaxgeo.core.train``),
``evaluate`` (evaluation and SeisBench weight pairs), ``metrics``, ``plots``; BlueDisc:
``bluedisc`` (discriminator, losses, GAN step), ``bluedisc_data`` (its pipeline, both forms),
``bluedisc_eval`` (peaks, matching, effective detections), ``bluedisc_run`` (the run).
"""

from jaxgeo.seismic.eqtransformer import EQTransformer
from jaxgeo.seismic.phasenet import PhaseNet, PhaseNetConvLSTM, PhaseNetLSTM

__all__ = ["EQTransformer", "PhaseNet", "PhaseNetConvLSTM", "PhaseNetLSTM"]
