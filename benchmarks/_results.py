"""Append a dated section to benchmarks/RESULTS.md (shared by the benchmark scripts)."""

from __future__ import annotations

import datetime
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def append_results(title: str, details: str, body: str) -> None:
    """``## title — <UTC time>``, then ``details``, the command line that ran, and ``body``."""
    cmd = " ".join(["python", f"benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    stamp = f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}"
    with open(RESULTS, "a") as fh:
        fh.write(f"\n## {title} — {stamp} UTC\n\n{details}\n\nCommand: `{cmd}`\n\n{body}\n")
