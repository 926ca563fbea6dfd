"""The one writer of benchmarks/RESULTS.md: one current section per benchmark.

Each benchmark script calls :func:`record` with its section's key (usually the script's
name, or ``script: case`` for a script that records several tables). The section between
``<!-- section: key -->`` and the next marker is replaced (or appended the first time); git
keeps the history. Machine facts (cores, CPU model, load average, JAX devices, library
versions) are measured here, not typed by the script.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jaxgeo.core.files import write_text  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
MARKER = "<!-- section: {key} -->"
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "seisbench", "deepwave",
             "hitran-api")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> str:
    """One line of measured facts about this machine and process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    devices = ""
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        devices = f"; JAX devices: {jax.device_count()} x {jax.devices()[0].platform}"
    return (f"Machine: {cores} cores usable ({os.cpu_count()} online), {_cpu_model()}; "
            f"load average {load}{devices}. Libraries: {', '.join(versions)}.")


def record(key: str, title: str, details: str, body: str) -> Path:
    """Replace (or add) the section `key` of RESULTS.md with a dated table.

    Args:
      key: the section's identity, e.g. ``"wave_vs_deepwave"``.
      title: its heading (the date is added).
      details: set-up of the run (model, sizes, repeats), one paragraph.
      body: the table and conclusions (Markdown).
    """
    cmd = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    stamp = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    marker = MARKER.format(key=key)
    section = (f"{marker}\n## {title} — {stamp} UTC\n\n{machine_facts()}\n\n{details}\n\n"
               f"Command: `{cmd}`\n\n{body.rstrip()}\n\n")
    text = RESULTS.read_text() if RESULTS.is_file() else "# Benchmark results\n\n"
    pattern = re.compile(re.escape(marker) + r"\n.*?(?=<!-- section: |\Z)", re.S)
    text = pattern.sub(lambda _m: section, text, count=1) if marker in text \
        else text.rstrip() + "\n\n" + section
    return write_text(RESULTS, text)
