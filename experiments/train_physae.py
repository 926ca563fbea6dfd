"""PhysAE stages: --stage {A,B1,B2,DEN} --init-from CKPT_DIR (the previous stage's
``out_dir/stage_<S>/best``) --config configs/physae/reference.py; plus the guide's flags.
Stage A with the guide's flags, e.g. the Quick Test:

    python experiments/train_stage_a.py --train_samples 1000 --val_samples 200 --epochs 2 \
        --batch_size 16 --encoder_variant s --num_refiners 2 --lr 1e-3 --optimizer adamw \
        --weight_decay 1e-4 --gpus 1 --precision 32 --num_workers 0

``--lines PATH`` (HITRAN .par/.data or PhysAE YAML) replaces the config's line list.
``--num_workers`` is accepted and unused (the data stream runs on the device). ``--gpus N``
on a machine without GPU warns and runs on the CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "experiments"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from jaxgeo.core.allocator import use_tcmalloc  # noqa: E402  (no jax; must run first)

if __name__ == "__main__":
    use_tcmalloc()

from train_stage_a import DEFAULT_CONFIG, GUIDE_FLAGS  # noqa: E402

from jaxgeo.core.cli import exit_code_of  # noqa: E402
from jaxgeo.core.config import LegacyFlag, parse_command_line  # noqa: E402

LEGACY = GUIDE_FLAGS + (
    LegacyFlag("--stage", "stage", choices=("A", "B1", "B2", "DEN"), help="stage"),
    LegacyFlag("--init-from", "init_from", help="checkpoint folder of the previous stage"),
    LegacyFlag("--resume", "resume", kind="bool", help="continue from the last checkpoint"))


def _run(argv: list[str]) -> int:
    config = parse_command_line(argv, default_config=DEFAULT_CONFIG, legacy=LEGACY,
                                description=__doc__)
    from jaxgeo.physae.run import train_stage  # after flags: jax starts here

    train_stage(config)
    return 0


def main(argv: list[str]) -> int:
    """Run the command line; a user error is one ``error:`` line and exit code 2."""
    return exit_code_of(lambda: _run(argv))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
