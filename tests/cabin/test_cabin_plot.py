"""analyze's picture draws the cabin rows under the AUs, on the same time axis, from the
main face's per-frame cabin state: eyes (openness, closed, PERCLOS, yawning, blinks) and
attention (head and gaze angles, distraction); an input without them keeps its layout."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from microemo.analyze.plot import draw_analysis
from microemo.analyze.plot_cabin import SERIES, cabin_row


def state(t: float) -> dict:
    closed = 4.0 <= t < 5.5
    return {"eye_open_l": 0.05 if closed else 0.95, "eye_open_r": 0.1 if closed else 0.9,
            "eyes_closed": closed, "yawning": 7 <= t < 10, "perclos": 0.02 * (t > 5),
            "head_yaw": 45.0 if 11 <= t < 14 else 2.0, "head_pitch": -5.0, "gaze_yaw": 2.0,
            "gaze_pitch": -5.0,
            "attention": "distracted" if 12 <= t < 14 else "attentive"}  # fmt: skip


def test_the_picture_has_the_cabin_rows_on_the_time_axis() -> None:
    times = np.arange(0, 15, 1 / 30)
    rows = np.array([cabin_row(state(t)) for t in times])
    assert rows.shape == (len(times), len(SERIES))
    assert rows[int(4.5 * 30), SERIES.index("eyes_closed")] == 1.0
    assert np.isnan(cabin_row({"eye_open_l": None})).all()  # face not seen: a gap
    au = np.full((len(times), 19), 1.0)
    blink = [{"schema": "microemo.cabin/1", "kind": "blink", "phase": "end", "onset_ms": 2000.0,
              "offset_ms": 2150.0}]  # fmt: skip
    fig = draw_analysis("drive", times, au, ["neutral"] * len(times), [], cabin=rows,
                        cabin_events=blink)  # fmt: skip
    try:
        labels = {ax.get_ylabel() for ax in fig.axes}
        assert {"eyes", "degrees"} <= labels
        bottom = min(fig.axes, key=lambda ax: ax.get_position().y0)
        assert bottom.get_xlabel() == "time (s)" and bottom.get_ylabel() == "degrees"
    finally:
        plt.close(fig)
    plain = draw_analysis("talk", times, au, ["neutral"] * len(times), [])
    try:
        assert "eyes" not in {ax.get_ylabel() for ax in plain.axes}
    finally:
        plt.close(plain)
