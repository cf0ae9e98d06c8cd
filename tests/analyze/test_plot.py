"""The picture reads at any length: a 2-s clip keeps a column per frame and labels its
episode; ten minutes get round columns of seconds and a bounded number of labels, all inside
the picture. Drawn from the real pipeline's results on the CREMA-D clips (``clip_runs``),
repeated end to end for the long input."""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from tests.conftest import EMOTIONS, ClipRun

from microemo.analyze.plot import LABEL_GID, draw_analysis
from microemo.analyze.timeline import MAX_BINS, MAX_LABELS


def _series(run: ClipRun, offset_s: float = 0.0) -> tuple[list[float], list[Any], list[str]]:
    times, rows, emotions = [], [], []
    for r in run.results:
        times.append(r.t_ms / 1000 + offset_s)
        face = r.faces[0] if r.faces else None
        rows.append(face.intensity if face else np.full(19, np.nan))
        emotions.append(r.emotions.get(face.face_id, {}).get("core", "") if face else "")
    return times, rows, emotions


def _shifted(events: list[dict[str, Any]], offset_s: float) -> list[dict[str, Any]]:
    keys = ("onset_ms", "apex_ms", "offset_ms", "t_ms")
    return [
        {**e, **{k: e[k] + offset_s * 1000 for k in keys if e.get(k) is not None}} for e in events
    ]


def _long(runs: dict[str, ClipRun], seconds: float) -> tuple[Any, ...]:
    """The six clips one after another, again and again, for ``seconds``."""
    times: list[float] = []
    rows: list[Any] = []
    emotions: list[str] = []
    events: list[dict[str, Any]] = []
    offset = 0.0
    while offset < seconds:
        for emo in EMOTIONS:
            t, r, e = _series(runs[emo], offset)
            times += t
            rows += r
            emotions += e
            events += _shifted(runs[emo].events, offset)
            offset = times[-1] + 1 / 29.97
    n = int(np.searchsorted(times, seconds))
    kept = [e for e in events if (e.get("offset_ms") or e["t_ms"]) < seconds * 1000]
    return np.array(times[:n]), np.array(rows[:n]), emotions[:n], kept


def _labels(fig: Any) -> list[Any]:
    return fig.findobj(lambda a: a.get_gid() == LABEL_GID)


def _inside(fig: Any, texts: list[Any]) -> bool:
    """Every text whole inside its axes (not cut at an edge, not out of the picture)."""
    fig.canvas.draw()
    for t in texts:
        box, ext = t.axes.bbox, t.get_window_extent()
        if ext.x0 < box.x0 or ext.x1 > box.x1 or ext.y0 < box.y0 or ext.y1 > box.y1:
            return False
    return True


def test_a_two_second_clip_keeps_its_frames_and_labels_its_episodes(clip_runs):
    run = clip_runs["HAP"]
    ends = [e for e in run.events if e["phase"] == "end"]
    # the brows raised from the start and the smile held with them to the end: one held
    # face, one episode, which names both regions (docs/spotting.md, round 3b)
    assert [e["regions"] for e in ends] == [["brows", "mouth"]]
    times, rows, emotions = _series(run)
    fig = draw_analysis("HAP", np.array(times), np.array(rows), emotions, run.events)
    try:
        labels = _labels(fig)
        assert sorted(t.get_text() for t in labels) == sorted(
            f"{e['core_emotion']}"
            + (f"/{e['micro_emotion']}" if e["micro_emotion"] else "")
            + f" ({e['kind']})"
            for e in ends
        )
        assert "each column is a frame" in fig._suptitle.get_text()
        heat = fig.axes[0]
        assert heat.collections[0].get_array().shape == (19, len(times))  # a column a frame
        assert _inside(fig, labels)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("minutes", [1, 10])
def test_a_long_input_gets_round_columns_and_a_bounded_number_of_labels(clip_runs, minutes):
    times, rows, emotions, events = _long(clip_runs, minutes * 60)
    episodes = sum(1 for e in events if e["phase"] == "end")
    assert episodes > MAX_LABELS * minutes  # most clips spot one
    fig = draw_analysis("long", times, rows, emotions, events)
    try:
        labels = _labels(fig)
        assert 1 <= len(labels) <= MAX_LABELS < episodes
        assert _inside(fig, labels)
        # no pile of text: the figure's words do not grow with the episodes
        words = fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text() and a.get_visible())
        assert len(words) < 150, len(words)
        title = fig._suptitle.get_text()
        assert f"{episodes} episodes" in title
        assert f"the mean over {0.2 if minutes == 1 else 2:g} s" in title
        assert fig.axes[0].collections[0].get_array().shape[1] <= MAX_BINS + 1
    finally:
        plt.close(fig)
