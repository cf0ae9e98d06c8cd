"""The ground-truth generator's looping and the evaluation command as a user runs it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from microemo.assets import find_asset

pytest.importorskip("scipy")
from microemo_train.cli import main
from microemo_train.spotting import record
from microemo_train.spotting.plan import parse_au_sets, plan_per_au
from microemo_train.spotting.score import false_alarms, paired, score_clip
from microemo_train.spotting.sheet import sheet_cells, sheet_row
from microemo_train.spotting.synth import SourceClip, join_clips, still_turns
from microemo_train.spotting.why import REASONS

CLIP = Path(__file__).resolve().parents[1] / "data" / "crema_d" / "clips" / "1001_DFA_NEU_XX.flv"


def test_loop_turns_after_a_movement_not_inside_it() -> None:
    """A face that relaxes its brows over the first 10 frames and is still afterwards: turning
    inside the movement would play it back as a frown that comes and goes every loop."""
    n, fps = 60, 30.0
    x = np.zeros((n, 4))
    x[:10, 0] = np.linspace(1.0, 0.0, 10)  # brows relaxing, then still
    x[50:, 1] = np.linspace(0.0, 0.8, 10)  # lip corners start moving near the end
    first, last = still_turns(x, fps, settle_ms=300.0)
    assert first >= 9
    assert last <= 50

    clip = SourceClip(Path("x.flv"), fps, [np.zeros((2, 2, 3), np.uint8)] * n, loop=(first, last))
    shown = [clip.source_index(k * 1000.0 / fps) for k in range(4 * n)]
    assert min(shown) == first and max(shown) == last
    steps = np.abs(np.diff(shown))
    assert steps.max() == 1  # ping-pong: no cut anywhere


@pytest.fixture
def one_clip(tmp_path: Path) -> Path:
    """A folder holding one real talking face (CREMA-D NEU), the landmarker's model present."""
    try:
        find_asset("face_landmarker.task")
    except Exception as exc:  # pragma: no cover - set-up problem, not a test result
        pytest.skip(f"landmarker model missing: {exc}")
    clips = tmp_path / "src"
    clips.mkdir()
    shutil.copy(CLIP, clips / CLIP.name)
    return clips


