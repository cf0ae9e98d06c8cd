"""End to end: a generated clip with a known micro-expression on a real face (a smile at the
source rate, a frown at 100 fps) goes through the device pipeline, which must spot it
(IoU >= 0.5) and name the AU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microemo.assets import find_asset

pytest.importorskip("scipy")
from microemo.config import Config
from microemo_train.spotting.record import landmarks, spot_clip, spot_recorded
from microemo_train.spotting.score import iou, match, prf, score_clip
from microemo_train.spotting.synth import Episode, SourceClip, write_clip

CLIP = Path(__file__).resolve().parents[1] / "data" / "crema_d" / "clips" / "1001_DFA_NEU_XX.flv"


@pytest.fixture(scope="module")
def source() -> SourceClip:
    try:
        find_asset("face_landmarker.task")
    except Exception as exc:  # pragma: no cover - set-up problem, not a test result
        pytest.skip(f"landmarker model missing: {exc}")
    return SourceClip.load(CLIP)


# At 2.2 s the actor's head is still; at 3.0 s it nods by 4 degrees, and a rise during a
# head turn is rightly refused (the landmarker's AUs follow the pose there).
@pytest.mark.parametrize(("rate", "au"), [("source", "AU12"), ("100fps", "AU04")])
def test_pipeline_spots_a_generated_micro_expression(
    source: SourceClip, tmp_path: Path, rate: str, au: str
) -> None:
    fps = source.fps if rate == "source" else 100.0
    ep = Episode(2200.0, 2350.0, 2650.0, {au: 1.6}, intensity="clear")
    out = tmp_path / f"{au}_{fps:.0f}.avi"
    labels = write_clip(source, out, fps, 4500.0, [ep])

    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["fps"] == fps and saved["episodes"][0]["aus"] == {au: 1.6}
    assert saved["episodes"][0]["kind"] == "micro"
    assert saved["episodes"][0]["onset_frame"] == round(2200.0 * fps / 1000)

    ends = spot_clip(out)
    hits = [e for e in ends if iou((e["onset_ms"], e["offset_ms"]), (2200.0, 2650.0)) >= 0.5]
    assert len(hits) == 1, ends
    assert au in [a["au"] for a in hits[0]["aus"]]
    assert hits[0]["kind"] == "micro"
    assert score_clip(labels, ends)["tp"] == 1


# While he talks (the sentence runs from 0.3 s to 2 s): the corners pulled down at 1.5 s, at
# the source rate and at 100 fps. The speech hold kept every mouth AU out of episodes there
# (both fail on main before the mouth's flow channels); those channels carry them now.
# The chin raised without the jaw (AU17) too: it fails without the jaw line's flow (the
# chin's motion is then predicted from the lips alone, and speech's jaw hides it).
@pytest.mark.parametrize(
    ("rate", "au", "onset"),
    [
        ("source", "AU15", 1500.0),
        ("100fps", "AU15", 1500.0),
        ("source", "AU17", 1500.0),
        ("100fps", "AU17", 1500.0),
    ],
)
def test_a_mouth_micro_expression_during_speech_is_spotted(
    source: SourceClip, tmp_path: Path, rate: str, au: str, onset: float
) -> None:
    fps = source.fps if rate == "source" else 100.0
    ep = Episode(onset, onset + 150.0, onset + 450.0, {au: 1.6}, intensity="clear")
    out = tmp_path / f"{au}_{fps:.0f}.avi"
    write_clip(source, out, fps, onset + 2000.0, [ep])
    ends = spot_clip(out)
    hits = [e for e in ends if iou((e["onset_ms"], e["offset_ms"]), (onset, onset + 450.0)) >= 0.5]
    assert len(hits) == 1, ends
    assert au in [a["au"] for a in hits[0]["aus"]]
    assert len(ends) == 1, ends  # nothing else: the talking around it is not an expression


@pytest.mark.parametrize("rate", ["source", "100fps"])
def test_an_untouched_talking_face_gives_no_episode(
    source: SourceClip, tmp_path: Path, rate: str
) -> None:
    fps = source.fps if rate == "source" else 100.0
    out = tmp_path / f"untouched_{fps:.0f}.avi"
    write_clip(source, out, fps, 6000.0 if rate == "source" else 3000.0, [])
    assert spot_clip(out) == []


# The brows raised and held from 0.7 s to 3.7 s (raised cosines half a width apart sum to a
# plateau) and, in the middle, the corners pulled down for 450 ms while he talks. One
# episode per face (spotting.overlap off) found the held raise and nothing inside it.
@pytest.mark.parametrize("rate", ["source", "100fps"])
def test_a_mouth_micro_expression_while_the_brows_hold_a_raise_is_its_own_episode(
    source: SourceClip, tmp_path: Path, rate: str
) -> None:
    fps = source.fps if rate == "source" else 100.0
    brows = {"AU01": 1.6, "AU02": 1.6}
    held = [Episode(t, t + 300.0, t + 600.0, brows, "clear") for t in range(700, 3101, 300)]
    micro = Episode(2000.0, 2150.0, 2450.0, {"AU15": 1.6}, intensity="clear")
    out = tmp_path / f"held_{fps:.0f}.avi"
    write_clip(source, out, fps, 5500.0, [*held, micro])
    recorded = landmarks(out)
    ends = spot_recorded(recorded)
    hits = [e for e in ends if iou((e["onset_ms"], e["offset_ms"]), (2000.0, 2450.0)) >= 0.5]
    assert len(hits) == 1, ends
    assert hits[0]["kind"] == "micro" and hits[0]["regions"] == ["mouth"]
    assert "AU15" in [a["au"] for a in hits[0]["aus"]]
    raise_ = [e for e in ends if e["onset_ms"] < 1000.0 and e["offset_ms"] > 3000.0]
    assert len(raise_) == 1 and raise_[0]["kind"] == "macro", ends  # the held raise still is
    assert len({e["id"] for e in ends}) == len(ends)  # one end each, nothing twice
    one = Config()
    one.spotting.overlap = False
    assert not any(
        iou((e["onset_ms"], e["offset_ms"]), (2000.0, 2450.0)) >= 0.5
        for e in spot_recorded(recorded, one)
    )


def test_megc_matching_counts_each_truth_once() -> None:
    truth = [{"onset_ms": 0.0, "offset_ms": 300.0}, {"onset_ms": 1000.0, "offset_ms": 1400.0}]
    spots = [
        {"onset_ms": 20.0, "offset_ms": 290.0},  # IoU 0.9
        {"onset_ms": 50.0, "offset_ms": 300.0},  # second hit on the same truth: a FP
        {"onset_ms": 1300.0, "offset_ms": 1900.0},  # IoU 0.14: a FP and a miss
    ]
    pairs = match(truth, spots)
    assert pairs == [(0, 0)]
    assert prf(len(pairs), len(spots), len(truth))["f1"] == pytest.approx(0.4)
