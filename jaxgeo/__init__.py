"""jaxgeo: differentiable geophysics and spectroscopy in JAX."""

__version__ = "0.1.0"
