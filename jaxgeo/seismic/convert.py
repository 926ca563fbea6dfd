"""Weight conversion between SeisBench PyTorch models and jaxgeo's Flax modules.

``from_seisbench(model)`` accepts a ``seisbench.models.PhaseNet`` / ``EQTransformer`` instance
or the path of a local SeisBench weight pair (``<base>.pt.vN`` + ``<base>.json.vN``; give the
``.pt.vN`` or the ``.json.vN`` file or ``<base>`` plus ``version``) and returns
``(module, variables)`` such that ``module.apply(variables, x)`` on channels-last input equals
the SeisBench output transposed the same way. ``to_seisbench_state_dict`` goes back for PhaseNet.

"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import torch

from jaxgeo.seismic.eqtransformer import EQTransformer
from jaxgeo.seismic.phasenet import DEPTH, FILTERS_ROOT, PhaseNet

__all__ = [
    "SEISBENCH_MODEL_TYPES",
    "load_seisbench_weights",
    "phasenet_variables_from_state_dict",
    "phasenet_from_state_dict",
    "to_seisbench_state_dict",
    "eqtransformer_from_state_dict",
    "from_seisbench",
    "count_params",
    "WeightPairError",
    "resolve_weight_pair",
    "model_kind_from_metadata",
    "load_weight_pair",
]

# Torch sub-module index inside SeisBench's ModuleLists -> jaxgeo names.
_DOWN_NAMES = ("conv_same", "bn1", "conv_down", "bn2")
_UP_NAMES = ("conv_up", "bn1", "conv_same", "bn2")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _conv(w, b=None) -> dict:
    """torch Conv1d weight ``[out, in, k]`` -> Flax kernel ``[k, in, out]``."""
    out = {"kernel": np.ascontiguousarray(_np(w).transpose(2, 1, 0))}
    if b is not None:
        out["bias"] = _np(b)
    return out


def _bn(sd: dict, prefix: str) -> tuple[dict, dict]:
    params = {"scale": _np(sd[prefix + "weight"]), "bias": _np(sd[prefix + "bias"])}
    stats = {"mean": _np(sd[prefix + "running_mean"]), "var": _np(sd[prefix + "running_var"])}
    return params, stats


def _split_weight_path(path: str | Path, version: str | None) -> tuple[Path, Path]:
    path = Path(path)
    name = path.name
    for kind in (".pt", ".json"):
        marker = kind + ".v"
        if marker in name:
            base, ver = name.split(marker, 1)
            return path.with_name(f"{base}.pt.v{ver}"), path.with_name(f"{base}.json.v{ver}")
        if name.endswith(kind):
            base = name[: -len(kind)]
            return path.with_name(base + ".pt"), path.with_name(base + ".json")
    suffix = f".v{version}" if version is not None else ""
    return path.with_name(f"{name}.pt{suffix}"), path.with_name(f"{name}.json{suffix}")


def load_seisbench_weights(path: str | Path, version: str | None = None) -> tuple[dict, dict]:
    """Read a SeisBench weight pair -> ``(state_dict of numpy arrays, metadata dict)``."""
    pt, js = _split_weight_path(path, version)
    missing = [str(p) for p in (pt, js) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"SeisBench weight pair incomplete, missing {missing}; a pair is '<name>.pt.vN' "
            "and '<name>.json.vN' as written by SeisBenchModel.save(path, version_str=N)"
        )
    state = torch.load(pt, map_location="cpu", weights_only=True)
    with open(js) as fh:
        meta = json.load(fh)
    return {k: _np(v) for k, v in state.items()}, meta


def _model_kind(state: dict) -> str:
    if "inc.weight" in state and "down_branch.0.0.weight" in state:
        return "PhaseNet"
    if "encoder.convs.0.weight" in state and "bi_lstm_stack.members.0.lstm.weight_ih_l0" in state:
        return "EQTransformer"
    raise ValueError(
        "state_dict is neither a SeisBench PhaseNet nor an EQTransformer (keys start with "
        f"{sorted(state)[:4]}); supported: PhaseNet, EQTransformer"
    )


# ----------------------------------------------------------------------------- PhaseNet


def phasenet_variables_from_state_dict(state: dict) -> dict:
    """SeisBench PhaseNet ``state_dict`` -> Flax ``{"params", "batch_stats"}`` (jaxgeo PhaseNet)."""
    sd = {k: _np(v) for k, v in state.items()}
    enc_p: dict[str, Any] = {"inc": _conv(sd["inc.weight"], sd["inc.bias"])}
    enc_s: dict[str, Any] = {}
    enc_p["in_bn"], enc_s["in_bn"] = _bn(sd, "in_bn.")
    for i in range(DEPTH):
        for j, name in enumerate(_DOWN_NAMES):
            key = f"down_branch.{i}.{j}."
            if key + "weight" not in sd:
                continue  # deepest level has no down-sampling conv/bn
            if name.startswith("bn"):
                enc_p[f"down{i}_{name}"], enc_s[f"down{i}_{name}"] = _bn(sd, key)
            else:
                enc_p[f"down{i}_{name}"] = _conv(sd[key + "weight"])
    dec_p: dict[str, Any] = {}
    dec_s: dict[str, Any] = {}
    for i in range(DEPTH - 1):
        key = f"up_branch.{i}."
        w = sd[key + "0.weight"]  # ConvTranspose1d: [in, out, k]
        dec_p[f"up{i}_conv_up"] = {"kernel": np.ascontiguousarray(w.transpose(2, 0, 1)[::-1])}
        dec_p[f"up{i}_bn1"], dec_s[f"up{i}_bn1"] = _bn(sd, key + "1.")
        dec_p[f"up{i}_conv_same"] = _conv(sd[key + "2.weight"])
        dec_p[f"up{i}_bn2"], dec_s[f"up{i}_bn2"] = _bn(sd, key + "3.")
    params = {"encoder": enc_p, "decoder": dec_p, "out": _conv(sd["out.weight"], sd["out.bias"])}
    return {"params": params, "batch_stats": {"encoder": enc_s, "decoder": dec_s}}


def phasenet_from_state_dict(state: dict, model_args: dict | None = None):
    """Build ``(PhaseNet, variables)``; ``filter_factor`` is read off the weight shapes."""
    args = dict(model_args or {})
    sd = {k: _np(v) for k, v in state.items()}
    out_channels, in_channels, _ = sd["inc.weight"].shape
    if out_channels % FILTERS_ROOT:
        raise ValueError(f"inc.weight has {out_channels} filters, not a multiple of {FILTERS_ROOT}")
    module = PhaseNet(
        in_channels=in_channels,
        classes=sd["out.weight"].shape[0],
        phases=str(args.get("phases", "NPS")),
        sampling_rate=float(args.get("sampling_rate", 100)),
        norm=str(args.get("norm", "std")),
        filter_factor=out_channels // FILTERS_ROOT,
    )
    if args.get("norm_amp_per_comp") or args.get("norm_detrend"):
        raise ValueError("PickBlue options norm_amp_per_comp/norm_detrend are not supported")
    return module, phasenet_variables_from_state_dict(sd)


def to_seisbench_state_dict(variables: dict) -> dict:
    """Flax PhaseNet variables -> SeisBench PhaseNet ``state_dict`` (torch tensors)."""
    p, s = variables["params"], variables["batch_stats"]
    out: dict[str, Any] = {}

    def conv(key, leaf):
        out[key + "weight"] = np.asarray(leaf["kernel"]).transpose(2, 1, 0)
        if "bias" in leaf:
            out[key + "bias"] = np.asarray(leaf["bias"])

    def bn(key, leaf, stats):
        out[key + "weight"] = np.asarray(leaf["scale"])
        out[key + "bias"] = np.asarray(leaf["bias"])
        out[key + "running_mean"] = np.asarray(stats["mean"])
        out[key + "running_var"] = np.asarray(stats["var"])
        out[key + "num_batches_tracked"] = np.array(0, dtype=np.int64)

    enc, dec = p["encoder"], p["decoder"]
    conv("inc.", enc["inc"])
    bn("in_bn.", enc["in_bn"], s["encoder"]["in_bn"])
    for i in range(DEPTH):
        for j, name in enumerate(_DOWN_NAMES):
            leaf = enc.get(f"down{i}_{name}")
            if leaf is None:
                continue
            if name.startswith("bn"):
                bn(f"down_branch.{i}.{j}.", leaf, s["encoder"][f"down{i}_{name}"])
            else:
                conv(f"down_branch.{i}.{j}.", leaf)
    for i in range(DEPTH - 1):
        k = np.asarray(dec[f"up{i}_conv_up"]["kernel"])
        out[f"up_branch.{i}.0.weight"] = k[::-1].transpose(1, 2, 0)
        bn(f"up_branch.{i}.1.", dec[f"up{i}_bn1"], s["decoder"][f"up{i}_bn1"])
        conv(f"up_branch.{i}.2.", dec[f"up{i}_conv_same"])
        bn(f"up_branch.{i}.3.", dec[f"up{i}_bn2"], s["decoder"][f"up{i}_bn2"])
    conv("out.", p["out"])
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()}


# ------------------------------------------------------------------------- EQTransformer


def _lstm(sd: dict, key: str, suffix: str = "") -> dict:
    return {
        "w_ih": np.ascontiguousarray(sd[f"{key}weight_ih_l0{suffix}"].T),
        "w_hh": np.ascontiguousarray(sd[f"{key}weight_hh_l0{suffix}"].T),
        "b_ih": sd[f"{key}bias_ih_l0{suffix}"],
        "b_hh": sd[f"{key}bias_hh_l0{suffix}"],
    }


def _attention(sd: dict, key: str) -> dict:
    return {n: sd[key + n] for n in ("Wx", "Wt", "bh", "Wa", "ba")}


def _decoder(sd: dict, key: str) -> dict:
    n = sum(1 for k in sd if k.startswith(key + "convs.") and k.endswith(".weight"))
    return {f"conv{i}": _conv(sd[f"{key}convs.{i}.weight"], sd[f"{key}convs.{i}.bias"])
            for i in range(n)}


def eqtransformer_from_state_dict(state: dict, model_args: dict | None = None):
    """Build ``(EQTransformer, variables)`` from a SeisBench EQTransformer ``state_dict``."""
    args = dict(model_args or {})
    if args.get("original_compatible"):
        raise ValueError(
            "original_compatible EQTransformer weights use SeisBench's CustomLSTM and a different "
            "decoder crop; only original_compatible=False is supported"
        )
    sd = {k: _np(v) for k, v in state.items()}
    trunk_p: dict[str, Any] = {"encoder": {}}
    trunk_s: dict[str, Any] = {}
    n_enc = sum(1 for k in sd if k.startswith("encoder.convs.") and k.endswith(".weight"))
    for i in range(n_enc):
        trunk_p["encoder"][f"conv{i}"] = _conv(sd[f"encoder.convs.{i}.weight"],
                                               sd[f"encoder.convs.{i}.bias"])
    i = 0
    while f"res_cnn_stack.members.{i}.conv1.weight" in sd:
        key = f"res_cnn_stack.members.{i}."
        blk_p, blk_s = {}, {}
        for nm in ("norm1", "norm2"):
            blk_p[nm], blk_s[nm] = _bn(sd, key + nm + ".")
        for nm in ("conv1", "conv2"):
            blk_p[nm] = _conv(sd[key + nm + ".weight"], sd[key + nm + ".bias"])
        trunk_p[f"res_cnn{i}"], trunk_s[f"res_cnn{i}"] = blk_p, blk_s
        i += 1
    lstm_blocks = 0
    while f"bi_lstm_stack.members.{lstm_blocks}.conv.weight" in sd:
        key = f"bi_lstm_stack.members.{lstm_blocks}."
        nm_p, nm_s = _bn(sd, key + "norm.")
        trunk_p[f"bi_lstm{lstm_blocks}"] = {
            "lstm_fwd": _lstm(sd, key + "lstm."),
            "lstm_bwd": _lstm(sd, key + "lstm.", "_reverse"),
            "conv": _conv(sd[key + "conv.weight"], sd[key + "conv.bias"]),
            "norm": nm_p,
        }
        trunk_s[f"bi_lstm{lstm_blocks}"] = {"norm": nm_s}
        lstm_blocks += 1
    for name in ("transformer_d0", "transformer_d"):
        key = name + "."
        trunk_p[name] = {
            "attention": _attention(sd, key + "attention."),
            "norm1": {"gamma": sd[key + "norm1.gamma"][:, 0], "beta": sd[key + "norm1.beta"][:, 0]},
            "norm2": {"gamma": sd[key + "norm2.gamma"][:, 0], "beta": sd[key + "norm2.beta"][:, 0]},
            "lin1": {"kernel": sd[key + "ff.lin1.weight"].T, "bias": sd[key + "ff.lin1.bias"]},
            "lin2": {"kernel": sd[key + "ff.lin2.weight"].T, "bias": sd[key + "ff.lin2.bias"]},
        }
    classes = sum(1 for k in sd if k.startswith("pick_convs.") and k.endswith(".weight"))
    params: dict[str, Any] = {
        "trunk": trunk_p,
        "decoder_d": _decoder(sd, "decoder_d."),
        "conv_d": _conv(sd["conv_d.weight"], sd["conv_d.bias"]),
    }
    for j in range(classes):
        params[f"pick_lstms_{j}"] = _lstm(sd, f"pick_lstms.{j}.")
        params[f"pick_attentions_{j}"] = _attention(sd, f"pick_attentions.{j}.")
        params[f"pick_decoders_{j}"] = _decoder(sd, f"pick_decoders.{j}.")
        params[f"pick_convs_{j}"] = _conv(sd[f"pick_convs.{j}.weight"], sd[f"pick_convs.{j}.bias"])
    module = EQTransformer(
        in_channels=sd["encoder.convs.0.weight"].shape[1],
        in_samples=int(args.get("in_samples", 6000)),
        classes=classes,
        phases=str(args.get("phases", "PS"))[:classes] if args.get("phases") else "PS"[:classes],
        lstm_blocks=lstm_blocks,
        drop_rate=float(args.get("drop_rate", 0.1)),
        sampling_rate=float(args.get("sampling_rate", 100)),
        norm=str(args.get("norm", "std")),
    )
    return module, {"params": params, "batch_stats": {"trunk": trunk_s}}


# ------------------------------------------------------------------------------ dispatch


def from_seisbench(model_or_path, version: str | None = None):
    """SeisBench model instance or local weight pair -> ``(flax module, variables)``."""
    if isinstance(model_or_path, (str, Path)):
        state, meta = load_seisbench_weights(model_or_path, version)
        args = meta.get("model_args", {})
    else:
        state = model_or_path.state_dict()
        args = _instance_args(model_or_path)
    kind = _model_kind(state)
    if kind == "PhaseNet":
        return phasenet_from_state_dict(state, args)
    return eqtransformer_from_state_dict(state, args)


def _instance_args(model) -> dict:
    keys = ("phases", "sampling_rate", "norm", "in_samples", "drop_rate", "original_compatible",
            "norm_amp_per_comp", "norm_detrend")
    args = {k: getattr(model, k) for k in keys if hasattr(model, k) and k != "phases"}
    labels = getattr(model, "labels", None)
    if labels is not None:
        labels = "".join(labels) if not isinstance(labels, str) else labels
        args["phases"] = labels.replace("Detection", "")
    return args


def count_params(variables: dict) -> int:
    """Number of trainable parameters (``params`` collection only, batch statistics excluded)."""
    return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(variables["params"])))


# ------------------------------------------------------------ weight pairs as model paths

# SeisBench class name -> jaxgeo ``--model_type`` of the converted weights.
SEISBENCH_MODEL_TYPES = {"PhaseNet": "phasenet", "EQTransformer": "eqtransformer"}
# ``model_args`` keys that other SeisBench models save and PhaseNet / EQTransformer do not
# (GPD, CRED, LFEDetect, VariableLengthPhaseNet, SeisDAE, DeepPhasePick, PhaseTEAM, ...), so
# that their weights are refused from the json, before the .pt file is read.
_FOREIGN_ARGS = frozenset({"eps", "pred_sample", "norm_axis", "output_activation", "nfft",
                           "nperseg", "labels", "output_type", "citation"})


class WeightPairError(ValueError):
    """A SeisBench weight pair cannot be used as given (unknown model, wrong --model_type)."""


def _pair_versions(stem: Path) -> list[str]:
    """Versions ``N`` with a ``<stem>.pt.vN`` or ``<stem>.json.vN`` file ('' for unversioned)."""
    found = set()
    parent = stem.parent if str(stem.parent) else Path(".")
    if not parent.is_dir():
        return []
    for p in parent.iterdir():
        for kind in (".pt", ".json"):
            if p.name == stem.name + kind:
                found.add("")
            elif p.name.startswith(stem.name + kind + ".v"):
                found.add(p.name[len(stem.name + kind + ".v"):])
    return sorted(found)


def resolve_weight_pair(path: str | Path) -> tuple[Path, Path] | None:
    """``(pt, json)`` of the SeisBench weight pair that ``path`` names, or None if it names none.

    ``path`` may be ``<base>.pt.vN``, ``<base>.json.vN`` (or unversioned ``.pt``/``.json``) or the
    stem ``<base>`` with the files beside it. A directory is never a weight pair (it is a
    jaxgeo run directory). Raises FileNotFoundError for a pair with one half missing and
    WeightPairError for a stem with several versions.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        return None
    name = path.name
    named = any(m in name for m in (".pt.v", ".json.v")) or name.endswith((".pt", ".json"))
    if named:
        pt, js = _split_weight_path(path, None)
    else:
        versions = _pair_versions(path)
        if not versions:
            return None
        if len(versions) > 1:
            shown = ", ".join(f"{name}.pt.v{v}" if v else f"{name}.pt" for v in versions)
            raise WeightPairError(
                f"{path} names several SeisBench weight versions ({shown}); pass the one to "
                "evaluate as --model_path <base>.pt.vN"
            )
        pt, js = _split_weight_path(path, versions[0] or None)
    missing = [p for p in (pt, js) if not p.is_file()]
    if len(missing) == 2:
        raise FileNotFoundError(
            f"SeisBench weight pair {pt.name} + {js.name} not found in {pt.parent}; pass an "
            "existing '<name>.pt.vN' (with '<name>.json.vN' beside it) or a jaxgeo run directory"
        )
    if missing:
        have = js if missing[0] == pt else pt
        raise FileNotFoundError(
            f"SeisBench weight pair incomplete: {have.name} exists but {missing[0].name} is "
            f"missing in {have.parent}. Put {missing[0].name} beside it (SeisBenchModel.save("
            "path, version_str=N) writes both halves), or copy both from where the model was "
            "saved"
        )
    return pt, js


