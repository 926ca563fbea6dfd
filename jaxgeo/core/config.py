"""Config files, command-line overrides, legacy flags, validation and saving.

A config is an `ml_collections.ConfigDict` returned by `get_config()` in a Python file
(the Flax-examples convention). On the command line::

    python experiments/fwi.py --config configs/fwi/demo.py --config.optim.lr.vp=20 \
        --opt adam --loss vp=l2 --grad-cut

``--config.a.b=value`` overrides a field; the legacy flags of the system an entry script
replaces are mapped onto config fields by a table of `LegacyFlag`. Validation helpers raise
`ConfigError` whose message names the field, the bad value and what is allowed.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ml_collections
import yaml

from jaxgeo.core.files import write_text

__all__ = [
    "ConfigError",
    "load_config",
    "parse_value",
    "get_field",
    "set_field",
    "apply_overrides",
    "LegacyFlag",
    "parse_command_line",
    "check_choice",
    "check_positive",
    "check_range",
    "check_type",
    "to_plain",
    "save_config",
]


class ConfigError(ValueError):
    """A config value, flag or file is invalid; the message says which and how to fix it."""


# ---------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
    """Load a config file that defines ``get_config() -> ConfigDict``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass --config PATH to a "
                          f".py file that defines get_config()")
    spec = importlib.util.spec_from_file_location(f"_jaxgeo_config_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"config file {str(path)!r} defines no get_config() function")
    config = module.get_config()
    if not isinstance(config, ml_collections.ConfigDict):
        config = ml_collections.ConfigDict(config)
    return config


def parse_value(text: str) -> Any:
    """Parse a command-line value: a Python literal when it is one, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def get_field(config: ml_collections.ConfigDict, field: str) -> Any:
    """Value of the dotted field ``a.b.c``; ConfigError when a part is missing."""
    node: Any = config
    for i, part in enumerate(field.split(".")):
        if isinstance(node, (ml_collections.ConfigDict, dict)) and part in node:
            node = node[part]
        else:
            parent = ".".join(field.split(".")[:i]) or "<root>"
            keys = sorted(node.keys()) if hasattr(node, "keys") else []
            raise ConfigError(f"config has no field {field!r} ({part!r} is not in {parent}; "
                              f"available there: {keys})")
    return node


def _coerce(old: Any, new: Any, field: str) -> Any:
    """Convert an override to the type of the value it replaces (int -> float is allowed)."""
    if old is None or new is None:
        return new
    if isinstance(old, bool):
        if isinstance(new, bool):
            return new
        raise ConfigError(f"config field {field!r} is a bool; got {new!r} (use true or false)")
    if isinstance(old, float) and isinstance(new, int) and not isinstance(new, bool):
        return float(new)
    if isinstance(old, (tuple, list)) and isinstance(new, (tuple, list)):
        return type(old)(new)
    if isinstance(old, ml_collections.ConfigDict) and isinstance(new, dict):
        merged = ml_collections.ConfigDict(old.to_dict())
        merged.update(new)
        return merged
    if isinstance(old, str) and not isinstance(new, str):
        return str(new)
    if isinstance(old, (int, float)) and not isinstance(new, (int, float)):
        raise ConfigError(f"config field {field!r} expects a number; got {new!r}")
    return new


def set_field(config: ml_collections.ConfigDict, field: str, value: Any,
              create: bool = False) -> None:
    """Set dotted field ``a.b.c``; the field must exist unless `create` is true."""
    parts = field.split(".")
    parent = config if len(parts) == 1 else None
    if parent is None:
        parent_name = ".".join(parts[:-1])
        try:
            parent = get_field(config, parent_name)
        except ConfigError:
            if not create:
                raise
            parent = config
            for part in parts[:-1]:
                if part not in parent:
                    parent[part] = ml_collections.ConfigDict()
                parent = parent[part]
    key = parts[-1]
    if key not in parent:
        if not create:
            raise ConfigError(f"config has no field {field!r}; available: "
                              f"{sorted(parent.keys())}")
        if isinstance(value, dict):
            value = ml_collections.ConfigDict(value)
        parent[key] = value
        return
    old = parent[key]
    new = _coerce(old, value, field)
    with parent.unlocked() if hasattr(parent, "unlocked") else contextlib.nullcontext():
        try:
            parent[key] = new
        except TypeError:  # ConfigDict refuses a type change: replace the field
            del parent[key]
            parent[key] = new


def apply_overrides(config: ml_collections.ConfigDict,
                    overrides: Sequence[str]) -> ml_collections.ConfigDict:
    """Apply ``"a.b=value"`` overrides (values parsed by `parse_value`)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} needs the form --config.field=value")
        field, text = item.split("=", 1)
        set_field(config, field, parse_value(text))
    return config


