"""jaxgeo.core: what every part of jaxgeo shares.

Modules, one job each: ``config`` (ml-collections config files, ``--config.a.b=v`` overrides,
legacy flags, validation), ``files`` (atomic outputs), ``safepickle`` (reading users'
pickles without running code), ``checkpoint`` (Orbax, config stored beside each step),
``logging`` (log lines, tensorboardX, progress bars), ``parallel`` (device mesh, sharding,
multi-host start), ``train`` (the one training loop: tasks, state, hooks), ``schedules``
(learning-rate schedules and the host-driven LR scale), ``plotting``.

Importing this package imports no submodule (and so not jax): ``import jaxgeo.core.train``.
"""

__all__ = ["checkpoint", "config", "files", "logging", "parallel", "plotting", "safepickle",
           "schedules", "train"]
