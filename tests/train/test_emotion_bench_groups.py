"""``emotion-bench --by COLUMN``: the figures per group of faces a CSV names (origin, age,
glasses...), and whether a gap between the groups is more than chance; who is read as an
emotion at rest should not depend on whose face it is."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.train.bench_kit import bench, frames

from microemo_train.emotion_bench.groups import by_group
from microemo_train.emotion_bench.report import group_lines
from microemo_train.emotion_bench.score import NO_FACE, Reading, paired
from microemo_train.group_gap import BLANK, spread_p


def _faces(group: str, n: int, read_as: str, misread: int, score: float = 0.9) -> list[Reading]:
    """``n`` resting faces of ``group``, ``misread`` of them read as ``read_as``."""
    return [
        Reading("neutral", read_as if i < misread else "neutral", score, f"{group}{i}",
                0.0, "", (("origin", group),))
        for i in range(n)
    ]  # fmt: skip


def test_a_group_whose_resting_faces_read_as_fear_is_named_and_not_taken_for_chance():
    readings = _faces("east_asian", 20, "fear", 12) + _faces("white", 20, "fear", 1)
    by = by_group(readings, "origin")
    east, white = by["groups"]["east_asian"], by["groups"]["white"]
    assert (east["n"], east["neutral"], east["neutral_as_emotion"]) == (20, 20, 0.6)
    assert east["neutral_as_emotion_confident"] == 0.6 and east["top_answer"] == "fear"
    assert (white["neutral_as_emotion"], white["accuracy"]) == (0.05, 0.95)
    gap = by["gap_neutral_as_emotion"]
    assert (gap["highest"], gap["lowest"], gap["difference"]) == ("east_asian", "white", 0.55)
    assert gap["p"] < 0.01  # 12 of 20 against 1 of 20 is not chance
    assert by["gap_accuracy"]["lowest"] == "east_asian"
    text = "\n".join(group_lines("origin", by, 0.8))
    assert "by origin" in text and "east_asian" in text
    assert "gap in resting faces read as an emotion: 55% (east_asian highest, white lowest)" in text


def test_groups_read_alike_show_a_gap_chance_makes():
    readings = _faces("a", 10, "anger", 3) + _faces("b", 10, "anger", 4)
    gap = by_group(readings, "origin")["gap_neutral_as_emotion"]
    assert gap["difference"] == pytest.approx(0.1) and gap["p"] > 0.5
    level = by_group(_faces("a", 10, "anger", 3) + _faces("b", 10, "anger", 3), "origin")
    assert "gap in resting faces read as an emotion: none, every group alike" in group_lines(
        "origin", level, 0.8
    )
    # one test over all the groups: five groups alike spread wider than two by chance alone,
    # and the test knows it
    same = np.array([1, 0] * 25, float)
    assert spread_p(same, np.repeat(np.arange(5), 10), 2000, 0) > 0.5
    assert spread_p(np.r_[np.ones(10), np.zeros(40)], np.repeat(np.arange(5), 10), 2000, 0) < 0.01


def test_a_missed_face_counts_against_its_group_and_a_blank_value_is_a_group():
    readings = [
        Reading("happiness", NO_FACE, 0.0, "x", None, "", (("camera", "door"),)),
        Reading("happiness", "happiness", 0.9, "y", 0.0, "", (("camera", "door"),)),
        Reading("happiness", "happiness", 0.9, "z", 0.0, "", ()),
    ]
    by = by_group(readings, "camera")
    assert by["groups"]["door"] == {
        "n": 2, "no_face": 1, "accuracy": 0.5, "neutral": 0, "neutral_as_emotion": None,
        "neutral_as_emotion_confident": None, "top_answer": "happiness", "top_share": 1.0,
    }  # fmt: skip
    assert by["groups"][BLANK]["accuracy"] == 1.0
    assert by["gap_neutral_as_emotion"] is None  # no resting faces to compare
    assert by["gap_accuracy"]["lowest"] == "door"


def test_against_an_earlier_run_says_which_group_an_update_helped():
    before = _faces("east_asian", 10, "fear", 6) + _faces("white", 10, "fear", 1)
    after = _faces("east_asian", 10, "fear", 1) + _faces("white", 10, "fear", 2)
    by = paired(after, before, ("origin",))["by"]["origin"]
    assert by["east_asian"] == {"right_here_only": 5, "right_there_only": 0, "p_sign": 0.0625}
    assert (by["white"]["right_here_only"], by["white"]["right_there_only"]) == (0, 1)
    from microemo_train.emotion_bench.report import paired_lines

    text = "\n".join(paired_lines(paired(after, before, ("origin",)), "before"))
    assert "origin east_asian: +5 -0 (p 0.062)" in text and "origin white: +0 -1" in text


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """The CREMA-D actor smiling and at rest, and a grey picture with no face in it."""
    root = tmp_path_factory.mktemp("faces")
    (hap,) = frames("HAP", [40])
    neu0, neu60 = frames("NEU", [0, 60])
    for name, image in (("hap.png", hap), ("neu0.png", neu0), ("neu60.png", neu60)):
        cv2.imwrite(str(root / name), image)
    cv2.imwrite(str(root / "wall.png"), np.full((360, 480, 3), 128, np.uint8))
    return root


@pytest.mark.usefixtures("needs_asset")
def test_the_bench_reads_real_faces_per_group_a_csv_names(faces, tmp_path):
    csv_path = tmp_path / "faces.csv"
    csv_path.write_text(
        "path,label,Lighting\n"
        f"{faces}/hap.png,happy,bright\n{faces}/neu0.png,neutral,bright\n"
        f"{faces}/neu60.png,neutral,dim\n{faces}/wall.png,neutral,dim\n"
    )
    out = tmp_path / "bench"
    done = bench(
        str(csv_path), "--out", str(out), "--jobs", "1", "--by", "lighting",
        "--json", str(out / "f.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    by = json.loads((out / "f.json").read_text())["figures"]["by"]["lighting"]
    bright, dim = by["groups"]["bright"], by["groups"]["dim"]
    assert (bright["n"], bright["no_face"], bright["accuracy"]) == (2, 0, 1.0)
    assert (dim["n"], dim["no_face"], dim["accuracy"]) == (2, 1, 0.5)  # the wall: no face
    assert dim["neutral_as_emotion"] == 0.0  # the face at rest read as rest
    assert "by lighting" in done.stdout and "gap in accuracy: 0.500 (bright highest" in done.stdout
    # a second opinion that calls the dim resting face anger, against the first run: the
    # face it lost is in the dim group
    opinion = tmp_path / "opinion"
    opinion.mkdir()
    (opinion / "neu60.refined.jsonl").write_text(
        json.dumps({"episode_id": "x", "label": "anger", "confidence": 0.9}) + "\n"
    )
    again = bench(
        str(csv_path), "--out", str(out), "--rescore", "--refined", str(opinion), "--by",
        "lighting", "--against", str(out), "--json", str(tmp_path / "a.json"),
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    split = json.loads((tmp_path / "a.json").read_text())["figures"]["against"]["by"]["lighting"]
    assert split == {"dim": {"right_here_only": 0, "right_there_only": 1, "p_sign": 1.0}}
    # the same faces as a poorer camera takes them keep their groups
    dark = bench(
        str(csv_path), "--out", str(tmp_path / "dark"), "--jobs", "1", "--by", "lighting",
        "--camera", "dark", "--json", str(tmp_path / "d.json"),
    )  # fmt: skip
    assert dark.returncode == 0, dark.stderr
    groups = json.loads((tmp_path / "d.json").read_text())["figures"]["by"]["lighting"]["groups"]
    assert {k: v["n"] for k, v in groups.items()} == {"bright": 2, "dim": 2}


def test_by_a_column_the_data_lacks_is_refused_before_any_work(faces, tmp_path):
    csv_path = tmp_path / "faces.csv"
    csv_path.write_text(f"path,label\n{faces}/hap.png,happy\n")
    done = bench(str(csv_path), "--out", str(tmp_path / "x"), "--by", "origin")
    assert done.returncode == 2
    assert f"--by origin: {csv_path} has no such column (found ['path', 'label'])" in done.stderr
    assert not (tmp_path / "x" / "analyze").exists()
    folder = tmp_path / "classes"
    (folder / "happy").mkdir(parents=True)
    cv2.imwrite(str(folder / "happy" / "a.png"), cv2.imread(str(faces / "hap.png")))
    done = bench(str(folder), "--out", str(tmp_path / "y"), "--by", "origin")
    assert done.returncode == 2
    assert "--by origin:" in done.stderr and "give a CSV of path,label,origin rows" in done.stderr
