"""Why a generated episode was missed: each reason, from what the spotter saw."""

from __future__ import annotations

import numpy as np
import pytest

from microemo.config import Config
from microemo.emotion.spot_signal import N_AU, N_CH
from microemo.types import AU_INDEX, FLOW_AUS
from microemo_train.spotting.why import REASONS, Probe, explain, markdown, summarize_missed

SMILE = N_AU + FLOW_AUS.index("AU12")  # the corners' optical-flow channel
CHIN = AU_INDEX[17]  # an intensity the speech hold covers
FPS = 30.0


def _probe(seconds: float = 8.0) -> Probe:
    probe = Probe(Config())
    n = int(seconds * FPS)
    probe.t = list(np.arange(n) * 1000.0 / FPS)
    probe.ratio = [np.zeros(N_CH, np.float32) for _ in range(n)]
    probe.speech = [False] * n
    probe.gate = [False] * n
    probe.held = [np.zeros(N_CH, bool) for _ in range(n)]
    probe.pose = [np.zeros(3, np.float32) for _ in range(n)]
    return probe


def _frames(probe: Probe, start_ms: float, end_ms: float) -> list[int]:
    return [i for i, t in enumerate(probe.t) if start_ms <= t <= end_ms]


def _truth(onset: float, aus: tuple[str, ...] = ("AU12",)) -> dict:
    return {"onset_ms": onset, "offset_ms": onset + 400, "aus": list(aus), "intensity": "clear"}


def test_each_missed_episode_gets_the_reason_the_spotter_had() -> None:
    probe = _probe()
    truth = [_truth(t) for t in (300, 1300, 2300, 3300, 4300, 5300)] + [
        _truth(6300, ("AU17",)),
    ]
    for i in _frames(probe, 1400, 1600):  # under the bar: at most 0.7 of it
        probe.ratio[i][SMILE] = 0.7
    for i in _frames(probe, 2400, 2600):  # over it, but the mouth was held by an episode
        probe.ratio[i][SMILE] = 1.6
        probe.held[i][SMILE] = True
    for i in _frames(probe, 3400, 3600):  # over it for long enough while the head turned
        probe.ratio[i][SMILE] = 1.6
        probe.pose[i][1] = 0.2
    probe.ratio[_frames(probe, 4450, 4500)[0]][SMILE] = 1.6  # over it for one frame
    for i in _frames(probe, 5400, 5600):  # over it, free and still: no episode began
        probe.ratio[i][SMILE] = 1.6
    for i in _frames(probe, 6400, 6600):  # only the chin's intensity, while the lips talked
        probe.ratio[i][CHIN] = 1.6
        probe.speech[i] = True
    ends = [  # the first one found; one that began with the second, too long
        {"onset_ms": 290, "offset_ms": 700, "kind": "micro", "aus": [{"au": "AU12"}]},
        {"onset_ms": 1250, "offset_ms": 2900, "kind": "macro", "aus": [{"au": "AU12"}]},
    ]
    hit = [True] + [False] * 6
    truth.insert(2, _truth(1250))  # the overlapping spot: mistimed, IoU 400/1650
    hit.insert(2, False)
    for i in _frames(probe, 1300, 1500):
        probe.ratio[i][SMILE] = 0.7

    missed = explain(truth, ends, hit, probe)

    reasons = [m["reason"] for m in missed]
    assert reasons == [
        "mistimed",  # 1300: the long spot overlaps it and names AU12, IoU 400 / 1600
        "mistimed",  # 1250: the same spot, the same IoU
        "region held",
        "head turned",
        "too brief",
        "no start",
        "speech",
    ]
    assert missed[0]["iou"] == pytest.approx(400 / 1650, abs=0.01)
    assert {m["onset_ms"] for m in missed} == {t["onset_ms"] for t, h in zip(truth, hit) if not h}


def test_a_smile_under_the_bar_reports_how_close_it_came_and_a_lost_face_is_named() -> None:
    probe = _probe(3.0)
    for i in _frames(probe, 1100, 1300):
        probe.ratio[i][SMILE] = 0.7
    (missed,) = explain([_truth(1000)], [], [False], probe)
    assert missed["reason"] == "under the bar" and missed["peak"] == pytest.approx(0.7)
    # after the face was lost (the probe's frames end at 3 s) there is nothing to measure
    assert explain([_truth(3500)], [], [False], probe)[0]["reason"] == "no face"
    # a spot of another expression around it (began long before, names none of its AUs)
    around = {"onset_ms": 0, "offset_ms": 2500, "kind": "macro", "aus": [{"au": "AU04"}]}
    assert explain([_truth(1000)], [around], [False], probe)[0]["reason"] == "under the bar"


def test_missed_episodes_are_counted_by_reason_per_au_set_and_intensity() -> None:
    rows = [
        {"missed": [{"aus": "AU12", "intensity": "clear", "reason": "under the bar", "peak": 0.8}]},
        {"missed": [{"aus": "AU12", "intensity": "clear", "reason": "head turned", "peak": 1.2}]},
        {
            "missed": [
                {"aus": "AU15", "intensity": "medium", "reason": "under the bar", "peak": 0.5}
            ]
        },
    ]
    summary = summarize_missed(rows)
    assert summary["AU12/clear"]["missed"] == 2
    assert summary["AU12/clear"]["under the bar"] == 1
    assert summary["AU12/clear"]["head turned"] == 1
    assert summary["AU12/clear"]["median_peak_under_bar"] == 0.8
    assert set(REASONS) <= set(summary["AU15/medium"])
    table = "\n".join(markdown(summary))
    assert "| AU12/clear | 2 | 0 | 0 | 1 (0.80) |" in table