def model_kind_from_metadata(meta: dict, source: str = "json") -> str:
    """SeisBench class (``PhaseNet`` / ``EQTransformer``) that a weight pair's json describes.

    An explicit ``model``/``model_name``/``model_class`` entry wins; otherwise the kind is read
    from the ``model_args`` keys (SeisBench's json stores arguments, not the class name).
    Raises WeightPairError naming the model for anything else.
    """
    supported = sorted(SEISBENCH_MODEL_TYPES)
    for key in ("model", "model_name", "model_class", "class_name"):
        name = meta.get(key)
        if isinstance(name, str) and name:
            short = name.rsplit(".", 1)[-1]
            for kind in SEISBENCH_MODEL_TYPES:
                if short.lower() == kind.lower():
                    return kind
            raise WeightPairError(
                f"{source} describes a SeisBench {short!r} model; jaxgeo converts only "
                f"{supported}. Evaluate it with SeisBench itself, or pass weights of a "
                "supported model"
            )
    args = meta.get("model_args")
    if not isinstance(args, dict):
        raise WeightPairError(
            f"{source} has no 'model_args' object, so it is not a SeisBench weights json "
            "(written by SeisBenchModel.save); pass the json that was saved with the .pt file"
        )
    keys = set(args)
    if "lstm_blocks" in keys and "in_samples" in keys and not keys & _FOREIGN_ARGS:
        return "EQTransformer"
    if keys & _FOREIGN_ARGS or "in_samples" in keys:
        raise WeightPairError(
            f"{source} model_args {sorted(keys)} belong to a SeisBench model other than "
            f"{supported} (arguments {sorted(keys & (_FOREIGN_ARGS | {'in_samples'}))}); "
            "jaxgeo converts only these two. Evaluate it with SeisBench itself"
        )
    if "phases" in keys or "classes" in keys:
        return "PhaseNet"
    raise WeightPairError(
        f"{source} model_args {sorted(keys)} do not identify a SeisBench model; supported: "
        f"{supported}. Pass --model_type phasenet|eqtransformer if the weights are one of these"
    )


