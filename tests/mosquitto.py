"""Where the broker tests find Mosquitto's programs, and what to do when they are missing.

``$MOSQUITTO_DIR`` (when set) is the only folder searched; otherwise ``PATH`` and the sbin
folders Debian installs the broker in. Without every program in ``TOOLS`` each test marked
``broker`` (or using a broker fixture) is skipped, with one line saying how to install it
(``tests/conftest.py``), instead of failing halfway through a fixture.
"""

from __future__ import annotations

import os
import shutil

TOOLS = ("mosquitto", "mosquitto_passwd", "mosquitto_pub")
BROKER_FIXTURES = frozenset({"broker", "own_broker", "auth_broker"})


def tool(name: str) -> str | None:
    where = os.environ.get("MOSQUITTO_DIR")
    path = (
        where
        if where is not None
        else os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"])
    )
    return shutil.which(name, path=path)


def missing() -> list[str]:
    return [name for name in TOOLS if tool(name) is None]


def install_hint() -> str | None:
    """One line for the test report, or None when Mosquitto is there."""
    gone = missing()
    if not gone:
        return None
    return (
        f"Mosquitto not found ({', '.join(gone)}): the broker tests are skipped. Install it "
        "with `sudo apt-get install mosquitto mosquitto-clients` (as .ci/run does) or set "
        "MOSQUITTO_DIR to the folder holding its programs."
    )
