"""Home Assistant MQTT discovery, and the state payloads its entities read.

On every connect ``MqttSink`` publishes one retained config per entity under
``{discovery_prefix}/{component}/{device}/{object_id}/config``; Home Assistant then shows a
device with sensors for the current core emotion, micro-emotion, the main AUs, fps and
spool depth, and a binary sensor "face present"; with ``cabin.enabled``, the driver's
drowsiness, attention, PERCLOS and head angles, and binary sensors "eyes closed" and
"yawning". ``MqttSink.retire()`` publishes empty retained payloads to the same topics, which
removes the entities.

The entities read the retained device summary (``{prefix}/{device}/state``, built by
``summary_state``) and the stats topic; both carry only numbers and labels, never images
or landmarks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import microemo
from microemo.publish.mqtt.topics import Topics

logger = logging.getLogger(__name__)

MAIN_AUS: tuple[str, ...] = ("AU01", "AU02", "AU04", "AU06", "AU12", "AU15", "AU26")

# keys a state payload may never carry, whatever the caller passes (privacy)
PRIVATE_KEYS = frozenset({"landmarks", "points", "mesh", "image", "frame", "face_image", "crop"})


def face_state_payload(
    face_id: int,
    t_ms: float,
    aus: Mapping[str, float],
    emotion: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The state of one face as published on ``face/{id}/state`` (helper for the daemon).

    ``emotion`` is a classification dict (``core``/``core_emotion``, ``micro``/
    ``micro_emotion``, ``micro_rule``); missing keys become null.
    """
    emotion = emotion or {}
    return {
        "face_id": int(face_id),
        "t_ms": round(float(t_ms), 1),
        "core_emotion": emotion.get("core_emotion", emotion.get("core")),
        "micro_emotion": emotion.get("micro_emotion", emotion.get("micro")),
        "micro_rule": emotion.get("micro_rule"),
        "aus": {k: round(float(v), 2) for k, v in aus.items()},
    }


_ALIASES = {"core": "core_emotion", "micro": "micro_emotion"}


def scrub(state: Mapping[str, Any], share_landmarks: bool = False) -> dict[str, Any]:
    """Drop private keys (landmarks, images), also in nested states such as ``cabin``,
    unless the owner allowed landmarks, and name a classification's ``core``/``micro`` as
    ``core_emotion``/``micro_emotion``."""
    private = PRIVATE_KEYS - {"landmarks"} if share_landmarks else PRIVATE_KEYS
    out = {
        _ALIASES.get(k, k): scrub(v, share_landmarks) if isinstance(v, Mapping) else v
        for k, v in state.items()
        if k not in private
    }
    for short, long in _ALIASES.items():
        if long in state and short in state:
            out[long] = state[long]
    return out


