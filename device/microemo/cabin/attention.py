"""Attention of one face: where head and eyes point against the on-road cone, and
distraction.

The gaze is the head's yaw and pitch plus the eyes' rotation in the head (the iris between
the lid corners, less this face's own neutral: the running mean while it looks at the
road); with the eyes closed it is the head alone. Off the road is outside the ellipse of
half-axes ``cone_yaw_deg`` x ``cone_pitch_deg`` around the road: (``road_yaw_deg``,
``road_pitch_deg``), or with ``learn_road`` where this driver looks most, the running
median of the gaze while well inside the cone (moving at most ``ROAD_STEP_DEG`` a frame, never
further than half a cone from the configured road), which takes up how a camera is mounted
and how a driver sits.

A distraction starts when the gaze has been off the road for ``distraction_ms`` at once (a
``glance``; onset when it left; a look back shorter than ``return_ms`` does not break it),
or when it is off the road and has been for ``distraction_share`` of the last
``share_window_s`` (``time_share``, Euro NCAP's visual attention time-sharing; onset now).
It ends once the gaze has been back for ``return_ms`` (and, for a time-sharing distraction,
the share is below the limit again). A face that is not seen is neither attentive nor
distracted (``no_face``); a gaze that left the road before the face was lost (a driver
turned right round) still counts towards a glance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from microemo.cabin.measure import Reading, iris_angle
from microemo.cabin.window import ShareWindow
from microemo.config_cabin import CabinConfig

IRIS_NEUTRAL = (0.0, 0.08)  # iris offset (eye widths) looking straight ahead, before learnt
NEUTRAL_TAU_MS = 20_000.0
NEUTRAL_REACH = 0.1  # the learnt neutral stays this close to IRIS_NEUTRAL
EYES_FULL_DEG = 10.0
EYE_YAW_DEG, EYE_PITCH_DEG = 35.0, 25.0  # the eyes turn at most this far in the head
LEARN_WITHIN = 0.6  # the iris neutral and the road are learnt within this share of the cone
ROAD_STEP_DEG = 0.05  # the learnt road moves this much a frame (1.5 degrees a second at 30 fps)


@dataclass(slots=True)
class AttentionEvent:
    phase: str  # start | end
    onset_ms: float
    cause: str
    offset_ms: float | None = None


class Attention:
    def __init__(self, config: CabinConfig) -> None:
        self.config = config
        self.share = ShareWindow(config.share_window_s * 1000.0)
        self.gaze_yaw = self.gaze_pitch = 0.0
        self.off_road = False
        self.cause: str | None = None  # of the open distraction
        self._onset = 0.0
        self._off_since: float | None = None
        self._on_since: float | None = None
        self._neutral = list(IRIS_NEUTRAL)
        self.road = [config.road_yaw_deg, config.road_pitch_deg]
        self._last_t: float | None = None

    def update(self, t_ms: float, r: Reading, eyes_open: bool) -> list[AttentionEvent]:
        cfg = self.config
        yaw, pitch = r.head_yaw, r.head_pitch
        weight = self._eyes_weight(yaw, pitch) if eyes_open else 0.0
        if weight > 0:
            eye_yaw = iris_angle(r.iris_x - self._neutral[0])
            eye_pitch = iris_angle(r.iris_y - self._neutral[1])
            yaw += weight * min(max(eye_yaw, -EYE_YAW_DEG), EYE_YAW_DEG)
            pitch += weight * min(max(eye_pitch, -EYE_PITCH_DEG), EYE_PITCH_DEG)
        self.gaze_yaw, self.gaze_pitch = yaw, pitch
        dy = (yaw - self.road[0]) / cfg.cone_yaw_deg
        dp = (pitch - self.road[1]) / cfg.cone_pitch_deg
        self.off_road = dy * dy + dp * dp > 1.0
        # learn from looks at the road, not from glances still inside the cone
        if eyes_open and dy * dy + dp * dp <= LEARN_WITHIN**2:
            self._learn_neutral(t_ms, r)
            if cfg.learn_road:
                self._learn_road(yaw, pitch)
        self._last_t = t_ms
        self.share.add(t_ms, self.off_road)
        if self.off_road:
            self._off_since = t_ms if self._off_since is None else self._off_since
            self._on_since = None
        else:
            self._on_since = t_ms if self._on_since is None else self._on_since
            if t_ms - self._on_since >= cfg.return_ms:  # a look back shorter is no return
                self._off_since = None
        return self._transitions(t_ms)

    def _eyes_weight(self, yaw: float, pitch: float) -> float:
        """How far the iris is trusted: fully with the head within ``EYES_FULL_DEG`` of the
        road, not at all beyond twice that (a turned or dropped head shows the eyes
        foreshortened, and its gaze is the head's: an "owl" glance; a "lizard" glance
        moves the eyes only, with the head on the road)."""
        off = math.hypot(yaw - self.road[0], pitch - self.road[1])
        return min(max(2.0 - off / EYES_FULL_DEG, 0.0), 1.0)

    def _learn_neutral(self, t_ms: float, r: Reading) -> None:
        """The iris offset while looking at the road, averaged over ``NEUTRAL_TAU_MS``."""
        dt = t_ms - self._last_t if self._last_t is not None else 0.0
        a = min(max(dt, 0.0) / NEUTRAL_TAU_MS, 1.0)
        for k, v in enumerate((r.iris_x, r.iris_y)):
            n = self._neutral[k] + a * (v - self._neutral[k])
            lo, hi = IRIS_NEUTRAL[k] - NEUTRAL_REACH, IRIS_NEUTRAL[k] + NEUTRAL_REACH
            self._neutral[k] = min(max(n, lo), hi)

    def _learn_road(self, yaw: float, pitch: float) -> None:
        """One step of the running median of the gaze towards (``yaw``, ``pitch``)."""
        cfg = self.config
        for k, (v, centre, reach) in enumerate(
            (
                (yaw, cfg.road_yaw_deg, cfg.cone_yaw_deg),
                (pitch, cfg.road_pitch_deg, cfg.cone_pitch_deg),
            )
        ):
            step = ROAD_STEP_DEG if v > self.road[k] else -ROAD_STEP_DEG
            self.road[k] = min(max(self.road[k] + step, centre - reach / 2), centre + reach / 2)

    def _transitions(self, t_ms: float) -> list[AttentionEvent]:
        cfg = self.config
        if self.cause is None:
            away = self._off_since is not None and t_ms - self._off_since >= cfg.distraction_ms
            if away and self.off_road and self._off_since is not None:
                return self._start(self._off_since, "glance")
            full = self.share.covered_ms >= 0.5 * self.share.window_ms
            if self.off_road and full and self.share.share >= cfg.distraction_share:
                return self._start(t_ms, "time_share")
            return []
        back = self._on_since is not None and t_ms - self._on_since >= cfg.return_ms
        shared = self.cause == "time_share" and self.share.share >= cfg.distraction_share
        return self.close(self._on_since or t_ms) if back and not shared else []

    def _start(self, onset: float, cause: str) -> list[AttentionEvent]:
        self.cause, self._onset = cause, onset
        return [AttentionEvent("start", onset, cause)]

    def lost(self, t_ms: float) -> list[AttentionEvent]:
        """No face on this frame: the share pauses; a glance that began before goes on."""
        self.share.pause()
        self._last_t = None
        self._on_since = None
        return self._transitions(t_ms) if self._off_since is not None else []

    def close(self, t_ms: float) -> list[AttentionEvent]:
        """End an open distraction at ``t_ms`` (the gaze came back, or the face is gone)."""
        if self.cause is None:
            return []
        cause, self.cause = self.cause, None
        return [AttentionEvent("end", self._onset, cause, t_ms)]
