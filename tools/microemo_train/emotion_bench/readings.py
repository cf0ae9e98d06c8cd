"""An emotion benchmark's readings from ``microemo analyze``'s outputs: one per input, from its
CSV (the shown emotion or, with ``--expressed``, the best but neutral; of the last face or the
class read most often), or a second opinion's refined label in its place."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

from microemo.types import CORE_EMOTIONS, given_expression
from microemo_train.emotion_bench.inputs import BenchInputError, LabelledInput
from microemo_train.emotion_bench.score import NO_FACE, Merge, Reading


def answer_score(row: dict[str, str], column: str, merge: Merge) -> float:
    """The score of a row's answer: as analyze wrote it, or with ``--merge`` the probability
    of the answer's merged class (the sum of its classes' ``score_<emotion>``, over the
    non-neutral ones' for ``expressed``; a class the reading did not score counts 0), where
    analyze wrote the classes' scores."""
    own = float(row[f"{column}_score"] or 0.0)
    if not merge.groups or not row.get("score_neutral"):  # written before the columns
        return own
    p = {e: float(row.get(f"score_{e}") or 0.0) for e in CORE_EMOTIONS}
    group = [e for e in CORE_EMOTIONS if merge(e) == merge(row[column])]
    if column == "expressed":
        return given_expression(p, group)  # as the device's expressed_score is made
    return min(1.0, sum(p[e] for e in group))


def _reading(
    csv_path: Path, how: str, column: str, merge: Merge
) -> tuple[str, float, float | None]:
    """The input's answer, its score (``answer_score``) and the head turn (degrees) of the face
    read, from its analyze CSV (the turn: of the last face read, or averaged over the
    answer's faces). ``column``: ``emotion`` (the shown emotion) or ``expressed`` (the best
    but neutral)."""
    faces: list[tuple[int, int, str, float, float]] = []
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        if column not in (reader.fieldnames or []):
            raise BenchInputError(
                f"{csv_path}: no {column!r} column (written by an older microemo analyze): "
                "run emotion-bench on that folder again without --rescore"
            )
        for row in reader:
            if row["success"] == "1" and row[column]:
                faces.append(
                    (
                        int(row["frame"]),
                        int(row["face_id"]),
                        row[column],
                        answer_score(row, column, merge),
                        abs(math.degrees(float(row["pose_Ry"] or 0.0))),
                    )
                )
    if not faces:
        return NO_FACE, 0.0, None
    if how == "majority":
        answer = Counter(x[2] for x in faces).most_common(1)[0][0]
        mine = [x for x in faces if x[2] == answer]
        return answer, sum(x[3] for x in mine) / len(mine), sum(x[4] for x in mine) / len(mine)
    last = max(x[0] for x in faces)
    _, _, answer, s, yaw = min((x for x in faces if x[0] == last), key=lambda x: x[1])
    return answer, s, yaw


def _refined(folder: Path | None, name: str) -> tuple[str, float] | None:
    """The label and confidence of the input's last refined episode, if it has one."""
    if folder is None:
        return None
    path = folder / f"{name}.refined.jsonl"
    if not path.is_file():
        return None
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return (str(lines[-1]["label"]), float(lines[-1]["confidence"])) if lines else None


def analysed(
    inputs: list[LabelledInput], out: Path
) -> tuple[list[tuple[LabelledInput, dict[str, str]]], list[str]]:
    """Each input with its row of analyze's index in ``out`` (its CSV in ``row["csv"]``), and
    the inputs analyze could not read, each with why."""
    index = out / "analyze-index.csv"
    if not index.is_file():
        raise BenchInputError(f"{index}: missing: run without --rescore first")
    with index.open(newline="") as f:
        rows = {str(Path(r["input"]).resolve()): r for r in csv.DictReader(f)}
    done, failed = [], []
    for item in inputs:
        row = rows.get(str(item.path.resolve()))
        if row is None or row["status"] != "ok" or not row["csv"]:
            failed.append(f"{item.path}: {row['error'] if row else 'not analysed'}")
        else:
            done.append((item, row))
    return done, failed


def collect(
    inputs: list[LabelledInput],
    out: Path,
    how: str,
    merge: Merge,
    refined: Path | None = None,
    column: str = "emotion",
) -> tuple[list[Reading], list[str]]:
    """One reading per input analyze wrote (by ``column``, see ``_reading``); the inputs it
    could not read."""
    done, failed = analysed(inputs, out)
    readings = []
    for item, row in done:
        answer, s, yaw = _reading(out / row["csv"], how, column, merge)
        answer, s = _refined(refined, row["name"]) or (answer, s)
        readings.append(
            Reading(
                merge(item.label),
                merge(answer),
                s,
                row["name"],
                yaw,
                item.subject,
                item.groups,
            )
        )
    return readings, failed
