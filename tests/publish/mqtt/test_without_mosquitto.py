"""`make test` on a machine without Mosquitto: the broker tests skip, each with the line that
says how to install it, and the report says so before any test runs. (The suite is run
again in a subprocess that finds no Mosquitto program: ``MOSQUITTO_DIR`` names an empty
folder.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_broker_tests_skip_with_how_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "no-mosquitto"
    empty.mkdir()
    env = {**os.environ, "MOSQUITTO_DIR": str(empty)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "-m",
            "broker",
            "-rs",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = run.stdout
    assert run.returncode == 0, out[-3000:]
    summary = out.strip().splitlines()[-1]
    skipped = int(re.search(r"(\d+) skipped", summary).group(1))
    assert skipped >= 15 and "failed" not in summary and "error" not in summary, summary
    hint = "sudo apt-get install mosquitto mosquitto-clients"
    first_result = re.search(r"^tests\S+ s+", out, re.M)
    assert first_result is not None and out.index(hint) < first_result.start()  # said first
    reasons = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert reasons and all(hint in line for line in reasons)
