"""The MQTT connection's settings and the paho client the link drives.

``MqttSettings`` comes from the ``[mqtt]`` config section plus the password, which is read
by ``microemo.secrets`` (environment or systemd credential, never the config file).
``make_client`` sets credentials, the last will (``offline`` on the availability topic) and
TLS; reconnecting is left to the link, which backs off with jitter.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from microemo.config import MqttConfig
from microemo.publish.mqtt.topics import Topics
from microemo.secrets import mqtt_password

logger = logging.getLogger(__name__)


class MqttError(Exception):
    """MQTT cannot be set up (bad CA file, bad client certificate); names the file."""


@dataclass
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = 30
    client_id: str = ""
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    state_interval_s: float = 1.0
    discovery: bool = True
    share_landmarks: bool = False
    inflight: int = 32
    handoff: int = 1024
    cabin: bool = True  # cabin readings measured: their discovery entities are published

    @classmethod
    def from_config(cls, m: MqttConfig, **extra: Any) -> MqttSettings:
        names = set(cls.__dataclass_fields__) - {"password", "inflight", "handoff", "cabin"}
        values = {n: getattr(m, n) for n in names}
        return cls(**values, password=mqtt_password(), **extra)


def make_client(settings: MqttSettings, topics: Topics) -> mqtt.Client:
    """A paho client for ``topics``' device; ``MqttError`` names a bad TLS file."""
    s = settings
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=s.client_id or f"microemo-{topics.device_id}",
        reconnect_on_failure=False,  # Link reconnects, with jitter
    )
    client.max_inflight_messages_set(s.inflight + 16)
    if s.username:
        client.username_pw_set(s.username, s.password)
    elif s.password:
        logger.warning("an MQTT password is set but mqtt.username is empty: not sending it")
    client.will_set(topics.availability, "offline", qos=1, retain=True)
    if s.tls:
        set_tls(client, s)
    return client


def disconnect_reason(flags: Any, rc: Any, keepalive_s: int) -> str:
    """What a lost connection means, in words: paho reports a connection the broker closed
    without a DISCONNECT packet (MQTT 3.1.1 brokers, Mosquitto stopping cleanly included) as
    "Unspecified error", which says nothing to an operator."""
    name = rc.getName() if hasattr(rc, "getName") else str(rc)
    if getattr(flags, "is_disconnect_packet_from_server", False):
        return f"the broker ended the session ({name})"
    if name == "Keep alive timeout":
        return f"the broker did not answer within the keep-alive ({keepalive_s} s)"
    if name in ("Unspecified error", "Success"):
        return (
            "the broker closed the connection (it was stopped or restarted, "
            "or the network dropped the link)"
        )
    return f"the connection failed ({name})"


def set_tls(client: mqtt.Client, s: MqttSettings) -> None:
    for key, path in (("ca_file", s.ca_file), ("cert_file", s.cert_file),
                      ("key_file", s.key_file)):  # fmt: skip
        if path is not None and not Path(path).is_file():
            raise MqttError(f"mqtt.{key} {path}: no such file; set mqtt.{key} to a PEM file")
    try:
        client.tls_set(
            ca_certs=str(s.ca_file) if s.ca_file else None,
            certfile=str(s.cert_file) if s.cert_file else None,
            keyfile=str(s.key_file) if s.key_file else None,
        )
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise MqttError(
            f"mqtt TLS set-up failed ({exc}): check that mqtt.ca_file {s.ca_file} is a PEM "
            f"CA bundle and that mqtt.cert_file {s.cert_file} matches mqtt.key_file "
            f"{s.key_file}"
        ) from None
