"""BlueDisc: conditional-GAN training of PhaseNet (BlueDisc's ``01_training.py``).

Run: python experiments/bluedisc.py --label D --dataset synthetic --data-weight 1.0 \
         --batch-size 8 --max-steps 200
"""

import ml_collections
from ml_collections import config_dict


def get_config():
    c = ml_collections.ConfigDict()
    c.label = ""  # D (detection) or N (noise): the generator's third channel; required
    c.dataset = ""  # SeisBench name, a folder or "synthetic"; required
    c.g_lr = 1e-3
    c.d_lr = 1e-3
    # None: data-only (no discriminator); otherwise λ = 4000 × data_weight (0: pure GAN)
    c.data_weight = config_dict.placeholder(float)
    c.sample_size = 1  # tracked dev samples
    c.batch_size = 100
    c.max_steps = 10000
    c.device = "auto"
    c.seed = 42
    c.workdir = ""  # default runs/<experiment name>
    c.resume = False
    c.checkpoint_every = 100
    c.eval_every = 10  # tracked-sample metrics every N steps
    c.log_every = 1
    c.pipeline = "auto"
    c.synthetic_traces = 600
    return c
