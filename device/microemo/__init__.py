"""microemo: facial Action Units, emotions and micro-expressions on edge devices."""

from __future__ import annotations

__version__ = "0.2.1"
RUNTIME_VERSION = __version__
