"""The at-a-glance picture of one analysed input: AU heat map, the strongest AUs as lines,
and an emotion strip with the spotted episodes. Only ``analyze`` draws; the daemon never
imports matplotlib."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from microemo.emotion.rules import CORE_EMOTIONS
from microemo.types import AU_NAMES

COLORS = {
    "happiness": "#f4c430",
    "sadness": "#4a6fa5",
    "anger": "#c0392b",
    "fear": "#8e44ad",
    "surprise": "#e67e22",
    "disgust": "#27ae60",
    "contempt": "#7f8c8d",
    "repression": "#34495e",
    "neutral": "#ecf0f1",
    "": "#ffffff",
}


def plot_analysis(
    path: Path,
    title: str,
    times_s: np.ndarray,
    intensity: np.ndarray,
    emotions: list[str],
    events: list[dict[str, Any]],
) -> None:
    """``intensity`` is (frames, 19) for the main face, NaN where it was not seen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(
        3, 1, figsize=(11, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 2, 0.6]}
    )
    t0 = float(times_s[0]) if len(times_s) else 0.0
    t1 = float(times_s[-1]) if len(times_s) else 1.0
    extent = (t0, max(t1, t0 + 1e-3), len(AU_NAMES) - 0.5, -0.5)
    im = axes[0].imshow(
        np.nan_to_num(intensity.T),
        aspect="auto",
        cmap="magma",
        vmin=0,
        vmax=5,
        extent=extent,
        interpolation="nearest",
    )
    axes[0].set_yticks(range(len(AU_NAMES)), AU_NAMES, fontsize=7)
    axes[0].set_title(title)
    fig.colorbar(im, ax=axes[0], pad=0.01, label="intensity (0-5)")

    means = np.nanmean(intensity, axis=0) if np.isfinite(intensity).any() else np.zeros(19)
    for k in np.argsort(means)[::-1][:5]:
        axes[1].plot(times_s, intensity[:, k], label=AU_NAMES[k], lw=1.4)
    for e in events:
        if e.get("phase") == "end":
            kind = e.get("kind") or ""
            axes[1].axvspan(
                e["onset_ms"] / 1000,
                e["offset_ms"] / 1000,
                alpha=0.12,
                color="red" if kind == "micro" else "grey",
            )
            axes[1].annotate(
                f"{e['core_emotion']}/{e.get('micro_emotion') or '-'} ({kind})",
                (e["onset_ms"] / 1000, 4.7),
                fontsize=7,
            )
    axes[1].set_ylim(0, 5)
    axes[1].set_ylabel("top AUs")
    axes[1].legend(loc="upper right", fontsize=7, ncol=5)

    strip = np.array([[CORE_EMOTIONS.index(e) if e in CORE_EMOTIONS else -1 for e in emotions]])
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#ffffff"] + [COLORS[e] for e in CORE_EMOTIONS])
    axes[2].imshow(
        strip + 1,
        aspect="auto",
        cmap=cmap,
        vmin=0,
        vmax=len(CORE_EMOTIONS),
        extent=(t0, max(t1, t0 + 1e-3), 0, 1),
        interpolation="nearest",
    )
    axes[2].set_yticks([])
    axes[2].set_xlabel("time (s)")
    seen = [e for e in CORE_EMOTIONS if e in emotions]
    axes[2].legend(
        handles=[Patch(color=COLORS[e], label=e) for e in seen],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.9),
        ncol=max(1, len(seen)),
        fontsize=7,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
