"""Data set adapters by name: each returns its items per protocol (scored separately)."""

from __future__ import annotations

from pathlib import Path

from microemo_train.facs.items import FacsDataError, FacsItem, ckplus

ADAPTERS = ("ckplus",)
LICENCE = {
    "ckplus": "CK+ (Kanade et al. 2000; Lucey et al. 2010): non-commercial research use only",
}


def load(
    adapter: str, root: Path, mode: str = "both", neutral_frames: int = 8, apex_frames: int = 4
) -> dict[str, list[FacsItem]]:
    if not root.exists():
        raise FacsDataError(f"{root}: no such file or folder")
    if adapter == "ckplus":
        modes = ("neutral-apex", "apex") if mode == "both" else (mode,)
        return {m: ckplus(root, m, neutral_frames, apex_frames) for m in modes}
    raise FacsDataError(f"adapter {adapter!r}: use one of {', '.join(ADAPTERS)}")
