"""BlueDisc training (the original ``01_training.py``): PhaseNet as a conditional-GAN generator.

    python experiments/bluedisc.py --label D --dataset synthetic                  # data-only
    python experiments/bluedisc.py --label D --dataset ETHZ --data-weight 1.0     # hybrid
    python experiments/bluedisc.py --label N --dataset ETHZ --data-weight 0       # pure GAN

Flags map onto ``configs/seismic/bluedisc.py``; any field can be set with
``--config.<field>=<value>``. Seed 42: two runs with the same flags give the same losses on CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import jax  # noqa: E402

from jaxgeo.core.config import ConfigError, LegacyFlag, parse_command_line  # noqa: E402
from jaxgeo.core.train import NonFiniteLossError  # noqa: E402
from jaxgeo.seismic.bluedisc_run import DEVICES, train_bluedisc, validate  # noqa: E402

DEFAULT_CONFIG = str(ROOT / "configs" / "seismic" / "bluedisc.py")
LEGACY = (
    LegacyFlag("--label", "label", choices=("D", "N"),
               help="generator's third channel: D (detection) or N (noise); required"),
    LegacyFlag("--dataset", "dataset",
               help="SeisBench dataset (ETHZ, InstanceCounts, ...), a folder or 'synthetic'; "
                    "required"),
    LegacyFlag("--g-lr", "g_lr", type=float, help="generator learning rate (Adam b1=0)"),
    LegacyFlag("--d-lr", "d_lr", type=float, help="discriminator learning rate (Adam b1=0)"),
    LegacyFlag("--data-weight", "data_weight", type=float,
               help="use the GAN; the data term's weight is internally scaled by 4000 "
                    "(lambda = 4000 x value; 0 = pure GAN; omit for data-only)"),
    LegacyFlag("--sample-size", "sample_size", type=int, help="tracked dev samples"),
    LegacyFlag("--batch-size", "batch_size", type=int, help="batch size"),
    LegacyFlag("--max-steps", "max_steps", type=int, help="training steps"),
    LegacyFlag("--device", "device", choices=DEVICES, help="where to train"),
    LegacyFlag("--resume", "resume", kind="bool", help="continue from the last checkpoint"),
)
_PLATFORMS = {"cpu": "cpu", "cuda": "cuda", "gpu": "cuda", "tpu": "tpu"}


def run(argv) -> object:
    config = parse_command_line(argv, default_config=DEFAULT_CONFIG, legacy=LEGACY,
                                description=__doc__.strip().splitlines()[0])
    validate(config)
    if config.device != "auto":
        jax.config.update("jax_platforms", _PLATFORMS[config.device])
    return train_bluedisc(config)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        run(argv)
    except (ConfigError, ValueError, FileNotFoundError, KeyError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
