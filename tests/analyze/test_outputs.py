"""Where ``microemo analyze`` writes: never over an input, a distinct and stated name per
input when names collide (the same name again on the next run), and a frame folder analysed
into itself reads the same frames the next time."""

from __future__ import annotations

import csv
from pathlib import Path

from analyze_kit import run_analyze, write_frame_folder, write_still
from tests.conftest import clip_path

from microemo.publish.local import CSV_COLUMNS, CSV_VERSION
from microemo.sources.files import is_own_picture


def _index(out: Path) -> dict[str, dict[str, str]]:
    with (out / "analyze-index.csv").open() as f:
        return {r["name"]: r for r in csv.DictReader(f)}


def _rows(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1  # less the header


def test_an_image_analysed_into_its_own_folder_is_never_written_over(tmp_path: Path):
    photos = tmp_path / "photos"
    pic = write_still(photos / "pic.png")
    # not an input, but not analyze's either: a photo beside the one analysed
    holiday = write_still(photos / "holiday.jpg", "SAD")
    other = write_still(photos / "holiday.png", "NEU")
    before = {p: p.read_bytes() for p in (pic, holiday, other)}
    for _ in range(2):  # and again: the picture analyze wrote is not the input
        proc = run_analyze(pic, holiday, "--out", photos)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert {p: p.read_bytes() for p in before} == before
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("pic__photos: 1 frames, 1 faces") and f"from {pic}" in lines[0]
    assert f"renamed: pic would write over the input {photos / 'pic.png'}" in lines[0]
    assert lines[1].startswith("holiday__photos: 1 frames")
    assert f"{other}, which analyze did not write" in lines[1]
    assert is_own_picture(photos / "pic__photos.png") and not is_own_picture(pic)
    assert _rows(photos / "pic__photos.csv") == 1
    row = _index(photos)["pic__photos"]
    assert row["input"] == str(pic)
    # the index says which version of the columns the CSV has, and it is the one written
    assert row["csv_version"] == str(CSV_VERSION)
    with (photos / "pic__photos.csv").open() as f:
        assert next(csv.reader(f)) == CSV_COLUMNS


def test_inputs_sharing_a_name_get_distinct_stated_names_that_stay(tmp_path: Path):
    video = tmp_path / "a" / "real.flv"
    video.parent.mkdir()
    video.write_bytes(clip_path("HAP").read_bytes())
    still = write_still(tmp_path / "b" / "real.png", "NEU")
    out = tmp_path / "out"

    proc = run_analyze(video, still, "--out", out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _rows(out / "real.csv") == 56  # the first input keeps the plain name
    assert _rows(out / "real__b.csv") == 1  # the second gets its parent folder's
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("real: 56 frames") and f"from {video}" in lines[0]
    assert lines[1].startswith("real__b: 1 frames") and f"from {still}" in lines[1]
    assert "renamed: real is " in lines[1]
    assert f"note: {still} -> real__b.*" in proc.stderr
    index = _index(out)
    assert {n: r["input"] for n, r in index.items()} == {"real": str(video), "real__b": str(still)}
    assert index["real"]["png"] == "real.png" and index["real__b"]["frames"] == "1"

    # later runs into the same folder: in any order each input keeps its name, and a third
    # input called "real" takes none of theirs
    third = write_still(tmp_path / "c" / "real.jpg", "SAD")
    proc = run_analyze(third, still, video, "--out", out, "--no-plot")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _rows(out / "real.csv") == 56 and _rows(out / "real__b.csv") == 1
    assert _rows(out / "real__c.csv") == 1
    assert set(_index(out)) == {"real", "real__b", "real__c"}
    assert _index(out)["real__c"]["input"] == str(third)


def test_a_frame_folder_analysed_into_itself_reads_the_same_frames_again(tmp_path: Path):
    folder = write_frame_folder(tmp_path / "S128_004", n=8)
    frames = {p.name: p.read_bytes() for p in folder.iterdir()}
    results = []
    for _ in range(2):
        proc = run_analyze(folder, "--out", folder)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "S128_004: 8 frames" in proc.stdout
        results.append((folder / "S128_004.csv").read_text())
    assert results[0] == results[1]
    assert is_own_picture(folder / "S128_004.png")
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name in frames} == frames
