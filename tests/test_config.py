"""Config errors name the file, the key path and the value, and suggest the close match."""

from __future__ import annotations

import pytest

from microemo.config import ConfigError, load_config


def test_typo_in_a_key_is_refused_with_a_suggestion(tmp_path):
    p = tmp_path / "microemo.toml"
    p.write_text("[landmarker]\nnum_face = 3\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    msg = str(err.value)
    assert str(p) in msg and "landmarker.num_face" in msg
    assert "did you mean `landmarker.num_faces`" in msg


def test_out_of_bounds_value_names_key_and_value(tmp_path):
    p = tmp_path / "microemo.toml"
    p.write_text("[au]\ngamma = 7\n")
    with pytest.raises(ConfigError, match=r"au.gamma = 7"):
        load_config(p)


def test_unknown_section_and_bad_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[landmarks]\nnum_faces = 1\n")
    with pytest.raises(ConfigError, match="did you mean `landmarker`"):
        load_config(p)
    p.write_text("[au\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_defaults_and_overrides():
    cfg = load_config(None, {"landmarker.num_faces": 4})
    assert cfg.landmarker.num_faces == 4 and cfg.au.gamma == 1.0
