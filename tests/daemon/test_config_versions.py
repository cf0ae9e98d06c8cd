"""`microemo config check` on a board says which versions of the libraries whose builds
differ by board it runs (on aarch64 MediaPipe is pinned per CPU: docs/arm64.md)."""

from __future__ import annotations

import importlib.metadata as md

import cv2
import numpy as np
from config_kit import clip_config, microemo


def test_config_check_says_which_versions_it_runs(tmp_path):
    r = microemo("config", "check", str(clip_config(tmp_path)))
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stdout.splitlines() if x.startswith("  versions")]
    litert = md.version("ai-edge-litert")
    assert line.split(None, 1)[1].startswith(
        f"mediapipe {md.version('mediapipe')}, numpy {np.__version__}, "
        f"opencv {cv2.__version__}, litert {litert} on "
    )
