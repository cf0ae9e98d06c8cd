"""The cabin stage's decisions on readings given frame by frame (30 fps): what a driver, a
dashboard or a fleet manager would see happen. The readings are what the landmarker gives
on real faces (open apertures about 0.29, eyeBlink about 0.12 open and 0.5 shut: measured
on the CREMA-D actor); the whole chain on real clips is in test_cabin_clips."""

from __future__ import annotations

from dataclasses import replace

import pytest

from microemo.cabin.attention import Attention
from microemo.cabin.eyes import Eyes
from microemo.cabin.face import FaceCabin
from microemo.cabin.measure import Reading
from microemo.cabin.mouth import Mouth
from microemo.config_cabin import CabinConfig

STEP = 1000.0 / 30
OPEN = Reading(0.29, 0.29, 0.12, 0.12, 0.01, 0.1, 2.0, -3.0, 0.0, 0.08)
SHUT = replace(OPEN, aperture_l=0.09, aperture_r=0.09, blink_l=0.55, blink_r=0.55)


def frames(seconds: float, start_ms: float = 0.0) -> list[float]:
    return [start_ms + i * STEP for i in range(round(seconds * 30))]


def run_face(script: list[tuple[float, Reading | None]], **cfg: object) -> tuple[FaceCabin, list]:
    """Feed a face (None: not seen on that frame) through ``FaceCabin``; all its steps."""
    config = CabinConfig(**cfg)  # type: ignore[arg-type]
    face = FaceCabin(0, config, "test-abc")
    steps, start = [], 0.0
    for seconds, reading in script:
        times = frames(seconds, start)
        for t in times:
            steps += face.update(t, reading) if reading is not None else face.lost(t)
        start = times[-1] + STEP
    return face, steps


def kinds(steps: list) -> list[tuple[str, str]]:
    return [(s.kind, s.phase) for s in steps]


def test_a_closure_of_a_second_is_a_microsleep_reported_at_the_threshold() -> None:
    face, steps = run_face([(3, OPEN), (1.5, SHUT), (2, OPEN)])
    assert kinds(steps) == [("microsleep", "start"), ("microsleep", "end")]
    start, end = steps
    closed_at = 90 * STEP  # the first shut frame
    assert start.onset_ms == pytest.approx(closed_at)
    assert start.t_ms - (closed_at + 1000.0) < STEP  # at the threshold, not later
    assert end.offset_ms - end.onset_ms == pytest.approx(1500.0, abs=STEP)
    assert start.readings["drowsiness"] == "asleep"
    assert face.eyes.drowsiness(end.t_ms) == "drowsy"  # a microsleep within the last minute


def test_blinks_have_their_duration_and_are_no_microsleep() -> None:
    half = replace(OPEN, aperture_l=0.16, aperture_r=0.16, blink_l=0.35, blink_r=0.35)
    blink = [(0.1, half), (0.1, SHUT), (0.067, half)]
    face, steps = run_face([(2, OPEN), *blink, (3, OPEN), *blink, (2, OPEN)])
    assert kinds(steps) == [("blink", "end"), ("blink", "end")]
    assert all(180 <= s.offset_ms - s.onset_ms <= 320 for s in steps)
    assert face.eyes.blinks == 2 and 180 <= (face.eyes.blink_ms or 0) <= 320


def test_a_lowered_gaze_hovering_half_open_is_no_blink() -> None:
    lowered = replace(OPEN, aperture_l=0.2, aperture_r=0.2, blink_l=0.3, blink_r=0.3)
    hover = [(0.1, lowered), (0.1, replace(lowered, blink_l=0.34, blink_r=0.34))] * 10
    _, steps = run_face([(2, OPEN), *hover, (2, OPEN)])
    assert steps == []


def test_a_face_that_starts_asleep_is_not_taken_for_open() -> None:
    face, steps = run_face([(2.5, SHUT)])
    assert face.eyes.closed and face.eyes.open_l < 0.2
    assert kinds(steps) == [("microsleep", "start")]


def test_perclos_is_the_share_of_the_last_minute_with_the_eyes_closed() -> None:
    script = [(9, OPEN), (0.9, SHUT)] * 6  # 5.4 s closed in 59.4 s, never a microsleep
    face, steps = run_face([*script, (0.6, OPEN)], drowsy_perclos=0.08)
    assert face.eyes.perclos.share == pytest.approx(5.4 / 60, abs=0.01)
    assert face.eyes.drowsiness(60_000) == "drowsy"
    assert "microsleep" not in {s.kind for s in steps}


