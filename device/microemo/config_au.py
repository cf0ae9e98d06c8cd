"""The ``[au]`` section: how landmarks become Action Units (``vision/au.py``)."""

from __future__ import annotations

from pydantic import Field

from microemo.config_base import PathStr, Section


class AUConfig(Section):
    calibration: PathStr | None = Field(
        None, description="AU calibration file (microemo-train facs-calibrate); default: built-in"
    )
    baseline_s: float = Field(20.0, ge=1, le=600, description="neutral baseline history length")
    baseline_update_every: int = Field(
        8, ge=1, le=300, description="frames between baseline re-estimates"
    )
    gamma: float = Field(
        1.0, gt=0.1, le=1.0, description="weak-signal amplification exponent (1 = linear)"
    )
    presence_on: float = Field(1.0, ge=0, le=5, description="intensity at which an AU is present")
    presence_off: float = Field(0.6, ge=0, le=5, description="intensity at which it stops being")
    first_glance: str = Field(
        "builtin",
        description="each AU's presence bar for a face with no neutral of its own yet (a photo, "
        "a face just seen), easing to presence_on as its neutral forms: builtin, off, or a file "
        "from microemo-train first-glance",
    )
