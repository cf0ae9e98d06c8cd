"""The at-a-glance picture of one analysed input, legible at any length.

Left, on one time axis: the AU heat map, the strongest AUs as lines, the spotted episodes as
marks (micro above, macro below, coloured by emotion) with only the main ones labelled
(``timeline.pick_labels``), the emotion shares per column, and the cabin rows (eyes,
attention: ``plot_cabin``) when the face has cabin readings. A short input gets a column
per frame, as before; a long one round columns of seconds, said in the title. Right, the
whole input summed up: each AU's mean and 90th percentile beside its heat map row, and each
emotion's share of the frames with a face, with its episode count.

Only ``analyze`` draws; the daemon never imports matplotlib. The PNG carries a text chunk
(``sources.files.OWN_PICTURE_TAG``) so a frame folder never reads it as a frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from microemo.analyze.timeline import (
    SHARE_LABELS,
    Binned,
    Episode,
    au_levels,
    bin_series,
    emotion_shares,
    episodes_of,
    pick_labels,
)
from microemo.emotion.rules import CORE_EMOTIONS
from microemo.sources.files import OWN_PICTURE_TAG
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
    "neutral": "#dfe6e9",
    "": "#ffffff",
}
LABEL_GID = "episode-label"  # tests find the labels by it
TOP_AUS = 5
CLOCK_STEPS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 86400)


def _clock(seconds: float, _pos: Any = None) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}" if m < 60 else f"{m // 60}:{m % 60:02d}:{s:02d}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else _clock(seconds)


def draw_analysis(
    name: str,
    times_s: np.ndarray,
    intensity: np.ndarray,
    emotions: list[str],
    events: list[dict[str, Any]],
    source: str = "",
    cabin: np.ndarray | None = None,
    cabin_events: list[dict[str, Any]] | None = None,
) -> Any:
    """The figure (not saved). ``intensity`` is (frames, 19) for the main face, NaN where it
    was not seen; ``emotions`` its core emotion per frame ("" without a face); ``cabin`` its
    cabin series (frames, ``plot_cabin.SERIES``), drawn in two more rows when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    binned = bin_series(times_s, intensity, emotions)
    episodes = episodes_of(events)
    span = (float(binned.edges[0]), float(binned.edges[-1]))
    extra = [1.3, 1.3] if cabin is not None else []
    fig = plt.figure(figsize=(14, 8.5 + 2.2 * len(extra) / 2))
    grid = fig.add_gridspec(
        4 + len(extra),
        4,
        width_ratios=[6, 0.12, 0.3, 1.7],
        height_ratios=[3, 2, 0.6, 0.8, *extra],
        wspace=0.05,
    )
    heat = fig.add_subplot(grid[0, 0])
    lines = fig.add_subplot(grid[1, 0], sharex=heat)
    marks = fig.add_subplot(grid[2, 0], sharex=heat)
    strip = fig.add_subplot(grid[3, 0], sharex=heat)
    _heat_map(fig, heat, fig.add_subplot(grid[0, 1]), binned)
    mean, high = au_levels(intensity)
    _au_levels(fig.add_subplot(grid[0, 3], sharey=heat), mean, high)
    _top_aus(lines, binned, mean)
    _episode_marks(marks, lines, episodes, span)
    _strip(strip, binned)
    right = grid[1:, 3].subgridspec(2, 1, height_ratios=[0.12, 1])
    _shares(fig.add_subplot(right[1]), emotions, episodes)
    above, bottom = [heat, lines, marks], strip
    if cabin is not None:
        from microemo.analyze.plot_cabin import draw_cabin

        eyes = fig.add_subplot(grid[4, 0], sharex=heat)
        bottom = fig.add_subplot(grid[5, 0], sharex=heat)
        draw_cabin(eyes, bottom, times_s, cabin, cabin_events or [])
        above += [strip, eyes]
    bottom.set_xlim(*span)
    if span[1] - span[0] >= 120:
        step = next(s for s in CLOCK_STEPS if (span[1] - span[0]) / s <= 10)
        bottom.xaxis.set_major_locator(matplotlib.ticker.MultipleLocator(step))
        bottom.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_clock))
        bottom.set_xlabel("time (min:s)")
    else:
        bottom.set_xlabel("time (s)")
    for ax in above:
        ax.tick_params(labelbottom=False)
    micro = sum(1 for e in episodes if e.kind == "micro")
    column = "a frame" if binned.width_s == 0 else f"the mean over {binned.width_s:g} s"
    fig.suptitle(
        f"{name}: {_duration(span[1] - span[0])}, {len(times_s)} frames, "
        f"{_count(len(episodes), 'episode')} ({micro} micro)\n"
        f"each column is {column}" + (f"; from {source}" if source else ""),
        fontsize=10,
    )
    top = 0.93 if extra else 0.91
    fig.subplots_adjust(left=0.06, right=0.98, top=top, bottom=0.07, hspace=0.12)
    return fig


def plot_analysis(path: Path, name: str, *args: Any, **kwargs: Any) -> None:
    """Draw (``draw_analysis``) and save as PNG, tagged as analyze's own picture."""
    import matplotlib.pyplot as plt

    fig = draw_analysis(name, *args, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={OWN_PICTURE_TAG[0]: OWN_PICTURE_TAG[1]})
    plt.close(fig)


