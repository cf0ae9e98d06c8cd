"""Eyes of one face: openness per eye, closed or not, blinks, microsleeps and PERCLOS.

Openness (1 open, 0 shut) is the mean of two readings of the same lids, each relative to
this face's own open eyes: the lid aperture of the mesh, over the running 80th percentile
of the aperture, and the landmarker's eyeBlink blendshape, against the running 20th
percentile of it. Both scales learn only from frames with the eye well open (blinks and
closures do not move them, so a face that starts asleep is not taken as open) and start at
typical open values (``ABS_OPEN``, ``OPEN_BLINK``): the first frames read on an absolute
scale, the face's own within a second or two of open eyes. MediaPipe never shuts its mesh:
shut eyes keep about ``SHUT_RATIO`` of the open aperture and read eyeBlink about
``SHUT_BLINK`` (measured on the CREMA-D actor's own blinks and on closed eyes drawn by
``microemo-train synth``); those are the zero of each reading.

The eyes are closed at or below ``closed_below`` (PERCLOS P80: at least 80 % closed) and
open again above it plus ``REOPEN``; both eyes count as one (their mean), so a wink is no
closure. A blink is a dip under ``blink_below`` that gets near closed (``BLINK_DEPTH``: a
lowered gaze or a dropped head make the lids hover about half open, and that is no blink),
its duration measured under ``blink_below`` (the standard half-closure duration); a closure
that lasts ``microsleep_ms`` is a microsleep instead, from the frame the eyes closed to the
frame they open.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from microemo.cabin.window import ShareWindow
from microemo.config_cabin import CabinConfig

ABS_OPEN = 0.29  # open-eye aperture (lid gap / eye width) before a face's own is known
OPEN_BLINK = 0.12  # eyeBlink of open eyes before a face's own is known
SHUT_RATIO = 0.35  # aperture of shut eyes in MediaPipe's mesh, over the open aperture
SHUT_BLINK = 0.5  # eyeBlink of shut eyes
REOPEN = 0.1  # openness above closed_below that opens closed eyes again (hysteresis)
BLINK_REOPEN = 0.05  # the same for a blink's dip
BLINK_DEPTH = 0.15  # a blink's dip reaches closed_below + this (a lowered gaze hovers above)
STEP = 0.003  # quantile steps a frame: a scale settles in about a second at 30 fps


class EyeScale:
    """One eye's open levels: the running 80th percentile of its aperture and 20th of its
    eyeBlink over frames with the eye well open, each kept within a plausible range."""

    def __init__(self) -> None:
        self.aperture = ABS_OPEN
        self.blink = OPEN_BLINK

    def openness(self, aperture: float, blink: float) -> float:
        if aperture >= 0.75 * self.aperture and blink < SHUT_BLINK - 0.1:
            a = self.aperture + STEP * (-0.2 if aperture < self.aperture else 0.8)
            self.aperture = min(max(a, 0.6 * ABS_OPEN), 1.6 * ABS_OPEN)
            b = self.blink + STEP * (0.2 if blink >= self.blink else -0.8)
            self.blink = min(max(b, 0.0), SHUT_BLINK - 0.2)
        by_mesh = (aperture / self.aperture - SHUT_RATIO) / (1.0 - SHUT_RATIO)
        by_blink = (SHUT_BLINK - blink) / (SHUT_BLINK - self.blink)
        return (min(max(by_mesh, 0.0), 1.0) + min(max(by_blink, 0.0), 1.0)) / 2


@dataclass(slots=True)
class EyeEvent:
    kind: str  # blink | microsleep
    phase: str  # start | end
    onset_ms: float
    offset_ms: float | None = None


class Eyes:
    def __init__(self, config: CabinConfig) -> None:
        self.config = config
        self.left, self.right = EyeScale(), EyeScale()
        self.open_l = self.open_r = 1.0
        self.closed = False
        self._closed_since = 0.0
        self._dip_since: float | None = None
        self._dip_low = 1.0
        self.sleeping = False  # a microsleep is open
        self.last_sleep_ms: float | None = None  # when the last microsleep ended
        self.perclos = ShareWindow(config.perclos_window_s * 1000.0)
        self._blinks: deque[tuple[float, float]] = deque()  # (offset_ms, duration_ms)

    def update(
        self, t_ms: float, aperture: tuple[float, float], blink: tuple[float, float]
    ) -> list[EyeEvent]:
        """``aperture`` and ``blink`` (eyeBlink) of the left and the right eye."""
        cfg = self.config
        self.open_l = self.left.openness(aperture[0], blink[0])
        self.open_r = self.right.openness(aperture[1], blink[1])
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
                self._dip_since, self._dip_low = t_ms, level
            return
        self._dip_low = min(self._dip_low, level)
        if level < cfg.blink_below + BLINK_REOPEN:
            return
        onset, self._dip_since = self._dip_since, None
        deep = self._dip_low <= cfg.closed_below + BLINK_DEPTH
        if deep and t_ms - onset < cfg.microsleep_ms:  # longer: a microsleep, not a blink
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
