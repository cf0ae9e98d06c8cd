"""``emotion-bench --expressed``: inputs that all show an expression (a micro-expression's
apex frames, MEGC's three classes with no neutral) are read by the best emotion but neutral,
which analyze writes beside the shown one; a slight expression the device shows as the
resting face it nearly is still counts as what it leans to."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import cv2
import pytest
from tests.train.bench_kit import bench, frames

pytestmark = pytest.mark.usefixtures("needs_asset")

NEGATIVE = {"anger", "sadness", "disgust", "fear"}
MEGC = ["--merge", "positive=happiness", "--merge", f"negative={','.join(sorted(NEGATIVE))}"]


@pytest.fixture(scope="module")
def slight(tmp_path_factory) -> Path:
    """The CREMA-D actor half a second into three sentences, as MEGC's classes: the smile
    just starting (HAP frame 15), anger and sadness just starting (ANG, SAD frame 15). Each,
    read alone, is shown as neutral: the expression is slight."""
    root = tmp_path_factory.mktemp("slight")
    for folder, emotion in (("positive", "HAP"), ("negative", "ANG"), ("negative", "SAD")):
        (root / folder).mkdir(exist_ok=True)
        cv2.imwrite(str(root / folder / f"{emotion}_15.png"), frames(emotion, [15])[0])
    return root


def _bench(*args: str) -> subprocess.CompletedProcess:
    return bench(*args, *MEGC)


def test_slight_expressions_are_read_by_what_they_lean_to(slight, tmp_path):
    out = tmp_path / "shown"
    shown = _bench(str(slight), "--out", str(out), "--jobs", "1", "--json", str(tmp_path / "a"))
    assert shown.returncode == 0, shown.stderr
    figures = json.loads((tmp_path / "a").read_text())["figures"]
    assert figures["answer_share"] == {"neutral": 1.0}, "each is shown as the face at rest"
    assert figures["accuracy"] == 0.0
    # analyze writes what each face leans to beside what it shows, and every class's score
    merged = []  # each face's probability of the merged class it leans to, given it is not at rest
    for name in ("HAP_15", "ANG_15", "SAD_15"):
        with (out / "analyze" / f"{name}.csv").open(newline="") as f:
            row = next(csv.DictReader(f))
        assert row["emotion"] == "neutral" and row["expressed"] != "neutral"
        assert 0.0 < float(row["expressed_score"]) <= 1.0
        p = {k[6:]: float(v or 0) for k, v in row.items() if k.startswith("score_")}
        assert p["neutral"] == float(row["emotion_score"]) and sum(p.values()) == pytest.approx(
            1, abs=0.01
        )
        rest = sum(v for e, v in p.items() if e != "neutral")  # the classes but neutral
        assert float(row["expressed_score"]) == pytest.approx(p[row["expressed"]] / rest, abs=0.002)
        group = NEGATIVE if row["expressed"] in NEGATIVE else {row["expressed"]}
        merged.append(sum(p[e] for e in group) / rest)
    read = _bench(
        str(slight),
        "--out",
        str(out),
        "--rescore",
        "--expressed",
        "--json",
        str(tmp_path / "b"),
        "--against",
        str(out),
    )
    assert read.returncode == 0, read.stderr
    assert "the best emotion but neutral" in read.stdout
    doc = json.loads((tmp_path / "b").read_text())
    assert doc["expressed"] is True
    figures = doc["figures"]
    assert figures["accuracy"] == 1.0, figures["confusion"]
    assert figures["answer_share"] == pytest.approx(
        {"negative": 2 / 3, "positive": 1 / 3}, abs=1e-3
    )
    # the score of a merged answer is its merged class's: anger leaning also counts sadness
    assert figures["calibration"]["mean_score"] == pytest.approx(sum(merged) / 3, abs=0.002)
    # against the same run read the same way: nothing differs (both sides read --expressed)
    assert figures["against"]["right_here_only"] == 0 == figures["against"]["right_there_only"]


def test_expressed_refuses_inputs_labelled_neutral_and_old_outputs(slight, tmp_path):
    faces = tmp_path / "faces"
    (faces / "neutral").mkdir(parents=True)
    (faces / "positive").mkdir()
    cv2.imwrite(str(faces / "neutral" / "NEU_0.png"), frames("NEU", [0])[0])
    cv2.imwrite(str(faces / "positive" / "HAP_15.png"), frames("HAP", [15])[0])
    done = _bench(str(faces), "--out", str(tmp_path / "x"), "--expressed")
    assert done.returncode == 2
    assert "1 of 2 are labelled neutral" in done.stderr and "without --expressed" in done.stderr
    assert not (tmp_path / "x" / "analyze").exists(), "refused before any work"
    both = _bench(str(slight), "--out", str(tmp_path / "y"), "--expressed", "--refined", "z")
    assert both.returncode == 2 and "--expressed with --refined" in both.stderr
    assert not (tmp_path / "y" / "analyze").exists()
    # a folder analysed before analyze wrote the column: named, with what to do
    out = tmp_path / "old"
    assert _bench(str(slight), "--out", str(out), "--jobs", "1").returncode == 0
    for path in (out / "analyze").glob("*.csv"):
        if path.name == "analyze-index.csv":
            continue
        with path.open(newline="") as f:
            rows = [
                {k: v for k, v in r.items() if not k.startswith("expressed")}
                for r in csv.DictReader(f)
            ]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    old = _bench(str(slight), "--out", str(out), "--rescore", "--expressed")
    assert old.returncode == 2
    assert "no 'expressed' column" in old.stderr and "without --rescore" in old.stderr
