"""The code base is ruff clean (rules in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.fail("ruff is not installed; `pip install -e '.[test]'` installs it")
    dirs = [d for d in ("jaxgeo", "experiments", "benchmarks", "configs", "tests")
            if (ROOT / d).exists()]
    result = subprocess.run([ruff, "check", *dirs], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
