"""Placeholder demo; replaced by the FWI demo (experiments/fwi.py with configs/fwi/demo.py)."""
raise SystemExit("demo not available yet")