# ---------------------------------------------------------------------------- legacy flags


@dataclass(frozen=True)
class LegacyFlag:
    """A command-line flag of a replaced system and the config field it sets.

    kind: ``"bool"`` (presence sets `const`), ``"value"`` (one value), ``"keyvals"``
    (``name=value`` pairs merged into a dict field) or ``"list"`` (one or more values).
    """

    flag: str
    field: str
    kind: str = "value"
    type: Callable[[str], Any] = str
    help: str = ""
    const: Any = True
    choices: tuple = ()

    def __post_init__(self):
        if self.kind not in ("bool", "value", "keyvals", "list"):
            raise ValueError(f"LegacyFlag kind {self.kind!r}: use bool, value, keyvals or list")


def _convert(flag: LegacyFlag, text: str) -> Any:
    try:
        value = flag.type(text)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"flag {flag.flag}: cannot read {text!r} ({err})") from None
    if flag.choices and value not in flag.choices:
        raise ConfigError(f"flag {flag.flag}: {value!r} is not allowed; "
                          f"choose one of {list(flag.choices)}")
    return value


def _usage(prog: str, description: str, legacy: Sequence[LegacyFlag]) -> str:
    lines = [f"usage: {prog} --config PATH [--config.field=value ...] [legacy flags]", ""]
    if description:
        lines += [description, ""]
    lines += ["  --config PATH            config file defining get_config()",
              "  --config.a.b=value       override one config field", ""]
    if legacy:
        lines.append("legacy flags:")
    for f in legacy:
        arg = {"bool": "", "value": " V", "keyvals": " name=V ...", "list": " V ..."}[f.kind]
        choice = f" {{{','.join(map(str, f.choices))}}}" if f.choices else ""
        lines.append(f"  {f.flag + arg + choice:<24} {f.help} -> config.{f.field}")
    return "\n".join(lines)


def _valid_flags(legacy: Sequence[LegacyFlag]) -> str:
    return ", ".join(["--config", "--config.<field>=<value>"] + [f.flag for f in legacy])


def parse_command_line(argv: Sequence[str], *, default_config: str | None = None,
                       legacy: Sequence[LegacyFlag] = (), prog: str = "",
                       description: str = "",
                       loaders: Mapping[str, Callable[[str], ml_collections.ConfigDict]]
                       | None = None) -> ml_collections.ConfigDict:
    """Build the run's config from `argv`: file, then legacy flags, then ``--config.*``.

    `loaders` maps a file suffix (``".yml"``) to a function reading such a config file
    (e.g. a peer system's YAML schema); other files are ``.py`` configs (`load_config`).

    Raises ConfigError for an unknown or malformed flag (listing the valid ones) and
    SystemExit(0) after printing usage for ``-h``/``--help``.
    """
    argv = list(argv)
    prog = prog or Path(sys.argv[0]).name
    by_name = {f.flag: f for f in legacy}
    config_path, overrides, legacy_values = default_config, [], []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            print(_usage(prog, description, legacy))
            raise SystemExit(0)
        name, eq, inline = arg.partition("=")
        if name == "--config":
            if eq:
                config_path = inline
            elif i + 1 < len(argv):
                config_path, i = argv[i + 1], i + 1
            else:
                raise ConfigError("--config needs a path to a config file")
        elif name.startswith("--config."):
            if not eq:
                raise ConfigError(f"{arg!r} needs a value: {name}=VALUE")
            overrides.append(f"{name[len('--config.'):]}={inline}")
        elif name in by_name:
            flag = by_name[name]
            values = [inline] if eq else []
            if flag.kind == "bool":
                if eq:
                    raise ConfigError(f"flag {name} takes no value (got {inline!r})")
            elif not eq:
                while i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                    values.append(argv[i + 1])
                    i += 1
                    if flag.kind == "value":
                        break
                if not values:
                    raise ConfigError(f"flag {name} needs a value; see --help")
            legacy_values.append((flag, values))
        else:
            raise ConfigError(f"unknown flag {arg!r}; valid flags: {_valid_flags(legacy)}")
        i += 1
    if config_path is None:
        raise ConfigError("no config given; pass --config configs/<area>/<name>.py")
    loader = (loaders or {}).get(Path(config_path).suffix.lower(), load_config)
    config = loader(config_path)
    for flag, values in legacy_values:
        _apply_legacy(config, flag, values)
    apply_overrides(config, overrides)
    return config


