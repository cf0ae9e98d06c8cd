"""Dataset adapters on fixture layouts as the datasets ship them, and the errors a user
gets for a missing label, column or file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("tensorflow")
pytest.importorskip("skrebate")


def frames(folder: Path, numbers: range) -> None:
    import cv2

    folder.mkdir(parents=True)
    for n in numbers:
        cv2.imwrite(str(folder / f"img{n}.jpg"), np.zeros((8, 8, 3), np.uint8))


def test_crema_d_layout(tmp_path):
    from microemo_train.datasets import DataConfig, load_items

    vf = tmp_path / "VideoFlash"
    vf.mkdir()
    for name in (
        "1001_DFA_ANG_XX.flv",
        "1001_IEO_HAP_HI.flv",
        "1002_DFA_ANG_LO.mp4",
        "1002_TIE_NEU_XX.mp4",
        "README.txt",
    ):
        (vf / name).write_bytes(b"x")
    items = load_items(DataConfig(adapter="crema-d", root=tmp_path))
    assert sorted((i.path.name, i.label, i.subject) for i in items) == [
        ("1001_DFA_ANG_XX.flv", "anger", "1001"),
        ("1001_IEO_HAP_HI.flv", "happiness", "1001"),
        ("1002_DFA_ANG_LO.mp4", "anger", "1002"),
        ("1002_TIE_NEU_XX.mp4", "neutral", "1002"),
    ]


def test_casme2_csv_sheet_trims_to_onset_offset(tmp_path):
    from microemo_train.datasets import DataConfig, load_items

    raw = tmp_path / "CASME2_RAW_selected"
    frames(raw / "sub01" / "EP02_01f", range(46, 60))
    frames(raw / "sub02" / "EP03_02", range(1, 10))
    sheet = tmp_path / "coding.csv"
    sheet.write_text(
        "Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame,Action Units,"
        "Estimated Emotion\n01,EP02_01f,48,50,55,1+2,happiness\n"
        "02,EP03_02,2,4,8,R4,disgust\n"
    )
    items = load_items(DataConfig(adapter="casme2", root=raw, sheet=sheet))
    assert [(i.label, i.subject, i.first_frame, i.last_frame, i.fps) for i in items] == [
        ("happiness", "01", 48, 55, 200.0),
        ("disgust", "02", 2, 8, 200.0),
    ]

    from microemo_train.windows import trim

    t = np.arange(14) * 5.0
    x = np.arange(14, dtype=np.float32)[:, None]
    _, kept = trim(items[0], t, x, np.arange(14))
    assert kept[:, 0].tolist() == list(range(2, 10))  # img48..img55


def test_sheet_missing_column_is_named(tmp_path):
    from microemo_train.datasets import DataConfig, DatasetError, load_items

    sheet = tmp_path / "coding.csv"
    sheet.write_text("Subject,Filename,OnsetFrame,Offset Frame\n01,EP02_01f,1,5\n")
    with pytest.raises(DatasetError, match="Estimated Emotion"):
        load_items(DataConfig(adapter="casme2", root=tmp_path, sheet=sheet))


def test_samm_sheet(tmp_path):
    from microemo_train.datasets import DataConfig, load_items

    frames(tmp_path / "006" / "006_1_2", range(5562, 5570))
    frames(tmp_path / "007" / "007_3_1", range(100, 110))
    sheet = tmp_path / "SAMM_codes.csv"
    sheet.write_text(
        "subject,filename,onset frame,apex frame,offset frame,duration,type,"
        "action units,estimated emotion\n"
        "006,006_1_2,5563,5566,5569,7,Micro - 1/2,4+7,Anger\n"
        "007,007_3_1,101,104,108,7,Micro - 1/2,12,Happiness\n"
    )
    items = load_items(DataConfig(adapter="samm", root=tmp_path, sheet=sheet))
    assert [(i.path.name, i.label, i.subject, i.first_frame) for i in items] == [
        ("006_1_2", "anger", "006", 5563),
        ("007_3_1", "happiness", "007", 101),
    ]


def test_manifest_csv_and_unreadable_file(tmp_path):
    from microemo_train.datasets import DataConfig, DatasetError, load_items

    (tmp_path / "a.mp4").write_bytes(b"x")
    (tmp_path / "b.mp4").write_bytes(b"x")
    csv = tmp_path / "m.csv"
    csv.write_text("path,label,subject\na.mp4,anger,p1\nb.mp4,happiness,p2\n")
    items = load_items(DataConfig(adapter="manifest", root=csv))
    assert [(i.path.name, i.label, i.subject) for i in items] == [
        ("a.mp4", "anger", "p1"),
        ("b.mp4", "happiness", "p2"),
    ]
    csv.write_text("path,label,subject\na.mp4,anger,p1\nmissing.mp4,happiness,p2\n")
    with pytest.raises(DatasetError, match=r"row 3.*missing\.mp4"):
        load_items(DataConfig(adapter="manifest", root=csv))
    csv.write_text("path,label,subject\na.mp4,,p1\n")
    with pytest.raises(DatasetError, match=r"a\.mp4.*no label"):
        load_items(DataConfig(adapter="manifest", root=csv))


def test_configured_label_without_inputs_is_named(tmp_path):
    from microemo_train.datasets import DataConfig, DatasetError, load_items

    for label in ("anger", "happiness"):
        (tmp_path / label).mkdir()
        (tmp_path / label / "p1_x.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="'fear'"):
        load_items(
            DataConfig(adapter="generic", root=tmp_path, labels=["anger", "fear", "happiness"])
        )
    (tmp_path / "anger" / "notes.txt").write_text("?")
    with pytest.raises(DatasetError, match=r"notes\.txt"):
        load_items(DataConfig(adapter="generic", root=tmp_path))


def test_synthetic_corpus_windows(tmp_path):
    from microemo.vision.features import FRAME_FEATURES
    from microemo_train import windows
    from microemo_train.datasets import DataConfig, load_items
    from microemo_train.extract import Extracted
    from microemo_train.settings import WindowConfig
    from microemo_train.synth_corpus import LABELS, write_corpus

    index = write_corpus(tmp_path, n_subjects=2, clips_per_label=1, seed=1)
    items = load_items(DataConfig(adapter="features", root=index))
    assert sorted({i.label for i in items}) == sorted(LABELS)
    ws = windows.build(
        [Extracted(i, i.path) for i in items],
        sorted(LABELS),
        WindowConfig(window_ms=1000, hop_ms=250, fps=16),
    )
    assert ws.x.shape[1:] == (16, len(FRAME_FEATURES))
    assert set(ws.groups) == {"s000", "s001"}
    # only AU channels are synthesised
    assert not ws.x[:, :, len([n for n in FRAME_FEATURES if n.startswith("AU")]) :].any()


def test_still_becomes_one_window():
    from microemo_train.settings import WindowConfig
    from microemo_train.windows import item_windows

    x = np.arange(5, dtype=np.float32)[None]
    ws = item_windows(np.array([0.0]), x, WindowConfig(window_ms=500, hop_ms=250, fps=16))
    assert len(ws) == 1 and ws[0].shape == (8, 5) and (ws[0] == x).all()
