"""PhysAE reference window (3085.4-3086.6 cm^-1, CH4 + H2O), physae.py's convention."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.window = "reference"  # package data jaxgeo/physae/data/physae_window_3085.yaml
    # --lines PATH: a PhysAE YAML to use instead (its lines, ranges and constants), or a
    # HITRAN .par/.data file (its CH4 and H2O lines; ranges and constants of the window)
    c.lines = ""
    c.convention = "physae"  # "physae" | "guide"
    c.num_points = 800
    c.log_scale = ("mf_CH4",)
    c.log_floors = ml_collections.ConfigDict({"mf_CH4": 1e-7})
    # LOWESS normalisation (physae.py): input and target divided by their LOWESS value at
    # pixel 0 (local linear fit over the first lowess_window pixels, tricube weights, one
    # bisquare robustness pass); baseline0 is then not predicted (it cancels).
    c.lowess_normalise = False
    c.lowess_window = 30
    c.train_samples = 4096
    c.val_samples = 512
    c.batch_size = 32
    c.epochs = 10
    c.seed = 0
    c.stage = "A"
    c.encoder_variant = "s"  # "s" | "m" | "l" | "tiny" (tests)
    c.drop_path = 0.2  # stochastic depth of the last encoder block
    c.head_hidden = 256  # hidden width of the shared head
    c.refiner_width = 32  # channels of each cascade refiner
    c.num_refiners = 2
    c.film = False
    c.mlp_dropout = 0.1
    c.refiner_dropout = 0.1
    c.optimizer = "adamw"
    c.lr = 1e-3
    c.scheduler = "constant"  # "constant" | "cosine_warmup"
    c.warmup_epochs = 1  # cosine_warmup: linear warmup epochs (from 0.1 lr)
    c.t_0 = 10  # cosine_warmup: epochs of the first cosine cycle
    c.t_mult = 1  # cosine_warmup: growth of each next cycle
    c.eta_min_ratio = 0.01  # cosine_warmup: floor of the cosine, as a fraction of lr
    c.weight_decay = 1e-4
    c.lambda_param = 1.0
    c.lambda_angle = 0.0
    c.lambda_peak = 0.0
    c.lambda_recon = 0.0
    c.use_relobralo = False
    c.gpus = 0  # 0: all visible devices
    c.precision = "32"  # "32" | "bf16"
    c.num_workers = 0  # accepted for compatibility; unused (the data stream is on-device)
    c.out_dir = "runs/physae"
    c.init_from = ""
    c.resume = False
    return c
