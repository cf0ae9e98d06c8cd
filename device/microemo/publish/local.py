"""Local outputs: the per-frame CSV in OpenFace 2's column conventions, and JSON lines
(``JsonlSink`` for the daemon's ``output.jsonl``, ``write_jsonl`` for ``analyze``).

OpenFace conventions kept: ``timestamp`` in seconds, ``success`` 0/1, pose translation in
millimetres and rotation in radians, ``AUxx_r`` intensities on 0-5 and ``AUxx_c`` presence
0/1. Our AU24 and AU28 intensity are extra columns OpenFace lacks; ``baseline`` follows
them: how far the face's AUs are read against its own neutral (0: from this glance alone, a
photo or a face just seen; towards 1 once it has been seen at rest); our emotion columns come
after it (``expressed``, ``expressed_score``: the best emotion but neutral and its
probability given that the face shows one, ``Classification.expressed``; then
``score_<emotion>``, each core emotion's probability, empty where not scored), then the cabin
columns (``CABIN_COLUMNS``: eye openness 0-1 per eye, eyes closed and yawning 0/1, head and
gaze yaw and pitch in degrees, PERCLOS 0-1; empty for a face the cabin stage does not
watch), then ``AUxx_flow``: the optical-flow motion of the brow, lid and nose AUs that the
spotter also uses (0-5, fading within about a second; 0 when ``spotting.flow`` is off). A
frame without a face gets one row with ``face_id`` -1 and ``success`` 0.
"""

from __future__ import annotations

import csv
import json
import sys
import threading
from pathlib import Path
from typing import IO, Any

from microemo.types import AU_INDEX, AU_NAMES, CORE_EMOTIONS, FLOW_AUS, FrameResult

CSV_VERSION = 4  # 2: the cabin columns; 3: expressed, expressed_score, score_<emotion>;
# 4: baseline
POSE_COLUMNS = ["pose_Tx", "pose_Ty", "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz"]
EMOTION_COLUMNS = [
    "emotion",
    "emotion_score",
    "emotion_source",
    "micro_emotion",
    "micro_rule",
    "expressed",
    "expressed_score",
]
# every core emotion's probability as the face's reading scored it (empty: not scored)
SCORE_COLUMNS = [f"score_{e}" for e in CORE_EMOTIONS]
# column (a key of the face's cabin state) -> its format; booleans are written 0/1
_CABIN = {
    "eye_open_l": "{:.2f}",
    "eye_open_r": "{:.2f}",
    "eyes_closed": "{:d}",
    "yawning": "{:d}",
    "head_yaw": "{:.1f}",
    "head_pitch": "{:.1f}",
    "gaze_yaw": "{:.1f}",
    "gaze_pitch": "{:.1f}",
    "perclos": "{:.3f}",
}
CABIN_COLUMNS = list(_CABIN)
CSV_COLUMNS = (
    ["frame", "face_id", "timestamp", "confidence", "success", *POSE_COLUMNS]
    + [f"{n}_r" for n in AU_NAMES]
    + [f"{n}_c" for n in AU_NAMES]
    + ["baseline"]
    + EMOTION_COLUMNS
    + SCORE_COLUMNS
    + CABIN_COLUMNS
    + [f"{n}_flow" for n in FLOW_AUS]
)
_FLOW_ROWS = [AU_INDEX[int(n[2:])] for n in FLOW_AUS]


class JsonlSink:
    """Events as one JSON object per line, to stdout or to a file (appended, line-buffered)."""

    def __init__(self, target: str | Path = "-", stream: IO[str] | None = None) -> None:
        self._own = False
        if stream is not None:
            self._out: IO[str] = stream
        elif str(target) == "-":
            self._out = sys.stdout
        else:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._out = path.open("a", buffering=1, encoding="utf-8")
            self._own = True
        self._lock = threading.Lock()
        self.count = 0

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()
            self.count += 1

    def face_state(self, face_id: int, state: dict[str, Any] | None) -> None:
        return None

    def stats(self, stats: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        with self._lock:
            self._out.flush()
            if self._own:
                self._out.close()


class CsvWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = path.open("w", newline="", encoding="utf-8")
        self._w = csv.writer(self._f)
        self._w.writerow(CSV_COLUMNS)
        self.rows = 0

    def write(self, result: FrameResult, confidence: dict[int, float] | None = None) -> None:
        frame = result.frame_index + 1  # OpenFace counts frames from 1
        ts = f"{result.t_ms / 1000.0:.3f}"
        if not result.faces:
            blank = ["0"] * (len(POSE_COLUMNS) + 2 * len(AU_NAMES))
            no_flow = ["0"] * len(FLOW_AUS)
            no_cabin = [""] * len(CABIN_COLUMNS)
            no_emotion = [""] * (len(EMOTION_COLUMNS) + len(SCORE_COLUMNS))
            self._w.writerow(
                [frame, -1, ts, "0.00", 0, *blank, "", *no_emotion, *no_cabin, *no_flow]
            )  # "": no baseline without a face
            self.rows += 1
            return
        for au in result.faces:
            emo = result.emotions.get(au.face_id, {})
            pose = [*au.face.pose_t_mm.tolist(), *au.face.pose_r_rad.tolist()]
            conf = (confidence or {}).get(au.face_id, 0.98)
            self._w.writerow(
                [frame, au.face_id, ts, f"{conf:.2f}", 1]
                + [f"{v:.1f}" for v in pose[:3]]
                + [f"{v:.3f}" for v in pose[3:]]
                + [f"{v:.2f}" for v in au.intensity.tolist()]
                + [int(v) for v in au.present.tolist()]
                + [f"{au.trust:.2f}"]
                + [
                    emo.get("core", ""),
                    emo.get("core_score", ""),
                    emo.get("core_source", ""),
                    emo.get("micro") or "",
                    emo.get("micro_rule") or "",
                    emo.get("expressed") or "",
                    "" if emo.get("expressed_score") is None else emo["expressed_score"],
                ]
                + [
                    "" if (v := emo.get("scores", {}).get(e)) is None else f"{v:.3f}"
                    for e in CORE_EMOTIONS
                ]
                + cabin_cells(result.cabin.get(au.face_id))
                + (
                    [f"{au.motion[i]:.2f}" for i in _FLOW_ROWS]
                    if au.motion is not None
                    else ["0"] * len(FLOW_AUS)
                )
            )
            self.rows += 1

    def close(self) -> None:
        self._f.close()


def cabin_cells(state: dict[str, Any] | None) -> list[str]:
    """A face's cabin state as the CSV's cabin cells; empty cells where it has none."""
    if not state:
        return [""] * len(CABIN_COLUMNS)
    cells = []
    for key, fmt in _CABIN.items():
        value = state.get(key)
        cells.append("" if value is None else fmt.format(int(value) if fmt == "{:d}" else value))
    return cells


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
