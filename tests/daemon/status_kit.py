"""Helpers of the status page tests: plain HTTP requests, a daemon running in a thread, and a
real headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium)."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from microemo.daemon.service import Daemon

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_HINT = "needs Chromium: apt-get install chromium chromium-driver (see .ci/run)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def get(url: str, user: str | None = None, password: str | None = None) -> Reply:
    """GET ``url`` (with basic auth when ``password``); any status is returned, not raised."""
    req = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def sse_events(url: str, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The first ``n`` ``status`` events of the server-sent event stream at ``url``."""
    out: list[dict[str, Any]] = []
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.headers["Content-Type"] == "text/event-stream"
        kind = None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "status":
                out.append(json.loads(line[6:]))
                if len(out) == n:
                    return out
    return out


@contextlib.contextmanager
def running(daemon: Daemon) -> Iterator[Daemon]:
    """``daemon`` started and turning in a thread; stopped (and waited for) on exit."""
    daemon.start()
    runner = threading.Thread(target=daemon.run, name="daemon")
    runner.start()
    try:
        yield daemon
    finally:
        daemon.request_stop("test over")
        runner.join(30)
        assert not runner.is_alive(), "the daemon did not stop"


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A real headless Chromium with an empty profile and no network of its own."""
    webdriver = pytest.importorskip("selenium.webdriver", reason=BROWSER_HINT)
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(BROWSER_HINT)
    profile = tempfile.mkdtemp(prefix="microemo-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,1100",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_page(driver: Any, cond: Any, timeout: float = 30.0) -> Any:
    """Wait until ``cond(driver)`` is truthy (Selenium's WebDriverWait), and return it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(cond)


def text(driver: Any, element_id: str) -> str:
    return str(driver.find_element("id", element_id).text)


# What the page shows, read in one go from the rendered DOM (the page redraws twice a second:
# elements looked up one by one may be replaced in between). Widths are the laid-out ones.
READ_PAGE = """
const txt = (id) => document.getElementById(id).textContent.trim();
const ids = ["fps", "frames", "dropped", "latency", "workers", "camera", "broker", "spool",
             "face-count", "events", "model", "conn", "device"];
const faces = [...document.querySelectorAll("[data-face-id]")].map((card) => ({
  id: card.dataset.faceId,
  emotion: card.querySelector(".emotion").textContent,
  bars: Object.fromEntries([...card.querySelectorAll("[data-au]")].map((f) => [f.dataset.au,
    f.getBoundingClientRect().width / f.parentElement.getBoundingClientRect().width])),
  extras: Object.fromEntries([...card.querySelectorAll("[data-extra]")].map((t) =>
    [t.dataset.extra, Object.fromEntries([...t.querySelectorAll("tr")].map((r) =>
      [r.querySelector("th").textContent, r.querySelector("td").textContent]))])),
}));
const img = document.getElementById("preview");
const shown = (id) => {
  const e = document.getElementById(id);
  return !e.hidden && e.offsetParent !== null;
};
return {
  figures: Object.fromEntries(ids.map((id) => [id, txt(id)])),
  faces,
  episodes: [...document.querySelectorAll("#episodes tr[data-episode]")].map((r) =>
    [...r.children].map((c) => c.textContent)),
  notice: shown("notice") ? txt("notice") : null,
  preview_off: shown("preview-off"),
  preview_width: shown("preview") ? img.naturalWidth : 0,
};
"""


def read_page(driver: Any) -> dict[str, Any]:
    return dict(driver.execute_script(READ_PAGE))