def summary_state(faces: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """Device summary: how many faces, and the state of the longest-tracked (lowest id)."""
    summary: dict[str, Any] = {
        "faces": len(faces),
        "face_id": None,
        "core_emotion": None,
        "micro_emotion": None,
        "aus": {},
        "cabin": None,
    }
    if faces:
        first = min(faces)
        state = faces[first]
        summary.update(
            face_id=first,
            core_emotion=state.get("core_emotion"),
            micro_emotion=state.get("micro_emotion"),
            aus=dict(state.get("aus") or {}),
        )
        summary["cabin"] = _driver_cabin(faces)
    return summary


def _driver_cabin(faces: Mapping[int, Mapping[str, Any]]) -> Any:
    """The cabin state of the driver (``cabin.faces = "largest"``), else of the first face
    that has one."""
    cabins = [c for f in sorted(faces) if (c := faces[f].get("cabin"))]
    return next((c for c in cabins if c.get("driver")), cabins[0] if cabins else None)


def _device_block(topics: Topics, model: str) -> dict[str, Any]:
    return {
        "identifiers": [f"microemo_{topics.device_id}"],
        "name": f"microemo {topics.device_id}",
        "manufacturer": "microemo",
        "model": model,
        "sw_version": getattr(microemo, "__version__", "unknown"),
    }


def _entity(
    topics: Topics, object_id: str, name: str, state_topic: str, template: str, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "object_id": f"microemo_{topics.device_id}_{object_id}",
        "unique_id": f"microemo_{topics.device_id}_{object_id}",
        "state_topic": state_topic,
        "value_template": template,
        "availability_topic": topics.availability,
        "payload_available": "online",
        "payload_not_available": "offline",
        **extra,
    }


def _cabin_entities(topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """The driver's cabin state, read from the device summary (``summary_state``)."""
    state = topics.state

    def field(key: str, none: str = "None") -> str:
        return f"{{{{ value_json.cabin.{key} if value_json.cabin and value_json.cabin.{key} is not none else {none} }}}}"  # noqa: E501

    def flag(key: str) -> str:
        return f"{{{{ 'ON' if value_json.cabin and value_json.cabin.{key} else 'OFF' }}}}"

    return [
        ("sensor", "drowsiness", _entity(
            topics, "drowsiness", "Drowsiness", state, field("drowsiness"), icon="mdi:sleep")),
        ("sensor", "attention", _entity(
            topics, "attention", "Attention", state, field("attention", "'no_face'"),
            icon="mdi:eye-outline")),
        ("sensor", "perclos", _entity(
            topics, "perclos", "PERCLOS", state,
            "{{ (value_json.cabin.perclos * 100) | round(1) if value_json.cabin else None }}",
            unit_of_measurement="%", state_class="measurement", icon="mdi:eye-minus")),
        ("sensor", "head_yaw", _entity(
            topics, "head_yaw", "Head yaw", state, field("head_yaw"),
            unit_of_measurement="°", state_class="measurement", icon="mdi:rotate-left")),
        ("sensor", "head_pitch", _entity(
            topics, "head_pitch", "Head pitch", state, field("head_pitch"),
            unit_of_measurement="°", state_class="measurement", icon="mdi:rotate-right")),
        ("binary_sensor", "eyes_closed", _entity(
            topics, "eyes_closed", "Eyes closed", state, flag("eyes_closed"),
            icon="mdi:eye-closed")),
        ("binary_sensor", "yawning", _entity(
            topics, "yawning", "Yawning", state, flag("yawning"), icon="mdi:sleep")),
    ]  # fmt: skip


def discovery_configs(
    topics: Topics, model: str = "edge", cabin: bool = True
) -> dict[str, dict[str, Any]]:
    """Discovery topic -> config for every entity of the device (the cabin ones with
    ``cabin``: whether the device measures the cabin readings)."""
    device = _device_block(topics, model)
    state, stats = topics.state, topics.stats
    entities: list[tuple[str, str, dict[str, Any]]] = [
        ("sensor", "core_emotion", _entity(
            topics, "core_emotion", "Core emotion", state,
            "{{ value_json.core_emotion if value_json.core_emotion else 'none' }}",
            icon="mdi:emoticon-outline")),
        ("sensor", "micro_emotion", _entity(
            topics, "micro_emotion", "Micro-emotion", state,
            "{{ value_json.micro_emotion if value_json.micro_emotion else 'none' }}",
            icon="mdi:emoticon-neutral-outline")),
        ("sensor", "fps", _entity(
            topics, "fps", "Frame rate", stats, "{{ value_json.fps | default(0) }}",
            unit_of_measurement="fps", state_class="measurement",
            entity_category="diagnostic")),
        ("sensor", "spool_depth", _entity(
            topics, "spool_depth", "Events waiting", stats,
            "{{ value_json.spool.depth | default(0) }}",
            state_class="measurement", entity_category="diagnostic")),
        ("binary_sensor", "face_present", _entity(
            topics, "face_present", "Face present", state,
            "{{ 'ON' if value_json.faces | int(0) > 0 else 'OFF' }}",
            device_class="occupancy")),
    ]  # fmt: skip
    for au in MAIN_AUS:
        entities.append(("sensor", au.lower(), _entity(
            topics, au.lower(), f"{au} intensity", state,
            f"{{{{ value_json.aus.{au} | default(0) }}}}",
            state_class="measurement", icon="mdi:face-recognition")))  # fmt: skip
    if cabin:
        entities += _cabin_entities(topics)
    configs = {}
    for component, object_id, cfg in entities:
        cfg["device"] = device
        configs[topics.discovery(component, object_id)] = cfg
    return configs


def encode(config: dict[str, Any]) -> bytes:
    return json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
