"""Eyes of one face: openness per eye, closed or not, blinks, microsleeps and PERCLOS.

Openness is the lid aperture over this face's own open-eye aperture: the running 80th
percentile of the frames where the eye is at least half open (blinks and closures do not
pull it down, so a face that starts asleep is not taken as open). It starts at
``ABS_OPEN``, a typical open aperture in MediaPipe's mesh, so the first frames read on an
absolute scale and the scale becomes the face's own within a second or two of open eyes.

The eyes are closed at or below ``closed_below`` (PERCLOS P80: at least 80 % closed) and
open again above it plus ``REOPEN``; both eyes count as one (their mean), so a wink is no
closure. A blink is a dip under ``blink_below``, its duration measured there (the standard
half-closure duration); a closure that lasts ``microsleep_ms`` is a microsleep instead, from
the frame the eyes closed to the frame they open.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from microemo.cabin.window import ShareWindow
from microemo.config_cabin import CabinConfig

ABS_OPEN = 0.29  # open-eye aperture (lid gap / eye width) before a face's own is known
REOPEN = 0.1  # openness above closed_below that opens closed eyes again (hysteresis)
BLINK_REOPEN = 0.05  # the same for a blink's dip
QUANTILE = 0.8
QUANTILE_STEP = 0.004  # aperture units a frame: converges in about a second at 30 fps


class OpenLevel:
    """The running ``QUANTILE`` of one eye's aperture over frames with the eye at least
    half open, bounded to 0.6-1.6 x ``ABS_OPEN``."""

    def __init__(self) -> None:
        self.level = ABS_OPEN

    def openness(self, aperture: float) -> float:
        if aperture >= 0.5 * self.level:
            below = aperture < self.level
            step = QUANTILE_STEP * (QUANTILE - 1.0 if below else QUANTILE)
            self.level = min(max(self.level + step, 0.6 * ABS_OPEN), 1.6 * ABS_OPEN)
        return min(aperture / self.level, 1.0)


@dataclass(slots=True)
class EyeEvent:
    kind: str  # blink | microsleep
    phase: str  # start | end
    onset_ms: float
    offset_ms: float | None = None


class Eyes:
    def __init__(self, config: CabinConfig) -> None:
        self.config = config
        self.left, self.right = OpenLevel(), OpenLevel()
        self.open_l = self.open_r = 1.0
        self.closed = False
        self._closed_since = 0.0
        self._dip_since: float | None = None
        self.sleeping = False  # a microsleep is open
        self.last_sleep_ms: float | None = None  # when the last microsleep ended
        self.perclos = ShareWindow(config.perclos_window_s * 1000.0)
        self._blinks: deque[tuple[float, float]] = deque()  # (offset_ms, duration_ms)

    def update(self, t_ms: float, aperture_l: float, aperture_r: float) -> list[EyeEvent]:
        cfg = self.config
        self.open_l = self.left.openness(aperture_l)
        self.open_r = self.right.openness(aperture_r)
        level = (self.open_l + self.open_r) / 2
        out: list[EyeEvent] = []
        if not self.closed and level <= cfg.closed_below:
            self.closed, self._closed_since = True, t_ms
        elif self.closed and level > cfg.closed_below + REOPEN:
            self.closed = False
            if self.sleeping:
                self.sleeping, self.last_sleep_ms = False, t_ms
                out.append(EyeEvent("microsleep", "end", self._closed_since, t_ms))
        if self.closed and not self.sleeping and t_ms - self._closed_since >= cfg.microsleep_ms:
            self.sleeping = True
            out.append(EyeEvent("microsleep", "start", self._closed_since))
        self._blink(t_ms, level, out)
        self.perclos.add(t_ms, self.closed)
        while self._blinks and self._blinks[0][0] <= t_ms - self.perclos.window_ms:
            self._blinks.popleft()
        return out

    def _blink(self, t_ms: float, level: float, out: list[EyeEvent]) -> None:
        cfg = self.config
        if self._dip_since is None:
            if level < cfg.blink_below:
                self._dip_since = t_ms
            return
        if level < cfg.blink_below + BLINK_REOPEN:
            return
        onset, self._dip_since = self._dip_since, None
        if t_ms - onset < cfg.microsleep_ms:  # longer: it was a microsleep, not a blink
            self._blinks.append((t_ms, t_ms - onset))
            out.append(EyeEvent("blink", "end", onset, t_ms))

    def lost(self) -> None:
        """The face is not seen on this frame: nothing is known of the eyes."""
        self.perclos.pause()

    def close(self, t_ms: float) -> list[EyeEvent]:
        """The face is gone: an open microsleep ends where the face was last seen."""
        if not self.sleeping:
            return []
        self.sleeping = False
        return [EyeEvent("microsleep", "end", self._closed_since, t_ms)]

    @property
    def blinks(self) -> int:
        return len(self._blinks)

    @property
    def blink_ms(self) -> float | None:
        """Mean blink duration over the PERCLOS window; None without blinks."""
        if not self._blinks:
            return None
        return sum(d for _, d in self._blinks) / len(self._blinks)

    def drowsiness(self, t_ms: float) -> str:
        """``asleep`` in a microsleep; ``drowsy`` with PERCLOS at ``drowsy_perclos`` (once
        10 s of the window are seen), long blinks, or a microsleep within the window;
        ``awake`` otherwise."""
        cfg = self.config
        if self.sleeping:
            return "asleep"
        window = self.perclos.window_ms
        seen = self.perclos.covered_ms >= min(10_000.0, window)
        long_blinks = self.blinks >= 3 and (self.blink_ms or 0.0) >= cfg.drowsy_blink_ms
        slept = self.last_sleep_ms is not None and t_ms - self.last_sleep_ms < window
        if (seen and self.perclos.share >= cfg.drowsy_perclos) or long_blinks or slept:
            return "drowsy"
        return "awake"
