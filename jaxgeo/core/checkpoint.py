"""Orbax checkpoints with the run's config stored beside every step.

Orbax writes each step into a temporary directory and renames it when complete, so a
run killed half-way through a save never leaves a checkpoint that `latest_step` returns;
opening a `Checkpointer` deletes such leftovers.
Every step also stores ``meta`` = {schema version, resolved config}; restoring under a
config whose compatibility-relevant fields differ raises `CheckpointError` naming them.

Typical ``--resume`` use::

    ckpt = Checkpointer(out / "checkpoints", save_every=1, keep=3, config=config)
    start = 0
    if resume and ckpt.latest_step() is not None:
        start = ckpt.latest_step() + 1
        state = ckpt.restore(state)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from jaxgeo.core.config import ConfigError, to_plain

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointError",
    "Checkpointer",
]

SCHEMA_VERSION = 1


class CheckpointError(ConfigError):
    """A checkpoint cannot be restored into this run (missing, or built with another config)."""


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


class Checkpointer:
    """Save every `save_every` steps, keep the last `keep`, restore the latest complete one.

    `config` is stored with each checkpoint. `compat_fields` are the dotted config fields
    that must match on restore (default: every field except those under `ignore_prefixes`,
    which defaults to run-management fields such as paths, epochs and resume flags).
    """

    def __init__(self, directory: str | os.PathLike, *, save_every: int = 1, keep: int = 3,
                 config: ml_collections.ConfigDict | dict | None = None,
                 compat_fields: Sequence[str] | None = None,
                 ignore_prefixes: Sequence[str] = ("save_path", "output", "workdir", "resume",
                                                   "epochs", "num_epochs", "num_steps",
                                                   "log_every", "checkpoint")):
        if save_every < 1 or keep < 1:
            raise ValueError(f"save_every={save_every} and keep={keep} must both be >= 1")
        self.directory = Path(directory).resolve()
        self.save_every = int(save_every)
        self.config = to_plain(config) if config is not None else {}
        self.compat_fields = list(compat_fields) if compat_fields is not None else None
        self.ignore_prefixes = tuple(ignore_prefixes)
        self._remove_unfinished_steps()
        # Orbax's own clean-up runs in a background thread (racing with the first query);
        # ours above has finished before the manager lists the steps.
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               cleanup_tmp_directories=False)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def _remove_unfinished_steps(self) -> None:
        """Delete the temporary directories of saves that never completed (a crashed run).

        Orbax writes a step under ``<step>.orbax-checkpoint-tmp`` and renames it when complete;
        whatever still carries that name was never finished and is never restored. Only the
        primary process deletes, and only when the Checkpointer is opened (before any save).
        """
        if jax.process_index() != 0 or not self.directory.is_dir():
            return
        for name in ocp.path.step.tmp_checkpoints(self.directory):
            shutil.rmtree(self.directory / name, ignore_errors=True)

    # ------------------------------------------------------------------ save
    def save(self, step: int, state: Any, *, force: bool = False,
             host: dict | None = None) -> bool:
        """Save `state` at `step` if it falls on the interval (or `force`); returns saved?
        A checkpoint already stored at `step` is replaced.

        `host`: JSON-serialisable host-side state stored with the step (the training loop's
        history, stream position and hook state), read back by ``stored_meta()["host"]``.
        """
        if not force and step % self.save_every:
            return False
        if int(step) in self._manager.all_steps():  # known on disk or saved here
            # Written by a run that was killed later and is now resumed from an earlier step
            # (a best-model checkpoint saved between two regular ones): the redone step
            # replaces it.
            self.wait()
            self._manager.delete(int(step))
        meta = {"schema_version": SCHEMA_VERSION, "step": int(step), "config": self.config,
                "host": host}
        saved = self._manager.save(
            int(step), args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               meta=ocp.args.JsonSave(meta)), force=True)
        return bool(saved)

    def wait(self) -> None:
        """Block until background writes have finished."""
        self._manager.wait_until_finished()

    # ------------------------------------------------------------------ query / restore
    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        self._manager.reload()
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        self._manager.reload()
        return list(self._manager.all_steps())

    def stored_meta(self, step: int | None = None) -> dict:
        step = self._resolve_step(step)
        restored = self._manager.restore(step, args=ocp.args.Composite(
            meta=ocp.args.JsonRestore()))
        return dict(restored["meta"])

    def stored_config(self, step: int | None = None) -> dict:
        return self.stored_meta(step).get("config", {})

    def _resolve_step(self, step: int | None) -> int:
        self.wait()
        if step is None:
            step = self.latest_step()
            if step is None:
                raise CheckpointError(f"no complete checkpoint in {self.directory}; "
                                      f"start without --resume")
        elif step not in self.all_steps():
            raise CheckpointError(f"no checkpoint for step {step} in {self.directory}; "
                                  f"available: {self.all_steps()}")
        return int(step)

    def check_compatible(self, stored: dict) -> None:
        """Raise CheckpointError naming every field that differs from the current config."""
        if stored.get("schema_version") != SCHEMA_VERSION:
            raise CheckpointError(
                f"checkpoint schema version {stored.get('schema_version')} in {self.directory} "
                f"is not {SCHEMA_VERSION}, the version this jaxgeo reads; it was written by "
                f"another jaxgeo version. Restore it with that version, or start without "
                f"--resume in a new output directory.")
        if not self.config and self.compat_fields is None:
            return  # a reader opened without a config compares nothing (only the schema)
        old, new = _flatten(stored.get("config", {})), _flatten(self.config)
        if self.compat_fields is not None:
            fields = self.compat_fields
        else:
            fields = sorted(set(old) | set(new))
            fields = [f for f in fields if not f.startswith(self.ignore_prefixes)]
        diffs = [f"{f}: checkpoint {old.get(f, '<missing>')!r} vs now {new.get(f, '<missing>')!r}"
                 for f in fields if old.get(f, "<missing>") != new.get(f, "<missing>")]
        if diffs:
            raise CheckpointError(
                f"checkpoint in {self.directory} was written with a different config; "
                f"mismatching fields: {'; '.join(diffs)}. Rerun with the checkpoint's values "
                f"or use a new output directory.")

    def restore(self, template: Any, step: int | None = None) -> Any:
        """Restore into the structure (and shardings) of `template`; latest step by default."""
        step = self._resolve_step(step)
        self.check_compatible(self.stored_meta(step))
        abstract = jax.tree_util.tree_map(_abstract, template)
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract)))
        return restored["state"]

    def restore_raw(self, step: int | None = None) -> Any:
        """Restore the saved tree as nested dicts of numpy arrays, without a template.

        For readers that need only part of a state (an evaluation reads the params and batch
        statistics, not the optimizer state); the config compatibility is checked as usual.
        """
        step = self._resolve_step(step)
        self.check_compatible(self.stored_meta(step))
        restored = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore()))
        return restored["state"]

    def close(self) -> None:
        self.wait()
        self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _abstract(x: Any) -> Any:
    if isinstance(x, jax.Array):
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)
    if isinstance(x, np.ndarray):
        return jax.ShapeDtypeStruct(x.shape, x.dtype)
    return x