def test_speech_is_no_yawn_and_a_held_wide_mouth_is() -> None:
    syllables = [(0.17, replace(OPEN, mouth_gap=0.24)), (0.1, replace(OPEN, mouth_gap=0.02))]
    _, talk = run_face([(1, OPEN), *(syllables * 40)])
    assert talk == []
    wide = replace(OPEN, mouth_gap=0.3, smile=0.7)  # read as a smile, but held still
    _, yawn = run_face([(2, OPEN), (2.5, wide), (1, OPEN)])
    assert kinds(yawn) == [("yawn", "start"), ("yawn", "end")]
    assert yawn[0].t_ms - yawn[0].onset_ms == pytest.approx(1500, abs=STEP)
    assert yawn[1].offset_ms - yawn[1].onset_ms == pytest.approx(2500, abs=2 * STEP)


def test_a_laugh_shakes_the_open_mouth_and_is_no_yawn() -> None:
    ha = [(0.067, replace(OPEN, mouth_gap=0.3, smile=0.9)),
          (0.067, replace(OPEN, mouth_gap=0.24, smile=0.9))]  # fmt: skip
    _, steps = run_face([(2, OPEN), *(ha * 25), (1, OPEN)])
    assert steps == []


def turned(yaw: float = 0.0, pitch: float = -3.0) -> Reading:
    return replace(OPEN, head_yaw=yaw, head_pitch=pitch)


def test_looking_away_for_two_seconds_is_a_distraction_and_a_glance_is_not() -> None:
    _, glance = run_face([(3, OPEN), (1.5, turned(45)), (3, OPEN)])
    assert glance == []
    _, steps = run_face([(3, OPEN), (3, turned(45)), (2, OPEN)])
    assert kinds(steps) == [("distraction", "start"), ("distraction", "end")]
    start, end = steps
    assert start.cause == "glance" and start.t_ms - start.onset_ms == pytest.approx(2000, abs=STEP)
    assert end.offset_ms - end.onset_ms == pytest.approx(3000, abs=2 * STEP)
    assert start.readings["attention"] == "distracted"


def test_the_eyes_alone_off_the_road_count_and_a_dropped_head_does() -> None:
    eyes_down = replace(OPEN, iris_y=-0.1)  # eyes lowered about 27 deg, head on the road
    _, lizard = run_face([(3, OPEN), (2.5, eyes_down), (1, OPEN)])
    assert kinds(lizard)[:1] == [("distraction", "start")]
    _, dropped = run_face([(3, OPEN), (2.5, turned(pitch=-40)), (1, OPEN)])
    assert kinds(dropped)[:1] == [("distraction", "start")]


def test_repeated_glances_make_a_time_sharing_distraction() -> None:
    glances = [(1.5, turned(45)), (1.5, OPEN)] * 10  # half of every 3 s away, none 2 s long
    _, steps = run_face([(16, OPEN), *glances])
    starts = [s for s in steps if s.phase == "start"]
    assert starts and all(s.cause == "time_share" for s in starts)


def test_a_lost_face_is_no_face_and_a_turned_away_face_goes_on_being_distracted() -> None:
    face, steps = run_face([(3, OPEN), (3, None)])
    assert steps == []
    assert face.state(6000, driver=True)["attention"] == "no_face"
    assert face.state(6000, driver=True)["eyes_closed"] is None
    _, away = run_face([(3, OPEN), (0.5, turned(50)), (2.5, None)])
    assert kinds(away) == [("distraction", "start")]


def test_a_face_gone_ends_its_open_episodes_where_it_was_last_seen() -> None:
    face, steps = run_face([(3, OPEN), (1.5, SHUT)])
    last = face.last_seen_ms
    ends = face.close(last + 3000)
    assert kinds(steps + ends) == [("microsleep", "start"), ("microsleep", "end")]
    assert ends[0].offset_ms == last and ends[0].ended_by == "face_gone"


def test_the_road_is_learnt_from_where_the_driver_looks_within_half_a_cone() -> None:
    face, _ = run_face([(30, turned(10, -8))])
    assert face.attention.road == pytest.approx([10.0, -8.0], abs=0.2)
    face, _ = run_face([(30, turned(17, 0))])  # no further than half a cone from the setting
    assert face.attention.road[0] == pytest.approx(15.0)
    face, _ = run_face([(30, turned(25, -3))])  # a look that far off is a glance, not the road
    assert face.attention.road == [0.0, 0.0]
    face, _ = run_face([(30, turned(10, -8))], learn_road=False)
    assert face.attention.road == [0.0, 0.0]


def test_the_units_run_alone() -> None:
    """Eyes, mouth and attention each take plain numbers (what the stage feeds them)."""
    cfg = CabinConfig()
    assert Eyes(cfg).update(0.0, (0.29, 0.29), (0.12, 0.12)) == []
    assert Mouth(cfg).update(0.0, 0.0, 0.0) == []
    assert Attention(cfg).update(0.0, OPEN, eyes_open=True) == []
