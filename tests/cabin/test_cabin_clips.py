"""The cabin readings end to end with real MediaPipe: on a real CREMA-D clip with the eyes
closed, a yawn and a head turn drawn in (``microemo-train synth --cabin``), ``microemo
analyze`` and ``microemo run`` (over a real Mosquitto) report what a driver did, when; the
grey copy of the clip gives the same events; on the six real talking clips there is no alert
and each of the actor's own blinks (annotated by hand) is found."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from tests.conftest import DATA, EMOTIONS, clip_path

from microemo.cabin.stage import CabinStage
from microemo.config_cabin import CabinConfig
from microemo.publish.events import CABIN_SCHEMA_ID, validate_event
from microemo_train.spotting.cabin_synth import CabinAct, DepthClip, write_cabin_clip

REPO = Path(__file__).resolve().parents[2]
CABIN_TOML = REPO / "firmware_config" / "cabin.toml"
CLOSED = (4000.0, 5500.0)  # the eyes shut for 1.5 s
YAWN = (7000.0, 10500.0)
TURN = (11500.0, 14500.0)  # 50 degrees to the driver's left, 3 s
ACTS = [
    CabinAct("eyes", 2000.0, 2200.0),  # a blink
    CabinAct("eyes", *CLOSED),
    CabinAct("yawn", *YAWN),
    CabinAct("turn", *TURN, yaw_deg=50.0),
]


@pytest.fixture(scope="module")
def drive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    """The generated drive (lossless AVI), its grey copy and its labels."""
    folder = tmp_path_factory.mktemp("drive")
    clip = DepthClip.load(clip_path("NEU"))
    labels = write_cabin_clip(clip, folder / "drive.avi", clip.src.fps, 15500.0, ACTS)
    grey = folder / "drive_grey.avi"
    cap = cv2.VideoCapture(str(folder / "drive.avi"))
    out = cv2.VideoWriter(str(grey), cv2.VideoWriter.fourcc(*"HFYU"), clip.src.fps, (480, 360))
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.write(cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))
    out.release()
    return folder / "drive.avi", grey, labels


def analyze(path: Path, out: Path) -> tuple[list[dict], list[dict]]:
    """``microemo analyze --config firmware_config/cabin.toml`` as a user runs it: the cabin
    events and the CSV rows (and a picture written)."""
    proc = subprocess.run(
        [sys.executable, "-m", "microemo.cli", "analyze", str(path), "--out", str(out),
         "--config", str(CABIN_TOML), "--jobs", "1"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / f"{path.stem}.png").stat().st_size > 20_000  # with its cabin rows
    lines = (out / f"{path.stem}.jsonl").read_text().splitlines()
    events = [e for e in map(json.loads, lines) if e["schema"] == CABIN_SCHEMA_ID]
    with (out / f"{path.stem}.csv").open() as f:
        return events, list(csv.DictReader(f))


@pytest.fixture(scope="module")
def analysed(drive, tmp_path_factory) -> dict[str, tuple[list[dict], list[dict]]]:
    """The drive and its grey copy through ``microemo analyze`` (once for the module)."""
    clip, grey, _ = drive
    out = tmp_path_factory.mktemp("analysed")
    return {"colour": analyze(clip, out / "colour"), "grey": analyze(grey, out / "grey")}


def starts(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["kind"] == kind and e["phase"] == "start"]


def test_analyze_reports_the_microsleep_yawn_and_distraction_in_time(drive, analysed):
    _, _, labels = drive
    events, rows = analysed["colour"]
    for e in events:
        validate_event(e)
    assert {e["kind"] for e in events} == {"microsleep", "yawn", "distraction"}  # no blink
    closed_from = next(a for a, b in labels["closed"] if b - a >= 1000)
    (sleep,) = starts(events, "microsleep")
    assert 0 <= sleep["t_ms"] - closed_from <= 1000 + 300  # within 300 ms of the threshold
    (yawn,) = starts(events, "yawn")
    assert YAWN[0] < yawn["onset_ms"] < YAWN[0] + 1000 and yawn["t_ms"] < YAWN[1]
    (away,) = starts(events, "distraction")
    assert away["cause"] == "glance" and TURN[0] < away["onset_ms"] < TURN[0] + 800
    assert away["head_yaw"] > 30
    at = {round(float(r["timestamp"]) * 1000): r for r in rows}
    row = at[min(at, key=lambda t: abs(t - (CLOSED[0] + 700)))]
    assert row["eyes_closed"] == "1" and float(row["eye_open_l"]) < 0.2
    row = at[min(at, key=lambda t: abs(t - (YAWN[1] - 500)))]
    assert row["yawning"] == "1"
    row = at[min(at, key=lambda t: abs(t - (TURN[0] + 1500)))]
    assert float(row["head_yaw"]) > 30 and row["eyes_closed"] == "0"


def test_the_grey_copy_gives_the_same_events(analysed):
    colour_events, _ = analysed["colour"]
    grey_events, _ = analysed["grey"]
    assert [(e["kind"], e["phase"]) for e in grey_events] == [
        (e["kind"], e["phase"]) for e in colour_events
    ]
    for c, g in zip(colour_events, grey_events):
        assert abs(c["onset_ms"] - g["onset_ms"]) <= 100, (c, g)


@pytest.fixture
def broker(tmp_path: Path):
    from tests.publish.mqtt.mqtt_kit import Broker

    b = Broker(tmp_path / "mosquitto")
    yield b
    b.stop()


@pytest.mark.broker
def test_the_daemon_publishes_the_driver_over_mqtt(drive, tmp_path, broker):
    from tests.publish.mqtt.mqtt_kit import Recorder, wait_for

    clip, _, _ = drive
    rec = Recorder(broker.port, "#")
    sets = {"device.id": "cab-e2e", "device.state_dir": str(tmp_path / "state"),
            "mqtt.host": "127.0.0.1", "mqtt.port": broker.port, "source.realtime": "false",
            "mqtt.state_interval_s": 0.1}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "microemo.cli", "run", "--config", str(CABIN_TOML),
         "--source", str(clip), *(a for k, v in sets.items() for a in ("--set", f"{k}={v}"))],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert wait_for(lambda: any(b"distraction" in p for p in rec.on("/cabin/events")), 20)
    got = [json.loads(p) for p in rec.on("/cabin/events")]
    assert {(e["kind"], e["phase"]) for e in got} >= {("microsleep", "start"), ("yawn", "end")}
    # the events say what the driver was at the moment: spooled, every one arrives
    start = {e["kind"]: e for e in got if e["phase"] == "start"}
    assert start["microsleep"]["drowsiness"] == "asleep"
    assert start["distraction"]["attention"] == "distracted"
    # the retained face state carries the cabin readings; which moments it shows depends on
    # wall time (latest-wins every 0.1 s while the file is read faster than real time), so
    # a 1-s microsleep may fall between two states: only its presence is checked here
    states = [json.loads(p) for p in rec.on("/face/0/state") if p]
    cabins = [s["cabin"] for s in states if s.get("cabin")]
    assert cabins and all(c["drowsiness"] in ("awake", "drowsy", "asleep") for c in cabins)
    assert all(c["attention"] in ("attentive", "distracted", "no_face") for c in cabins)
    # and what the face shows, and what it leans to if it shows an expression (never neutral)
    seen = [s for s in states if s.get("core_emotion")]
    assert seen and all(s["expressed"] not in (None, "neutral") for s in seen)
    assert all(0.0 < s["expressed_score"] <= 1.0 for s in seen)
    # and how far its AUs are read against its own neutral, which forms as it is watched
    assert all(0.0 <= s["baseline"] <= 1.0 for s in seen) and seen[-1]["baseline"] > 0.3
    config = json.loads(rec.on("homeassistant/sensor/cab-e2e/drowsiness/config")[-1])
    assert config["state_topic"] == "microemo/cab-e2e/state"
    rec.close()


def test_talking_faces_raise_no_alert_and_the_actors_blinks_are_found(clip_runs):
    """The cabin stage over the six real clips' faces (the session's one pipeline pass):
    no microsleep, yawn or distraction, and each annotated blink found where it is."""
    config = CabinConfig(events=["blink", "microsleep", "yawn", "distraction"])
    annotated = {}
    with (DATA / "crema_d" / "blinks.csv").open() as f:
        for r in csv.DictReader(f):
            annotated[r["clip"]] = (int(r["half_first"]), int(r["half_last"]))
    for emo in EMOTIONS:
        stage = CabinStage(config, "t")
        steps = [s for r in clip_runs[emo].results for s in stage.update(r.faces, r.t_ms)[0]]
        name = f"1001_DFA_{emo}_XX"
        assert [s.kind for s in steps if s.kind != "blink"] == [], name
        blinks = [(s.onset_ms, s.offset_ms) for s in steps if s.kind == "blink"]
        truth = annotated.get(name)
        if truth is None:
            assert blinks == [], name
            continue
        first, last = (k * 1000 / 29.97 for k in truth)
        assert len(blinks) == 1 and blinks[0][0] < last + 34 and blinks[0][1] > first - 34, name
