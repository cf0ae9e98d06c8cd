"""The appearance model as a user meets it: a photo of a smiling face reads happiness and a
face at rest reads neutral, through ``microemo analyze``; a model folder that was tampered
with or mistyped in the config is refused with the reason, and the device says which
evidence decided (``emotion_source``)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_frame, clip_path

from microemo.config import LandmarkerConfig
from microemo.model.appearance import AppearanceModel, appearance_dir, load_appearance
from microemo.model.bundle import BundleError

pytestmark = pytest.mark.usefixtures("needs_asset")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    """The actor smiling (HAP, first frame) and at rest (NEU, first frame) as JPEG photos."""
    folder = tmp_path_factory.mktemp("photos")
    out = {}
    for name, emotion in (("smile", "HAP"), ("rest", "NEU")):
        out[name] = folder / f"{name}.jpg"
        cv2.imwrite(str(out[name]), clip_frame(emotion))
    return out


def _read(model: AppearanceModel, image: np.ndarray) -> str:
    from microemo.vision.landmarker import StillLandmarker

    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    try:
        face = lm.detect(image)[0]
    finally:
        lm.close()
    logp = model.log_probs(model.crop(image, face.landmarks))
    assert abs(float(np.exp(logp).sum()) - 1.0) < 1e-4
    return model.labels[int(np.argmax(logp))]


def test_the_builtin_model_reads_a_smile_and_a_face_at_rest():
    model = load_appearance("builtin")
    assert model is not None
    assert _read(model, clip_frame("HAP")) == "happiness"
    assert _read(model, clip_frame("NEU")) == "neutral"
    m = model.manifest
    assert m.source.get("licence"), "the manifest says under what terms it may be used"
    assert m.metrics.get("sets"), "the manifest carries the figures it was measured with"


def _analyze(inputs: list[Path], out: Path, config: Path | None = None) -> list[dict]:
    cmd = [sys.executable, "-m", "microemo.cli", "analyze", *map(str, inputs), "--out", str(out)]
    cmd += ["--no-plot", "--jobs", "1"] + (["--config", str(config)] if config else [])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = []
    for p in inputs:
        with (out / f"{p.stem}.csv").open() as f:
            rows += list(csv.DictReader(f))
    return rows


def test_analyze_reads_photos_with_their_appearance(photos, tmp_path):
    smile, rest = _analyze([photos["smile"], photos["rest"]], tmp_path / "on")
    assert (smile["emotion"], rest["emotion"]) == ("happiness", "neutral")
    assert smile["emotion_source"] == rest["emotion_source"] == "appearance+rules"
    assert float(smile["emotion_score"]) > 0.5
    assert smile["micro_rule"], "the AUs and the rule behind the label are still named"


def test_appearance_off_leaves_the_au_prototypes_alone(photos, tmp_path):
    config = tmp_path / "off.toml"
    config.write_text('[model]\nappearance = "off"\n')
    (row,) = _analyze([photos["smile"]], tmp_path / "off", config)
    assert row["emotion_source"] == "rules"


def _copy_builtin(tmp_path: Path) -> Path:
    src = appearance_dir("builtin")
    assert src is not None
    dst = tmp_path / "appearance"
    shutil.copytree(src, dst)
    return dst


def _with_crop(tmp_path: Path, **crop) -> AppearanceModel:
    folder = _copy_builtin(tmp_path / "-".join(f"{k}{v}" for k, v in crop.items()))
    path = folder / "appearance.json"
    manifest = json.loads(path.read_text())
    manifest["crop"].update(crop)
    path.write_text(json.dumps(manifest))
    return AppearanceModel(folder)


def _with_mirror(tmp_path: Path, mirror: bool) -> AppearanceModel:
    return _with_crop(tmp_path, mirror=mirror, views=[])  # the template's own view alone


def test_with_mirror_on_a_face_and_its_mirror_image_read_alike(tmp_path):
    """A driver seen from the left reads as one seen from the right: with ``crop.mirror``
    the model reads both sides; without it the two readings differ."""
    from microemo.vision.landmarker import StillLandmarker

    image = clip_frame("SAD", 20)
    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    try:
        face = lm.detect(image)[0]
    finally:
        lm.close()
    on, off = _with_mirror(tmp_path, True), _with_mirror(tmp_path, False)
    crop = on.crop(image, face.landmarks)
    mirrored = np.ascontiguousarray(crop[:, :, ::-1])
    np.testing.assert_allclose(on.log_probs(crop), on.log_probs(mirrored), atol=1e-5)
    assert np.abs(off.log_probs(crop) - off.log_probs(mirrored)).max() > 1e-3
    both = np.logaddexp(off.log_probs(crop), off.log_probs(mirrored)) - np.log(2.0)
    np.testing.assert_allclose(on.log_probs(crop), both, atol=1e-5)


def test_a_model_with_views_reads_the_face_through_each(tmp_path):
    """``crop.views``: the face is cut through each view and every reading counts, so a
    landmark fix a little off does not decide alone; the smile still reads as one."""
    from microemo.vision.landmarker import StillLandmarker

    image = clip_frame("HAP")
    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    try:
        face = lm.detect(image)[0]
    finally:
        lm.close()
    views = [{"dy": -1.5}, {"dy": 1.5, "mirror": True}]
    one = _with_crop(tmp_path, mirror=True, views=[])
    three = _with_crop(tmp_path, mirror=True, views=views)
    crops = three.crop(image, face.landmarks)
    assert crops.shape == (3, 48, 48)
    # the moved views are other cuts of the same face, not copies of the first
    assert np.abs(crops[1].astype(int) - crops[0]).mean() > 1.0
    assert np.abs(crops[2].astype(int) - crops[1]).mean() > 1.0
    lp = three.log_probs(crops)
    assert abs(float(np.exp(lp).sum()) - 1.0) < 1e-4
    assert np.abs(lp - one.log_probs(crops[0])).max() > 1e-3  # the views were read
    assert three.labels[int(np.argmax(lp))] == "happiness"
    with pytest.raises(ValueError, match="1 crops for a model that reads 3 views"):
        three.log_probs(crops[0])


def test_a_view_out_of_range_is_refused_by_name(tmp_path):
    folder = _copy_builtin(tmp_path)
    path = folder / "appearance.json"
    manifest = json.loads(path.read_text())
    manifest["crop"]["views"] = [{"dx": 0, "dy": 20}]
    path.write_text(json.dumps(manifest))
    with pytest.raises(
        BundleError, match=r"appearance.json: invalid appearance manifest(.|\n)*crop.views.0.dy"
    ):
        AppearanceModel(folder)


def test_a_temperature_that_follows_the_margin_keeps_every_answer_and_sharpens_clear_ones(
    photos, tmp_path
):
    """A fusion whose temperature falls with the margin between the top two classes
    (``temperature_slope`` below 0) reads the same emotions as with one temperature, and shows
    each a score no lower; a face read with a clear lead, higher."""
    runs = {}
    for slope in (0.0, -0.5):
        folder = _copy_builtin(tmp_path / str(slope))
        path = folder / "appearance.json"
        manifest = json.loads(path.read_text())
        manifest["fusion"]["temperature_slope"] = slope
        path.write_text(json.dumps(manifest))
        config = tmp_path / f"{slope}.toml"
        config.write_text(f'[model]\nappearance = "{folder}"\n')
        rows = _analyze([photos["smile"], photos["rest"]], tmp_path / f"out{slope}", config)
        runs[slope] = [(r["emotion"], float(r["emotion_score"])) for r in rows]
    one, sharp = runs[0.0], runs[-0.5]
    assert [e for e, _ in sharp] == [e for e, _ in one] == ["happiness", "neutral"]
    assert all(s >= o for (_, s), (_, o) in zip(sharp, one, strict=True)), runs
    assert max(s - o for (_, s), (_, o) in zip(sharp, one, strict=True)) > 0.02, runs


def test_a_fusion_score_never_falls_as_its_margin_grows():
    """However steep the slope the manifest allows, a reading whose top class leads by more
    is never shown with a lower score (the temperature cannot undo the margin)."""
    from microemo.emotion.fusion import temperature_of

    margins = np.linspace(0.0, 30.0, 301)
    z = np.stack([margins, np.zeros_like(margins), np.full_like(margins, -1.0)], axis=1)
    for slope in (0.0, -0.05, -0.5, -2.0):
        s = z / temperature_of(z, 1.3, slope)
        top = 1.0 / np.exp(s - s[:, :1]).sum(axis=1)
        assert np.all(np.diff(top) >= 0), slope


def test_a_slope_that_would_blunt_clear_readings_is_refused_by_name(tmp_path):
    folder = _copy_builtin(tmp_path)
    path = folder / "appearance.json"
    manifest = json.loads(path.read_text())
    manifest["fusion"]["temperature_slope"] = 0.4
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"appearance\.json(.|\n)*fusion.temperature_slope"):
        AppearanceModel(folder)


def test_a_model_made_for_a_newer_runtime_is_refused_as_that_not_as_broken(tmp_path):
    """A field this runtime does not know (a later one's) is named as a newer runtime's model,
    with what to do, rather than as an invalid manifest."""
    folder = _copy_builtin(tmp_path)
    path = folder / "appearance.json"
    manifest = json.loads(path.read_text())
    manifest["min_runtime"] = "9.1.0"
    manifest["fusion"]["a_later_field"] = 1.0
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"needs runtime 9\.1\.0, this is .*update microemo"):
        AppearanceModel(folder)


def test_a_tampered_model_file_is_refused(tmp_path):
    folder = _copy_builtin(tmp_path)
    model = folder / "appearance.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"appearance\.tflite: sha256 .* does not match"):
        AppearanceModel(folder)


def test_a_manifest_with_a_broken_fusion_is_refused(tmp_path):
    folder = _copy_builtin(tmp_path)
    path = folder / "appearance.json"
    manifest = json.loads(path.read_text())
    manifest["fusion"]["bias"] = manifest["fusion"]["bias"][:-1]
    path.write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"appearance\.json: invalid appearance manifest"):
        AppearanceModel(folder)


def test_config_check_names_a_mistyped_model_folder(tmp_path):
    config = tmp_path / "typo.toml"
    config.write_text('[model]\nappearance = "bultin"\n')
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "microemo.cli",
            "config",
            "check",
            str(config),
            "--source",
            str(clip_path("NEU")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "model.appearance" in done.stderr and "'bultin' is not a folder" in done.stderr
