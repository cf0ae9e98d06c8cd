"""An operator installs or rolls back a model with the command line while the daemon runs on
a real clip: nothing changes until SIGHUP (``systemctl reload``), then the running pipeline
switches to the store's ``current`` without a restart, and frames keep flowing."""

from __future__ import annotations

import threading
from pathlib import Path

from tests.conftest import clip_path, wait_for
from update_kit import Kit, microemo

from microemo.config import load_config
from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon


def test_cli_install_and_rollback_reach_the_running_daemon_on_sighup(
    kit: Kit, tmp_path: Path
) -> None:
    cfg = kit.config_toml(tmp_path / "state")
    cfg.write_text(
        cfg.read_text()
        + f'[source]\ntype = "file"\npath = "{clip_path("NEU")}"\nloop = true\n'
        + f'[output]\njsonl = "{tmp_path / "events.jsonl"}"\n'
    )
    daemon = Daemon(load_config(cfg), config_path=cfg, notifier=Notifier({}))
    daemon.start()
    runner = threading.Thread(target=daemon.run)
    runner.start()

    def running() -> str:
        return str(daemon.pipeline.model_info["version"])

    def frames() -> int:
        return daemon.metrics.processed

    try:
        wait_for(lambda: frames() > 5)
        builtin = running()
        assert builtin not in ("1.0.0", "2.0.0")

        r = microemo("model", "install", str(kit.v1), "--config", str(cfg))
        assert r.returncode == 0 and "systemctl reload microemo" in r.stdout, r.stdout + r.stderr
        seen = frames()
        wait_for(lambda: frames() > seen + 5)
        assert running() == builtin  # installed, not yet taken
        daemon.request_reload()
        wait_for(lambda: running() == "1.0.0")

        assert microemo("model", "install", str(kit.v2), "--config", str(cfg)).returncode == 0
        daemon.request_reload()
        wait_for(lambda: running() == "2.0.0")

        r = microemo("model", "rollback", "--config", str(cfg))
        assert r.returncode == 0 and "now test-core 1.0.0" in r.stdout
        daemon.request_reload()
        wait_for(lambda: running() == "1.0.0")
        seen = frames()
        wait_for(lambda: frames() > seen + 5)  # still classifying after three switches
    finally:
        daemon.request_stop("test")
        runner.join(60)
    assert not runner.is_alive()
