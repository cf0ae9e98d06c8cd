"""``microemo-train appearance`` as a user runs it on their own labelled stills: class folders
in, a model folder out that the device runs (``model.appearance``), whose manifest says what it
was trained on, under which terms, and how it did on a test part it never fitted; bad input
named with what to do.

The stills are frames of the real CREMA-D clips (one actor, four clips: anger, happiness,
neutral, sadness). Frames of one clip land in every part (a folder of class sub-folders has no
subjects), so the figures only show that the tool learns and scores, not how it generalises.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.model.appearance import load_appearance

CLASSES = {"ANG": "angry", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
TERMS = "Terms: frames of CREMA-D (ODbL), for this test only.\nNot for a shipped model."


pytestmark = pytest.mark.usefixtures("needs_asset")


@pytest.fixture(scope="module")
def stills(tmp_path_factory) -> Path:
    """Every frame of four clips, as JPEG stills in one folder per class."""
    root = tmp_path_factory.mktemp("stills")
    for emotion, folder in CLASSES.items():
        (root / folder).mkdir()
        cap = cv2.VideoCapture(str(clip_path(emotion)))
        i = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            cv2.imwrite(str(root / folder / f"{emotion}_{i:03d}.jpg"), image)
            i += 1
        cap.release()
    (root / "README.md").write_text(f"# test stills\n\n{TERMS}\n\nOther text.\n")
    return root


def _train(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "microemo_train.cli", "appearance", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def trained(stills, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    base = tmp_path_factory.mktemp("trained")
    out, work = base / "model", base / "work"
    done = _train(
        "--data", f"mine={stills}", "--out", str(out), "--work", str(work),
        "--epochs", "60", "--width", "0.5", "--jobs", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return out, work, done


def _reuse(stills: Path, work: Path, out: Path, *more: str) -> subprocess.CompletedProcess:
    """The tool run again on the same stills and ``--work``, reusing the CNN trained there."""
    done = _train(
        "--data", f"mine={stills}", "--out", str(out), "--work", str(work),
        "--keras", str(work / "cnn.keras"), *more, "--jobs", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _parts(work: Path) -> dict[str, set[str]]:
    parts = {}
    for name in ("train", "fusion", "test"):
        with (work / "parts" / f"mine-{name}.csv").open() as f:
            parts[name] = {r["path"] for r in csv.DictReader(f)}
    return parts


def test_the_model_it_writes_runs_on_the_device_and_reads_faces_it_never_fitted(trained):
    out, work, done = trained
    model = load_appearance(str(out))  # the device's own loader: manifest, hashes, fusion
    assert model is not None
    assert sorted(model.labels) == ["anger", "happiness", "neutral", "sadness"]
    parts = _parts(work)
    assert parts["test"] and not parts["test"] & (parts["train"] | parts["fusion"])
    figures = model.manifest.metrics["sets"]["mine"]
    # four clips of one actor are easy to tell apart: a tool that did not learn, or scored
    # the wrong rows, would sit near a quarter
    assert figures["appearance"]["accuracy"] >= 0.6, figures["appearance"]
    assert figures["fused"]["accuracy"] >= 0.6, figures["fused"]
    assert "mine test, fused" in done.stdout
    # the fusion's out-of-fold figures, over all rows and over each set's own
    oof = model.manifest.metrics["fusion_out_of_fold_by_set"]["mine"]
    assert oof["n"] == model.manifest.metrics["fusion_out_of_fold"]["n"] > 0
    assert "mine fusion rows, out of fold" in done.stdout


def test_a_set_whose_scores_are_too_modest_shows_in_its_own_out_of_fold_line():
    """Pooled over two sets, a fusion can look calibrated while one set's scores say less than
    they should (the lab faces under a temperature fitted mostly on in-the-wild ones): each
    set's own figures show it before a test part is read."""
    from microemo_train.appearance.figures import line, out_of_fold

    classes = ["happiness", "neutral"]
    labels = np.array(["happiness", "neutral"] * 50 + ["happiness", "neutral"] * 10)
    source = np.array(["wild"] * 100 + ["lab"] * 20)
    probs = np.zeros((120, 2))
    right = np.array([classes.index(v) for v in labels])
    # wild: right 70 % of the time at a score of 0.7; lab: always right, at a score of 0.55
    wrong = (np.arange(100) % 10) >= 7
    shown = np.where(np.r_[wrong, np.zeros(20, bool)], 1 - right, right)
    score = np.r_[np.full(100, 0.7), np.full(20, 0.55)]
    probs[np.arange(120), shown] = score
    probs[np.arange(120), 1 - shown] = 1 - score
    figures = out_of_fold(labels, probs, classes, source)
    wild, lab = (figures["fusion_out_of_fold_by_set"][k] for k in ("wild", "lab"))
    assert (wild["n"], lab["n"]) == (100, 20)
    assert wild["accuracy"] == pytest.approx(0.7) and wild["ece"] < 0.02
    assert lab["accuracy"] == 1.0 and lab["ece"] == pytest.approx(0.45, abs=0.01)
    # which way: the lab set's mean shown score sits under its accuracy (too modest)
    assert lab["mean_score"] == pytest.approx(0.55) and wild["mean_score"] == pytest.approx(0.7)
    assert (
        "acc 1.000  UF1 1.000  ECE 0.450; of the faces found, mean score 0.550 against 1.000 "
        "read right: the scores say less than they should" in line("lab", lab)
    ), line("lab", lab)
    pooled = figures["fusion_out_of_fold"]
    assert pooled["n"] == 120 and pooled["ece"] < lab["ece"]


