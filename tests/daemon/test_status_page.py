"""The status page as a person sees it, in a real headless Chromium: the daemon in-process
with a pipeline that reports one face whose AUs move, and per-face extra state (the way the
cabin stage plugs in): the AU bars, the extra key/values, the episodes, the figures."""

from __future__ import annotations

from typing import Any

from daemon_kit import FakePipeline
from status_kit import chromium, free_port, get, read_page, running, text, wait_page
from test_status_server import config
from tests.conftest import wait_for

from microemo.daemon.notify import Notifier
from microemo.daemon.service import Daemon
from microemo.types import AU_NAMES, Frame, FrameResult


class OneFace(FakePipeline):
    """Face 7, smiling more on every frame (AU12 0 -> 5 over 50 frames, then again)."""

    def process(self, frame: Frame) -> FrameResult:
        result = super().process(frame)
        au12 = round((len(self.seen) % 50) / 10.0, 2)
        aus = {name: 0.0 for name in AU_NAMES} | {"AU12": au12, "AU06": 2.5}
        result.emotions[7] = {
            "core": "happiness",
            "core_score": 0.9,
            "core_source": "rules",
            "micro": "excited",
            "micro_rule": "AU12+AU26",
            "aus": aus,
        }
        return result


def cabin(result: FrameResult) -> dict[int, dict[str, Any]]:
    return {7: {"eyes_closed": False, "perclos": 0.125, "attention": "road"}}


def test_the_page_draws_faces_bars_extras_and_episodes(tmp_path, clip):
    d = Daemon(
        config(tmp_path, clip, free_port()),
        notifier=Notifier({}),
        pipeline_factory=lambda c, **kw: OneFace(0.002, event_every=5),
    )
    d.face_extras["cabin"] = cabin
    with running(d), chromium() as browser:
        assert d.status is not None
        url = f"http://127.0.0.1:{d.status.address[1]}/"
        wait_for(lambda: get(url + "api/status").json()["events"] >= 2)
        browser.get(url)
        wait_page(browser, lambda b: read_page(b)["faces"] and text(b, "conn") == "live")
        page = read_page(browser)
        (face,) = page["faces"]
        assert face["id"] == "7" and face["emotion"] == "happiness 0.90 · excited (AU12+AU26)"
        assert list(face["bars"]) == list(AU_NAMES)
        assert abs(face["bars"]["AU06"] - 0.5) < 0.02  # 2.5 on the 0-5 scale: half the track
        assert face["bars"]["AU01"] == 0
        assert face["extras"] == {
            "cabin": {"eyes_closed": "no", "perclos": "0.13", "attention": "road"}
        }
        assert page["episodes"] and page["episodes"][0][2] == "start"
        figures = page["figures"]
        assert figures["broker"] == "off" and figures["face-count"] == "1"
        assert figures["model"] == "fake 0" and figures["device"] == "status-test"
        assert float(figures["fps"]) > 0 and figures["camera"] == "ok"
        assert page["preview_off"] and page["notice"] is None and page["preview_width"] == 0
        # live: the page redraws as the loop hands over new snapshots
        first = int(figures["frames"])
        wait_page(browser, lambda b: int(read_page(b)["figures"]["frames"]) > first + 10)
        browser.save_screenshot(str(tmp_path / "page.png"))
    assert (tmp_path / "page.png").stat().st_size > 10_000
