"""An update delivered while faces stream through the real pipeline (recorded landmarks of a
real CREMA-D clip): the frame loop never stops, the new model is live from the next window,
and the events emitted after the switch name the new version (every episode step takes its
model from the pipeline's EpisodeManager; the spotter may find no episode in so few frames)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from update_kit import Kit

from microemo.model.store import ModelStore
from microemo.model.updates import UpdateManager
from microemo.publish.events import EventBuilder
from microemo.publish.mqtt.topics import Topics
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo_train.signing import update_message

pipeline_mod = pytest.importorskip("microemo.pipeline")


EVENTS = EventBuilder("dev-1", SequenceAllocator(MemoryStore()))


def _feed(pipeline, faces, t0: float, step: float = 33.4) -> list[dict]:
    events = []
    for i, face in enumerate(faces):
        events.extend(map(EVENTS.build, pipeline.process_faces([face], t0 + i * step, i).steps))
    return events


def test_events_after_switch_name_new_version(kit: Kit, tmp_path: Path, recorded_faces) -> None:
    store = ModelStore(kit.config(tmp_path / "state"), default_bundle=kit.default)
    store.install(kit.v1)
    pipeline = pipeline_mod.Pipeline(store.config, bundle=store.current(), landmarker=object())
    assert pipeline.model_info["version"] == "1.0.0"
    command = Topics("microemo", "dev-1").cmd_model
    retained: list[tuple[str, bytes]] = []  # what the broker holds, re-sent on a subscription
    updates = UpdateManager(
        store.config,
        store,
        pipeline.swap_model,
        command_topic=command,
        subscribe=lambda _filter: [updates.handle_message(t, p) for t, p in retained],
    ).start()
    faces = recorded_faces["HAP"] + recorded_faces["NEU"]
    try:
        before = _feed(pipeline, faces, 0.0)
        assert pipeline.episodes.model["version"] == "1.0.0"
        before += map(EVENTS.build, pipeline.finish(len(faces) * 33.4))
        archive = tmp_path / "v2.tgz"
        msg = update_message(kit.v2, archive, kit.key, chunks_topic="microemo/dev-1/cmd/model/c")
        for i in range(msg["chunks"]["count"]):
            data = archive.read_bytes()[i * 64_000 : (i + 1) * 64_000]
            retained.append((f"microemo/dev-1/cmd/model/c/{i}", data))
            updates.handle_message(*retained[-1])  # before the command: not kept
        updates.handle_message("microemo/dev-1/cmd/model", json.dumps(msg).encode())
        assert updates.wait_idle(60)
        assert updates.last_status["step"] == "live", updates.last_status
        # one window (800 ms) later the pipeline runs v2
        t = 100_000.0
        after = _feed(pipeline, faces[:30], t)
        assert pipeline.model_info["version"] == "2.0.0"
        after += _feed(pipeline, faces, t + 30 * 33.4)
        after += map(EVENTS.build, pipeline.finish(t + 200_000.0))
    finally:
        updates.stop()
    assert {e["model"]["version"] for e in before} <= {"1.0.0"}
    assert {e["model"]["version"] for e in after} <= {"2.0.0"}
    assert pipeline.episodes.model["version"] == "2.0.0"
    assert pipeline.episodes.model["sha256"] == store.current().describe["sha256"]
