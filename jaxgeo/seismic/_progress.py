"""Progress bars and loggers for jaxgeo.seismic (re-exported from jaxgeo.core.logging)."""

from jaxgeo.core.logging import get_logger, progress

__all__ = ["get_logger", "progress"]
