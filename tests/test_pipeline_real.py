"""The pipeline on real faces: what a user reading the AUs and emotions cares about."""

from __future__ import annotations

import hashlib

import numpy as np

from microemo.publish.events import validate_event
from microemo.types import AU_INDEX, AU_NAMES


def test_happy_clip_smiles_and_neutral_does_not(clip_runs):
    hap = clip_runs["HAP"].au_series(12)
    neu = clip_runs["NEU"].au_series(12)
    assert np.median(hap) > 2.5, f"AU12 on the happy clip: median {np.median(hap):.2f}"
    assert np.median(hap) > np.median(neu) + 2.0
    # cheek raiser accompanies the smile (Duchenne), above the neutral clip
    assert np.mean(clip_runs["HAP"].au_series(6)) > np.mean(clip_runs["NEU"].au_series(6))


def _above(clip_runs, acted: str, other: str, au: int) -> float:
    """How often a frame of ``acted`` reads the AU higher than a frame of ``other``
    (the common-language effect size: 0.5 is no difference, 1 is complete separation)."""
    x, y = clip_runs[acted].au_series(au), clip_runs[other].au_series(au)
    return float(np.mean(x[:, None] > y[None, :]))


def test_expressive_aus_follow_the_acted_emotion(clip_runs):
    # disgust raises the upper lip and wrinkles the nose; fear raises the inner brows;
    # anger lowers the brows. Scale-free: the calibrated intensities of one acted
    # sentence against another, frame against frame.
    assert _above(clip_runs, "DIS", "NEU", 10) > 0.75
    # the nose wrinkle: optical flow at the nose wings reads it clearly (5.0 against 1.1);
    # the calibrated AU9 reads it weakly on this actor (it was fitted on small grey CK+
    # faces), so only the direction is held here: see docs/real-faces.md
    assert _above(clip_runs, "DIS", "NEU", 9) > 0.6
    assert _above(clip_runs, "FEA", "NEU", 1) > 0.75
    assert _above(clip_runs, "ANG", "HAP", 4) > 0.75


def test_optical_flow_sees_the_acted_brow_raise_and_nose_wrinkle(clip_runs):
    """Flow motion (AUFrame.motion): the fear clip's brows shoot up, the disgust clip's nose
    wrinkles; the neutral talking face moves neither much."""

    def peak(emo: str, au: int) -> float:
        k = AU_INDEX[au]
        return max(float(f.faces[0].motion[k]) for f in clip_runs[emo].results if f.faces)

    assert peak("FEA", 1) > 3 * peak("NEU", 1)
    assert peak("FEA", 2) > 1.5 * peak("NEU", 2)
    assert peak("DIS", 9) > 3 * peak("NEU", 9)
    assert peak("FEA", 9) < 0.5  # the fear clip's nose stays put


def test_core_emotion_of_happy_and_neutral_clips(clip_runs):
    def share(emo: str, label: str) -> float:
        seq = [r.emotions[0]["core"] for r in clip_runs[emo].results if 0 in r.emotions]
        return seq.count(label) / len(seq)

    assert share("HAP", "happiness") > 0.4
    assert share("NEU", "neutral") > 0.3
    assert share("NEU", "happiness") < 0.2


def test_every_frame_has_one_stable_face(clip_runs):
    for emo, run in clip_runs.items():
        ids = {f.face_id for r in run.results for f in r.faces}
        assert ids == {0}, f"{emo}: face ids {ids}"
        assert all(len(r.faces) == 1 for r in run.results)


def test_intensities_on_openface_scale_and_presence_consistent(clip_runs):
    for run in clip_runs.values():
        for r in run.results:
            au = r.faces[0]
            assert au.intensity.shape == (len(AU_NAMES),)
            assert np.all((au.intensity >= 0) & (au.intensity <= 5))
            assert not np.any(au.present & (au.intensity < 0.5))


def test_episode_events_are_schema_valid_with_lifecycle(clip_runs):
    total = 0
    for run in clip_runs.values():
        by_id: dict[str, list[str]] = {}
        for e in run.events:
            validate_event(e)
            by_id.setdefault(e["id"], []).append(e["phase"])
            assert "landmarks" not in e and "image" not in e
        for phases in by_id.values():
            assert phases[0] == "start" and phases[-1] == "end", phases
        seqs = [e["seq"] for e in run.events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        total += len(by_id)
    assert total >= 3  # the acted clips do express something


def test_episodes_carry_their_supporting_aus(clip_runs):
    """The happy actor's brows shoot up mid-sentence (optical flow at the brows reads 5.0):
    the episode names the AUs that rose, and each reads high in the frame stream at the apex."""
    run = clip_runs["HAP"]
    ends = [e for e in run.events if e["phase"] == "end"]
    assert ends, "the happy clip should produce an episode"
    for e in ends:
        assert e["offset_ms"] >= e["onset_ms"] and e["kind"] in ("micro", "macro")
        at_apex = min(run.results, key=lambda r: abs(r.t_ms - e["apex_ms"]))
        for a in e["aus"]:
            assert at_apex.faces[0].au(int(a["au"][2:])) >= 2.0, (a, e["apex_ms"])
    assert {"AU01", "AU02", "AU12"} & {a["au"] for e in ends for a in e["aus"]}


def test_default_model_with_rules_reads_the_happy_clip_as_happy():
    from pathlib import Path

    from tests.conftest import clip_path

    from microemo.config import Config
    from microemo.model.bundle import load_bundle
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    bundle = load_bundle(Path("models/default"), require_signature=False)
    fused = []
    with Pipeline(Config(), bundle=bundle) as pipe, open_file_source(clip_path("HAP")) as src:
        for frame in src:
            emo = pipe.process(frame).emotions.get(0)
            if emo and emo["core_source"].startswith("cnn+"):  # the CNN mixed in
                fused.append(emo["core"])
        assert pipe.model_info["name"] == bundle.manifest.name
    assert len(fused) > 20  # the CNN ran on windows from 1 s on
    assert fused.count("happiness") / len(fused) > 0.5


def test_events_name_the_appearance_model_that_helped_decide(clip_runs):
    """``model`` names the window-CNN bundle (or the FACS rules); an event whose core emotion
    the appearance model helped decide names that model too, the one the device loaded."""
    from microemo.model.appearance import load_appearance

    builtin = load_appearance("builtin")
    assert builtin is not None
    events = [e for run in clip_runs.values() for e in run.events]
    fused = [e for e in events if "appearance" in e["core_source"]]
    assert fused, "by default the appearance model takes part"
    manifest = builtin.folder / "appearance.json"
    assert builtin.describe["manifest_sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    for e in fused:
        assert e["appearance"] == builtin.describe, e["id"]
    for e in events:
        assert ("appearance" in e) == ("appearance" in e["core_source"]), e["id"]
