"""PhysAE stage A with the guide's flags, e.g. the Quick Test:

    python experiments/train_stage_a.py --train_samples 1000 --val_samples 200 --epochs 2 \
        --batch_size 16 --encoder_variant s --num_refiners 2 --lr 1e-3 --optimizer adamw \
        --weight_decay 1e-4 --gpus 1 --precision 32 --num_workers 0

Other range sets: ``--config configs/physae/{ch4_6000,atmospheric,industrial_leak,
lab_calibration}.py`` (synthetic lines unless ``--lines PATH``, a HITRAN .par/.data or PhysAE
YAML covering the window). ``--num_workers`` is accepted and unused (the data stream runs
on the device). ``--gpus N`` on a machine without GPU warns and runs on the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()

from jaxgeo.core.cli import exit_code_of  # noqa: E402
from jaxgeo.core.config import LegacyFlag, parse_command_line  # noqa: E402

DEFAULT_CONFIG = str(ROOT / "configs" / "physae" / "reference.py")
GUIDE_FLAGS = tuple(LegacyFlag(f"--{name}", name, type=t, help=h) for name, t, h in (
    ("train_samples", int, "training spectra per epoch"),
    ("val_samples", int, "fixed validation spectra"),
    ("epochs", int, "epochs"), ("batch_size", int, "batch size"),
    ("encoder_variant", str, "s | m | l"), ("num_refiners", int, "cascade refiners"),
    ("lr", float, "learning rate"), ("optimizer", str, "adamw | lion"),
    ("weight_decay", float, "weight decay"), ("gpus", int, "devices (CPU: warning, 1)"),
    ("precision", str, "32 | bf16"), ("num_workers", int, "unused (on-device data)"),
    ("out_dir", str, "output folder"),
    ("lines", str, "line list: HITRAN .par/.data or PhysAE YAML covering the window "
                   "(default: the config's; the range sets' synthetic list)"),
))
LEGACY = GUIDE_FLAGS


def _run(argv: list[str]) -> int:
    config = parse_command_line(argv, default_config=DEFAULT_CONFIG, legacy=LEGACY,
                                description=__doc__)
    config.stage = "A"
    from jaxgeo.physae.run import train_stage  # after flags: jax starts here

    train_stage(config)
    return 0


def main(argv: list[str]) -> int:
    """Run the command line; a user error is one ``error:`` line and exit code 2."""
    return exit_code_of(lambda: _run(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
