"""Config files that cannot be used are refused with exit 2 and one line naming the file and
what to do: a folder, an unreadable or non-UTF-8 file, a password typed into the file, a value
of the wrong TOML type (strict types: `port = "18830"` is a mistake, not a number)."""

from __future__ import annotations

import os
import shutil

import pytest
from config_kit import CLIP, clip_config, microemo, refused, write

# -- files that cannot be read -----------------------------------------------------------


def test_a_folder_is_named_and_the_file_asked_for(tmp_path):
    line = refused(microemo("config", "check", str(tmp_path)), tmp_path)
    assert "is a folder" in line and "give the TOML file" in line


def test_a_file_not_in_utf8_is_named_with_the_byte(tmp_path):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes('[device]\nid = "café"\n'.encode("latin-1"))
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert "not UTF-8" in line and "0xe9" in line and "save it as UTF-8" in line


def test_an_unreadable_file_says_whose_permission_is_missing(tmp_path):
    cfg = clip_config(tmp_path)
    cfg.chmod(0o000)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:  # root reads anything: ask without the capabilities that allow it
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux)")
        prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")
    line = refused(microemo("config", "check", str(cfg), prefix=prefix), cfg)
    assert "permission denied" in line and "chmod" in line


def test_a_password_key_points_to_the_credential_file(tmp_path):
    cfg = write(tmp_path, '[mqtt]\nenabled = true\nusername = "cabin"\npassword = "hunter2"\n')
    result = microemo("config", "check", str(cfg))
    assert result.returncode == 2 and "hunter2" not in result.stderr
    assert "mqtt.password: secrets never go in the config file" in result.stderr
    assert "/etc/microemo/mqtt_password" in result.stderr
    assert "MICROEMO_MQTT_PASSWORD" in result.stderr


# -- values of the wrong type --------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "shown"),
    [
        ('[mqtt]\nport = "18830"\n', "mqtt.port = '18830'"),
        ('[source]\nrealtime = "false"\n', "source.realtime = 'false'"),
        ('[daemon]\nbudget_ms = "40"\n', "daemon.budget_ms = '40'"),
        ("[landmarker]\nnum_faces = 2.0\n", "landmarker.num_faces = 2.0"),
    ],
)
def test_a_value_of_the_wrong_toml_type_is_refused(tmp_path, toml, shown):
    cfg = write(tmp_path, toml)
    result = microemo("config", "check", str(cfg))
    assert result.returncode == 2, result.stdout
    assert shown in result.stderr
    if "'" in shown:
        assert "written without quotes" in result.stderr
    run = microemo("run", "--config", str(cfg), "--source", str(CLIP))
    assert run.returncode == 2 and shown in run.stderr


# -- keys an older release wrote -----------------------------------------------------------


def test_a_retired_key_is_ignored_with_a_warning_and_a_typo_is_still_refused(tmp_path):
    """`spotting.min_duration_ms` and `spotting.update_every_ms` were in the config since the
    first release and nothing read them: a config that sets them still starts, told what to
    use instead; a misspelt key is not waved through with them."""
    cfg = clip_config(tmp_path, "[spotting]\nmin_duration_ms = 300.0\nupdate_every_ms = 500.0\n")
    ok = microemo("config", "check", str(cfg))
    assert ok.returncode == 0, ok.stderr
    assert f"{cfg}: spotting.min_duration_ms is retired and ignored" in ok.stderr
    assert "spotting.confirm_ms" in ok.stderr
    assert f"{cfg}: spotting.update_every_ms is retired and ignored" in ok.stderr
    assert "mqtt.state_interval_s" in ok.stderr
    typo = write(tmp_path, "[spotting]\nmin_duration = 300.0\n")
    bad = microemo("config", "check", str(typo))
    assert bad.returncode == 2 and "min_duration" in bad.stderr
