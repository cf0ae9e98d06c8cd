"""The ``[cabin]`` section refuses what cannot work, naming the key and the value, and the
cabin profile is what a cab needs: one face, the driver, and the alerts on."""

from __future__ import annotations

from pathlib import Path

import pytest

from microemo.config import ConfigError, load_config

PROFILE = Path(__file__).resolve().parents[2] / "firmware_config" / "cabin.toml"


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('events = ["nap"]', "cabin.events.0 = 'nap'"),
        ("microsleep_ms = 50.0", "cabin.microsleep_ms = 50.0"),
        ("closed_below = 1.5", "cabin.closed_below = 1.5"),
        ('faces = "nearest"', "cabin.faces = 'nearest'"),
        ("microslep_ms = 900.0", "did you mean `cabin.microsleep_ms`"),
        ('cone_yaw_deg = "30"', "written without quotes"),
    ],
)
def test_a_bad_cabin_value_is_refused_by_name(tmp_path: Path, text: str, names: str) -> None:
    p = tmp_path / "cab.toml"
    p.write_text(f"[cabin]\n{text}\n")
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(p) in str(err.value) and names in str(err.value)


def test_the_cabin_profile_watches_the_driver_with_the_alerts_on() -> None:
    config = load_config(PROFILE)
    assert config.landmarker.num_faces == 1 and config.cabin.faces == "largest"
    assert set(config.cabin.events) == {"microsleep", "yawn", "distraction"}
    assert config.mqtt.enabled and config.cabin.enabled


def test_by_default_the_readings_are_measured_and_no_alert_is_sent() -> None:
    config = load_config(None)
    assert config.cabin.enabled and config.cabin.events == []
