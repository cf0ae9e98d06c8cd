"""``microemo-train emotion-bench`` as a user runs it on their own labelled faces: class
folders or a CSV in, the figures out (printed, JSON, reliability plot), every input read by
``microemo analyze`` itself; bad inputs named with what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path
from tests.train.bench_kit import bench, frames

from microemo_train.emotion_bench.score import NO_FACE, Merge, Reading, paired, score
from microemo_train.paired import sign_test

pytestmark = pytest.mark.usefixtures("needs_asset")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """The CREMA-D actor: smiling (HAP frames 0 and 40) and at rest (NEU 0 and 60) as class
    folders named as data sets name them, and a picture with no face in it."""
    root = tmp_path_factory.mktemp("faces")
    for folder, emotion, idx in (("Happy", "HAP", [0, 40]), ("NEU", "NEU", [0, 60])):
        (root / folder).mkdir()
        for i, image in zip(idx, frames(emotion, idx)):
            cv2.imwrite(str(root / folder / f"{emotion}_{i}.png"), image)
    cv2.imwrite(str(root / "NEU" / "wall.png"), np.full((360, 480, 3), 128, np.uint8))
    return root


def test_a_folder_of_labelled_faces_is_scored_through_analyze(faces, tmp_path):
    out = tmp_path / "bench"
    done = bench(str(faces), "--out", str(out), "--jobs", "1", "--json", str(out / "f.json"))
    assert done.returncode == 0, done.stderr
    assert "accuracy" in done.stdout and "calibration error" in done.stdout
    figures = json.loads((out / "f.json").read_text())["figures"]
    assert figures["n"] == 5 and figures["no_face"] == 1
    assert figures["recall"] == {"happiness": 1.0, "neutral": pytest.approx(2 / 3, abs=1e-3)}
    assert figures["neutral_as_emotion"] == 0.0  # the wall is missed, the face at rest is rest
    # the actor faces the camera: the four faces found are in the first head-turn bin
    assert figures["by_yaw"]["0-10"]["n"] == 4 and list(figures["by_yaw"]) == ["0-10"]
    assert "head turned (deg)" in done.stdout
    # no input names its person: the intervals draw inputs, and hold the figure they surround
    chance = figures["chance"]
    assert (chance["by"], chance["units"]) == ("input", 5)
    assert chance["accuracy"][0] <= figures["accuracy"] <= chance["accuracy"][1]
    assert "95 % intervals (1000 draws of the 5 inputs): accuracy" in done.stdout
    assert (out / "reliability.png").stat().st_size > 1000
    assert (out / "analyze" / "analyze-index.csv").is_file(), "analyze's own outputs stay"
    # a second opinion (microemo-reason replay's file) stands in for the device's reading
    (out / "analyze" / "NEU_0.refined.jsonl").write_text(
        json.dumps({"episode_id": "x", "label": "anger", "confidence": 0.9}) + "\n"
    )
    again = bench(
        str(faces),
        "--out",
        str(out),
        "--rescore",
        "--refined",
        str(out / "analyze"),
        "--json",
        str(out / "g.json"),
    )
    assert again.returncode == 0, again.stderr
    refined = json.loads((out / "g.json").read_text())["figures"]
    assert refined["recall"]["neutral"] == pytest.approx(1 / 3, abs=1e-3)
    assert refined["confusion"]["neutral"]["anger"] == 1


def test_a_csv_with_an_unknown_class_is_refused_naming_the_line(faces, tmp_path):
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text(f"path,label\n{faces}/Happy/HAP_0.png,happy\n{faces}/NEU/NEU_0.png,bored\n")
    done = bench(str(csv_path), "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert f"{csv_path} line 3: class 'bored' is not a core emotion" in done.stderr
    assert "--label-map bored=EMOTION" in done.stderr


def test_scores_count_what_a_user_cares_about():
    readings = [
        Reading("neutral", "anger", 0.9),  # a resting face read as an emotion, confidently
        Reading("neutral", "neutral", 0.7),
        Reading("happiness", "happiness", 0.95),
        Reading("anger", NO_FACE, 0.0),
    ]
    r = score(readings)
    assert r["accuracy"] == 0.5 and r["no_face"] == 1
    assert r["neutral_as_emotion"] == 0.5 and r["neutral_as_emotion_confident"] == 0.5
    # ECE over the three faces found, in tenths of score: 0.9 and 0.95 share a bin (mean
    # score 0.925, one of two right), 0.7 is alone (right)
    assert r["calibration"]["ece"] == pytest.approx(2 / 3 * 0.425 + 1 / 3 * 0.3, abs=1e-3)
    # and which way: a mean shown score of 0.85 for two of three faces right says too much
    from microemo_train.emotion_bench.report import lines

    assert r["calibration"]["mean_score"] == pytest.approx(0.85)
    assert any(
        "mean score 0.850 against 0.667 read right: the scores say more than they should" in x
        for x in lines({**r, "confident": 0.8})
    ), lines({**r, "confident": 0.8})
    modest = score([Reading("happiness", "happiness", 0.55), Reading("anger", "anger", 0.6)])
    assert any("say less than they should" in x for x in lines({**modest, "confident": 0.8}))
    # within five points of the share read right: no verdict either way
    near = score([Reading("happiness", "happiness", 0.97), Reading("anger", "anger", 0.99)])
    (cal,) = (x for x in lines({**near, "confident": 0.8}) if x.startswith("calibration"))
    assert cal.endswith("mean score 0.980 against 1.000 read right"), cal
    negative = Merge.parse(["negative=anger,fear"])
    assert score([Reading(negative("fear"), negative("anger"), 0.5)])["accuracy"] == 1.0


def test_turned_heads_are_scored_apart_and_compared_bin_by_bin():
    """A cabin camera sees drivers from the side: the faces turned 30 degrees or more get
    their own accuracy, confident resting faces and most frequent answer, and a comparison
    says in which bin the faces that changed are."""
    here = [
        Reading("neutral", "neutral", 0.7, "a", 3.0),
        Reading("happiness", "happiness", 0.9, "b", -12.0),
        Reading("neutral", "disgust", 0.95, "c", 41.0),  # a driver looking sideways
        Reading("neutral", "disgust", 0.6, "d", -35.0),
        Reading("sadness", "sadness", 0.6, "e", 33.0),
        Reading("anger", NO_FACE, 0.0, "f", None),
    ]
    r = score(here)["by_yaw"]
    assert list(r) == ["0-10", "10-20", "30+"]
    assert r["30+"]["n"] == 3 and r["30+"]["accuracy"] == pytest.approx(1 / 3, abs=1e-3)
    assert r["30+"]["neutral"] == 2 and r["30+"]["neutral_as_emotion_confident"] == 0.5
    assert (r["30+"]["top_answer"], r["30+"]["top_share"]) == (
        "disgust",
        pytest.approx(2 / 3, abs=1e-3),
    )
    there = [Reading(x.label, x.label, 0.5, x.name, x.yaw) for x in here]  # read all right
    against = paired(here, there)["by_yaw"]
    assert against["30+"] == {"right_here_only": 0, "right_there_only": 2, "p_sign": 0.5}
    assert "0-10" not in against  # nothing changed there


def test_the_intervals_say_how_few_people_the_figures_rest_on():
    """Forty faces of four people, two read right every time and two never: by person the
    accuracy of 0.5 could as well be 0.0 or 1.0 on four other people; drawn as if the forty
    faces were forty people, the interval is far narrower, and wrongly so. The report says
    which it drew."""
    from microemo_train.emotion_bench.report import lines
    from microemo_train.emotion_bench.score import chance

    readings = [
        Reading("happiness", "happiness" if person < 2 else "anger", 0.9, f"{person}-{i}",
                0.0, f"S{person}")
        for person in range(4)
        for i in range(10)
    ]  # fmt: skip
    by_person = chance(readings)
    assert (by_person["by"], by_person["units"]) == ("person", 4)
    assert by_person["accuracy"] == [0.0, 1.0]
    # the scores (0.9) say too much for half the faces: ECE 0.4, and as little as 0.1 or as
    # much as 0.9 on other people
    assert by_person["ece"] == [pytest.approx(0.1), pytest.approx(0.9)]
    assert by_person["neutral_as_emotion_confident"] is None  # no resting face among them
    as_inputs = chance([Reading(r.label, r.answer, r.score, r.name) for r in readings])
    assert as_inputs["by"] == "input" and as_inputs["units"] == 40
    low, high = as_inputs["accuracy"]
    assert low < 0.5 < high and high - low < 0.4
    result = score(readings)
    result["chance"] = by_person
    assert "95 % intervals (1000 draws of the 4 people): accuracy 0.000-1.000, ECE 0.100-0.900" in (
        "\n".join(lines(result))
    )


def test_whose_resting_face_is_read_as_an_emotion_is_named():
    """Issue 19's fairness defect, measured: one person whose every resting face reads as
    surprise is named first, however small a share of all the resting faces that is."""
    from microemo_train.emotion_bench.report import lines

    readings = [Reading("neutral", "surprise", s, f"a{i}", 2.0, "S118") for i, s in
                enumerate((0.46, 0.75, 0.62, 0.64))]  # fmt: skip
    readings += [Reading("neutral", "sadness", 0.44, "b0", 1.0, "S095")]
    readings += [Reading("neutral", "neutral", 0.9, f"b{i}", 1.0, "S095") for i in range(1, 5)]
    readings += [Reading("neutral", "neutral", 0.9, f"c{i}", 1.0, "S010") for i in range(3)]
    readings += [Reading("neutral", NO_FACE, 0.0, "c9", None, "S010")]  # no face: not counted
    readings += [Reading("happiness", "surprise", 0.8, "d0", 1.0, "S010")]  # not at rest
    readings += [Reading("neutral", "anger", 0.9, "e0", 1.0)]  # no subject given
    people = score(readings)["resting_by_subject"]
    assert list(people) == ["S118", "S095", "S010"]
    assert people["S118"] == {
        "neutral": 4, "as_emotion": 4, "answers": {"surprise": 4}, "max_score": 0.75
    }  # fmt: skip
    assert (people["S095"]["as_emotion"], people["S095"]["neutral"]) == (1, 5)
    assert people["S010"] == {"neutral": 3, "as_emotion": 0, "answers": {}, "max_score": 0}
    text = "\n".join(lines(score(readings)))
    assert "2 of 3 people read as an emotion at rest at least once, 1 in half" in text
    assert "S118: 4 of 4 (surprise 4; highest score 0.75)" in text
    assert text.index("S118:") < text.index("S095:") and "S010:" not in text
    assert "resting faces by person" not in "\n".join(lines(score(readings[-1:])))


def test_a_csv_names_the_person_each_face_shows(faces, tmp_path):
    csv_path = tmp_path / "labels.csv"
    rows = [("Happy/HAP_0.png", "happy", "actor"), ("NEU/NEU_0.png", "neutral", "actor"),
            ("NEU/NEU_60.png", "neutral", "actor"), ("NEU/wall.png", "neutral", "")]  # fmt: skip
    csv_path.write_text(
        "path,label,subject\n" + "".join(f"{faces}/{p},{lab},{who}\n" for p, lab, who in rows)
    )
    out = tmp_path / "bench"
    done = bench(str(csv_path), "--out", str(out), "--jobs", "1", "--json", str(out / "f.json"))
    assert done.returncode == 0, done.stderr
    people = json.loads((out / "f.json").read_text())["figures"]["resting_by_subject"]
    assert people == {"actor": {"neutral": 2, "as_emotion": 0, "answers": {}, "max_score": 0}}
    assert "resting faces by person: 0 of 1 people read as an emotion" in done.stdout


def test_against_names_the_faces_only_one_run_reads_right(faces, tmp_path):
    """A run (here: the device's readings with a second opinion that calls one resting face
    anger) against an earlier run on the same faces: the one face that changed is named, on
    the side that read it right, and one face is no evidence either way (p = 1)."""
    before = tmp_path / "before"
    done = bench(str(faces), "--out", str(before), "--jobs", "1")
    assert done.returncode == 0, done.stderr
    opinion = tmp_path / "opinion"
    opinion.mkdir()
    (opinion / "NEU_0.refined.jsonl").write_text(
        json.dumps({"episode_id": "x", "label": "anger", "confidence": 0.9}) + "\n"
    )
    after = bench(
        str(faces), "--out", str(before), "--rescore", "--refined", str(opinion),
        "--against", str(before), "--json", str(tmp_path / "a.json"),
    )  # fmt: skip
    assert after.returncode == 0, after.stderr
    assert "read right only here: 0, only there: 1; sign test p = 1.000" in after.stdout
    assert "right only there: NEU_0" in after.stdout
    against = json.loads((tmp_path / "a.json").read_text())["figures"]["against"]
    assert against["n"] == 5 and against["by_class"] == {
        "neutral": {"right_here_only": 0, "right_there_only": 1}
    }
    # the same run against itself: nothing changed
    same = bench(str(faces), "--out", str(before), "--rescore", "--against", str(before))
    assert "read right only here: 0, only there: 0; sign test p = 1.000" in same.stdout
    # a folder that holds no run is named, with what to do
    missing = bench(str(faces), "--out", str(before), "--rescore", "--against", str(tmp_path))
    assert missing.returncode == 2
    assert f"--against {tmp_path}: no emotion-bench results there" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_sign_test_tells_a_real_difference_from_a_few_faces():
    # 8 faces read right only by the old model, 1 only by the new: unlikely by chance
    assert sign_test(1, 9) == pytest.approx(2 * (1 + 9) / 2**9)
    assert sign_test(3, 5) == 1.0 and sign_test(0, 0) == 1.0
    old = [Reading("sadness", "sadness", 0.6, f"f{i}") for i in range(8)]
    old += [Reading("happiness", "neutral", 0.6, "g"), Reading("fear", "fear", 0.5, "h")]
    new = [Reading("sadness", "neutral", 0.7, f"f{i}") for i in range(8)]
    new += [Reading("happiness", "happiness", 0.9, "g"), Reading("fear", "fear", 0.5, "h")]
    r = paired(new, old)
    assert (r["right_here_only"], r["right_there_only"]) == (1, 8)
    assert r["p_sign"] == pytest.approx(0.0391, abs=1e-4)
    assert r["by_class"]["sadness"] == {"right_here_only": 0, "right_there_only": 8}
    assert r["accuracy_here"] == 0.2 and r["accuracy_there"] == 0.9


def test_a_poorer_camera_reads_the_same_faces_and_is_compared_face_by_face(faces, tmp_path):
    """``--camera dark``: the faces are read as a dim camera takes them (copies in the out
    folder, the originals untouched), and ``--against`` the clean run pairs every face by
    name, so the user sees what the camera costs on the same faces."""
    clean = tmp_path / "clean"
    assert bench(str(faces), "--out", str(clean), "--jobs", "1").returncode == 0
    dark = tmp_path / "dark"
    done = bench(
        str(faces), "--out", str(dark), "--jobs", "1", "--camera", "dark=0.3",
        "--against", str(clean), "--json", str(dark / "f.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    original = cv2.imread(str(faces / "Happy" / "HAP_0.png"))
    copy = cv2.imread(str(dark / "camera-dark-0.3" / "Happy" / "HAP_0.png"))
    assert copy.shape == original.shape and copy.mean() < 0.4 * original.mean()
    report = json.loads((dark / "f.json").read_text())
    assert report["camera"] == "dark=0.3"
    assert report["figures"]["n"] == 5 and report["figures"]["against"]["n"] == 5
    assert "read right only here:" in done.stdout
    # --rescore reads the camera's run again, and the clean run against the dark one pairs too
    again = bench(str(faces), "--out", str(clean), "--rescore", "--against", str(dark))
    assert again.returncode == 0, again.stderr
    assert "read right only here:" in again.stdout
    # scoring a run again as if it had been read with another camera is refused, named
    wrong = bench(str(faces), "--out", str(dark), "--rescore", "--camera", "blur")
    assert wrong.returncode == 2
    assert f"{dark} was read with --camera dark-0.3; run without --rescore" in wrong.stderr


def test_a_camera_copy_is_the_same_every_run_and_a_broken_picture_is_left_out(faces, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(faces, data)
    (data / "Happy" / "broken.png").write_bytes(b"not a picture")
    (data / "NEU" / "cut.mp4").write_bytes(b"not a video either")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        done = bench(
            str(data), "--out", str(out), "--jobs", "1", "--camera", "noise",
            "--json", str(out / "f.json"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs.append(out / "camera-noise-8")
    first, second = ((r / "NEU" / "NEU_0.png").read_bytes() for r in runs)
    assert first == second, "the same camera makes the same copy"
    noisy = cv2.imread(str(runs[0] / "NEU" / "NEU_0.png")).astype(float)
    clean = cv2.imread(str(faces / "NEU" / "NEU_0.png")).astype(float)
    assert 6 < np.std(noisy - clean) < 10  # 8 grey levels, clipped at black and white
    figures = json.loads((tmp_path / "a" / "f.json").read_text())["figures"]
    assert figures["n"] == 5 and figures["left_out"] == 2
    assert "broken" in done.stderr and "cut" in done.stderr


@pytest.mark.parametrize(
    "spec, said",
    [
        ("fog", "unknown camera 'fog'; use one of half, jpeg, noise, dark, blur, glasses"),
        ("glasses=1.5", "glasses takes a lens tint from 0 to 1"),
        ("jpeg=300", "jpeg takes a JPEG quality from 1 to 100"),
        ("dark=dim", "'dim' is not a number (dark takes a gain)"),
    ],
)
def test_a_bad_camera_is_refused_before_any_work(faces, tmp_path, spec, said):
    done = bench(str(faces), "--out", str(tmp_path / "x"), "--camera", spec)
    assert done.returncode == 2
    assert f"--camera {spec!r}: {said}" in done.stderr
    assert not (tmp_path / "x").exists()


def test_a_video_is_copied_at_its_own_frame_rate_every_frame_as_the_camera_takes_it(tmp_path):
    from microemo_train.emotion_bench.cameras import Camera, make_copies
    from microemo_train.emotion_bench.inputs import LabelledInput

    src = clip_path("HAP")
    made = make_copies(
        [LabelledInput(src, "happiness")], Camera.parse("blur=1"), tmp_path, lambda: None
    )
    a, b = cv2.VideoCapture(str(src)), cv2.VideoCapture(str(made[0].path))
    assert made[0].path.suffix == ".mkv"
    assert b.get(cv2.CAP_PROP_FPS) == pytest.approx(a.get(cv2.CAP_PROP_FPS), abs=0.01)
    n = 0
    while True:
        ok_a, fa = a.read()
        ok_b, fb = b.read()
        assert ok_a == ok_b
        if not ok_a:
            break
        sharp = cv2.Laplacian(cv2.cvtColor(fa, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        soft = cv2.Laplacian(cv2.cvtColor(fb, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
        assert soft < 0.5 * sharp
        n += 1
    assert n > 30
