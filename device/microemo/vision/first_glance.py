"""How much an AU must show before a face read from one glance counts it present.

A face seen for the first time, or a photo, is read by the AU calibration's absolute head
alone, and a resting face from anywhere varies in shape more than a faint AU moves it: read
against the usual presence bar (``au.presence_on``, 1.0) a resting face shows two or three
AUs (CK+ test stills 2.97, FER2013's test part 3.23), mostly AU10, AU15 and AU5. So each AU
has its own bar for a face with no neutral of its own yet: the intensity that a share of
resting faces from anywhere stay under (``first_glance.toml``, written by ``microemo-train
first-glance`` from faces at rest; the built-in one from FER2013's training part, research
terms). As the face's own neutral forms (the AU's region's ``trust``, 0 -> 1) the bar eases
back to the usual one, where the AU is read against that neutral. Only presence (``AUxx_c``)
moves: the intensities, and so every ranking, the emotion rules and the spotter, are as they
were.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from microemo.types import AU_NAMES
from microemo.vision.calibration import versioned_toml

BUILTIN = "first_glance.toml"
FORMAT = 1


class FirstGlanceError(ValueError):
    """A first-glance file that cannot be used; the message names it and says what to do."""


def parse_first_glance(text: str, source: str) -> tuple[np.ndarray, dict[str, Any]]:
    """(len(AU_NAMES),) bars (1.0 where the file names none) and the file's provenance."""
    d = versioned_toml(text, source, FORMAT, "microemo-train first-glance", FirstGlanceError)
    bars = d.get("bars", {})
    unknown = [k for k in bars if k not in AU_NAMES]
    if unknown:
        raise FirstGlanceError(f"{source}: [bars] names {unknown[0]!r}, not an AU of this runtime")
    values = [bars.get(au, 1.0) for au in AU_NAMES]
    bad = [(au, v) for au, v in zip(AU_NAMES, values) if not isinstance(v, (int, float)) or
           not 0.0 <= v <= 5.0]  # fmt: skip
    if bad:
        raise FirstGlanceError(f"{source}: [bars] {bad[0][0]} = {bad[0][1]!r}: give 0-5")
    return np.array(values, np.float32), dict(d.get("provenance", {}))


@lru_cache(maxsize=4)
def load_first_glance(setting: str) -> np.ndarray | None:
    """The bars of ``au.first_glance``: ``builtin``, ``off`` (None: the usual bar from the
    first frame) or a file's path; read once per setting (the training tool builds an AU
    estimator per item), read-only."""
    bars = _read(setting)
    if bars is not None:
        bars.flags.writeable = False
    return bars


def _read(setting: str) -> np.ndarray | None:
    if setting == "off":
        return None
    if setting == "builtin":
        text = resources.files("microemo.vision").joinpath(BUILTIN).read_text()
        return parse_first_glance(text, f"microemo/vision/{BUILTIN}")[0]
    path = Path(setting).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FirstGlanceError(
            f"au.first_glance = {setting!r}: cannot read it ({exc}); give a file written by "
            "microemo-train first-glance, builtin or off"
        ) from None
    return parse_first_glance(text, str(path))[0]
