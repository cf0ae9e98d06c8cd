"""The ``[status]`` section as the owner writes it: off and on localhost by default, a
password only from the credentials, the camera preview refused on the network without one
(by ``config check`` and by ``run``, before any camera opens)."""

from __future__ import annotations

from config_kit import clip_config, microemo, refused, write

from microemo.config import load_config

PREVIEW_OUT = '[status]\nenabled = true\nhost = "0.0.0.0"\npreview = true\n'


def test_off_and_on_this_machine_only_by_default():
    s = load_config(None).status
    assert (s.enabled, s.host, s.preview) == (False, "127.0.0.1", False)


def test_a_password_in_the_file_points_to_the_credential(tmp_path):
    cfg = write(tmp_path, '[status]\nenabled = true\npassword = "hunter2"\n')
    result = microemo("config", "check", "--file-only", str(cfg))
    assert result.returncode == 2 and "hunter2" not in result.stderr
    assert "status.password: secrets never go in the config file" in result.stderr
    assert "/etc/microemo/status_password" in result.stderr
    assert "MICROEMO_STATUS_PASSWORD" in result.stderr


def test_config_check_and_run_refuse_the_preview_on_the_network_without_a_password(
    tmp_path, monkeypatch
):
    monkeypatch.delenv("MICROEMO_STATUS_PASSWORD", raising=False)  # microemo() inherits it
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    cfg = clip_config(tmp_path, PREVIEW_OUT)
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert "status.preview = true on status.host = '0.0.0.0' without a password" in line
    run = microemo("run", "--config", str(cfg))
    assert run.returncode == 2 and "without a password" in run.stderr
    assert "microemo running" not in run.stderr


def test_config_check_says_where_the_page_is_and_whether_it_has_a_password(tmp_path, monkeypatch):
    cfg = clip_config(tmp_path, PREVIEW_OUT.replace("0.0.0.0", "127.0.0.1"))
    result = microemo("config", "check", "--file-only", str(cfg))
    assert "status      http://127.0.0.1:9180/, password not set, camera preview ON" in (
        result.stdout
    )
    monkeypatch.setenv("MICROEMO_STATUS_PASSWORD", "s3cret")
    result = microemo("config", "check", "--file-only", str(clip_config(tmp_path)))
    assert "status      off" in result.stdout and "s3cret" not in result.stdout
    on = clip_config(tmp_path, "[status]\nenabled = true\n")
    result = microemo("config", "check", "--file-only", str(on))
    assert "password from $MICROEMO_STATUS_PASSWORD" in result.stdout
