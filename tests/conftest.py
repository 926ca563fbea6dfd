"""Test set-up: four virtual CPU devices, shared-data fixture."""

import os

# Must happen before jax is imported anywhere: parallel paths are tested on 4 virtual devices.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder `../shared/data` beside the project; tests that need it skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


def load_entry_script(name: str):
    """Import ``experiments/<name>.py`` as a module (its ``run``/``main`` are then callable)."""
    spec = importlib.util.spec_from_file_location(f"entry_{name}", ROOT / "experiments"
                                                  / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seismic_entry():
    """experiments/seismic.py, imported once per test module."""
    return load_entry_script("seismic")


@pytest.fixture(scope="session")
def hapi_tables(shared_data, tmp_path_factory):
    """HAPI (hitran-api) tables for every shared ``spectra/*.par`` file, loaded with
    ``hapi.db_begin`` from a temporary folder holding a copy of each file (``<stem>.data``)
    and HAPI's default 160-character header; returns {file name: HAPI table name}."""
    import contextlib
    import io
    import json
    import shutil

    with contextlib.redirect_stdout(io.StringIO()):
        import hapi
    folder = tmp_path_factory.mktemp("hapi_tables")
    tables = {}
    for path in sorted((shared_data / "spectra").glob("*.par")):
        shutil.copy(path, folder / f"{path.stem}.data")
        header = dict(hapi.HITRAN_DEFAULT_HEADER, table_name=path.stem)
        (folder / f"{path.stem}.header").write_text(json.dumps(header))
        tables[path.name] = path.stem
    with contextlib.redirect_stdout(io.StringIO()):
        hapi.db_begin(str(folder))
    return tables
