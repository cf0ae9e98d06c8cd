"""What every config section shares: unknown keys refused, types strict, paths as strings.

Its own module so that ``config.py`` and the section modules it imports (``config_cabin``,
``config_mqtt``) declare their sections on one base instead of each setting the rules again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Strict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True)


# a path is written as a TOML string
PathStr = Annotated[Path, Strict(False)]
