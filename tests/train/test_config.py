"""The training configuration: keys checked by name before anything runs."""

from __future__ import annotations

import pytest

from prodint.train.config import (
    KEYS,
    TrainConfig,
    apply_overrides,
    config_from_mapping,
    load_config,
)


def test_a_toml_file_with_overrides(tmp_path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('task = "copy"\nmixer = "glu"\nsteps = 40\nlr = 1e-3\n')
    table = apply_overrides(load_config(path), ["steps=12", "sparse=true", "mixer=conv",
                                                'dtype="float64"'])
    config = config_from_mapping(table)
    assert (config.task, config.mixer, config.steps, config.lr, config.sparse,
            config.dtype) == ("copy", "conv", 12, 1e-3, True, "float64")
    assert config_from_mapping(config.as_dict()) == config
    assert set(config.as_dict()) == set(KEYS)


@pytest.mark.parametrize("table,error,match", [
    ({"stepz": 3}, ValueError, r"^config: expected keys among .* unknown \['stepz'\]"),
    ({"steps": "10"}, TypeError, r"^steps: expected an int"),
    ({"steps": 0}, ValueError, r"^steps:"),
    ({"steps": 2.5}, TypeError, r"^steps:"),
    ({"lr": 0.0}, ValueError, r"^lr:"),
    ({"lr": float("nan")}, ValueError, r"^lr:"),
    ({"schedule": "linear"}, ValueError, r"^schedule:"),
    ({"sparse": 1}, TypeError, r"^sparse:"),
    ({"task": ""}, TypeError, r"^task:"),
    ({"dtype": "float16"}, ValueError, r"^dtype:"),
    ({"seed": -1}, ValueError, r"^seed:"),
])
def test_bad_keys_are_named(table: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        config_from_mapping(table)


def test_bad_files_and_overrides(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"^config: expected a TOML file"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("steps = = 3\n")
    with pytest.raises(ValueError, match=r"^config: expected a readable TOML file"):
        load_config(broken)
    with pytest.raises(ValueError, match=r"^overrides\[0\]: expected key=value"):
        apply_overrides({}, ["steps"])
    with pytest.raises(ValueError, match=r"^overrides\[0\]: expected a key among"):
        apply_overrides({}, ["stepz=3"])
    with pytest.raises(TypeError, match=r"^config:"):
        config_from_mapping(["steps"])  # type: ignore[arg-type]
    assert TrainConfig().steps == 200
