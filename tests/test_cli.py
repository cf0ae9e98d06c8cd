"""The command registry: a subcommand whose optional library is missing is listed but
unavailable; a module of our own that fails to import is a failure, never a silent gap."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from microemo.cli import build_parser, dispatch


def test_a_missing_module_of_our_own_raises() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"microemo\.no_such_command"):
        build_parser([], {"ghost": "microemo.no_such_command"})


def test_a_missing_third_party_library_leaves_the_command_unavailable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "needs_lib_cmd.py").write_text(
        "import no_such_library_xyz\n\ndef add_parser(sub):\n    sub.add_parser('fancy')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    commands = {"fancy": "needs_lib_cmd", "events": "microemo.publish.mqtt.watch"}
    caplog.set_level(logging.WARNING, logger="microemo.cli")
    parser = build_parser([], commands)
    assert "fancy: not available here (no_such_library_xyz is not installed)" in caplog.text
    with pytest.raises(SystemExit) as exit_:
        dispatch(parser, ["fancy"])
    assert exit_.value.code == 2
    assert "fancy: not available in this install" in capsys.readouterr().err
    # the other commands are all there
    assert parser.parse_args(["events", "--host", "h"]).func is not None