def test_spot_eval_replays_its_cache_without_generating(
    tmp_path: Path, one_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["spot-eval", "--clips", str(one_clip), "--per-cell-30", "0", "--per-cell-100", "0"]
    args += ["--untouched-s", "3", "--cache", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    assert len(list((tmp_path / "cache").glob("*.pkl"))) == 2  # 29.97 and 100 fps

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(record, "write_clip", refuse)
    monkeypatch.setattr(record, "landmarks", refuse)
    assert main([*args, "-o", str(tmp_path / "b"), "--set", "spotting.z_on=0.5"]) == 0
    again = json.loads((tmp_path / "b" / "report.json").read_text())
    assert [c["n_frames"] for c in again["clips"]] == [c["n_frames"] for c in first["clips"]]
    assert first["false_alarms_by_source"]["NEU"]["minutes"] == pytest.approx(3.75 / 60, abs=3e-3)
    # the replay really ran the spotter with the new setting: a bar of half a noise level
    # on a talking face fires, the default does not
    assert first["false_alarms_by_source"]["NEU"]["false_alarms"] == 0
    assert again["false_alarms_by_source"]["NEU"]["false_alarms"] > 0
    assert "| NEU |" in (tmp_path / "b" / "report.md").read_text()


def test_per_au_plan_puts_one_au_set_in_each_clip() -> None:
    sources = [Path(f"1001_DFA_{c}_XX.flv") for c in ("ANG", "NEU", "SAD")]
    sets = parse_au_sets("AU12,AU01+AU02")
    plans = plan_per_au(
        3, sets, ("subtle", "clear"), {29.97: 2, 100.0: 1}, sources, {29.97: 8000.0, 100.0: 6000.0}
    )
    assert len(plans) == 2 * 2 * (2 + 1)
    for pl in plans:
        name = pl["cell"]["aus"]
        assert pl["episodes"] and all("+".join(e.aus) == name for e in pl["episodes"])
        assert all(e.kind == "micro" and e.offset_ms <= pl["duration_ms"] for e in pl["episodes"])
    assert {pl["source"] for pl in plans} == set(sources)  # every face under some cell
    with pytest.raises(ValueError, match="unknown \\['AU99'\\]; known: AU01"):
        parse_au_sets("AU12,AU99")


def test_false_alarms_are_counted_apart_for_untouched_joined_and_generated() -> None:
    def row(kind: str, fps: float, ms: float, spots: list[str], tp: int = 0, join: bool = False):
        cell = {"fps": fps, "intensity": "none" if kind == "untouched" else "clear", "kind": kind}
        if join:
            cell["join"] = True
        return {"cell": cell, "duration_ms": ms, "spotted": len(spots), "tp": tp,
                "false_kinds": spots[tp:], "false_within": spots[tp:].count("micro")}  # fmt: skip

    fa = false_alarms(
        [
            row("untouched", 29.97, 30000.0, ["micro"]),
            row("untouched", 29.97, 30000.0, []),
            row("untouched", 29.97, 12000.0, ["macro", "micro"], join=True),
            row("micro", 100.0, 6000.0, ["micro", "micro", "macro"], tp=1),
        ]
    )
    assert list(fa) == ["untouched 30fps", "generated 100fps", "joined 30fps"]
    assert fa["untouched 30fps"] == {
        "minutes": 1.0, "false_alarms": 1, "per_minute": 1.0, "micro_per_minute": 1.0,
        "within_per_minute": 1.0,
    }  # fmt: skip
    assert fa["joined 30fps"]["per_minute"] == 10.0
    assert fa["generated 100fps"]["false_alarms"] == 2
    assert fa["generated 100fps"]["micro_per_minute"] == 10.0


def test_spots_on_a_held_expression_are_counted_apart() -> None:
    truth = {"episodes": [{"onset_ms": 1000.0, "offset_ms": 1400.0, "aus": {"AU12": 1.6}}]}
    held = {"onset_ms": 0.0, "offset_ms": 3000.0, "aus": [{"au": "AU01"}], "kind": "macro"}
    hit = {"onset_ms": 1010.0, "offset_ms": 1390.0, "aus": [{"au": "AU12"}], "kind": "micro",
           "within": "d-f0-0"}  # fmt: skip
    stray = {"onset_ms": 2000.0, "offset_ms": 2200.0, "aus": [{"au": "AU15"}], "kind": "micro",
             "within": "d-f0-0"}  # fmt: skip
    s = score_clip(truth, [held, hit, stray])
    assert (s["tp"], s["tp_within"], s["false_within"], s["false_kinds"]) == (
        1, 1, 1, ["macro", "micro"]
    )  # fmt: skip


def test_a_one_sided_dimpler_is_named_as_the_device_names_it() -> None:
    truth = {"episodes": [{"onset_ms": 1000.0, "offset_ms": 1400.0, "aus": {"AU14R": 1.6}}]}
    spot = {"onset_ms": 1010.0, "offset_ms": 1390.0, "aus": [{"au": "AU14"}], "kind": "micro"}
    s = score_clip(truth, [spot])
    assert (s["tp"], s["au_tp"], s["au_fp"], s["au_fn"]) == (1, 1, 0, 0)
    assert parse_au_sets("au14r,AU12L+AU06") == (("AU14R",), ("AU12L", "AU06"))


def test_spot_eval_refuses_a_run_without_untouched_clips(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="false alarms are part of every report"):
        main(["spot-eval", "--untouched-s", "0", "-o", str(tmp_path)])


def test_contact_sheet_shows_each_intensity_beside_the_untouched_frame() -> None:
    try:
        find_asset("face_landmarker.task")
    except Exception as exc:  # pragma: no cover - set-up problem, not a test result
        pytest.skip(f"landmarker model missing: {exc}")
    src = SourceClip.load(CLIP)
    shots = sheet_cells(src, "AU12", 1000.0)
    assert shots is not None
    assert [n.split()[0] for n, _ in shots] == ["untouched", "subtle", "medium", "clear", "|clear"]
    untouched, subtle, _, clear, diff = (img.astype(int) for _, img in shots)
    moved = [float(np.abs(c - untouched).mean()) for c in (subtle, clear)]
    assert 0 < moved[0] < moved[1]  # the clear smile moves more of the picture than the subtle
    assert diff.mean() > 0
    row = sheet_row(src, "AU12", 1000.0)
    assert row is not None and row.shape[1] > 5 * untouched.shape[1]  # enlarged, side by side
    # one side: the cut-out holds the whole mouth, the tucked corner moved, the other not
    # (the subject's right is the picture's left)
    for au, tucked in (("AU14R", 0), ("AU14L", 1)):
        one = sheet_cells(src, au, 1000.0)
        assert one is not None
        moved = np.abs(one[3][1].astype(int) - one[0][1].astype(int))
        halves = np.array_split(moved, 2, axis=1)
        assert halves[tucked].mean() > 5 * halves[1 - tucked].mean(), au
    joined = join_clips([src, src])
    assert len(joined.frames) == 2 * len(src.frames) and joined.loop is None


def test_against_counts_the_episodes_only_one_run_finds() -> None:
    """Two runs of one clip's three added smiles, matched the MEGC way: each run found two,
    one of them the same; the split is 1 / 1, and the unmatched spots are counted on both."""
    truth = {"episodes": [{"onset_ms": t, "offset_ms": t + 400.0, "aus": {"AU12": 1.6}}
                          for t in (1000.0, 2000.0, 3000.0)]}  # fmt: skip

    def spot(t: float, kind: str = "micro") -> dict:
        return {"onset_ms": t, "offset_ms": t + 400.0, "aus": [{"au": "AU12"}], "kind": kind}

    def row(spots: list[dict]) -> dict:
        return {"clip": "a.avi", "cell": {"aus": "AU12"}, **truth, **score_clip(truth, spots)}

    here = [row([spot(1000.0), spot(2010.0), spot(5000.0)])]
    there = [row([spot(2000.0), spot(3000.0), spot(6000.0, "macro"), spot(7000.0)])]
    p = paired(here, there)
    assert (p["episodes"], p["found_here"], p["found_there"]) == (3, 2, 2)
    assert (p["found_here_only"], p["found_there_only"], p["p_sign"]) == (1, 1, 1.0)
    assert p["by_aus"] == {"AU12": {"found_here_only": 1, "found_there_only": 1}}
    assert p["false_here"] == (1, 1) and p["false_there"] == (2, 1)


def test_spot_eval_against_an_earlier_run_names_what_changed(
    tmp_path: Path, one_clip: Path
) -> None:
    """A real per-AU run (smiles added to a talking face), then the same clips replayed
    without optical flow (the mouth's smiles during speech are then held, as before issue
    20), against the first run: every smile the first run found is found only there; a path
    that holds no report is refused before any work. The first run's ``--channels`` holds
    the spotter's series: the smile channel peaks at each clear smile it was given, above
    anything the untouched talking face reaches."""
    args = ["spot-eval", "--clips", str(one_clip), "--suite", "per-au", "--aus", "AU12"]
    args += ["--per-cell-30", "1", "--per-cell-100", "0", "--untouched-s", "3"]
    args += ["--cache", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "a"), "--channels"]) == 0
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    hits = sum(c["tp"] for c in first["clips"])
    assert hits > 0, "a clear smile on this face is found at the default settings"
    series = np.load(tmp_path / "a" / "channels.npz")
    smile = list(series["au_names"]).index("AU12")

    def smile_flow(clip: dict) -> tuple[np.ndarray, np.ndarray]:
        name = clip["clip"]
        assert len(series[f"{name}/t_ms"]) == clip["n_frames"]
        return series[f"{name}/t_ms"], series[f"{name}/motion"][:, smile]

    clear = next(c for c in first["clips"] if c["cell"]["intensity"] == "clear")
    t, x = smile_flow(clear)
    peaks = [x[(t >= e["onset_ms"]) & (t <= e["offset_ms"] + 200)].max() for e in clear["episodes"]]
    # the talking face past its first second (the articulation model's prior)
    talking = max(
        np.max(flow, initial=0.0, where=times > 1000)
        for times, flow in (
            smile_flow(c) for c in first["clips"] if c["cell"]["kind"] == "untouched"
        )
    )
    assert len(peaks) >= 3 and min(peaks) > talking > 0
    # every smile it missed has its reason: the faint ones (half the template) did not reach
    # the bar, or for less than a start needs
    for clip in first["clips"]:
        assert len(clip["missed"]) == clip["truth"] - clip["tp"]
        assert {m["reason"] for m in clip["missed"]} <= set(REASONS)
    faint = next(c for c in first["clips"] if c["cell"]["intensity"] == "subtle")["missed"]
    assert all(m["reason"] in ("under the bar", "too brief") and m["peak"] < 1.2 for m in faint)
    assert sum(m["reason"] == "under the bar" and m["peak"] < 1 for m in faint) >= 4
    assert "Episodes missed, and why" in (tmp_path / "a" / "report.md").read_text()
    no_flow = ["--set", "spotting.flow=false", "--against", str(tmp_path / "a")]
    assert main([*args, "-o", str(tmp_path / "b"), *no_flow]) == 0
    against = json.loads((tmp_path / "b" / "report.json").read_text())["against"]
    assert (against["found_here_only"], against["found_there_only"]) == (0, hits)
    assert against["by_aus"] == {"AU12": {"found_here_only": 0, "found_there_only": hits}}
    assert (
        f"Found only here **0**, only there **{hits}**"
        in (tmp_path / "b" / "report.md").read_text()
    )
    code = main([*args, "-o", str(tmp_path / "c"), "--against", str(tmp_path / "src")])
    assert code == 2 and not (tmp_path / "c").exists()
