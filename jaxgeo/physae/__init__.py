"""jaxgeo.physae: the PhysAE physics-informed autoencoder on jaxgeo.spectra and core.train.

Parameter spaces and conventions (``params``), the observation model (``observation``),
the on-device synthetic stream (``data``), Flax models (``models``), losses and ReLoBRaLo
(``losses``), stages A/B1/B2/DEN as engine tasks (``stages``, ``run``), Gauss-Newton/LM
refinement (``refine``) and evaluation metrics (``metrics``).
"""

from jaxgeo.physae.data import SyntheticStream, make_batch, noise_train, noise_val, validation_set
from jaxgeo.physae.losses import (
    param_mse,
    peak_weighted_mse,
    recon_mse,
    relobralo_init,
    relobralo_update,
    spectral_angle,
)
from jaxgeo.physae.metrics import binned_errors, parameter_errors, reduced_chi2
from jaxgeo.physae.models import VARIANTS, Denoiser, EfficientNet1D, PhysAE, count_params
from jaxgeo.physae.observation import ObservationModel
from jaxgeo.physae.params import (
    CONVENTIONS,
    PARAM_NAMES,
    ParameterError,
    ParameterSpace,
    build_space,
    from_internal,
    to_internal,
)
from jaxgeo.physae.refine import centre_start, gauss_newton, refine_batch
from jaxgeo.physae.stages import STAGES, LossConfig, make_optimizer, make_step, stage_labels

__all__ = [
    "CONVENTIONS", "PARAM_NAMES", "STAGES", "VARIANTS", "Denoiser", "EfficientNet1D",
    "LossConfig", "ObservationModel", "ParameterError", "ParameterSpace", "PhysAE",
    "SyntheticStream", "binned_errors", "build_space", "centre_start", "count_params",
    "from_internal", "gauss_newton", "make_batch", "make_optimizer", "make_step",
    "noise_train", "noise_val", "param_mse", "parameter_errors", "peak_weighted_mse",
    "recon_mse", "reduced_chi2", "refine_batch", "relobralo_init", "relobralo_update",
    "spectral_angle", "stage_labels", "to_internal", "validation_set",
]
