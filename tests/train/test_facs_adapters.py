"""The FACS data set adapters read each layout as its distribution ships it (CK+, DISFA, BP4D,
a CSV per video, a manifest), count only the AUs a data set codes, state how long videos are
subsampled, and name every missing file or bad code in one message. No landmarker here: the
pictures are small stand-ins, only their names and order matter."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from microemo_train.facs import adapters
from microemo_train.facs.adapters import LoadOptions
from microemo_train.facs.codes import parse_aus
from microemo_train.facs.files import Sampling
from microemo_train.facs.items import FacsDataError, VideoFrame


def _image(path: Path, value: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((24, 32, 3), value, np.uint8))
    return path


def _video(path: Path, frames: int, fps: float = 20.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (32, 24))
    for i in range(frames):
        out.write(np.full((24, 32, 3), i * 5 % 255, np.uint8))
    out.release()
    return path


def _csv(path: Path, rows: list[list[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


# -- AU codes as coders write them ------------------------------------------------------------


def test_au_codes_with_and_without_intensities() -> None:
    assert parse_aus("1+2+4") == {1: 0.0, 2: 0.0, 4: 0.0}
    assert parse_aus("1:3+12:5") == {1: 3.0, 12: 5.0}
    assert parse_aus("1C + 12E + AU4:b") == {1: 3.0, 12: 5.0, 4: 2.0}
    assert parse_aus("L14+R12") == {14: 0.0, 12: 0.0}  # the side is not kept
    assert parse_aus("0") == {} and parse_aus("none") == {}
    for bad, part in (("1+x", "'x'"), ("12:7", "'12:7'"), ("", "empty")):
        with pytest.raises(ValueError, match=part):
            parse_aus(bad)


# -- the manifest -----------------------------------------------------------------------------


def test_a_manifest_reads_frames_folders_and_videos_with_neutral_references(tmp_path: Path):
    _image(tmp_path / "s1" / "neutral.png")
    _image(tmp_path / "s1" / "apex.png", 200)
    for i in range(1, 7):
        _image(tmp_path / "s2" / "seq" / f"img_{i:03d}.png", i * 30)
    _video(tmp_path / "s3" / "clip.avi", 30)
    man = _csv(
        tmp_path / "man.csv",
        [
            [" PATH ", "Subject", "AUs", "neutral", "Label", "Frame"],
            ["s1/apex.png", "s1", "12:D+6", "s1/neutral.png", "Happy", ""],
            ["s2/seq", "s2", "1C+2C+5", "", "surprise", "img_004.png"],
            ["s3/clip.avi", "s3", "4+7", "s1/neutral.png", "", "20"],
        ],
    )
    o = LoadOptions(neutral_frames=3, apex_frames=2, sampling=Sampling(every=5))
    loaded = adapters.load("manifest", man, o)
    assert set(loaded.sets) == {"neutral-apex", "apex"}
    still, video = loaded.sets["neutral-apex"]
    # neutral x3, then the coded image x2; the codes sit on the last frame
    assert (
        still.frames == (tmp_path / "s1" / "neutral.png",) * 3 + (tmp_path / "s1" / "apex.png",) * 2
    )
    assert still.neutral == (0, 1, 2) and still.codes == {4: {12: 4.0, 6: 0.0}}
    assert still.label == "happiness" and still.subject == "s1"
    # a video read up to the coded frame 20, every 5th frame counted back from it
    assert video.frames[3:] == tuple(VideoFrame(tmp_path / "s3" / "clip.avi", i)
                                     for i in (0, 5, 10, 15, 20))  # fmt: skip
    assert video.codes == {7: {4: 0.0, 7: 0.0}} and video.label is None
    # a frame folder ends on its coded frame (every 5th counted back from it: itself alone)
    assert [p.name for p in loaded.sets["apex"][0].frames] == ["img_004.png"]
    (folder,) = adapters.load("manifest", man, LoadOptions(mode="apex")).sets["apex"]
    assert [p.name for p in folder.frames] == [f"img_{i:03d}.png" for i in range(1, 5)]
    assert folder.codes == {3: {1: 3.0, 2: 3.0, 5: 0.0}} and folder.neutral == ()
    # AUs that no row mentions are not coded by this manifest: unknown, not absent
    assert still.coded == frozenset({1, 2, 4, 5, 6, 7, 12})


def test_a_manifest_names_every_missing_file_then_stops_or_skips(tmp_path: Path):
    _image(tmp_path / "a.png")
    rows = [["path", "subject", "aus", "neutral"], ["a.png", "s1", "12", ""],
            ["gone.png", "s2", "12", ""], ["a.png", "s3", "4", "nowhere/n.png"],
            ["a.png", "s4", "4", ""]]  # fmt: skip
    man = _csv(tmp_path / "m.csv", rows)
    with pytest.raises(FacsDataError) as err:
        adapters.load("manifest", man)
    msg = str(err.value)
    assert "line 3: path gone.png" in msg and "line 4: neutral nowhere/n.png" in msg
    assert "--on-missing skip" in msg and "\n" not in msg
    loaded = adapters.load("manifest", man, LoadOptions(on_missing="skip"))
    assert [it.subject for it in loaded.sets["apex"]] == ["s1", "s4"]
    assert any("skipped 2 item(s), 2 kept" in n and "gone.png" in n for n in loaded.notes)


def test_a_manifest_with_bad_rows_says_which(tmp_path: Path):
    _image(tmp_path / "a.png")
    with pytest.raises(FacsDataError, match=r"missing column\(s\) aus"):
        adapters.load("manifest", _csv(tmp_path / "m1.csv", [["path", "subject"], ["a.png", "s"]]))
    rows = [["path", "subject", "aus", "label"], ["a.png", "s1", "12:9", ""],
            ["a.png", "s2", "4", "grumpy"], ["a.png", "", "4", ""]]  # fmt: skip
    with pytest.raises(FacsDataError) as err:
        adapters.load("manifest", _csv(tmp_path / "m2.csv", rows))
    msg = str(err.value)
    assert "line 2: cannot read '12:9'" in msg
    assert "line 3: unknown emotion 'grumpy'" in msg and "line 4: subject is empty" in msg


# -- CK+ as distributed -----------------------------------------------------------------------


def _ck_sequence(root: Path, seq: str, frames: int, facs: str | None, emotion: str | None):
    subject, number = seq.split("_")
    for i in range(1, frames + 1):
        _image(root / "cohn-kanade-images" / subject / number / f"{seq}_{i:08d}.png", i)
    for kind, text in (("FACS", facs), ("Emotion", emotion)):
        if text is not None:
            name = f"{seq}_{frames:08d}_{kind.lower()}.txt"
            path = root / kind / subject / number / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def test_ckplus_as_distributed_neutral_first_frame_apex_the_coded_peak(tmp_path: Path):
    root = tmp_path / "CK+"
    _ck_sequence(root, "S005_001", 11, "   9.0000000e+00   0.0000000e+00\n"
                 "   1.7000000e+01   2.0000000e+00\n", "   3.0000000e+00\n")  # fmt: skip
    _ck_sequence(root, "S010_002", 6, "   1.2000000e+01   4.0000000e+00\n", None)
    loaded = adapters.load("ckplus", root, LoadOptions(neutral_frames=2, apex_frames=3))
    assert loaded.layout == "ckplus (distributed)"
    first, second = loaded.sets["neutral-apex"]
    images = root / "cohn-kanade-images" / "S005" / "001"
    assert (
        first.frames
        == (images / "S005_001_00000001.png",) * 2 + (images / "S005_001_00000011.png",) * 3
    )
    assert first.codes == {4: {9: 0.0, 17: 2.0}} and first.label == "disgust"
    assert first.prepare == "" and first.coded is None  # full-size frames, every AU coded
    assert second.codes == {4: {12: 4.0}} and second.label is None
    apex = loaded.sets["apex"][0]
    assert [p.name for p in apex.frames] == [f"S005_001_{i:08d}.png" for i in (9, 10, 11)]
    assert apex.neutral == () and apex.codes == {2: {9: 0.0, 17: 2.0}}


def test_ckplus_missing_images_are_named(tmp_path: Path):
    root = tmp_path / "ck"
    _ck_sequence(root, "S005_001", 3, "   1.2000000e+01   0.0000000e+00\n", None)
    facs = root / "FACS" / "S011" / "004" / "S011_004_00000020_facs.txt"
    facs.parent.mkdir(parents=True)
    facs.write_text("   1.0000000e+00   0.0000000e+00\n")
    with pytest.raises(FacsDataError, match=r"1 missing: .*S011_004_00000020\.png"):
        adapters.load("ckplus", root)
    loaded = adapters.load("ckplus", root, LoadOptions(on_missing="skip"))
    assert [it.key for it in loaded.sets["neutral-apex"]] == ["S005_001/neutral-apex"]
    with pytest.raises(FacsDataError, match="neither CK\\+ layout"):
        adapters.load("ckplus", tmp_path / "ck" / "FACS")


# -- DISFA, BP4D and a CSV per video ----------------------------------------------------------


def _disfa(root: Path, subjects: tuple[str, ...], frames: int = 30) -> None:
    for sn in subjects:
        _video(root / "Videos_LeftCamera" / f"LeftVideo{sn}_comp.avi", frames)
        for au in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26):
            lines = [f"{f},{3 if au == 12 and f == 10 else 0}" for f in range(1, frames + 1)]
            path = root / "ActionUnit_Labels" / sn / f"{sn}_au{au}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")


def test_disfa_frames_count_from_one_and_only_its_aus_are_negatives(tmp_path: Path):
    _disfa(tmp_path, ("SN001", "SN002"))
    loaded = adapters.load("au-csv", tmp_path)  # the layout is told by its folders
    assert loaded.layout == "au-csv (disfa)"
    sn1 = loaded.sets["disfa"][0]
    assert sn1.subject == "SN001" and sn1.fps == 20.0 and len(sn1.frames) == 30
    assert sn1.frames[9] == VideoFrame(
        tmp_path / "Videos_LeftCamera" / "LeftVideoSN001_comp.avi", 9
    )
    assert sn1.codes[9] == {12: 3.0} and sn1.codes[8] == {}  # label frame 10 = video frame 9
    assert 7 not in sn1.coded and 12 in sn1.coded  # DISFA never codes AU7: unknown
    assert not loaded.notes


def test_long_videos_are_subsampled_and_the_output_says_so(tmp_path: Path):
    _disfa(tmp_path, ("SN001",), frames=30)
    o = LoadOptions(sampling=Sampling(every=2, max_frames=10))
    (item,) = adapters.load("au-csv", tmp_path, o).sets["disfa"]
    # 30 frames, at most 10: every 3rd frame, and the rate the device sees drops with it
    assert [f.index for f in item.frames] == list(range(0, 30, 3))
    assert item.fps == pytest.approx(20.0 / 3)
    (note,) = adapters.load("au-csv", tmp_path, o).notes
    assert "10 of 30 coded frames read, every 3 frame(s)" in note and "--max-frames 10" in note


def test_disfa_missing_files_are_all_named(tmp_path: Path):
    _disfa(tmp_path, ("SN001", "SN002", "SN003"))
    (tmp_path / "Videos_LeftCamera" / "LeftVideoSN002_comp.avi").unlink()
    (tmp_path / "ActionUnit_Labels" / "SN003" / "SN003_au12.txt").unlink()
    with pytest.raises(FacsDataError) as err:
        adapters.load("au-csv", tmp_path, LoadOptions(layout="disfa"))
    assert "2 missing" in str(err.value)
    assert "LeftVideoSN002_comp.avi" in str(err.value) and "SN003_au12.txt" in str(err.value)
    loaded = adapters.load("au-csv", tmp_path, LoadOptions(on_missing="skip"))
    sn1, sn3 = loaded.sets["disfa"]
    assert sn3.subject == "SN003" and 12 not in sn3.coded and 12 in sn1.coded


def test_bp4d_nine_is_not_coded_and_intensities_come_from_their_files(tmp_path: Path):
    for f in range(100, 110):
        _image(tmp_path / "Sequences" / "F001" / "T1" / f"{f}.jpg", f)
    _csv(tmp_path / "AUCoding" / "AU_OCC" / "F001_T1.csv",
         [["Frame", "1", "4", "12", "99"]]
         + [[f, 0, 9 if f < 103 else 0, int(f >= 105), 0] for f in range(100, 111)])  # fmt: skip
    ints = _csv(tmp_path / "AUCoding" / "AU_INT" / "AU12" / "F001_T1_AU12.csv",
                [[f, 9 if f == 109 else 4] for f in range(100, 111)])  # fmt: skip
    assert ints.is_file()
    with pytest.raises(FacsDataError, match="1 of 11 coded frames have no image"):
        adapters.load("au-csv", tmp_path)
    loaded = adapters.load("au-csv", tmp_path, LoadOptions(on_missing="skip"))
    assert loaded.layout == "au-csv (bp4d)"
    (item,) = loaded.sets["bp4d"]
    assert item.subject == "F001" and item.fps == 25.0 and len(item.frames) == 10
    assert item.coded == frozenset({1, 4, 12})  # AU99 is no AU the device reads
    assert item.coded_at(0) == frozenset({1, 12}) and item.coded_at(5) == frozenset({1, 4, 12})
    assert item.codes[5] == {12: 4.0} and item.codes[9] == {12: 0.0} and item.codes[0] == {}


def test_a_csv_per_video_or_folder_with_loose_column_names(tmp_path: Path):
    _video(tmp_path / "p1_happy.avi", 12)
    _csv(tmp_path / "p1_happy.csv", [["Frame", " AU 12 ", "au1"]]
         + [[f, 1 if f > 5 else 0, "" if f < 2 else 0] for f in range(1, 13)])  # fmt: skip
    for f in range(3):
        _image(tmp_path / "p2_take" / f"frame{f}.png", f)
    _csv(tmp_path / "p2_take.csv", [["frame", "subject", "4"], [0, "anna", 0], [2, "anna", 1]])
    loaded = adapters.load("au-csv", tmp_path, LoadOptions(frame_base=1))
    video, folder = loaded.sets["generic"]
    # presence data (no value above 1): present without an intensity
    assert video.subject == "p1" and video.codes[6] == {12: 0.0}
    assert video.frames[0] == VideoFrame(tmp_path / "p1_happy.avi", 0)
    assert video.coded_at(0) == frozenset({12}) and video.coded_at(3) == frozenset({1, 12})
    assert folder.subject == "anna" and folder.frames[-1].name == "frame2.png"
    assert folder.codes == {0: {}, 1: {4: 0.0}}
    _csv(tmp_path / "p3.csv", [["frame", "AU12"], [0, 3]])
    with pytest.raises(FacsDataError, match=r"p3\[\.mp4\|\.avi\|/\]"):
        adapters.load("au-csv", tmp_path, LoadOptions(layout="generic"))
    _csv(tmp_path / "p3.csv", [["frame", "AU12"], [0, 7]])
    with pytest.raises(FacsDataError, match=r"p3\.csv:2: '7' is outside 0-5"):
        adapters.load("au-csv", tmp_path)


def test_intensities_below_a_floor_count_as_absent(tmp_path: Path):
    _disfa(tmp_path, ("SN001",))
    item = adapters.load("au-csv", tmp_path, LoadOptions(min_intensity=4)).sets["disfa"][0]
    assert item.codes[9] == {}
