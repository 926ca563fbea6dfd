"""jaxgeo.spectra: differentiable, batched line-by-line absorption spectra (HITRAN/HAPI).

``jaxgeo.spectra.hapi`` offers HAPI's own function names and arguments (a drop-in front door).

Pure functions of arrays and small frozen dataclasses (pytrees): everything composes with
``jax.jit``, ``jax.vmap`` and ``jax.grad``. float32 by default; enable x64 for float64.
"""

from jaxgeo.spectra.absorption import (
    PROFILES,
    LineState,
    UniformGrid,
    WindowSizes,
    absorption_coefficient,
    absorption_coefficient_uniform,
    absorption_coefficient_uniform_batch,
    core_points_for,
    line_state,
    small_y_needed,
    spectrum_from_state,
    spectrum_uniform_from_state,
    window_sizes,
)
from jaxgeo.spectra.compile import CPU_COMPILER_OPTIONS, spectra_jit
from jaxgeo.spectra.linelist import (
    HITRAN_PAR_FIELDS,
    PHYSAE_FIELDS,
    LineList,
    LineListFormatError,
    PhysAEWindow,
    concatenate,
    load_physae_yaml,
    make_line_list,
    parse_physae_transitions,
    read_hitran_par,
    read_physae_transitions,
)
from jaxgeo.spectra.lineshapes import (
    complex_profile,
    doppler,
    faddeeva,
    faddeeva_asymptotic,
    gauss,
    hartmann_tran,
    hartmann_tran_complex,
    lorentz,
    lorentz_complex,
    rautian,
    sdvoigt,
    voigt,
)
from jaxgeo.spectra.noise import (
    NoiseProfile,
    additive_gaussian,
    apply_noise,
    baseline_drift,
    clip,
    etalon,
    flicker,
    fringe_pattern,
    glitches,
    multiplicative_gaussian,
    shot,
    spikes,
)
from jaxgeo.spectra.observation import (
    frequency_grid,
    frequency_offsets,
    loschmidt_density,
    optical_depth,
    physae_forward,
    polynomial_baseline,
    transmission,
)
from jaxgeo.spectra.partition import (
    PartitionFunction,
    isotopologue_abundance,
    isotopologue_mass,
    load_qtpy,
    partition_sum,
    tips_partition_function,
)
from jaxgeo.spectra.physics import (
    dicke_frequency,
    doppler_hwhm,
    line_intensity,
    line_mixing_y,
    lorentz_hwhm,
    number_density,
    partition_ratio,
    pressure_shift,
)
from jaxgeo.spectra.synthetic import (
    SYNTHETIC_LABEL,
    SYNTHETIC_MOLECULES,
    SyntheticBand,
    synthetic_lines,
    synthetic_window_lines,
)

__all__ = [
    "CPU_COMPILER_OPTIONS", "HITRAN_PAR_FIELDS",
    "PHYSAE_FIELDS", "PROFILES", "LineList", "LineListFormatError",
    "LineState", "NoiseProfile", "PartitionFunction", "PhysAEWindow", "UniformGrid", "WindowSizes",
    "absorption_coefficient", "absorption_coefficient_uniform",
    "absorption_coefficient_uniform_batch", "additive_gaussian",
    "apply_noise", "baseline_drift", "clip", "complex_profile", "spectra_jit", "etalon", "flicker",
    "fringe_pattern", "gauss", "glitches", "hartmann_tran", "hartmann_tran_complex",
    "lorentz_complex", "sdvoigt", "multiplicative_gaussian", "shot", "spikes",
    "concatenate", "core_points_for", "dicke_frequency", "doppler", "doppler_hwhm", "faddeeva",
    "faddeeva_asymptotic", "frequency_grid", "frequency_offsets", "isotopologue_abundance",
    "isotopologue_mass", "line_intensity", "line_mixing_y", "line_state", "load_physae_yaml",
    "load_qtpy", "lorentz", "lorentz_hwhm", "loschmidt_density", "make_line_list",
    "number_density", "optical_depth", "parse_physae_transitions", "partition_ratio",
    "partition_sum", "physae_forward", "polynomial_baseline", "pressure_shift", "rautian",
    "read_hitran_par", "read_physae_transitions", "small_y_needed", "spectrum_from_state",
    "spectrum_uniform_from_state", "SYNTHETIC_LABEL", "SYNTHETIC_MOLECULES", "SyntheticBand",
    "synthetic_lines", "synthetic_window_lines",
    "tips_partition_function", "transmission", "voigt", "window_sizes",
]
