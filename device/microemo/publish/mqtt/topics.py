"""Every MQTT topic microemo uses, built in one place.

``{prefix}/{device}/...``:

==============================  =====  ======  =============================================
topic                           QoS    retain  payload
==============================  =====  ======  =============================================
availability                    1      yes     ``online`` / ``offline`` (last will)
events                          1      no      event JSON (schema microemo.event/1), spooled
cabin/events                    1      no      cabin event JSON (schema microemo.cabin/1), spooled
state                           0      yes     device summary: faces present, first face's state
face/{face_id}/state            0      yes     one face's current state; empty when it leaves
stats                           0      no      health figures every ``mqtt.stats_interval_s``
cmd/model                       -      -       reserved: model update commands (subscribed)
model/status                    1      yes     model update status (published by the updater)
refined                         1      no      a second opinion (microemo.refined/1), by the hub
==============================  =====  ======  =============================================

The hub's second opinion (``microemo-reason``) reads ``{prefix}/+/events``, writes each
device's ``refined`` and its own retained status on ``{prefix}/reason/status``.

Home Assistant discovery: ``{discovery_prefix}/{component}/{device}/{object_id}/config``.
"""

from __future__ import annotations

import re

_SEGMENT = re.compile(r"^[^#+/\x00]+$")
_SUFFIX = re.compile(r"^[^#+\x00]+$")

# what follows {prefix}/{device}/ (``parse`` gives it back to a reader such as ``watch``)
AVAILABILITY = "availability"
EVENTS = "events"
CABIN_EVENTS = "cabin/events"
STATE = "state"
STATS = "stats"
CMD = "cmd"
CMD_MODEL = f"{CMD}/model"
MODEL_STATUS = "model/status"
REFINED = "refined"
REASON_STATUS = "reason/status"  # under the prefix, not a device: the hub's own


def _check_segment(what: str, value: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"{what} {value!r}: must be non-empty without '/', '+', '#'")
    return value


class Topics:
    """Topic names for one device."""

    def __init__(self, prefix: str, device_id: str, discovery_prefix: str = "homeassistant"):
        if not prefix or not _SUFFIX.match(prefix) or prefix.startswith("/"):
            raise ValueError(f"mqtt.prefix {prefix!r}: must be non-empty without '+' or '#'")
        self.prefix = prefix.rstrip("/")
        self.device_id = _check_segment("device id", device_id)
        self.discovery_prefix = discovery_prefix.rstrip("/")
        self.base = f"{self.prefix}/{self.device_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/{AVAILABILITY}"

    @property
    def events(self) -> str:
        return f"{self.base}/{EVENTS}"

    @property
    def cabin_events(self) -> str:
        return f"{self.base}/{CABIN_EVENTS}"

    @property
    def state(self) -> str:
        return f"{self.base}/{STATE}"

    def face_state(self, face_id: int) -> str:
        return f"{self.base}/face/{int(face_id)}/{STATE}"

    @property
    def face_state_filter(self) -> str:
        return f"{self.base}/face/+/{STATE}"

    def face_of_state(self, topic: str) -> int | None:
        """The face id in one of this device's ``face/{id}/state`` topics, else None."""
        head = self.base + "/"
        face = face_of(topic[len(head) :]) if topic.startswith(head) else None
        return int(face) if face is not None and face.isdigit() else None

    @property
    def stats(self) -> str:
        return f"{self.base}/{STATS}"

    @property
    def cmd_model(self) -> str:
        return f"{self.base}/{CMD_MODEL}"

    @property
    def cmd_filter(self) -> str:
        return f"{self.base}/{CMD}/#"

    def is_command(self, topic: str) -> bool:
        """Whether ``topic`` is under this device's ``cmd/`` (commands and their chunks)."""
        return topic.startswith(f"{self.base}/{CMD}/")

    @property
    def model_status(self) -> str:
        return f"{self.base}/{MODEL_STATUS}"

    @property
    def refined(self) -> str:
        return f"{self.base}/{REFINED}"

    def status(self, suffix: str) -> str:
        """``{prefix}/{device}/{suffix}`` for other components (e.g. ``model/status``)."""
        suffix = suffix.strip("/")
        if not suffix or not _SUFFIX.match(suffix):
            raise ValueError(f"topic suffix {suffix!r}: must be non-empty without '+' or '#'")
        return f"{self.base}/{suffix}"

    def discovery(self, component: str, object_id: str) -> str:
        _check_segment("discovery component", component)
        _check_segment("discovery object id", object_id)
        return f"{self.discovery_prefix}/{component}/{self.device_id}/{object_id}/config"


def subscription(prefix: str, device: str = "+") -> str:
    """Filter for everything one device (or every device with ``+``) publishes."""
    if device != "+":
        _check_segment("device id", device)
    return f"{prefix.rstrip('/')}/{device}/#"


def events_filter(prefix: str, device: str = "+") -> str:
    """``{prefix}/{device}/events``: one device's events, or every device's with ``+``."""
    if device != "+":
        _check_segment("device id", device)
    return f"{prefix.rstrip('/')}/{device}/{EVENTS}"


def reason_status(prefix: str) -> str:
    """The hub's second opinion's retained status (``microemo-reason``)."""
    return f"{prefix.rstrip('/')}/{REASON_STATUS}"


def parse(prefix: str, topic: str) -> tuple[str, str] | None:
    """Split ``{prefix}/{device}/{rest}`` into (device, rest); None for foreign topics."""
    head = prefix.rstrip("/") + "/"
    if not topic.startswith(head):
        return None
    device, _, rest = topic[len(head) :].partition("/")
    return (device, rest) if device and rest else None


def face_of(rest: str) -> str | None:
    """The face id in a ``face/{id}/state`` rest (from ``parse``), None for other topics."""
    if rest.startswith("face/") and rest.endswith(f"/{STATE}"):
        return rest.split("/")[1]
    return None
