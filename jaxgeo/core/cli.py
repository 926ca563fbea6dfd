"""Entry-script plumbing: a user error becomes one ``error: ...`` line and exit code 2.

The exception types below are raised for bad input (a config field, a flag, a file, an
untrusted pickle, a NaN loss); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from jaxgeo.core.config import ConfigError
from jaxgeo.core.safepickle import UnsafePickleError

__all__ = ["USER_ERRORS", "exit_code_of"]

# NonFiniteLossError is a FloatingPointError (ArithmeticError); kept general here so this
# module imports no jax.
USER_ERRORS = (ConfigError, ValueError, KeyError, FileNotFoundError, FileExistsError,
               NotImplementedError, UnsafePickleError, FloatingPointError)


def exit_code_of(main: Callable[[], int | None]) -> int:
    """Run `main`; print a user error as one ``error: ...`` line on stderr and return 2."""
    try:
        return int(main() or 0)
    except USER_ERRORS as err:
        text = str(err).strip().splitlines()
        print(f"error: {' '.join(text) if text else type(err).__name__}", file=sys.stderr)
        return 2