def test_the_manifest_says_what_it_was_trained_on_and_under_which_terms(trained, stills):
    out, _, _ = trained
    manifest = json.loads((out / "appearance.json").read_text())
    data = manifest["source"]["data"]["mine"]
    assert data["path"] == str(stills)
    assert data["licence"] == TERMS.removeprefix("Terms: ").replace("\n", " ")
    assert manifest["source"]["cnn_trained_on"] == ["mine train part"]
    assert "research use only" in manifest["source"]["licence"]


def test_analyze_runs_with_the_trained_model(trained, stills, tmp_path):
    out, work, _ = trained
    happy = sorted(p for p in _parts(work)["test"] if "/happy/" in p)[0]
    config = tmp_path / "mine.toml"
    config.write_text(f'[model]\nappearance = "{out}"\n')
    cmd = [sys.executable, "-m", "microemo.cli", "analyze", happy, "--out", str(tmp_path)]
    done = subprocess.run(
        [*cmd, "--no-plot", "--jobs", "1", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    with (tmp_path / f"{Path(happy).stem}.csv").open() as f:
        (row,) = list(csv.DictReader(f))
    assert row["emotion_source"] == "appearance+rules"
    assert row["emotion"] == "happiness"


def test_a_missing_data_folder_is_named(tmp_path):
    done = _train("--data", f"mine={tmp_path / 'nope'}", "--out", str(tmp_path / "o"))
    assert done.returncode != 0
    assert f"{tmp_path / 'nope'} does not exist" in done.stderr
    assert "Traceback" not in done.stderr


def test_members_reuse_a_trained_cnn_and_are_read_as_one(trained, stills, tmp_path):
    """``--keras`` reuses the CNN trained above as the first member, ``--members 2`` trains
    the second from another random start; the device reads the two as one model."""
    single, work, _ = trained
    out = tmp_path / "model"
    done = _reuse(stills, work, out, "--members", "2", "--epochs", "60", "--width", "0.5")
    assert "CNN 2 of 2" in done.stdout and "CNN 1 of 2" not in done.stdout
    assert (work / "cnn-1.keras").is_file()
    model = load_appearance(str(out))
    assert model is not None
    one = (single / "appearance.tflite").stat().st_size
    assert (out / "appearance.tflite").stat().st_size > 1.6 * one  # both networks are in it
    assert model.manifest.metrics["sets"]["mine"]["fused"]["accuracy"] >= 0.6


def test_views_are_cut_and_read_by_the_tool_as_the_device_reads_them(trained, stills, tmp_path):
    """``--view``: the device reads each face through more views of its crop (here the
    template moved up 1.5 px, and scaled by 1.06 with its mirror). The tool cuts the same
    crops, from its cache of landmarks (the stills are not landmarked again), and reads them
    as the device does, so the fusion is fitted on what the device will read."""
    from microemo.vision.face_crop import CropSpec
    from microemo_train.appearance.data import load_set, prepare
    from microemo_train.appearance.extract import extract
    from microemo_train.appearance.train import int8_log_probs

    single, work, _ = trained
    out = tmp_path / "model"
    done = _reuse(stills, work, out, "--view", "0,-1.5", "--view", "0,0,1.06,mirror")
    assert "crop mine" in done.stderr and "landmark mine" not in done.stderr
    model = load_appearance(str(out))
    assert model is not None
    got = [(v.dx, v.dy, v.scale, v.mirror) for v in model.manifest.crop.views]
    assert got == [(0.0, -1.5, 1.0, False), (0.0, 0.0, 1.06, True)]
    assert model.manifest.metrics["sets"]["mine"]["fused"]["accuracy"] >= 0.6

    mine = load_set(f"mine={stills}")
    ex = extract(mine, CropSpec(), work / "cache", 1, model.views)
    paths = [st.path for st in mine.stills]
    idx = np.flatnonzero(ex.ok)[::25]
    for i in idx:  # the tool's crops are the device's, through the same views
        np.testing.assert_array_equal(ex.crops[i], model.crop(prepare(paths[i]), ex.lm[i]))
    tool = int8_log_probs((out / "appearance.tflite").read_bytes(), ex.crops[idx], 10.0,
                          model.flips)  # fmt: skip
    device = np.stack([model.log_probs(ex.crops[i]) for i in idx])
    np.testing.assert_allclose(tool, device, atol=1e-4)
    alone = load_appearance(str(single))  # the template's own view and its mirror
    assert alone is not None
    assert np.abs(device - np.stack([alone.log_probs(ex.crops[i, :1]) for i in idx])).max() > 1e-3


@pytest.mark.parametrize("view", ["0", "0,20", "a,b", "0,0,3"])
def test_a_bad_view_is_refused_before_any_work(stills, tmp_path, view):
    done = _train("--data", f"mine={stills}", "--out", str(tmp_path / "o"), "--view", view)
    assert done.returncode == 2
    assert f"--view: {view!r}: give DX,DY[,SCALE][,mirror]" in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_missing_cnn_to_reuse_is_named(trained, stills, tmp_path):
    _, work, _ = trained
    missing = tmp_path / "cnn.keras"
    done = _train(
        "--data", f"mine={stills}", "--out", str(tmp_path / "o"),
        "--work", str(work), "--keras", str(missing), "--jobs", "1",
    )  # fmt: skip
    assert done.returncode != 0
    assert f"--keras {missing}: no such file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_reused_cnn_with_other_classes_is_refused_by_name(trained, stills, tmp_path):
    """A network trained on four classes, reused (no fine-tune) on stills of three: refused
    before anything is written, naming the file and both class counts."""
    _, work, _ = trained
    three = tmp_path / "three"
    three.mkdir()
    for folder in ("angry", "happy", "neutral"):
        (three / folder).symlink_to(stills / folder)
    out = tmp_path / "o"
    done = _train(
        "--data", f"mine={three}", "--out", str(out), "--work", str(tmp_path / "w"),
        "--keras", str(work / "cnn.keras"), "--jobs", "1",
    )  # fmt: skip
    assert done.returncode != 0
    assert f"--keras {work / 'cnn.keras'}: 4 classes, the train part has 3" in done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_fine_tune_continues_a_trained_cnn_with_poorer_camera_faces(trained, stills, tmp_path):
    """``--keras`` with ``--fine-tune N --degraded S --glasses G``: the network trained above
    goes on learning N epochs on the same train part, a share S of its faces dimmed, blurred,
    shrunk, noisy or strongly compressed and a share G in glasses; the device reads the
    result, the manifest says so."""
    single, work, _ = trained
    out = tmp_path / "model"
    done = _reuse(stills, work, out, "--fine-tune", "4", "--degraded", "0.5", "--glasses", "0.3")
    assert "fine-tuning cnn.keras: 4 epochs, degraded 0.5, glasses 0.3" in done.stdout
    assert (work / "cnn-ft4.keras").is_file()
    model = load_appearance(str(out))
    assert model is not None
    # the same network, trained on: as large, but not the same weights
    before, after = (single / "appearance.tflite").read_bytes(), (out / "appearance.tflite")
    assert len(after.read_bytes()) == pytest.approx(len(before), rel=0.05)
    assert after.read_bytes() != before
    training = model.manifest.source["cnn_training"]
    assert training["fine_tune_epochs"] == 4 and training["degraded_share"] == 0.5
    assert training["glasses_share"] == 0.3
    assert model.manifest.metrics["sets"]["mine"]["fused"]["accuracy"] >= 0.6
    # the manifest says how the network it reused was made: by the run above, on this train
    # part, 60 epochs at width 0.5; the fine-tuned network's own note says what it came from
    (entry,) = training["reused"]
    assert entry["path"] == str(work / "cnn.keras")
    assert entry["sha256"] == hashlib.sha256((work / "cnn.keras").read_bytes()).hexdigest()
    made = entry["made"]
    assert made["trained_on"] == [f"mine train part ({stills})"]
    assert made["settings"]["epochs"] == 60 and made["settings"]["width"] == 0.5
    assert made["classes"] == ["anger", "happiness", "neutral", "sadness"]
    tuned = json.loads((work / "cnn-ft4.keras.json").read_text())
    assert tuned["settings"]["epochs"] == 4 and tuned["settings"]["degraded"] == 0.5
    assert tuned["settings"]["glasses"] == 0.3
    assert "width" not in tuned["settings"], "a fine-tune keeps the network's width (0.5)"
    assert tuned["fine_tuned_from"] == entry


def test_a_reused_network_from_elsewhere_is_named_without_a_history(trained, stills, tmp_path):
    """A network this tool did not save (no note beside it) is still recorded by path and
    hash, and its manifest says plainly that how it was made is not known."""
    _, work, _ = trained
    bare = tmp_path / "theirs.keras"
    shutil.copy(work / "cnn.keras", bare)
    out = tmp_path / "model"
    done = _train(
        "--data", f"mine={stills}", "--out", str(out), "--work", str(work),
        "--keras", str(bare), "--jobs", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((out / "appearance.json").read_text())
    (entry,) = manifest["source"]["cnn_training"]["reused"]
    assert entry["path"] == str(bare) and entry["made"] is None
    assert entry["sha256"] == hashlib.sha256(bare.read_bytes()).hexdigest()


def test_refit_keeps_a_models_network_and_fits_a_calibration_that_follows_the_margin(
    trained, stills, tmp_path
):
    """``--refit`` reads a model folder's int8 network as it is (nothing trained) and fits only
    its fusion: on the same rows the same weights, so the same answers; ``--temperature
    margin`` prints what the slope changed beside one temperature; the manifest names the
    model whose network it kept and keeps that network's train part out of the fusion."""
    first, work, _ = trained
    out = tmp_path / "refit"
    done = _train(
        "--data", f"mine={stills}", "--out", str(out), "--work", str(work),
        "--refit", str(first), "--temperature", "margin", "--version", "0.1.1", "--jobs", "1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "CNN 1 of" not in done.stdout and not (tmp_path / "cnn.keras").exists()
    assert (out / "appearance.tflite").read_bytes() == (first / "appearance.tflite").read_bytes()
    old, new = (load_appearance(str(p)) for p in (first, out))
    assert old is not None and new is not None
    assert (new.manifest.fusion.weights, new.manifest.fusion.bias) == (
        old.manifest.fusion.weights,
        old.manifest.fusion.bias,
    )
    assert (
        new.manifest.metrics["fusion_out_of_fold"]["n"]
        == (old.manifest.metrics["fusion_out_of_fold"]["n"])
    )
    kept = new.manifest.source["cnn_training"]["refit_from"]
    assert (kept["model"], kept["sha256"]) == (str(first), old.manifest.files["appearance.tflite"])
    # events tell the two apart by the manifest's hash, as they share the network's
    assert new.describe["sha256"] == old.describe["sha256"]
    assert new.describe["manifest_sha256"] != old.describe["manifest_sha256"]
    assert kept["manifest_sha256"] == old.describe["manifest_sha256"]
    assert new.manifest.source["cnn_trained_on"] == ["mine train part"]
    assert "mine fusion rows, one temperature" in done.stdout
    assert "one_temperature" in new.manifest.metrics
    # a model with one temperature stays readable by the runtime before the slope existed
    plain = json.loads((first / "appearance.json").read_text())
    assert "temperature_slope" not in plain["fusion"] and plain["min_runtime"] == "0.2.0"
    raw = json.loads((out / "appearance.json").read_text())
    sloped = raw["fusion"].get("temperature_slope", 0.0) != 0.0
    assert raw["min_runtime"] == ("0.2.1" if sloped else "0.2.0")
    # a refit named as the model it came from would be told apart by nothing in the events
    again = _train(
        "--data", f"mine={stills}", "--out", str(tmp_path / "again"), "--work", str(work),
        "--refit", str(out), "--version", new.manifest.version,
    )  # fmt: skip
    assert again.returncode == 2 and "give the refitted model a --version of its own" in (
        again.stderr
    )
    assert not (tmp_path / "again").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fine-tune", "3"], "--fine-tune 3: a number of epochs for the networks given with"),
        (["--degraded", "1.5"], "--degraded 1.5: a share of the faces, 0 to 1"),
        (["--glasses", "-0.2"], "--glasses -0.2: a share of the faces, 0 to 1"),
        (["--refit", "m", "--keras", "k"], "--refit m reuses that model's network and crop as"),
        (["--refit", "nowhere"], "--refit: nowhere/appearance.json: cannot read"),
    ],
)
def test_fine_tune_and_degraded_are_checked_before_any_work(stills, tmp_path, args, message):
    done = _train("--data", f"mine={stills}", "--out", str(tmp_path / "o"), *args)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()
