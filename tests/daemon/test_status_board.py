"""The status board (what the frame loop hands the page) and the preview drawing, on real
results: the mesh lands on the face, episodes and event labels stay bounded, per-face extra
state comes through, a reader never waits on a closed board."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from tests.conftest import FakeClock

from microemo.daemon.metrics import Metrics
from microemo.daemon.status.board import STALE_S, StatusBoard, event_labels
from microemo.daemon.status.preview import EDGES_FILE, Preview, draw
from microemo.sources.files import open_file_source
from microemo.types import Frame, FrameResult


def event(i: int, phase: str = "end", emotion: str = "happiness") -> dict:
    return {
        "id": f"ep-{i}",
        "phase": phase,
        "face_id": 0,
        "kind": "micro",
        "core_emotion": emotion,
        "aus": [{"au": "AU12", "apex_intensity": 2.0}],
    }


def test_episodes_are_kept_newest_first_and_bounded():
    board = StatusBoard(episodes=3)
    for i in range(5):
        board.emit(event(i, "start"))
    board.emit(event(3, "end"))  # an episode's later step replaces its line
    status = board.publish({"fps": 1.0}, Metrics()).status
    assert [(e["id"], e["phase"]) for e in status["episodes"]] == [
        ("ep-3", "end"),
        ("ep-4", "start"),
        ("ep-2", "start"),
    ]
    assert status["episodes"][0]["aus"] == ["AU12"]


def test_event_labels_come_from_small_fixed_sets():
    assert event_labels(event(1)) == ("end", "micro", "happiness")
    odd = {"phase": "restart", "kind": None, "core_emotion": "Face of user 42"}
    assert event_labels(odd) == ("other", "unknown", "other")
    board = StatusBoard()
    for i in range(200):  # a model with its own labels cannot grow the metric
        board.emit(event(i, emotion=f"label-{i}"))
    assert board.publish({}, Metrics()).events == {("end", "micro", "other"): 200}


def test_faces_carry_extra_state_by_name():
    seen: list[FrameResult] = []

    def cabin(result: FrameResult) -> dict:
        seen.append(result)
        return {1: {"perclos": 0.2, "eyes_closed": True}}

    clock = FakeClock(100.0)
    board = StatusBoard(extras={"cabin": cabin}, clock=clock)
    result = FrameResult(frame_index=4, t_ms=40.0)
    result.emotions = {1: {"core": "neutral", "aus": {"AU12": 0.5}}, 2: {"core": "anger"}}
    board.tap(Frame(np.zeros((4, 4, 3), np.uint8), 40.0, 4, captured_at=99.9), result)
    faces = board.publish({}, Metrics()).status["faces"]
    assert faces[0] == {
        "face_id": 1,
        "core": "neutral",
        "aus": {"AU12": 0.5},
        "extra": {"cabin": {"perclos": 0.2, "eyes_closed": True}},
    }
    assert faces[1]["extra"] == {} and seen == [result]  # called at publish, not per frame
    clock.advance(STALE_S + 0.2)  # no frame since (a camera lost): its faces are gone
    assert board.publish({}, Metrics()).status["faces"] == []


def test_a_reader_is_woken_by_a_new_snapshot_and_by_close():
    board = StatusBoard()
    first = board.publish({}, Metrics())
    got = []
    reader = threading.Thread(target=lambda: got.append(board.wait_newer(first.version, 10)))
    reader.start()
    time.sleep(0.05)
    second = board.publish({}, Metrics())
    reader.join(5)
    assert got == [second] and second.version == first.version + 1
    t0 = time.monotonic()
    threading.Timer(0.05, board.close).start()
    assert board.wait_newer(second.version, 10) is None
    assert time.monotonic() - t0 < 5


@pytest.mark.slow
def test_the_mesh_is_drawn_on_the_face_and_nowhere_else(clip, clip_runs):
    run = clip_runs["HAP"]
    k = next(i for i, r in enumerate(run.results) if r.faces)
    result = run.results[k]
    with open_file_source(clip) as source:
        frame = next(f for i, f in enumerate(source) if i == k)
    before = frame.image.copy()
    drawn = draw(frame, result, np.load(EDGES_FILE))
    assert np.array_equal(frame.image, before)  # the frame the loop holds is left alone
    changed = np.any(drawn.astype(int) != frame.image.astype(int), axis=2)
    h, w = changed.shape
    pts = result.faces[0].face.obs.landmarks[:, :2] * (w, h)
    (x0, y0), (x1, y1) = (pts.min(axis=0) - 2).astype(int), (pts.max(axis=0) + 3).astype(int)
    inside = np.zeros_like(changed)
    inside[y0:y1, x0:x1] = True
    label = np.zeros_like(changed)
    label[max(0, y0 - 24) : y0, x0 : x0 + 200] = True  # its name above
    assert changed[label].sum() > 50
    inside |= label
    assert changed[inside].mean() > 0.3  # the mesh covers the face
    assert changed[~inside].sum() == 0  # and only the face

    class Board:
        def latest(self) -> tuple[Frame, FrameResult]:
            return frame, result

    now = [0.0]
    preview = Preview(Board(), fps=2.0, clock=lambda: now[0])  # type: ignore[arg-type]
    jpeg = preview.jpeg()
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8\xff")
    now[0] = 0.1
    assert preview.jpeg() is jpeg and preview.encoded == 1  # pages share one picture
