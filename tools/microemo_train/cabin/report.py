"""``cabin-eval``'s figures as the Markdown table docs/cabin.md quotes."""

from __future__ import annotations

from typing import Any


def markdown(out: dict[str, Any]) -> str:
    s = out["summary"]
    lines = ["| measure | colour | grey |", "|---|---|---|"]
    for label, get in _ROWS:
        lines.append(f"| {label} | {_cell(get, s.get('colour'))} | {_cell(get, s.get('grey'))} |")
    g = s.get("grey_vs_colour")
    if g:
        lines.append(
            f"\nGrey against colour: the same events in the same order on {g['same_events']} "
            f"of {g['clips']} drives; onsets at most {g['max_onset_diff_ms']} ms apart."
        )
    t = out["talking"]
    a = t["alerts"]
    lines.append(
        f"\nTalking faces: {t['seconds'] / 60:g} min ({t['frames']} frames, face on "
        f"{t['face_frames']}): {a['microsleep']} microsleeps, {a['yawn']} yawns, "
        f"{a['distraction']} distractions; {t['blinks']} blinks."
    )
    if out.get("landmarker"):
        lines += ["", "| detection / presence / tracking | " + " | ".join(
            out["landmarker"][0]["found"]) + " | all | false faces |", "|---" * (
            len(out["landmarker"][0]["found"]) + 3) + "|"]  # fmt: skip
        for r in out["landmarker"]:
            found = " | ".join(f"{v:.0%}" for v in r["found"].values())
            lines.append(
                f"| {r['detection']} / {r['presence']} / {r['tracking']} | {found} | "
                f"{r['found_all']:.0%} | {r['false_faces']} of {r['faceless_frames']} |"
            )
    lines.append(f"\n({len(out['drives'])} drives; {out['seconds']:.0f} s)")
    return "\n".join(lines) + "\n"


def _blinks(c: dict[str, Any]) -> str:
    b = c["blinks"]
    return (
        f"F1 {b['f1']:.3f} (P {b['precision']:.3f}, R {b['recall']:.3f}; {b['tp']} TP, "
        f"{b['fp']} FP, {b['fn']} FN)"
    )


def _perclos(c: dict[str, Any]) -> str:
    e = c["perclos_abs_err_points"]
    return f"{e['mean']:.2f} mean, {e['max']:.2f} max ({e['n']} readings)"


def _closures(c: dict[str, Any]) -> str:
    k = c["closures"]
    return (f"{k['reported']}/{k['n']} reported, {k['within_300ms']} within 300 ms; delay "
            f"{k['delay_ms_mean']:.0f} ms mean, {k['delay_ms_max']:.0f} max")  # fmt: skip


def _hits(kind: str) -> Any:
    return lambda c: f"{c[kind]['hits']}/{c[kind]['truth']} found, {c[kind]['false']} false"


_ROWS = (
    ("blinks", _blinks),
    ("PERCLOS error (points)", _perclos),
    ("closures >= 1 s: microsleep after the threshold", _closures),
    ("microsleeps", _hits("microsleeps")),
    ("yawns", _hits("yawns")),
    ("distractions (turns far off the road)", _hits("distractions")),
)


def _cell(fn: Any, c: dict[str, Any] | None) -> str:
    return "-" if c is None else fn(c)
