"""``microemo-train facs-frames`` turns a FACS data set's labelled items into the frame folders
the training recipe (models/train-ckplus.toml, generic adapter) reads: one folder per
sequence under its emotion, the subject first in its name, the neutral face held, then the
apex, prepared as the benchmark prepares them. A stand-in for CK+'s development layout here
(CK+ itself is research-only and never a test dependency)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from microemo_train.cli import main
from microemo_train.datasets import generic


def _crop(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((48, 48), value, np.uint8))


def _ck_dev(root: Path) -> None:
    """Two subjects, three sequences: neutral crops (value 10), apex crops (value 200+)."""
    seqs = {"S005_001": "disgust", "S010_002": "happiness", "S010_004": "anger"}
    root.mkdir(parents=True)
    with (root / "facs.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["subject", "sequence", "peak_frame", "au", "intensity"])
        for n, (seq, emotion) in enumerate(seqs.items()):
            subject, number = seq.split("_")
            _crop(root / "neutral" / f"{seq}_00000001.png", 10)
            _crop(root / "apex" / emotion / f"{seq}_00000011.png", 200 + n)
            for f in (9, 10, 11):
                _crop(root / "last3" / emotion / f"{seq}_{f:08d}.png", 100 + f)
            w.writerow([subject, number, 11, 12 if emotion == "happiness" else 4, 3])
    _crop(root / "neutral" / "S010_009_00000001.png", 10)  # a neutral crop with no apex


def test_frame_folders_the_recipe_reads(tmp_path: Path, capsys) -> None:
    _ck_dev(tmp_path / "ck")
    out = tmp_path / "frames"
    args = ["facs-frames", "--adapter", "ckplus", "--root", str(tmp_path / "ck"), "--out"]
    args += [str(out), "--mode", "neutral-apex", "--neutral-frames", "15", "--apex-frames", "5"]
    assert main(args) == 0
    said = capsys.readouterr().out
    assert f"--set data.root={out / 'neutral-apex'}" in said

    folder = out / "neutral-apex" / "happiness" / "S010_002"
    frames = sorted(folder.glob("frame_*.png"))
    assert len(frames) == 20
    first, last = cv2.imread(str(frames[0])), cv2.imread(str(frames[-1]))
    assert first.shape == (320, 320, 3)  # 48 -> 192 upscaled, 64 px black border each side
    assert first[160, 160, 0] == 10 and last[160, 160, 0] == 201  # neutral held, then apex
    assert first[10, 10, 0] == 0
    assert all(cv2.imread(str(p))[160, 160, 0] == 10 for p in frames[:15])

    items = generic(out / "neutral-apex", 30.0)
    assert sorted((it.label, it.subject) for it in items) == [
        ("anger", "S010"),
        ("disgust", "S005"),
        ("happiness", "S010"),
    ]


def test_an_existing_folder_is_never_written_over(tmp_path: Path, capfd) -> None:
    _ck_dev(tmp_path / "ck")
    out = tmp_path / "frames"
    (out / "mine").mkdir(parents=True)
    (out / "mine" / "keep.txt").write_text("precious")
    args = ["facs-frames", "--adapter", "ckplus", "--root", str(tmp_path / "ck"), "--out"]
    assert main([*args, str(out)]) == 2
    assert "not empty" in capfd.readouterr().err  # the terminal, where the CLI writes
    assert (out / "mine" / "keep.txt").read_text() == "precious"
    assert [p.name for p in out.iterdir()] == ["mine"]


def test_both_sets_apex_frames_as_read(tmp_path: Path) -> None:
    _ck_dev(tmp_path / "ck")
    out = tmp_path / "frames"
    args = ["facs-frames", "--adapter", "ckplus", "--root", str(tmp_path / "ck"), "--out"]
    assert main([*args, str(out)]) == 0
    apex = sorted((out / "apex" / "anger" / "S010_004").glob("*.png"))
    assert [cv2.imread(str(p))[160, 160, 0] for p in apex] == [109, 110, 111]
    assert len(list((out / "neutral-apex" / "anger" / "S010_004").glob("*.png"))) == 12