def _apply_legacy(config: ml_collections.ConfigDict, flag: LegacyFlag,
                  values: list[str]) -> None:
    if flag.kind == "bool":
        set_field(config, flag.field, flag.const, create=True)
    elif flag.kind == "value":
        set_field(config, flag.field, _convert(flag, values[0]), create=True)
    elif flag.kind == "list":
        set_field(config, flag.field, [_convert(flag, v) for v in values], create=True)
    else:
        pairs = {}
        for item in values:
            key, eq, text = item.partition("=")
            if not eq or not key:
                raise ConfigError(f"flag {flag.flag}: {item!r} is not of the form name=value "
                                  f"(e.g. {flag.flag} vp=10.0)")
            pairs[key] = _convert(flag, text)
        try:
            current = get_field(config, flag.field)
        except ConfigError:
            current = None
        merged = dict(current.to_dict() if isinstance(current, ml_collections.ConfigDict)
                      else current or {})
        merged.update(pairs)
        set_field(config, flag.field, merged, create=True)


# ---------------------------------------------------------------------------- validation


def check_choice(config: ml_collections.ConfigDict, field: str, allowed: Sequence) -> Any:
    """Field value must be one of `allowed`."""
    value = get_field(config, field)
    if value not in allowed:
        raise ConfigError(f"config.{field} = {value!r} is not allowed; "
                          f"choose one of {list(allowed)}")
    return value


def check_positive(config: ml_collections.ConfigDict, field: str) -> Any:
    """Field value must be a number > 0."""
    value = get_field(config, field)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"config.{field} = {value!r} is not allowed; it must be a number > 0")
    return value


def check_range(config: ml_collections.ConfigDict, field: str, lo: float, hi: float) -> Any:
    """Field value must lie in [lo, hi]."""
    value = get_field(config, field)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise ConfigError(f"config.{field} = {value!r} is not allowed; it must lie in "
                          f"[{lo}, {hi}]")
    return value


def check_type(config: ml_collections.ConfigDict, field: str, types: type | tuple) -> Any:
    """Field value must be an instance of `types`."""
    value = get_field(config, field)
    if not isinstance(value, types):
        names = [t.__name__ for t in (types if isinstance(types, tuple) else (types,))]
        raise ConfigError(f"config.{field} = {value!r} is not allowed; expected {names}")
    return value


# ---------------------------------------------------------------------------- saving


def to_plain(config: ml_collections.ConfigDict | dict) -> dict:
    """A JSON-serialisable dict (tuples become lists, numpy scalars become numbers)."""
    raw = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
    return json.loads(json.dumps(raw, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    return str(obj)


def save_config(config: ml_collections.ConfigDict | dict,
                directory: str | os.PathLike) -> Path:
    """Write the resolved config as ``config.json`` and ``config.yaml`` in `directory`."""
    plain = to_plain(config)
    directory = Path(directory)
    write_text(directory / "config.yaml", yaml.safe_dump(plain, sort_keys=True))
    return write_text(directory / "config.json", json.dumps(plain, indent=2,
                                                                   sort_keys=True))