def _heat_map(fig: Any, ax: Any, cax: Any, binned: Binned) -> None:
    import matplotlib

    cmap = matplotlib.colormaps["magma"].with_extremes(bad="#c8c8c8")  # grey: no face
    rows = np.arange(len(AU_NAMES) + 1) - 0.5
    mesh = ax.pcolormesh(
        binned.edges, rows, np.ma.masked_invalid(binned.au.T), cmap=cmap, vmin=0, vmax=5
    )
    ax.set_ylim(len(AU_NAMES) - 0.5, -0.5)
    ax.set_yticks(range(len(AU_NAMES)), AU_NAMES, fontsize=7)
    fig.colorbar(mesh, cax=cax)
    cax.set_title("0-5", fontsize=7)
    cax.tick_params(labelsize=7)


def _au_levels(ax: Any, mean: np.ndarray, high: np.ndarray) -> None:
    y = np.arange(len(AU_NAMES))
    ax.barh(y, mean, color="#b03a2e", height=0.7, label="mean")
    ax.plot(high, y, "|", color="black", markersize=7, label="90th pct")
    ax.set_xlim(0, 5)
    ax.tick_params(labelleft=False, labelsize=7)
    ax.set_title("AU level over the input", fontsize=8)
    ax.set_xticks(range(6))
    ax.legend(fontsize=6, loc="lower right")


def _top_aus(ax: Any, binned: Binned, mean: np.ndarray) -> None:
    """The ``TOP_AUS`` AUs of highest ``mean`` over the input, per column."""
    x = binned.edges[:-1] if binned.width_s == 0 else binned.centers
    for k in np.argsort(mean)[::-1][:TOP_AUS]:
        ax.plot(x, binned.au[:, k], label=AU_NAMES[k], lw=1.2)
    ax.set_ylim(0, 6.4)  # the top band holds the episode labels
    ax.set_yticks(range(6))
    ax.set_ylabel("strongest AUs")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)


def _episode_marks(ax: Any, lines: Any, episodes: list[Episode], span: tuple[float, float]) -> None:
    """Every episode a bar from onset to offset (at least a hair wide, so a 40-ms micro
    episode in a 10-minute input still shows); the main ones labelled above the lines."""
    min_w = (span[1] - span[0]) / 600
    for row, kind in enumerate(("macro", "micro")):
        mine = [e for e in episodes if (e.kind == "micro") == (kind == "micro")]
        ax.broken_barh(
            [(e.onset_s, max(e.offset_s - e.onset_s, min_w)) for e in mine],
            (row + 0.15, 0.7),
            facecolors=[COLORS.get(e.core, "#999999") for e in mine],
            edgecolors="black" if kind == "micro" else "none",
            linewidth=0.4,
        )
    ax.set_ylim(0, 2)
    ax.set_yticks([0.5, 1.5], ["macro", "micro"], fontsize=7)
    labelled = pick_labels(episodes, span)
    for ep, row in labelled:
        lines.axvspan(
            ep.onset_s, ep.offset_s, alpha=0.12, color="red" if ep.kind == "micro" else "grey"
        )
        right = ep.onset_s > span[0] + 0.8 * (span[1] - span[0])
        lines.text(
            ep.offset_s if right else ep.onset_s,
            5.95 - 0.5 * row,
            ep.label,
            fontsize=7,
            ha="right" if right else "left",
            va="center",
            clip_on=True,
            gid=LABEL_GID,
        )
    if len(episodes) > len(labelled):
        ax.set_title(
            f"{len(episodes)} episodes; the {len(labelled)} strongest labelled above",
            fontsize=7,
            loc="right",
            pad=2,
        )


def _strip(ax: Any, binned: Binned) -> None:
    """Per column the emotions' shares stacked (white: no face); a column per frame is one
    colour, so a short input reads as the old strip. One polygon per emotion, not a bar per
    column and emotion (3 s and 25 MB for ten minutes)."""
    shown = [k for k in range(len(SHARE_LABELS)) if binned.shares[:, k].any()]
    # step="post" holds each value to the next edge; the last column's value is repeated
    ys = [np.append(binned.shares[:, k], binned.shares[-1, k]) for k in shown]
    ax.stackplot(
        binned.edges, *ys, colors=[COLORS[SHARE_LABELS[k]] for k in shown], step="post", linewidth=0
    )
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("emotion", fontsize=7)


def _shares(ax: Any, emotions: list[str], episodes: list[Episode]) -> None:
    """Each core emotion's share of the frames with a face, and its episodes."""
    shares = emotion_shares(emotions)
    names = [e for e in CORE_EMOTIONS if e in shares]
    y = np.arange(len(names))
    ax.barh(
        y,
        [100 * shares[e] for e in names],
        color=[COLORS[e] for e in names],
        edgecolor="#888888",
        linewidth=0.4,
    )
    for i, e in enumerate(names):
        n = sum(1 for ep in episodes if ep.core == e)
        pct = f"{100 * shares[e]:.0f}%" if shares[e] >= 0.005 else "<1%"
        figures = f"{e} {pct}" + (f", {_count(n, 'episode')}" if n else "")
        ax.text(100 * shares[e] + 2, i, figures, va="center", fontsize=7)
    ax.set_ylim(max(len(names), 1) - 0.5, -0.5)
    ax.set_xlim(0, 160)
    ax.set_xticks([0, 50, 100])
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("% of the frames with a face", fontsize=7)
    ax.set_title("emotion over the input", fontsize=8)
    if not names:
        ax.text(80, 0, "no face seen", ha="center", fontsize=8)
