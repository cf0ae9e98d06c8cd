"""The ``[cabin]`` config section: eyes, blinks, PERCLOS, yawns and attention (``microemo.cabin``).

Its own module so that ``config.py`` stays one screen per concern; ``config.Config`` holds
it as ``cabin``; the rules are ``config_base.Section``'s (unknown keys refused, strict
types). Defaults follow docs/cabin.md: PERCLOS
P80 over 60 s, a microsleep at 1 s of closed eyes, distraction at 2 s off the road or a
third of the last 30 s (Euro NCAP's visual attention time-sharing).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from microemo.config_base import Section

CabinEvent = Literal["blink", "microsleep", "yawn", "distraction"]


class CabinConfig(Section):
    enabled: bool = Field(
        True, description="measure eyes, mouth and attention per face (CSV columns, state)"
    )
    faces: Literal["all", "largest"] = Field(
        "all", description="faces watched: every face, or the driver (the largest, nearest)"
    )
    events: list[CabinEvent] = Field(
        default_factory=list,
        description="cabin events published (blink, microsleep, yawn, distraction); none: "
        "state and CSV only",
    )
    closed_below: float = Field(
        0.2, gt=0, lt=1, description="eye openness (0-1) at or below which eyes count as closed"
    )
    blink_below: float = Field(
        0.55, gt=0, lt=1, description="eye openness a blink dips under (its duration taken there)"
    )
    microsleep_ms: float = Field(
        1000.0, ge=200, le=10_000, description="eyes closed this long at once: a microsleep"
    )
    perclos_window_s: float = Field(
        60.0, ge=10, le=600, description="PERCLOS: share of this many seconds with closed eyes"
    )
    drowsy_perclos: float = Field(
        0.15, gt=0, le=1, description="PERCLOS at which the face is drowsy"
    )
    drowsy_blink_ms: float = Field(
        400.0, ge=100, le=2000, description="mean blink this long (3 or more in the window): drowsy"
    )
    yawn_open: float = Field(
        0.16, gt=0, le=1, description="inner-lip gap, in face widths, of a mouth open for a yawn"
    )
    yawn_ms: float = Field(
        1500.0, ge=300, le=10_000, description="mouth held open this long: a yawn"
    )
    yawn_max_smile: float = Field(
        0.5, gt=0, le=1, description="smile (0-1) above which a wide mouth that shakes is a laugh"
    )
    road_yaw_deg: float = Field(
        0.0, ge=-90, le=90, description="where the road is, seen from the camera: yaw (+ left)"
    )
    road_pitch_deg: float = Field(
        0.0, ge=-60, le=60, description="where the road is, seen from the camera: pitch (+ up)"
    )
    learn_road: bool = Field(
        True,
        description="follow where this driver looks most (the running median of head and "
        "eyes on the road), within half a cone of road_yaw_deg, road_pitch_deg",
    )
    cone_yaw_deg: float = Field(
        30.0, gt=0, le=90, description="half-width of the on-road cone (head and eyes)"
    )
    cone_pitch_deg: float = Field(
        20.0, gt=0, le=60, description="half-height of the on-road cone (head and eyes)"
    )
    distraction_ms: float = Field(
        2000.0, ge=200, le=30_000, description="looking off the road this long at once: distraction"
    )
    share_window_s: float = Field(
        30.0, ge=5, le=600, description="time-sharing window: off-road share measured over this"
    )
    distraction_share: float = Field(
        0.33, gt=0, le=1, description="off-road share of the window that is a distraction"
    )
    return_ms: float = Field(
        500.0, ge=0, le=10_000, description="back on the road this long ends a distraction"
    )
