"""Config files, --config.* overrides, legacy flags, validation and saving."""

import json
import textwrap

import ml_collections
import pytest
import yaml

from jaxgeo.core.config import (
    ConfigError,
    LegacyFlag,
    check_choice,
    check_positive,
    check_range,
    parse_command_line,
    save_config,
)

LEGACY = (
    LegacyFlag("--opt", "optim.name", "value", choices=("adam", "sd", "cg")),
    LegacyFlag("--lr", "optim.lr", "keyvals", type=float),
    LegacyFlag("--loss", "loss", "keyvals"),
    LegacyFlag("--grad-cut", "grad.cut", "bool"),
    LegacyFlag("--clipvalue", "grad.clipvalue", "value", type=float),
    LegacyFlag("--bands", "bands", "list", type=float),
)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text(textwrap.dedent("""
        import ml_collections

        def get_config():
            c = ml_collections.ConfigDict()
            c.nt = 1000
            c.dt = 0.001
            c.name = "demo"
            c.optim = ml_collections.ConfigDict(dict(name="sd", lr={"vp": 1.0}))
            c.grad = ml_collections.ConfigDict(dict(cut=False, clipvalue=0.01))
            c.loss = {"vp": "l1"}
            c.bands = [2.0]
            return c
    """))
    return path


def test_file_overrides_and_legacy_flags(config_file):
    argv = ["--config", str(config_file), "--config.nt=500", "--config.dt=2e-4",
            "--config.name=marmousi", "--opt", "adam", "--lr", "vp=10.0", "vs=5.78",
            "--loss", "vp=l2", "--grad-cut", "--clipvalue=0.02", "--bands", "3", "5", "8"]
    config = parse_command_line(argv, legacy=LEGACY)
    expected = {
        "nt": 500, "dt": 2e-4, "name": "marmousi",
        "optim": {"name": "adam", "lr": {"vp": 10.0, "vs": 5.78}},
        "grad": {"cut": True, "clipvalue": 0.02},
        "loss": {"vp": "l2"},
        "bands": [3.0, 5.0, 8.0],
    }
    assert config.to_dict() == expected
    assert isinstance(config.optim.lr, ml_collections.ConfigDict)


def test_override_wins_over_legacy_flag(config_file):
    config = parse_command_line([f"--config={config_file}", "--opt", "cg",
                                 "--config.optim.name=adam"], legacy=LEGACY)
    assert config.optim.name == "adam"


def test_unknown_field_names_field(config_file):
    with pytest.raises(ConfigError, match="optim.momentum"):
        parse_command_line(["--config", str(config_file), "--config.optim.momentum=0.9"])


def test_unknown_flag_lists_valid_flags(config_file):
    with pytest.raises(ConfigError) as err:
        parse_command_line(["--config", str(config_file), "--grad-cutt"], legacy=LEGACY)
    assert "--grad-cutt" in str(err.value) and "--grad-cut" in str(err.value)
    assert "--clipvalue" in str(err.value)


@pytest.mark.parametrize("argv, match", [
    (["--opt", "rmsprop"], "choose one of"),
    (["--lr", "vp10"], "name=value"),
    (["--clipvalue", "abc"], "--clipvalue"),
    (["--clipvalue"], "needs a value"),
    (["--config.nt=fast"], "nt"),
])
def test_malformed_flags(config_file, argv, match):
    with pytest.raises(ConfigError, match=match):
        parse_command_line(["--config", str(config_file), *argv], legacy=LEGACY)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        parse_command_line(["--config", str(tmp_path / "nope.py")])


def test_help_lists_flags(config_file, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_command_line(["--help"], legacy=LEGACY)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in LEGACY:
        assert flag.flag in out and flag.field in out


def test_validation_helpers_name_field_value_and_allowed(config_file):
    config = parse_command_line(["--config", str(config_file)])
    with pytest.raises(ConfigError, match=r"optim\.name = 'sd'.*\['adam', 'cg'\]"):
        check_choice(config, "optim.name", ["adam", "cg"])
    config.nt = -3
    with pytest.raises(ConfigError, match=r"config\.nt = -3"):
        check_positive(config, "nt")
    with pytest.raises(ConfigError, match=r"grad\.clipvalue = 0\.01.*\[0\.1, 1\]"):
        check_range(config, "grad.clipvalue", 0.1, 1)


def test_save_config_json_and_yaml(config_file, tmp_path):
    config = parse_command_line(["--config", str(config_file), "--lr", "vs=2.5"],
                                legacy=LEGACY)
    out = tmp_path / "run"
    save_config(config, out)
    assert json.loads((out / "config.json").read_text()) == config.to_dict()
    assert yaml.safe_load((out / "config.yaml").read_text()) == config.to_dict()
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "config.yaml"]