def load_weight_pair(path: str | Path, model_type: str | None = None):
    """Convert the SeisBench weight pair at ``path`` -> ``(module, variables, info)``.

    ``model_type`` (``phasenet``/``eqtransformer``), when given, must match the weights. The
    json is checked first (cheap), then the ``state_dict`` keys; any disagreement raises
    WeightPairError naming both sides and the fix. ``info``: ``model_type``, ``pt``, ``json``,
    ``model_args``.
    """
    pair = resolve_weight_pair(path)
    if pair is None:
        raise FileNotFoundError(f"{path} is not a SeisBench weight pair ('<name>.pt.vN' + "
                                "'<name>.json.vN')")
    pt, js = pair
    try:
        meta = json.loads(js.read_text())
    except json.JSONDecodeError as err:
        raise WeightPairError(f"{js} is not valid JSON ({err}); it must be the json written by "
                              "SeisBenchModel.save beside the .pt file") from None
    if not isinstance(meta, dict):
        raise WeightPairError(f"{js} holds no JSON object; not a SeisBench weights json")
    allowed = sorted(SEISBENCH_MODEL_TYPES.values())
    if model_type is not None and model_type not in allowed:
        raise WeightPairError(
            f"--model_type {model_type} cannot load SeisBench weights ({pt.name}); SeisBench "
            f"weight pairs are evaluated as {allowed}: pass one of these or drop --model_type"
        )
    kind = model_kind_from_metadata(meta, source=str(js))

    def check(found: str, where: str) -> None:
        if model_type is not None and SEISBENCH_MODEL_TYPES[found] != model_type:
            raise WeightPairError(
                f"--model_type {model_type} does not match the weights: {where} describes a "
                f"SeisBench {found}. Pass --model_type {SEISBENCH_MODEL_TYPES[found]} (or drop "
                "--model_type to detect it), or point --model_path at "
                f"{model_type} weights"
            )

    check(kind, js.name)
    state = {k: _np(v) for k, v in torch.load(pt, map_location="cpu", weights_only=True).items()}
    try:
        found = _model_kind(state)
    except ValueError as err:
        raise WeightPairError(f"{pt.name}: {err}") from None
    if found != kind:
        raise WeightPairError(
            f"{js.name} describes a {kind} but {pt.name} holds {found} weights; the two halves "
            "of the pair come from different models. Use the json saved with this .pt file"
        )
    check(found, pt.name)
    args = meta.get("model_args", {})
    module, variables = (phasenet_from_state_dict(state, args) if found == "PhaseNet"
                         else eqtransformer_from_state_dict(state, args))
    info = {"model_type": SEISBENCH_MODEL_TYPES[found], "pt": str(pt), "json": str(js),
            "model_args": args}
    return module, variables, info
